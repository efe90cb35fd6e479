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
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding a notebook changes only what its cells say
        cell.id = f"cell-{i}"
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

GANS = [
    (
        "md",
        """# GANs as energy-based models

A GAN's critic can be read as an energy $F(y)$: low on training samples $y$, high on the *contrastive* samples
$\\bar y = G(z)$ that a generator proposes, while the generator learns to propose samples of low energy. The
losses differ in how they push the energy down on data and up on contrastive samples:

| loss | critic | generator |
| --- | --- | --- |
| margin (EBGAN) | $F(y) + [m - F(\\bar y)]^+$ | $F(G(z))$ |
| logistic (GAN) | $\\log(1 + e^{F(y)}) + \\log(1 + e^{-F(\\bar y)})$ | $\\log(1 + e^{F(G(z))})$ |
| least-squares | $\\tfrac12(F(y) + 1)^2 + \\tfrac12(F(\\bar y) - 1)^2$ | $\\tfrac12(F(G(z)) + 1)^2$ |
| Wasserstein | $F(y) - F(\\bar y)$, with a gradient penalty | $F(G(z))$ |

This notebook shows the generator's losses as functions of the energy, makes a pitfall visible (the
saturating loss's vanishing gradient) beside its cure, and puts a GAN beside a VAE. Everything uses ebmlab's
public API.""",
    ),
    ("code", SETUP),
    (
        "md",
        """## What each generator loss asks of the energy

The generator lowers the energy of its samples through $\\partial L_g / \\partial F$. Plotted against $F(G(z))$,
the slope is what the generator hears. The logistic loss has two forms: the *saturating* one,
$\\log(1 - D(G(z))) = -\\log(1 + e^{-F})$, is flat exactly where the critic confidently rejects the samples
(large $F$): early in training, when the generator is bad, it learns nothing. The *non-saturating* one,
$-\\log D(G(z)) = \\log(1 + e^{F})$, is steep there.""",
    ),
    (
        "code",
        """from ebmlab.gan.losses import get_loss

energy = torch.linspace(-4, 4, 200)
for name, saturating in (("logistic", False), ("logistic", True), ("least-squares", False), ("wasserstein", False)):
    loss = get_loss(name, saturating=saturating)
    values = torch.stack([loss.generator(e[None]) for e in energy])
    plt.plot(energy, values, label=name + (" (saturating)" if saturating else ""))
plt.xlabel("energy of a generated sample F(G(z))"); plt.ylabel("generator loss"); plt.legend(); plt.grid(alpha=0.3);""",
    ),
    (
        "md",
        """## A pitfall made visible, and its cure

Two GANs on eight Gaussians on a ring, identical but for the generator's loss. ebmlab's diagnostics follow
the generator's gradient norm, the critic's oscillation and how many modes the samples cover, and warn when
one goes wrong. The saturating loss starves the generator of gradient; the non-saturating one is the cure
(and ebmlab's default).""",
    ),
    (
        "code",
        """import tempfile

from ebmlab.gan.train import GanConfig, train_gan
from ebmlab.runtime import Run

out = tempfile.mkdtemp()
runs = {}
for saturating in (True, False):
    cfg = GanConfig(data="ring8", loss="logistic", saturating=saturating, batch_size=100, n_train=20_000 if QUICK else 100_000,
                    epochs=1 if QUICK else 2, eval_every=100 if QUICK else 500, n_eval=500 if QUICK else 2500,
                    hidden_g=64 if QUICK else 400, hidden_d=64 if QUICK else 200)
    run = Run.create("gan", "train", cfg, out=f"{out}/ring-{'saturating' if saturating else 'non-saturating'}")
    metrics = train_gan(cfg, run)
    run.finish(metrics)
    runs["saturating" if saturating else "non-saturating"] = (run.dir, metrics)
    print(f"{'saturating' if saturating else 'non-saturating':>15}: {metrics['modes_captured']} of 8 modes, "
          f"{metrics['high_quality']:.1%} high quality, generator gradient at its lowest {metrics['generator_grad_ratio']:.2f} of its start")""",
    ),
    (
        "code",
        """fig, axes = plt.subplots(1, 2, figsize=(12, 6))
for ax, (name, (folder, metrics)) in zip(axes, runs.items()):
    ax.imshow(plt.imread(folder / "samples.png")); ax.set_title(name); ax.axis("off")""",
    ),
    (
        "code",
        """plt.figure(figsize=(12, 8))
plt.imshow(plt.imread(runs["saturating"][0] / "diagnostics.png")); plt.axis("off")
plt.title("the saturating run's diagnostics: gradient norm, losses, modes covered");""",
    ),
    (
        "md",
        """On the 2-D mixtures, ebmlab's measured recipe goes further: the logistic loss with the R1 penalty on the
critic (Mescheder et al., 2018) and descent on the latent energy $E(z) = \\tfrac12\\|z\\|^2 + F(G(z))$ keeps
every mode in every seed (`ebmlab gan train --data ring8 --loss logistic --r1 0.5 --refine descent --epochs 60
--batch-size 100 --lr-decay cosine`; docs/RESULTS.md).

## A GAN beside a VAE

The VAE is trained by maximum likelihood (a bound on it), with an encoder that infers $z$ from $x$; the GAN
never infers $z$. Both on the bundled 8×8 digits, their samples measured in the same features (a classifier
trained on the data: Fréchet distance, precision, recall).""",
    ),
    (
        "code",
        """from ebmlab.vae.train import VaeConfig, train_vae

gan_cfg = GanConfig(data="digits", ngf=16, ndf=16, nz=32, epochs=2 if QUICK else 40, n_eval=300 if QUICK else 1000)
gan_run = Run.create("gan", "train", gan_cfg, out=f"{out}/gan-digits")
gan_metrics = train_gan(gan_cfg, gan_run)
gan_run.finish(gan_metrics)
vae_cfg = VaeConfig(data="digits", epochs=2 if QUICK else 40, n_eval=300 if QUICK else 1000)
vae_run = Run.create("vae", "train", vae_cfg, out=f"{out}/vae-digits")
vae_metrics = train_vae(vae_cfg, vae_run)
vae_run.finish(vae_metrics)
for name, m in (("GAN", gan_metrics), ("VAE", vae_metrics)):
    print(f"{name}: FD {m['fd']:.1f}, precision {m['precision']:.2f}, recall {m['recall']:.2f}")
fig, axes = plt.subplots(1, 2, figsize=(12, 6))
for ax, (name, folder) in zip(axes, (("GAN", gan_run.dir), ("VAE", vae_run.dir))):
    ax.imshow(plt.imread(folder / "samples.png")); ax.set_title(name); ax.axis("off")""",
    ),
    (
        "md",
        """## Where to go next

* `ebmlab gan train --help`: every loss, DCGAN or MLP networks, R1, PacGAN, EMA, refinement by the critic's
  density ratio; `ebmlab compare RUN RUN …` puts runs side by side.
* docs/RESULTS.md: the four losses and the VAE on Fashion-MNIST over five seeds, mode coverage on the ring and
  the grid beside PacGAN, the pitfalls measured.""",
    ),
]

