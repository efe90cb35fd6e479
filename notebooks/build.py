"""Write the course's notebooks (without outputs) from the cells below: ``python notebooks/build.py``.

The notebooks are generated so that their text and code live in one reviewable file; each runs top to bottom
on a CPU in a few minutes, and at small settings (``EBMLAB_QUICK=1``) in the test suite.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def notebook(name: str, cells: list[tuple[str, str]]) -> None:
    nb = new_notebook(
        cells=[new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, HERE / f"{name}.ipynb")


SETUP = """import os

import matplotlib.pyplot as plt
import torch

QUICK = os.environ.get("EBMLAB_QUICK") == "1"     # the test suite runs every notebook at small settings
torch.manual_seed(0)"""

SPARSE = [
    (
        "md",
        """# Sparse coding: inference, learning, and amortised inference

Sparse coding is the simplest energy-based model with a latent variable. An observation $x$ (an image patch)
is explained by a code $z$ through a dictionary $D$ whose columns, the atoms, have unit norm:

$$E(x, z) = \\tfrac12\\|x - Dz\\|^2 + \\lambda\\|z\\|_1 .$$

* **Inference** finds, for one $x$, the code of lowest energy $z^* = \\arg\\min_z E(x, z)$: ISTA, FISTA,
  coordinate descent, or exact solvers (LARS).
* **Learning** lowers the energy of the data at its inferred codes by moving $D$.
* **Amortised inference** trains a network to predict $z^*$ in a few steps: LISTA (Gregor & LeCun, 2010),
  and DrSAE (Rolfe & LeCun, 2013), which also classifies from the code.

