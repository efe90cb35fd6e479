"""Training loop of sparse coding with lateral inhibition (``ebmlab sparse lateral``).

Each step infers the codes of a mini-batch of patches with
:func:`~ebmlab.structured.lateral.lateral_ista` and takes a projected gradient step
on the dictionary (as ``ebmlab sparse dict``); with ``--inhibition learned``
also a projected gradient-ascent step on S within [0, --s-max]. With
``--inhibition tree`` S is fixed: zero along the paths of a tree of
``--tree B,D`` units, ``--strength`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ebmlab.data import epoch_batches, load_patches
from ebmlab.runtime import Run, RunningMean, TrainConfig, check
from ebmlab.sparse.dictionary import Dictionary, dictionary_step, init_from_data
from ebmlab.sparse.train_dict import tree_figure, tree_shape
from ebmlab.structured.lateral import (
    inhibition_step,
    lateral_energy,
    lateral_ista,
    on_a_path,
    path_coactivity,
    tree_inhibition,
    tree_parents,
)

__all__ = ["LateralConfig", "train_lateral"]


@dataclass(frozen=True)
class LateralConfig(TrainConfig):
    """Lateral-inhibition sparse coding on 8×8 patches (a ternary tree of 40 units by default)."""

    patch_size: int = field(default=8, metadata={"help": "Patch side in pixels."})
    n_patches: int = field(default=20000, metadata={"help": "Training patches (mean removed, unit norm)."})
    inhibition: str = field(
        default="tree",
        metadata={
            "help": "tree: S fixed, zero along the tree's paths; learned: S learned by gradient ascent within bounds.",
            "choices": ("tree", "learned"),
        },
    )
    tree: str = field(
        default="3,4", metadata={"help": "B,D: the units are the nodes of a complete tree (sets their number)."}
    )
    strength: float = field(
        default=0.5, metadata={"help": "S_ij off the tree's paths (tree), or S's start value (learned)."}
    )
    s_max: float = field(default=1.0, metadata={"help": "Upper bound of S when learned."})
    s_lr: float = field(default=0.5, metadata={"help": "Step of the gradient ascent on S (learned)."})
    lam: float = field(default=0.1, metadata={"help": "λ of the L1 term."})
    steps: int = field(default=300, metadata={"help": "Mini-batch steps."})
    batch_size: int = field(default=256, metadata={"help": "Patches per step."})
    lr: float = field(default=30.0, metadata={"help": "Step of the projected gradient step on the dictionary."})
    solver_iter: int = field(default=50, metadata={"help": "Proximal-gradient iterations per mini-batch."})
    eval_n: int = field(default=2000, metadata={"help": "Held-out patches for the final metrics."})

    def __post_init__(self) -> None:
        super().__post_init__()
        tree_shape(self.tree)
        check(self.inhibition in ("tree", "learned"), f"--inhibition must be tree or learned, got {self.inhibition!r}")
        check(self.strength >= 0, f"--strength must be >= 0, got {self.strength}")
        check(self.s_max >= self.strength, f"--s-max ({self.s_max}) must be >= --strength ({self.strength})")
        check(self.s_lr >= 0, f"--s-lr must be >= 0, got {self.s_lr}")
        check(self.lam >= 0, f"--lam must be >= 0, got {self.lam}")
        check(self.steps >= 0 and self.solver_iter >= 1, "--steps must be >= 0 and --solver-iter >= 1")
        check(1 <= self.batch_size <= self.n_patches, f"--batch-size must be in 1..--n-patches, got {self.batch_size}")
        check(self.lr > 0 and self.eval_n >= 1, "--lr must be > 0 and --eval-n >= 1")


def train_lateral(cfg: LateralConfig, run: Run) -> dict:
    """Learn D (and S); return metrics on held-out patches."""
    device = run.device
    b, d = tree_shape(cfg.tree)
    parents = tree_parents(b, d)
    m = len(parents)
    on_path = on_a_path(parents).to(device)
    if cfg.inhibition == "tree":
        S0 = tree_inhibition(b, d, cfg.strength)
    else:
        S0 = torch.full((m, m), cfg.strength).fill_diagonal_(0.0)
    X = load_patches(n=cfg.n_patches, size=cfg.patch_size, seed=cfg.seed)
    dictionary = Dictionary(X.shape[1], m, weight=init_from_data(X, m, torch.Generator().manual_seed(cfg.seed))).to(
        device
    )
    inhib = torch.nn.Module()
    inhib.register_buffer("S", S0.to(device))
    start = run.restore(dictionary=dictionary, inhibition=inhib)
    X = X.to(device)
    per_epoch = X.shape[0] // cfg.batch_size
    batches: list[torch.Tensor] = []
    running = RunningMean()
    for step in run.progress(range(start, cfg.steps), total=cfg.steps, initial=start, desc="lateral"):
        epoch, k = divmod(step, per_epoch)
        if k == 0 or not batches:
            batches = list(epoch_batches(X.shape[0], cfg.batch_size, cfg.seed, epoch))
        Xb = X[batches[k].to(device)]
        res = lateral_ista(Xb, dictionary.weight, cfg.lam, inhib.S, max_iter=cfg.solver_iter, tol=1e-4)
        with torch.no_grad():
            dictionary.weight.copy_(dictionary_step(dictionary.weight, Xb, res.z, cfg.lr))
            if cfg.inhibition == "learned":
                inhib.S.copy_(inhibition_step(inhib.S, res.z, cfg.s_lr, cfg.s_max))
        running.add(energy=res.objective, nonzero_fraction=float((res.z != 0).float().mean()))
        if run.should_log(step + 1, cfg.steps):
            run.log(step + 1, **running.pop())
        if run.should_checkpoint(step + 1, cfg.steps):
            run.save_checkpoint(step + 1, dictionary=dictionary, inhibition=inhib)

    D, S = dictionary.weight.detach(), inhib.S
    Xe = load_patches(n=cfg.eval_n, size=cfg.patch_size, seed=cfg.seed + 1_000_003).to(device)
    Z = lateral_ista(Xe, D, cfg.lam, S, max_iter=500, tol=1e-6).z
    Z_free = lateral_ista(Xe, D, cfg.lam, torch.zeros_like(S), max_iter=500, tol=1e-6).z
    R = Xe - Z @ D.T
    result = {
        "energy": float(lateral_energy(Xe, D, Z, cfg.lam, S).mean()),
        "nonzero_fraction": float((Z != 0).float().mean()),
        "relative_reconstruction_error": float((R * R).sum() / (Xe * Xe).sum()),
        "path_coactivity": path_coactivity(Z, on_path),
        "path_coactivity_without_inhibition": path_coactivity(Z_free, on_path),
        "path_coactivity_chance": float(on_path.float().sum() - m) / (m * m - m),
        "s_min": float(S.min()),
        "s_max": float(S.max()),
        "n_units": m,
    }
    if run.is_main:
        kept = torch.ones(m, dtype=torch.bool)
        run.save_figure(
            "tree",
            tree_figure(
                D.cpu(),
                (cfg.patch_size, cfg.patch_size),
                b,
                d,
                kept,
                title=f"atoms in tree order ({cfg.inhibition} inhibition), root on top",
            ),
        )
        run.save_figure("inhibition", _matrix_figure(S.cpu()))
        run.export_weights("lateral", {"D": D.cpu(), "S": S.cpu()})
    return result


def _matrix_figure(S: torch.Tensor):

    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(S.numpy(), cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax)
    ax.set_title("inhibition S (units in breadth-first tree order)", fontsize=9)
    return fig