STRUCTURED = [
    (
        "md",
        """# Structured sparsity: group sparsity, topographic maps, invariant pooled units

Sparse coding's L1 penalty treats every unit alone. *Group sparsity* penalises pools $P_j$ of units by the
L2 norm of each pool,

$$E(x, z) = \\tfrac12\\|x - Dz\\|^2 + \\lambda \\sum_j \\|z_{P_j}\\|_2 ,$$

so units of one pool switch on together and a code uses few pools. When the pools overlap, as the
neighbourhoods of a 2-D map do, neighbouring units come to share what they respond to: a *topographic map*
(Hyvärinen & Hoyer, 2001; Kavukcuoglu, Ranzato, Fergus & LeCun, 2009), whose orientations turn around
pinwheels as in the visual cortex. The L2 norm of a pool is then an *invariant feature*: it changes less than
its units do when the input shifts or turns. Everything below uses ebmlab's public API.""",
    ),
    ("code", SETUP),
    (
        "md",
        """## Group-sparse inference

The solvers take pools: FISTA's shrinkage becomes the proximal operator of the group penalty (block
soft-thresholding for disjoint pools). On the same patches and dictionary, L1 codes scatter over the units;
group-sparse codes gather into a few pools of four.""",
    ),
    (
        "code",
        """from ebmlab.data import load_patches
from ebmlab.sparse.dictionary import learn_dictionary
from ebmlab.sparse.groups import block_pools
from ebmlab.sparse.solvers import fista

X = load_patches(n=2_000 if QUICK else 20_000, size=8, seed=0)
D = learn_dictionary(X, n_atoms=64, lam=0.15, steps=40 if QUICK else 300).dictionary.weight.detach()
test = load_patches(n=200, size=8, seed=1)
pools = block_pools(64, 4)
l1 = fista(test, D, 0.15, max_iter=300)
group = fista(test, D, 0.3, max_iter=300, pools=pools)
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, (name, r) in zip(axes, (("L1", l1), ("group (pools of 4)", group))):
    ax.imshow(r.z[:40].abs().T, aspect="auto", cmap="magma"); ax.set_title(name)
    ax.set_xlabel("patch"); ax.set_ylabel("unit (pools are consecutive fours)")
active_pools = lambda z: (z.view(len(z), -1, 4).abs().sum(2) > 0).sum(1).float().mean().item()
print(f"pools in use per patch: L1 {active_pools(l1.z):.1f}, group {active_pools(group.z):.1f} of 16")""",
    ),
    (
        "md",
        """## A topographic map

`train_topo` (the command `ebmlab sparse topo`) learns a group-sparse auto-encoder on whitened photograph
patches, with overlapping 3×3 pools on a map that wraps around: a predictor (encoder) is trained with the
dictionary so that inference is amortised. Each filter is then fitted by a Gabor function, whose orientation is
drawn as a colour at the filter's place on the map, and pinwheels (where every orientation meets) are found.""",
    ),
    (
        "code",
        """import tempfile

from IPython.display import Image, display

from ebmlab.runtime import Run
from ebmlab.structured.train_topo import TopoConfig, train_topo

if QUICK:
    cfg = TopoConfig(patch_size=8, n_patches=1_000, map_side=6, steps=40, batch_size=200)
else:
    cfg = TopoConfig(n_patches=20_000, steps=4_000, lr=1e-2)
run = Run.create("sparse", "topo", cfg, out=tempfile.mkdtemp() + "/topo")
metrics = train_topo(cfg, run)
run.finish(metrics)
display(Image(str(run.dir / "filters.png")))""",
    ),
    (
        "code",
        """display(Image(str(run.dir / "orientation_map.png")))
print(f"pinwheels: {metrics['n_pinwheels']}; orientation difference between neighbours "
      f"{metrics['neighbour_orientation_difference_deg']:.0f}° (shuffled map: {metrics['shuffled_orientation_difference_deg']:.0f}°)")""",
    ),
    (
        "md",
        """## Invariance of pooled units

Shift or turn a patch a little: how well does a unit's response on the new patch correlate with its response
on the old one? Single units, tuned to one position and phase, change; the pool's L2 norm, which sums the
energy of neighbours tuned to nearby phases and positions, changes less.""",
    ),
    (
        "code",
        """rows = [(kind, metrics[f"invariance_single_{kind}"], metrics[f"invariance_pooled_{kind}"]) for kind in ("shift", "rotation")]
for kind, single, pooled in rows:
    print(f"{kind:>8}: single units {single:.2f}, pooled units {pooled:.2f} (correlation before/after)")
x = range(len(rows))
plt.bar([i - 0.2 for i in x], [r[1] for r in rows], width=0.4, label="single units")
plt.bar([i + 0.2 for i in x], [r[2] for r in rows], width=0.4, label="pooled units (L2 of a pool)")
plt.xticks(list(x), [r[0] for r in rows]); plt.ylabel("response correlation"); plt.legend();""",
    ),
    (
        "md",
        """## Where to go next

* `ebmlab sparse group`, `ebmlab sparse topo`, `ebmlab sparse dict --tree 3,4`, `ebmlab sparse lateral`,
  `ebmlab sparse local`, `ebmlab sparse conv`: disjoint pools, topographic maps, tree-structured groups,
  lateral inhibition, locally-connected and convolutional variants with stacked pre-training.
* docs/structured.md and docs/RESULTS.md: the maps, their pinwheels and the invariance measured.""",
    ),
]