Everything below uses ebmlab's public API.""",
    ),
    ("code", SETUP),
    (
        "md",
        """## The data: natural image patches

`load_patches` samples square patches of scikit-image's bundled photographs, removes each patch's mean and
normalises its contrast.""",
    ),
    (
        "code",
        """from ebmlab.data import load_patches
from ebmlab.viz.grid import image_grid

X = load_patches(n=2_000 if QUICK else 20_000, size=8, seed=0)      # N × 64
print(X.shape)
plt.imshow(image_grid(X[:64].view(-1, 1, 8, 8), nrow=16, normalize=True, scale_each=True)[..., 0], cmap="gray")
plt.axis("off");""",
    ),
    (
        "md",
        """## Learning a dictionary

`learn_dictionary` alternates inference (FISTA on a mini-batch) and a projected gradient step on $D$ (back to
unit-norm atoms). The atoms become the localised, oriented edge detectors of Olshausen & Field (1996).""",
    ),
    (
        "code",
        """from ebmlab.sparse.dictionary import learn_dictionary

lam = 0.15
learned = learn_dictionary(X, n_atoms=128, lam=lam, steps=40 if QUICK else 400)
D = learned.dictionary.weight.detach()                                # 64 × 128, unit-norm columns
fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
a.plot(learned.energies); a.set_xlabel("step"); a.set_ylabel("mean energy of the mini-batch")
b.imshow(image_grid(D.T.reshape(-1, 1, 8, 8), nrow=16, normalize=True, scale_each=True)[..., 0], cmap="gray")
b.axis("off"); b.set_title("atoms");""",
    ),
    (
        "md",
        """## Inference: ISTA, FISTA and coordinate descent against the exact optimum

ISTA takes a gradient step on the quadratic term and shrinks, $z \\leftarrow h_{\\lambda/L}(z - \\tfrac1L D^\\top(Dz - x))$;
FISTA adds momentum (Beck & Teboulle, 2009); coordinate descent updates one unit at a time. LARS follows the
piecewise-linear path of the minimiser and gives $E^*$ exactly, so we can plot how far each solver is from it.""",
    ),
    (
        "code",
        """from ebmlab.sparse.solvers import cod, fista, ista, lars

test = load_patches(n=500, size=8, seed=1)
exact = lars(test, D, lam)
for solver, name in ((ista, "ISTA"), (fista, "FISTA")):
    r = solver(test, D, lam, max_iter=200, tol=0, track=True)
    plt.semilogy([e - exact.objective + 1e-9 for e in r.history], label=name)
m = D.shape[1]
r = cod(test, D, lam, max_iter=30 * m, tol=0, track=True)                # an update changes one unit: m per sweep
plt.semilogy([e - exact.objective + 1e-9 for e in r.history[m - 1::m]], label="coordinate descent (per sweep)")
plt.xlabel("iteration (coordinate descent: sweep over the m units)"); plt.ylabel("E − E*"); plt.legend();
print(f"E* = {exact.objective:.4f}; non-zeros per code: {(exact.z != 0).sum(1).float().mean():.1f} of {D.shape[1]}")""",
    ),
    (
        "md",
        """## Amortised inference: LISTA

LISTA unrolls $T$ ISTA steps, $Z(t+1) = h_\\theta(W_e x + S Z(t))$, and learns $W_e$, $S$ and $\\theta$ so that
$Z(T)$ predicts $z^*$. Started as ISTA (`from_dictionary`), it is trained by regression on exact codes. The loop
is plain PyTorch.""",
    ),
    (
        "code",
        """from ebmlab.sparse.lista import LISTA, code_error

train = load_patches(n=2_000 if QUICK else 20_000, size=8, seed=2)
Z_train, Z_test = lars(train, D, lam).z, exact.z
encoder = LISTA.from_dictionary(D, lam=lam, steps=3)
print("before training, LISTA with T = 3 is ISTA with 4 steps: code error", round(code_error(encoder(test), Z_test), 3))
opt = torch.optim.Adam(encoder.parameters(), lr=1e-3)
for step in range(100 if QUICK else 2_000):
    i = torch.randint(len(train), (256,))
    loss = (encoder(train[i]) - Z_train[i]).pow(2).sum(1).mean()
    opt.zero_grad(); loss.backward(); opt.step()
with torch.no_grad():
    lista_error = code_error(encoder(test), Z_test)
ista_errors = {k: code_error(ista(test, D, lam, max_iter=k, tol=0).z, Z_test) for k in (4, 10, 30, 100)}
print(f"trained LISTA (T = 3): {lista_error:.3f};", ", ".join(f"ISTA {k} steps: {e:.3f}" for k, e in ista_errors.items()))""",
    ),
    (
        "md",
        """Three trained steps predict the optimal codes about as well as tens of ISTA iterations: that is what
amortisation buys (docs/RESULTS.md has the measured curve against the paper's Fig. 3).

## DrSAE: a recurrent encoder trained to reconstruct, be sparse, and classify

The discriminative recurrent sparse auto-encoder (Rolfe & LeCun, 2013) uses a LISTA-like recurrent encoder
of rectified units, a linear decoder and a linear classifier on the normalised code. After training, its
units split into *part-units* (ISTA-like, small self-connection $S_{ii}$) and *categorical-units*, whose large
$S_{ii}$ integrates evidence over the iterations. Here the training function of the command line
(`ebmlab sparse drsae`) runs from Python on the bundled 8×8 digits.""",
    ),
    (
        "code",
        """import tempfile

from ebmlab.runtime import Run
from ebmlab.sparse.train_drsae import DrsaeConfig, train_drsae

cfg = DrsaeConfig(data="digits", units=64, unsup_epochs=1 if QUICK else 5, sup_epochs=2 if QUICK else 15)
run = Run.create("sparse", "drsae", cfg, out=tempfile.mkdtemp() + "/drsae")
metrics = train_drsae(cfg, run)
run.finish(metrics)
print({k: round(metrics[k], 3) for k in ("test_accuracy", "n_part_units", "n_categorical_units")})""",
    ),
    (
        "code",
        """from IPython.display import Image, display

display(Image(str(run.dir / "units_decoder.png")))      # the decoder columns, categorical units marked
display(Image(str(run.dir / "units_measure.png")))      # S_ii: the two groups and Otsu's threshold""",
    ),
    (
        "md",
        """## Where to go next

* `ebmlab sparse lista --help`, `ebmlab sparse drsae --help`: the same experiments at the papers' scale, with
  run folders, checkpoints, resume and reports.
* docs/RESULTS.md: solver speed at equal accuracy, LISTA's error against steps, DrSAE's accuracy on MNIST.""",
    ),
]

if __name__ == "__main__":
    notebook("01_sparse_coding", SPARSE)
