"""Training LISTA to predict optimal sparse codes (Gregor & LeCun, ICML 2010, section 3).

The experiment, top to bottom:

1. data: ``n_train + n_test`` photograph patches (``ebmlab.data.load_patches``:
   patch_size × patch_size, mean removed, contrast-normalised to unit norm,
   optionally ZCA-whitened); the first n_train train, the rest are held out;
2. learning the dictionary D (n × m, unit-norm atoms) on the training patches
   with ``ebmlab.sparse.dictionary.learn_dictionary`` (Lasso energy, weight λ,
   ``dict_steps`` mini-batches of 256, inference by ``dict_solver``);
3. inference of the optimal codes Z* = argmin_z ½‖x − Dz‖² + λ‖z‖₁ of the
   training and held-out patches, by the exact feature-sign solver
   (``--target-solver feature_sign``, optimality conditions to ``target_tol``·λ;
   it agrees with FISTA run to convergence to a relative error ~1e-7 and is
   about 100× faster here) or by FISTA run to convergence (``fista``,
   ``target_iter`` iterations at most, tolerance ``target_tol``);
4. learning one LISTA encoder per number of steps T in ``steps`` (tied as in the
   paper, or with ``--no-tied`` one W_e, θ and S = I − W_e W_d per step, see
   ``ebmlab.sparse.lista``), each initialised as ISTA (W_e = Dᵀ/L, S = I − DᵀD/L,
   i.e. W_d = D, θ = λ/L), by minimising the
   code prediction loss

       ℓ(W_e, S, θ) = (1/N) Σ_i ½‖Z(T)(x_i) − Z*_i‖²

   over mini-batches with Adam (or SGD, as in the paper, with ``--optimizer sgd``),
   learning rate lr·min(1, (deep_lr_steps/T)²) (deep unrolled encoders diverge
   or stall at the rate that suits shallow ones: at m = 400, T = 10 reached
   0.27 with lr = 1e-3 and 0.21 with 3e-4) and a cosine decay to lr·lr_decay.
   The encoders share nothing, so one optimizer over all of them steps each
   one exactly as if it were trained alone;
5. evaluation on the held-out patches with the code prediction error

       err(Z) = Σ_i ‖Z_i − Z*_i‖² / Σ_i ‖Z*_i‖²

   (the paper's squared error, divided by the squared norm of the optimal
   codes so that 1 is the error of Z = 0), for LISTA with each T and for
   ISTA, FISTA and CoD after k iterations (started from z = 0), as in the
   paper's Figure 3.

Metrics (flat): ``code_error_T{T}`` for each trained T (held out),
``train_code_error_T{T}``, ``untrained_code_error_T{T}`` (ISTA after T + 1
iterations), ``{ista,fista,cod}_code_error_k{k}`` on the grid
``solver_iters`` and ``fista_iters_to_match_T{T}``, the number of FISTA
iterations needed to reach LISTA's error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ebmlab.data import epoch_batches, load_patches
from ebmlab.errors import ConfigError, RunFolderError
from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.runtime.run import read_run_config, read_run_info
from ebmlab.sparse.lista import LISTA, code_error

SOLVER_ITERS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(frozen=True)
class ListaConfig(TrainConfig):
    """LISTA on natural-image patches; defaults follow the paper's 10×10 patches, m = 100."""

    data: str = field(
        default="patches",
        metadata={"help": "Training data: patches of scikit-image's photographs.", "choices": ("patches",)},
    )
    patch_size: int = field(default=10, metadata={"help": "Patch side in pixels (n = patch_size²)."})
    whiten: str = field(
        default="none",
        metadata={
            "help": "Whitening of the patches after mean removal and contrast normalisation.",
            "choices": ("none", "zca"),
        },
    )
    n_atoms: int = field(default=100, metadata={"help": "Number of dictionary atoms m (code size)."})
    lam: float = field(default=0.1, metadata={"help": "Sparsity weight λ of the Lasso energy (unit-norm patches)."})
    steps: tuple[int, ...] = field(
        default=(1, 2, 3, 5, 10), metadata={"help": "Numbers of LISTA steps T to train, one encoder each."}
    )
    tied: bool = field(
        default=True,
        metadata={
            "help": "One W_e, S and θ shared by all steps, as in the paper; --no-tied gives every step its own W_e, θ "
            "and S = I − W_e W_d (W_d: n × m, cheaper than S when m > n)."
        },
    )
    n_train: int = field(
        default=200000,
        metadata={
            "help": "Training patches (optimal codes are cheap; LISTA over-fits 10,000: T = 5 train error 0.038, test 0.070)."
        },
    )
    n_test: int = field(default=2000, metadata={"help": "Held-out patches for the code errors."})
    dict_steps: int = field(default=1000, metadata={"help": "Mini-batches (of 256) of dictionary learning."})
    dict_solver: str = field(
        default="fista",
        metadata={
            "help": "Inference solver inside dictionary learning (50 iterations per mini-batch).",
            "choices": ("fista", "ista", "cod", "feature_sign"),
        },
    )
    target_solver: str = field(
        default="feature_sign",
        metadata={
            "help": "Solver for the optimal codes Z*: feature_sign (exact active set) or fista (to convergence).",
            "choices": ("feature_sign", "fista"),
        },
    )
    target_iter: int = field(
        default=5000, metadata={"help": "Most iterations (FISTA) or active-set rounds (feature_sign) for Z*."}
    )
    target_tol: float = field(
        default=1e-6,
        metadata={
            "help": "Tolerance for Z*: on the optimality conditions relative to λ (feature_sign), "
            "on the relative change of Z (fista)."
        },
    )
    epochs: int = field(default=5, metadata={"help": "Epochs of LISTA training."})
    batch_size: int = field(default=100, metadata={"help": "Mini-batch size."})
    optimizer: str = field(
        default="adam",
        metadata={"help": "adam, or sgd (the paper's choice, with momentum 0.9).", "choices": ("adam", "sgd")},
    )
    lr: float = field(
        default=1e-3,
        metadata={"help": "Learning rate (3e-3 suits short runs; at m = 400 it breaks the training of T = 3, 5)."},
    )
    deep_lr_steps: int = field(
        default=5,
        metadata={
            "help": "Encoders with T above this learn at lr·(this/T)²: deep unrolled encoders need smaller steps."
        },
    )
    lr_decay: float = field(
        default=0.1, metadata={"help": "Final learning rate as a fraction of --lr (cosine decay); 1 keeps it constant."}
    )
    solver_iters: tuple[int, ...] = field(
        default=SOLVER_ITERS, metadata={"help": "Iteration counts k at which ISTA, FISTA and CoD errors are reported."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.data == "patches", f"--data must be 'patches', got {self.data!r}")
        check(self.whiten in ("none", "zca"), f"--whiten must be none or zca, got {self.whiten!r}")
        check(self.patch_size >= 2, f"--patch-size must be >= 2, got {self.patch_size}")
        check(self.n_atoms >= 1, f"--n-atoms must be >= 1, got {self.n_atoms}")
        check(self.lam > 0 and math.isfinite(self.lam), f"--lam must be > 0, got {self.lam}")
        check(len(self.steps) >= 1, "--steps needs at least one number of steps, e.g. --steps 1,3,5")
        check(all(t >= 0 for t in self.steps), f"--steps must all be >= 0, got {','.join(map(str, self.steps))}")
        check(len(set(self.steps)) == len(self.steps), f"--steps has repeated values: {','.join(map(str, self.steps))}")
        check(
            self.n_train >= 1 and self.n_test >= 1,
            f"--n-train and --n-test must be >= 1, got {self.n_train}, {self.n_test}",
        )
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(
            self.batch_size <= self.n_train,
            f"--batch-size {self.batch_size} exceeds --n-train {self.n_train}; lower it",
        )
        check(self.dict_steps >= 0, f"--dict-steps must be >= 0, got {self.dict_steps}")
        check(
            self.dict_solver in ("fista", "ista", "cod", "feature_sign"),
            f"--dict-solver must be fista, ista, cod or feature_sign, got {self.dict_solver!r}",
        )
        check(
            self.target_solver in ("feature_sign", "fista"),
            f"--target-solver must be feature_sign or fista, got {self.target_solver!r}",
        )
        check(self.target_iter >= 1, f"--target-iter must be >= 1, got {self.target_iter}")
        check(self.target_tol >= 0, f"--target-tol must be >= 0, got {self.target_tol}")
        check(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        check(self.lr > 0 and math.isfinite(self.lr), f"--lr must be > 0, got {self.lr}")
        check(self.deep_lr_steps >= 1, f"--deep-lr-steps must be >= 1, got {self.deep_lr_steps}")
        check(0 < self.lr_decay <= 1, f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        check(
            len(self.solver_iters) >= 1
            and all(k >= 1 for k in self.solver_iters)
            and list(self.solver_iters) == sorted(set(self.solver_iters)),
            "--solver-iters must be increasing counts >= 1, e.g. 1,10,100",
        )


def lista_problem(cfg: ListaConfig, device="cpu") -> tuple[torch.Tensor, ...]:
    """Steps 1–3 of the module doc: (X_train, X_test, D, Z_train, Z_test) for ``cfg``.

    Patches, then the learned dictionary, then the optimal codes: all deterministic
    for a seed, so a resumed run recomputes exactly what it had.
    """
    from ebmlab.sparse.dictionary import learn_dictionary
    from ebmlab.sparse.solvers import get_solver

    X = load_patches(cfg.n_train + cfg.n_test, size=cfg.patch_size, seed=cfg.seed, whiten=cfg.whiten)
    X_train, X_test = X[: cfg.n_train].to(device), X[cfg.n_train :].to(device)
    learned = learn_dictionary(
        X_train, cfg.n_atoms, cfg.lam, steps=cfg.dict_steps, batch_size=256, solver=cfg.dict_solver, seed=cfg.seed
    )
    D = learned.dictionary.weight.detach().to(device)
    solve = get_solver(cfg.target_solver)
    Z_train = solve(X_train, D, cfg.lam, max_iter=cfg.target_iter, tol=cfg.target_tol).z
    Z_test = solve(X_test, D, cfg.lam, max_iter=cfg.target_iter, tol=cfg.target_tol).z
    return X_train, X_test, D, Z_train, Z_test


def train_lista(cfg: ListaConfig, run: Run) -> dict:
    """Learn D, compute Z*, train one LISTA per T, evaluate against ISTA/FISTA/CoD; see module doc."""
    if run.dist.world_size > 1:
        raise ConfigError("ebmlab sparse lista trains in one process; run it without torchrun")
    device = run.device
    X_train, X_test, D, Z_train, Z_test = lista_problem(cfg, device)
    with torch.no_grad():
        untrained = {T: code_error(LISTA.from_dictionary(D, cfg.lam, steps=T)(X_test), Z_test) for T in cfg.steps}

    models = nn.ModuleDict({f"T{T}": LISTA.from_dictionary(D, cfg.lam, steps=T, tied=cfg.tied) for T in cfg.steps}).to(
        device
    )
    # one parameter group per encoder: lr_T = lr·min(1, (deep_lr_steps / T)²)
    groups = [
        {"params": list(models[f"T{T}"].parameters()), "lr": cfg.lr * min(1.0, (cfg.deep_lr_steps / max(T, 1)) ** 2)}
        for T in cfg.steps
    ]
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=cfg.lr)
    else:
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
    per_epoch = cfg.n_train // cfg.batch_size
    total = cfg.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _cosine(s, total, cfg.lr_decay))
    start = run.restore(model=models, optimizer=opt, scheduler=sched)

    batches: list[torch.Tensor] = []
    for step in run.progress(range(start, total), total=total, initial=start, desc="lista"):
        epoch, b = divmod(step, per_epoch)
        if b == 0 or not batches:
            batches = list(epoch_batches(cfg.n_train, cfg.batch_size, cfg.seed, epoch))
        idx = batches[b].to(device)
        x, z_star = X_train[idx], Z_train[idx]
        losses = {name: 0.5 * (model(x) - z_star).pow(2).sum(1).mean() for name, model in models.items()}
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt.step()
        sched.step()
        if run.should_log(step + 1, total):
            run.log(step + 1, lr=sched.get_last_lr()[0], **{f"loss_{k}": v.item() for k, v in losses.items()})
        if run.should_checkpoint(step + 1, total):
            run.save_checkpoint(step + 1, model=models, optimizer=opt, scheduler=sched)

    metrics: dict[str, float] = {}
    with torch.no_grad():
        for T in cfg.steps:
            model = models[f"T{T}"]
            metrics[f"code_error_T{T}"] = code_error(model(X_test), Z_test)
            metrics[f"train_code_error_T{T}"] = code_error(model(X_train), Z_train)
            metrics[f"untrained_code_error_T{T}"] = untrained[T]  # = ISTA after T + 1 iterations
    curves = solver_error_curves(X_test, D, cfg.lam, Z_test, cfg.solver_iters)
    for solver, errors in curves.items():
        for k, e in zip(cfg.solver_iters, errors):
            metrics[f"{solver}_code_error_k{k}"] = e
    for T in cfg.steps:
        metrics[f"fista_iters_to_match_T{T}"] = fista_iterations_to_reach(
            X_test, D, cfg.lam, Z_test, metrics[f"code_error_T{T}"], cfg.solver_iters, curves["fista"]
        )
    metrics["optimal_code_density"] = float((Z_test != 0).float().mean())

    untied = "" if cfg.tied else ", untied"
    run.save_figure(
        "error_vs_iterations",
        plot_error_vs_iterations(
            {T: metrics[f"code_error_T{T}"] for T in cfg.steps},
            cfg.solver_iters,
            curves,
            title=f"{cfg.patch_size}×{cfg.patch_size} patches, m = {cfg.n_atoms}, λ = {cfg.lam:g}{untied}",
        ),
    )
    largest = models[f"T{max(cfg.steps)}"]
    W_e, name = (largest.W_e, "W_e") if cfg.tied else (largest.W_e[0], "first step's W_e")
    run.save_figure(
        "encoder_filters", plot_filters(W_e.detach(), cfg.patch_size, title=f"LISTA {name} rows (T = {max(cfg.steps)})")
    )
    run.save_figure("dictionary", plot_filters(D.T, cfg.patch_size, title="dictionary atoms (columns of D)"))
    run.export_weights(
        "lista", {f"{name}.{k}": v for name, m in models.items() for k, v in m.state_dict().items()} | {"dictionary": D}
    )
    return metrics


def load_lista(run_dir, steps: int | None = None) -> tuple[LISTA, torch.Tensor]:
    """The trained encoder with ``steps`` = T (default: the largest trained) and the dictionary D of a
    finished ``ebmlab sparse lista`` run, on CPU.

    The encoder takes patches preprocessed as the run's were (``ebmlab.data.load_patches`` with the
    run's ``patch_size`` and ``whiten``): ``encoder(X)`` predicts argmin_z ½‖x − Dz‖² + λ‖z‖₁ for the rows of X.
    """
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    if (info["family"], info["name"]) != ("sparse", "lista"):
        raise RunFolderError(f"{run_dir} holds a '{info['family']} {info['name']}' run, not a LISTA run")
    cfg = read_run_config(run_dir, ListaConfig)
    T = max(cfg.steps) if steps is None else steps
    if T not in cfg.steps:
        raise RunFolderError(f"{run_dir} trained LISTA with T = {', '.join(map(str, cfg.steps))}, not T = {T}")
    path = run_dir / "lista.safetensors"
    if not path.exists():
        raise RunFolderError(f"{run_dir} has no lista.safetensors: the run has not finished")
    from safetensors.torch import load_file

    encoder = LISTA(cfg.patch_size**2, cfg.n_atoms, steps=T, tied=cfg.tied)
    try:
        weights = load_file(path)
        encoder.load_state_dict({k.split(".", 1)[1]: v for k, v in weights.items() if k.startswith(f"T{T}.")})
        D = weights["dictionary"]
    except Exception as exc:  # truncated or foreign files
        raise RunFolderError(f"{path} cannot be read ({exc.__class__.__name__}); it is damaged") from None
    return encoder.eval(), D


def _cosine(step: int, total: int, final: float) -> float:
    """Learning-rate factor decaying from 1 to ``final`` along a half cosine."""
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def solver_error_curves(X, D, lam, Z_star, iters) -> dict[str, list[float]]:
    """err(Z_k) after k iterations of ISTA, FISTA and CoD from z = 0, for each k in ``iters``."""
    from ebmlab.sparse.solvers import cod, fista, ista

    curves = {
        name: [code_error(solver(X, D, lam, max_iter=k, tol=0.0).z, Z_star) for k in iters]
        for name, solver in (("fista", fista), ("cod", cod))
    }
    # ISTA's state is z alone, so continuing from the previous grid point is exact
    Z, done, errors = None, 0, []
    for k in iters:
        Z = ista(X, D, lam, max_iter=k - done, tol=0.0, z0=Z).z
        done = k
        errors.append(code_error(Z, Z_star))
    return {"ista": errors, **curves}


def fista_iterations_to_reach(X, D, lam, Z_star, error: float, iters=SOLVER_ITERS, errors=None) -> int:
    """Smallest k ≤ max(iters) with err(FISTA_k) ≤ error (FISTA from z = 0, no early stop).

    ``errors`` are FISTA's errors at ``iters`` when already known (from
    :func:`solver_error_curves`); they bracket k, which is then found by
    bisection inside the bracket (err is taken as decreasing in k there).
    Returns max(iters) + 1 when max(iters) iterations do not reach ``error``.
    """
    from ebmlab.sparse.solvers import fista

    def err(k: int) -> float:
        return code_error(fista(X, D, lam, max_iter=k, tol=0.0).z, Z_star)

    iters = list(iters)
    if errors is None:
        errors = [err(k) for k in iters]
    lo, hi = 0, None  # err(lo) > error (k = 0 means z = 0, err 1); err(hi) <= error
    for k, e in zip(iters, errors):
        if e <= error:
            hi = k
            break
        lo = k
    if hi is None:
        return iters[-1] + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if err(mid) <= error:
            hi = mid
        else:
            lo = mid
    return hi


def plot_error_vs_iterations(lista_errors: dict[int, float], iters, curves: dict[str, list[float]], title: str = ""):
    """The paper's Figure 3: code prediction error vs iterations (log x), LISTA points beside solver curves."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    styles = {"ista": ("ISTA", "tab:blue"), "fista": ("FISTA", "tab:orange"), "cod": ("CoD", "tab:green")}
    for name, errors in curves.items():
        label, colour = styles.get(name, (name, None))
        ax.plot(list(iters), errors, "-", color=colour, lw=1.4, label=label)
    Ts = sorted(lista_errors)
    # LISTA with T steps costs T + 1 shrinkages, like T + 1 ISTA iterations from z = 0
    ax.plot(
        [T + 1 for T in Ts],
        [lista_errors[T] for T in Ts],
        "o-",
        color="tab:red",
        lw=1.4,
        ms=4,
        label="LISTA (T steps at T+1)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iterations (LISTA: T + 1 shrinkages)")
    ax.set_ylabel("code prediction error")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_filters(rows: torch.Tensor, size: int, title: str = "", max_filters: int = 100):
    """Rows of a matrix (e.g. W_e, or atoms) shown as size×size patches, each scaled to its own range."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    from ebmlab.viz.grid import image_grid

    rows = rows.detach().cpu()[:max_filters]
    grid = image_grid(
        rows.reshape(-1, 1, size, size),
        nrow=int(math.ceil(math.sqrt(rows.shape[0]))),
        normalize=True,
        scale_each=True,
        padding=1,
    )
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid[..., 0], cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