WORLD = [
    (
        "md",
        """# World models: planning by gradient descent through a learnt model

A world model is an energy over a trajectory: a forward model $\\hat s_{t+1} = f(s_t, a_t)$ learnt from the
agent's own transitions, and a differentiable cost $C(s, a)$. *Planning* is inference: for the current state,
find the actions of lowest total cost through the model,

$$a^*_{t:t+H} = \\arg\\min_{a} \\sum_{k=0}^{H-1} C(\\hat s_{t+k}, a_{t+k}), \\qquad \\hat s_{t+k+1} = f(\\hat s_{t+k}, a_{t+k}),$$

by gradient descent on the actions, backpropagating through the unrolled model; the agent takes the first
action and plans again at the next step (receding horizon, model-predictive control). A *policy* trained
through the model amortises that inference. Below, such an agent learns Pendulum-v1 from its own few hundred
steps, beside the model-free SAC of stable-baselines3. Everything uses ebmlab's public API.""",
    ),
    ("code", SETUP),
    (
        "code",
        """import tempfile

from IPython.display import Image, display

from ebmlab.runtime import Run
from ebmlab.world.train import WorldConfig, train_world

out = tempfile.mkdtemp()
if QUICK:
    cfg = WorldConfig(env_steps=120, seed_steps=60, max_episode_steps=30, hidden=32, fit_steps=20,
                      mpc_first_iterations=5, mpc_iterations=2, eval_every=60, eval_episodes=1)
else:
    cfg = WorldConfig(env_steps=1_000, eval_every=250, eval_episodes=3)
world = Run.create("world", "train", cfg, out=f"{out}/world")
metrics = train_world(cfg, world)
world.finish(metrics)
print(f"after {metrics['env_steps']} environment steps: return {metrics['eval_return']:.0f} "
      f"(best {metrics['best_eval_return']:.0f}); a decision takes {metrics['decision_ms']:.0f} ms")""",
    ),
    (
        "md",
        """## What the model learnt, and what the planner does with it

The model's rollouts against the real ones, from the same start and actions: it is used for tens of steps, so
its errors compound. Then the plans along an episode: at each step, the planned actions and the states the
model predicts for them.""",
    ),
    (
        "code",
        """display(Image(str(world.dir / "rollouts.png")))
display(Image(str(world.dir / "plans.png")))""",
    ),
    (
        "md",
        """## Beside model-free RL

SAC (stable-baselines3, the rl-zoo's settings) learns a policy and a value from the same environment without a
model. The comparison that matters is sample efficiency: the return against environment steps.""",
    ),
    (
        "code",
        """from ebmlab.viz.compare import compare_runs
from ebmlab.world.baseline import BaselineConfig, train_baseline

sac_cfg = BaselineConfig(steps=200, eval_every=100, eval_episodes=1) if QUICK else BaselineConfig(steps=3_000, eval_every=500, eval_episodes=3)
sac = Run.create("world", "baseline", sac_cfg, out=f"{out}/sac")
sac_metrics = train_baseline(sac_cfg, sac)
sac.finish(sac_metrics)
table, folder = compare_runs([world.dir, sac.dir], f"{out}/compare")
print(table)
display(Image(str(folder / "sample_efficiency.png")))""",
    ),
    (
        "md",
        """## Where to go next

* `ebmlab world train --help`: other environments (MountainCarContinuous, MuJoCo's InvertedDoublePendulum),
  a stochastic model, a policy trained through the model, perception from pixels; `ebmlab world baseline` for
  SAC, PPO or TD3.
* `ebmlab world traffic …`: the same ideas in dense highway traffic (PPUU), docs/traffic.md.
* docs/RESULTS.md: the world model's sample efficiency against SAC over three seeds.""",
    ),
]

