"""Training loop of dictionary learning for sparse coding (``ebmlab sparse dict``).

Energy E(x, z; D) = ½‖x − Dz‖² + λ‖z‖₁, D n×m with unit-norm atoms
(Olshausen & Field, Nature 1996). Each step takes a mini-batch X_b, infers
its codes Z_b = argmin_Z E (a Lasso solver, FISTA by default) and takes a
projected gradient step D ← Π(D + η (X_b − Z_b Dᵀ)ᵀ Z_b / b) (columns
renormalised), as in :mod:`ebmlab.sparse.dictionary`. Mini-batches come from
:func:`ebmlab.data.epoch_batches`, so a resumed run repeats the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ebmlab.data import dataset_names, epoch_batches, load_dataset, load_patches
from ebmlab.errors import ConfigError
from ebmlab.runtime import Run, RunningMean, TrainConfig, check
from ebmlab.sparse.dictionary import Dictionary, dictionary_step, init_from_data
from ebmlab.sparse.groups import block_pools, tree_pools
from ebmlab.sparse.solvers import SOLVERS, get_solver, lasso_objective

__all__ = ["DictConfig", "train_dictionary", "load_signals", "dictionary_figures", "tree_shape"]

DATA_CHOICES = ("patches", *dataset_names())


@dataclass(frozen=True)
class DictConfig(TrainConfig):
    """Dictionary-learning hyper-parameters (8×8 patches, 256 atoms, λ = 0.15 on unit-norm patches)."""

    data: str = field(
        default="patches",
        metadata={
            "help": "patches: photograph patches (mean removed, unit norm); or an image set, its images as pixel vectors.",
            "choices": DATA_CHOICES,
        },
    )
    data_dir: str = field(
        default="", metadata={"help": "Folder with the IDX files of mnist/fashion-mnist (empty: the usual places)."}
    )
    n_patches: int = field(default=50000, metadata={"help": "Training patches to sample (data = patches)."})
    patch_size: int = field(default=8, metadata={"help": "Patch side in pixels (data = patches)."})
    whiten: str = field(default="none", metadata={"help": "ZCA-whiten the patches or not.", "choices": ("none", "zca")})
    n_atoms: int = field(default=256, metadata={"help": "Atoms m of the dictionary D (n×m)."})
    lam: float = field(default=0.15, metadata={"help": "λ, the weight of the L1 penalty λ‖z‖₁ in the energy."})
    batch_size: int = field(default=256, metadata={"help": "Signals per mini-batch."})
    steps: int = field(
        default=2000, metadata={"help": "Mini-batch steps (inference + one projected gradient step on D)."}
    )
    lr: float = field(
        default=30.0,
        metadata={"help": "η, the step size of the gradient step on D (sparse codes make the gradient small)."},
    )
    solver: str = field(
        default="fista", metadata={"help": "Inference solver for the codes.", "choices": tuple(SOLVERS)}
    )
    solver_iter: int = field(
        default=100, metadata={"help": "Iterations (rounds for feature_sign) of the solver per step."}
    )
    solver_tol: float = field(default=1e-4, metadata={"help": "Tolerance of the solver (see ebmlab.sparse.solvers)."})
    eval_n: int = field(
        default=5000, metadata={"help": "Held-out signals for the final metrics (exact codes by lars)."}
    )
    pool_size: int = field(
        default=1,
        metadata={
            "help": "1: the L1 penalty; k > 1: the group norm Σ_j ‖z_{P_j}‖₂ over pools of k consecutive atoms "
            "(inference by ista or fista)."
        },
    )
    tree: str = field(
        default="",
        metadata={
            "help": "B,D: the atoms are the nodes of a complete tree of branching B and depth D (breadth-first; "
            "--n-atoms must be their number), one pool per sub-tree; rarely used branches are pruned at the end."
        },
    )
    prune_below: float = field(
        default=0.01,
        metadata={
            "help": "With --tree: prune a sub-tree whose atoms are used by fewer than this fraction of held-out signals."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.data in DATA_CHOICES, f"--data must be one of {', '.join(DATA_CHOICES)}, got {self.data!r}")
        check(self.n_patches >= 1, f"--n-patches must be >= 1, got {self.n_patches}")
        check(self.patch_size >= 2, f"--patch-size must be >= 2, got {self.patch_size}")
        check(self.whiten in ("none", "zca"), f"--whiten must be none or zca, got {self.whiten!r}")
        check(self.n_atoms >= 1, f"--n-atoms must be >= 1, got {self.n_atoms}")
        check(self.lam >= 0, f"--lam must be >= 0, got {self.lam}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.steps >= 0, f"--steps must be >= 0, got {self.steps}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.solver in SOLVERS, f"--solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        check(self.solver_iter >= 1, f"--solver-iter must be >= 1, got {self.solver_iter}")
        check(self.solver_tol >= 0, f"--solver-tol must be >= 0, got {self.solver_tol}")
        check(self.eval_n >= 1, f"--eval-n must be >= 1, got {self.eval_n}")
        check(self.pool_size >= 1, f"--pool-size must be >= 1, got {self.pool_size}")
        check(0 <= self.prune_below < 1, f"--prune-below must be in [0, 1), got {self.prune_below}")
        if self.tree:
            b, d = tree_shape(self.tree)
            nodes = d if b == 1 else (b**d - 1) // (b - 1)
            check(
                self.n_atoms == nodes,
                f"a tree of branching {b} and depth {d} has {nodes} nodes; "
                f"give --n-atoms {nodes} with --tree {self.tree}",
            )
            check(self.pool_size == 1, "--tree and --pool-size are two kinds of pools; give one of them")
            check(self.solver in ("ista", "fista"), f"--tree needs --solver ista or fista, got {self.solver!r}")
        if self.pool_size > 1:
            check(
                self.n_atoms % self.pool_size == 0,
                f"pools of {self.pool_size} atoms do not tile {self.n_atoms} atoms; "
                f"choose --pool-size dividing --n-atoms",
            )
            check(
                self.solver in ("ista", "fista"), f"--pool-size > 1 needs --solver ista or fista, got {self.solver!r}"
            )
        if self.data == "patches":
            check(
                self.batch_size <= self.n_patches,
                f"--batch-size ({self.batch_size}) must be <= --n-patches ({self.n_patches})",
            )


def tree_shape(text: str) -> tuple[int, int]:
    """(branching, depth) from "B,D"; a one-line error otherwise."""
    try:
        b, d = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--tree must be two integers B,D (branching, depth), e.g. 3,4; got {text!r}") from None
    check(b >= 1 and d >= 1, f"--tree needs branching >= 1 and depth >= 1, got {text!r}")
    return b, d


def load_signals(cfg: DictConfig) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """(train N×n, held-out eval_n×n, image shape of one signal) for ``cfg.data``."""
    if cfg.data == "patches":
        kw = dict(size=cfg.patch_size, whiten=cfg.whiten)
        train = load_patches(n=cfg.n_patches, seed=cfg.seed, **kw)
        held = load_patches(n=cfg.eval_n, seed=cfg.seed + 1_000_003, **kw)
        return train, held, (cfg.patch_size, cfg.patch_size)
    data_dir = cfg.data_dir or None
    train = load_dataset(cfg.data, split="train", data_dir=data_dir).images
    test = load_dataset(cfg.data, split="test", data_dir=data_dir).images
    shape = tuple(train.shape[-2:])
    return train.reshape(train.shape[0], -1), test[: cfg.eval_n].reshape(-1, shape[0] * shape[1]), shape


def train_dictionary(cfg: DictConfig, run: Run) -> dict:
    """Learn a dictionary; return final metrics on held-out signals.

    Metrics: ``objective`` (mean energy at the exact codes; with pools, FISTA run
    to convergence, and ``zero_pool_fraction``), ``nonzero_fraction``
    (mean fraction of non-zero code entries), ``reconstruction_error``
    (mean ½‖x − Dz‖²), ``relative_reconstruction_error`` (Σ‖x − Dz‖² / Σ‖x‖²),
    ``train_objective`` (mean energy of the last logged mini-batches).
    """
    device = run.device
    X, X_eval, shape = load_signals(cfg)
    N, n = X.shape
    check(cfg.batch_size <= N, f"--batch-size ({cfg.batch_size}) must be <= the number of signals ({N})")
    init = init_from_data(X, cfg.n_atoms, torch.Generator().manual_seed(cfg.seed))
    dictionary = Dictionary(n, cfg.n_atoms, weight=init).to(device)
    start = run.restore(dictionary=dictionary)
    pools = None
    if cfg.pool_size > 1:
        pools = block_pools(cfg.n_atoms, cfg.pool_size).to(device)
    elif cfg.tree:
        pools = tree_pools(*tree_shape(cfg.tree)).to(device)
    group = {} if pools is None else {"pools": pools}
    infer = get_solver(cfg.solver)
    X = X.to(device)

    per_epoch = N // cfg.batch_size
    batches: list[torch.Tensor] = []
    running = RunningMean()
    for step in run.progress(range(start, cfg.steps), total=cfg.steps, desc="dict"):
        epoch, k = divmod(step, per_epoch)
        if k == 0 or not batches:
            batches = list(epoch_batches(N, cfg.batch_size, cfg.seed, epoch))
        Xb = X[batches[k].to(device)]
        # inference: codes of the mini-batch under the current dictionary
        res = infer(Xb, dictionary.weight, cfg.lam, max_iter=cfg.solver_iter, tol=cfg.solver_tol, **group)
        # learning: projected gradient step on the mean energy, unit-norm atoms
        with torch.no_grad():
            dictionary.weight.copy_(dictionary_step(dictionary.weight, Xb, res.z, cfg.lr))
        running.add(
            energy=res.objective, nonzero_fraction=float((res.z != 0).float().mean()), solver_iterations=res.n_iter
        )
        if run.should_log(step + 1, cfg.steps):
            run.log(step + 1, **running.pop())
        if run.should_checkpoint(step + 1, cfg.steps):
            run.save_checkpoint(step + 1, dictionary=dictionary)

    # held-out evaluation with exact codes
    D = dictionary.weight.detach()
    Xe = X_eval.to(device=device, dtype=D.dtype)
    if pools is None:
        Z = get_solver("lars")(Xe, D, cfg.lam).z
    else:
        Z = get_solver("fista")(Xe, D, cfg.lam, max_iter=2000, tol=1e-7, pools=pools).z
    R = Xe - Z @ D.T
    energy = lasso_objective(Xe, D, Z, cfg.lam, pools)
    result = {
        "objective": float(energy.mean()),
        "nonzero_fraction": float((Z != 0).float().mean()),
        "reconstruction_error": float(0.5 * (R * R).sum(1).mean()),
        "relative_reconstruction_error": float((R * R).sum() / (Xe * Xe).sum().clamp_min(1e-30)),
        "n_atoms": cfg.n_atoms,
        "lam": cfg.lam,
    }
    if pools is not None:
        zero_pools = pools.norms(Z) == 0
        result["zero_pool_fraction"] = float(zero_pools.float().mean())
    kept = None
    if cfg.tree:
        # a node's sub-tree is used by a signal when any of its atoms is non-zero in that signal's code
        usage = (~zero_pools).float().mean(0).cpu()
        kept = usage >= cfg.prune_below
        result.update(
            {
                "tree_nodes": cfg.n_atoms,
                "tree_nodes_kept": int(kept.sum()),
                "pruned_fraction": float(1 - kept.float().mean()),
            }
        )
        Dk = D * kept.to(D)
        Zk = get_solver("fista")(Xe, Dk, cfg.lam, max_iter=2000, tol=1e-7, pools=pools).z
        result["objective_pruned"] = float(lasso_objective(Xe, Dk, Zk, cfg.lam, pools).mean())
    if run.is_main:
        for name, fig in dictionary_figures(D.cpu(), shape, run.dir / "metrics.jsonl").items():
            run.save_figure(name, fig)
        if cfg.tree:
            run.save_figure("tree", tree_figure(D.cpu(), shape, *tree_shape(cfg.tree), kept))
        run.export_weights("dictionary", {"D": D.cpu()})
    return result


def dictionary_figures(D: torch.Tensor, shape: tuple[int, int], metrics_log) -> dict:
    """``atoms``: the atoms as image tiles; ``energy``: mini-batch energy against step."""
    from ebmlab.viz.curves import metric_figure
    from ebmlab.viz.grid import tiles_figure

    m = D.shape[1]
    figs = {"atoms": tiles_figure(D.T.reshape(m, 1, *shape), min(16, m), f"dictionary atoms ({m})")}
    energy = metric_figure(
        metrics_log, "energy", "mean energy ½‖x − Dz‖² + λ‖z‖₁", "energy of the mini-batches during learning"
    )
    if energy is not None:
        figs["energy"] = energy
    return figs


def tree_figure(
    D: torch.Tensor, shape: tuple[int, int], branching: int, depth: int, kept: torch.Tensor, title: str | None = None
):
    """The atoms of a tree dictionary level by level (root on top); pruned atoms are greyed out."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    from ebmlab.viz.grid import image_grid

    atoms = D.T.reshape(D.shape[1], 1, *shape).clone()
    lo, hi = atoms.amin(dim=(1, 2, 3), keepdim=True), atoms.amax(dim=(1, 2, 3), keepdim=True)
    atoms = (atoms - lo) / (hi - lo).clamp_min(1e-12)
    atoms[~kept] = 0.5 + 0.15 * (atoms[~kept] - 0.5)  # faded
    fig, axes = plt.subplots(
        depth, 1, figsize=(min(16, 1 + 0.5 * branching ** (depth - 1)), 1.1 * depth + 0.4), squeeze=False
    )
    start = 0
    for level in range(depth):
        count = branching**level
        grid = image_grid(atoms[start : start + count], nrow=count, padding=1)
        ax = axes[level, 0]
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
        start += count
    if title is None:
        title = f"tree dictionary: {int(kept.sum())} of {len(kept)} atoms kept (faded: pruned)"
    axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