DRIVING = [
    (
        "md",
        """# Driving in dense traffic (PPUU)

Henaff, Canziani & LeCun (ICLR 2019) learn to drive on a congested highway from recordings of other drivers
alone, never crashing a car to learn: a forward model of the ego car's views is learnt from the recordings,
and a policy is trained through it, penalised for the model's uncertainty (MPUR). ebmlab brings its own
traffic, since NGSIM I-80 cannot be downloaded here: a six-lane segment where IDM/MOBIL drivers form
stop-and-go waves, recorded car by car. This notebook records a little traffic, looks at it, and measures
drivers by PPUU's protocol: the ego car takes a recorded car's place and the others replay their recording
(they do not react to it). Everything uses ebmlab's public API.""",
    ),
    ("code", SETUP),
    (
        "code",
        """from ebmlab.world.traffic.recording import record_traffic
from ebmlab.world.traffic.render import time_space_diagram
from ebmlab.world.traffic.simulator import TrafficConfig
from ebmlab.world.traffic.stats import traffic_stats

rec = record_traffic(TrafficConfig(warmup=30.0 if QUICK else 60.0), envs=2 if QUICK else 4, seconds=100 if QUICK else 240, seed=0)
stats = traffic_stats(rec)
print(f"{len(rec)} cars recorded; {stats['density_veh_per_km_lane']:.0f} vehicles per km per lane, "
      f"mean speed {stats['mean_speed_mps'] * 3.6:.0f} km/h, {stats['stop_and_go_share']:.0%} of car-time below 15 km/h")
time_space_diagram(rec);""",
    ),
    (
        "md",
        """The time-space diagram: each line a car, its colour its speed. The red bands are stop-and-go waves, and they
travel upstream, against the traffic.

## An episode, as the ego car sees it

On the left the road from above, on the right the ego-centred view a model and a policy receive (lanes, other
cars, the ego car), about ±36 m along the road and four lanes across.""",
    ),
    (
        "code",
        """import tempfile

from IPython.display import Image, display

from ebmlab.world.driving.record import render_episode

test = rec.split("test")
gif = tempfile.mkdtemp() + "/episode.gif"
outcome = render_episode(rec, int(test[0]), gif, steps=30 if QUICK else 300)
print(outcome)
display(Image(filename=gif))""",
    ),
    (
        "md",
        """## Drivers by PPUU's protocol

Doing nothing (holding the speed) fails: the cars behind replay their recording and run into the ego car.
The recorded driver succeeds by construction. Gradient MPC plans 3 s ahead by gradient descent on its actions
through the simplest world model — every other car goes on at its current velocity — and re-plans every step.""",
    ),
    (
        "code",
        """from ebmlab.world.driving.data import Normalisation
from ebmlab.world.driving.evaluate import NoAction, Recorded, evaluate
from ebmlab.world.driving.mpc import ConstantVelocityMpc

cars = 2 if QUICK else 30
planner = ConstantVelocityMpc(Normalisation().fit(rec, rec.split("train")), horizon=5 if QUICK else 30, iterations=1 if QUICK else 5)
results = {name: evaluate(rec, driver, cars=cars) for name, driver in (("no action", NoAction()), ("recorded driver", Recorded()), ("gradient MPC", planner))}
for name, r in results.items():
    print(f"{name:>16}: success {r['success_rate']:.0%}, {r['mean_distance']:.0f} m, collisions {r['collision_rate']:.0%}, off-road {r['offroad_rate']:.0%}")
plt.bar(list(results), [r["success_rate"] for r in results.values()]); plt.ylabel(f"success on {cars} test cars");""",
    ),
    (
        "md",
        """## Imagined worlds: where a policy can be rolled out without the simulator

A policy learnt from recordings only can still be rolled out, and corrected, in a world *model*. How long does
each stay right? The constant-velocity world is exact for a step and then drives cars through each other; a
world whose cars are driven by car-following rules fitted to the recording (IDM by least squares) stays
closer for tens of seconds.""",
    ),
    (
        "code",
        """from ebmlab.world.driving.imagined import fit_idm, world_error

fit = fit_idm(rec, steps=200 if QUICK else 400)
print(f"IDM fitted to the recorded drivers: headway {fit.time_headway:.2f} s, minimum gap {fit.min_gap:.1f} m, R² {fit.r2:.2f}")
error = world_error(rec, cars=16 if QUICK else 128, horizons=(10, 50, 100) if QUICK else (10, 50, 150, 300), fit=fit)
for world in ("constant-velocity", "fitted-idm"):
    rows = error[world]
    plt.plot([float(h[:-2]) for h in rows], [r["x_mean"] for r in rows.values()], "o-", label=world)
plt.xlabel("seconds after the recorded frame"); plt.ylabel("mean position error of the other cars (m)"); plt.legend();""",
    ),
    (
        "md",
        """## DAgger: a planner teaches the policy on the states the policy reaches

A policy trained on the recorded drivers' states drifts into states no recorded driver was in, and nobody told
it what to do there (covariate shift). DAgger (Ross, Gordon & Bagnell 2011) rolls the policy out, lets an
expert label every state it visits, and regresses the policy on all labels so far; the expert acts itself with
probability β = 0.5^round. Within PPUU's rules the rollouts run in the fitted world, not the simulator, and the
expert is gradient MPC that knows that world's own future (privileged, as in "learning by cheating"). The
policy sees only its last 20 views and states. Each round's policy is scored on validation cars in the fitted
world: no simulator, so a choice of round within the rules.""",
    ),
    (
        "code",
        """import torch

from ebmlab.world.driving.dagger import gather, imagined_score, regress
from ebmlab.world.driving.policy import DrivingPolicy

norm = Normalisation().fit(rec, rec.split("train"))
torch.manual_seed(0)
policy = DrivingPolicy()
policy.norm.load_state_dict(norm.state_dict())
opt = torch.optim.Adam(policy.parameters(), lr=3e-4)
g, train, sets = torch.Generator().manual_seed(0), rec.split("train"), []
for r in range(2):
    cars = train[torch.randperm(len(train), generator=g)[: 4 if QUICK else 32]]
    labelled, driven = gather(rec, policy, norm, cars, 0.5**r, g, episode_steps=10 if QUICK else 100, fit=fit)
    sets.append(labelled)
    loss = regress(policy, opt, sets, 20 if QUICK else 300, 32, g, average=10 if QUICK else 150)
    score = imagined_score(rec, policy, "fitted-idm", 0, fit)
    print(f"round {r} (β {0.5**r:g}): {sum(len(d['car']) for d in sets)} labels, regression loss {loss:.2f}; "
          f"in the fitted world π arrives in {score['success_rate']:.0%}, collides in {score['collision_rate']:.0%}")""",
    ),
    (
        "md",
        """Two rounds on a handful of cars teach little; `ebmlab world traffic policy --kind dagger` runs the measured
recipe (seven rounds of 256 cars × 15 s, checkpointed after each round), which finishes 67.6 % of 531 test
episodes in replay mode (seed 0, docs/RESULTS.md).

## Where it stands

`ebmlab world traffic --help` records, trains PPUU's forward model and its policies (imitation, MPER, MPUR,
DAgger), evaluates, renders and times the simulator. docs/RESULTS.md has the numbers at a CPU budget: the traffic
is as hard as PPUU asks (no action fails in every test episode), the simulator steps over 20,000 ego cars a
second, gradient MPC reaches 77 % through the constant-velocity world, and DAgger in the fitted world 67.6 %,
while policies trained through a model by MPUR do not yet drive (PPUU's 75 %); the section says why, measured.""",
    ),
]

if __name__ == "__main__":
    notebook("01_sparse_coding", SPARSE)
    notebook("02_structured_sparsity", STRUCTURED)
    notebook("03_gans", GANS)
    notebook("04_world_models", WORLD)
    notebook("05_driving", DRIVING)
