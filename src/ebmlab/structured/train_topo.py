"""Training loop of topographic maps (``ebmlab sparse topo``).

Patches of scikit-image's photographs (mean removed) are PCA-whitened with
dimension reduction (``keep_variance``); a :class:`~ebmlab.structured.group_ae.GroupSparseAE`
with ``map_side``² units on a torus and ``pool``×``pool`` overlapping pools is
trained by Adam on the mean energy ½‖x − D F(x)‖² + λ Σ_j √(ε + ‖F(x)_{P_j}‖²),
the decoder columns kept at unit norm. At the end the decoder columns are
mapped back to pixels and measured (:mod:`ebmlab.structured.topography`): Gabor
fits, the orientation map, the neighbour/shuffled orientation-difference
ratio and the pinwheels; and the invariance of pooled outputs against single
units (:mod:`ebmlab.structured.invariance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ebmlab.data import epoch_batches, load_patches, pca_fit
from ebmlab.runtime import Run, RunningMean, TrainConfig, check
from ebmlab.sparse.groups import block_pools, torus_pools
from ebmlab.sparse.optim import lr_factor
from ebmlab.structured.group_ae import ENCODERS, GroupSparseAE
from ebmlab.structured.invariance import invariance, transformed_pairs
from ebmlab.structured.topography import (
    find_pinwheels,
    fit_gabors,
    neighbour_orientation_ratio,
    orientation_figure,
)

__all__ = [
    "TopoConfig",
    "GroupConfig",
    "train_topo",
    "fit_group_ae",
    "pixel_filters",
    "whitened_filters",
    "topo_figures",
]


@dataclass(frozen=True)
class TopoConfig(TrainConfig):
    """Topographic map hyper-parameters (10×10 patches, a 16×16 torus, 3×3 pools)."""

    patch_size: int = field(default=10, metadata={"help": "Patch side in pixels."})
    n_patches: int = field(default=50000, metadata={"help": "Training patches to sample from the photographs."})
    keep_variance: float = field(
        default=0.9, metadata={"help": "Fraction of the patch variance kept by PCA whitening."}
    )
    map_side: int = field(default=16, metadata={"help": "The map is map_side × map_side units (a torus)."})
    pool: int = field(default=3, metadata={"help": "Pools are pool × pool neighbourhoods on the map."})
    wrap: bool = field(default=True, metadata={"help": "Wrap the map at its edges (a torus) or clip the pools there."})
    layout: str = field(
        default="torus",
        metadata={
            "help": "torus: overlapping pool×pool neighbourhoods of the map; blocks: non-overlapping pools of "
            "--pool consecutive units (no map).",
            "choices": ("torus", "blocks"),
        },
    )
    encoder: str = field(
        default="linear", metadata={"help": "Encoder non-linearity h in s ⊙ h(Wx − b).", "choices": ENCODERS}
    )
    lam: float = field(default=0.5, metadata={"help": "λ, the weight of the group norm in the energy."})
    eps: float = field(default=1e-4, metadata={"help": "ε in √(ε + ‖z_P‖²), the smoothing of the group norm at 0."})
    steps: int = field(default=15000, metadata={"help": "Adam steps."})
    batch_size: int = field(default=512, metadata={"help": "Patches per step."})
    lr: float = field(
        default=3e-3, metadata={"help": "Adam learning rate (cosine decay over the last half of the steps)."}
    )
    fit_units: int = field(default=0, metadata={"help": "Units whose filters get a Gabor fit at the end (0: all)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.patch_size >= 4, f"--patch-size must be >= 4, got {self.patch_size}")
        check(
            self.n_patches >= self.batch_size,
            f"--n-patches ({self.n_patches}) must be >= --batch-size ({self.batch_size})",
        )
        check(0 < self.keep_variance <= 1, f"--keep-variance must be in (0, 1], got {self.keep_variance}")
        check(self.map_side >= 2, f"--map-side must be >= 2, got {self.map_side}")
        check(self.layout in ("torus", "blocks"), f"--layout must be torus or blocks, got {self.layout!r}")
        if self.layout == "torus":
            check(
                1 <= self.pool <= self.map_side, f"--pool must be in 1..--map-side ({self.map_side}), got {self.pool}"
            )
        else:
            check(
                self.pool >= 1 and self.map_side**2 % self.pool == 0,
                f"pools of {self.pool} units do not tile the {self.map_side**2} units; "
                f"choose --pool dividing --map-side²",
            )
        check(self.encoder in ENCODERS, f"--encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        check(self.lam >= 0, f"--lam must be >= 0, got {self.lam}")
        check(self.eps > 0, f"--eps must be > 0, got {self.eps}")
        check(self.steps >= 0, f"--steps must be >= 0, got {self.steps}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.fit_units >= 0, f"--fit-units must be >= 0, got {self.fit_units}")


@dataclass(frozen=True)
class GroupConfig(TopoConfig):
    """Group-sparse auto-encoder with non-overlapping pools (256 units in pools of 4)."""

    layout: str = field(default="blocks", metadata=TopoConfig.__dataclass_fields__["layout"].metadata)
    pool: int = field(default=4, metadata={"help": "Units per pool (blocks) or the pool side on the map (torus)."})


def pixel_filters(model: GroupSparseAE, whitening) -> torch.Tensor:
    """The decoder columns mapped back to pixel space: m × d."""
    return model.D.detach().T.cpu() @ whitening.inverse


def whitened_filters(model: GroupSparseAE, whitening) -> torch.Tensor:
    """The decoder columns in whitened pixel coordinates, U_k D (m × d): rotated back to pixels
    without undoing the whitening's scaling (what a low-pass ZCA would show)."""
    inverse = whitening.inverse  # k × d, Λ^{1/2} U_kᵀ: its rows have norms √λ_i
    return model.D.detach().T.cpu() @ (inverse / inverse.norm(dim=1, keepdim=True))


def fit_group_ae(model: GroupSparseAE, X: torch.Tensor, cfg, run: Run, desc: str, lam_warmup: int = 0) -> None:
    """Learning: Adam on the mean energy of mini-batches of the rows of X, decoder kept at unit norm.

    ``cfg`` gives ``lam``, ``steps``, ``batch_size``, ``lr`` (cosine decay over the last half of
    the steps) and ``seed`` (batch order); checkpoints, resume and the metrics log go through ``run``.
    With ``lam_warmup`` > 0, λ grows linearly from 0 over that many steps, so that the encoder
    learns to reconstruct before the group norm can switch every unit off.
    """
    N = X.shape[0]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start = run.restore(model=model, optimizer=opt)
    per_epoch = N // cfg.batch_size
    batches: list[torch.Tensor] = []
    running = RunningMean()
    for step in run.progress(range(start, cfg.steps), total=cfg.steps, initial=start, desc=desc):
        epoch, i = divmod(step, per_epoch)
        if i == 0 or not batches:
            batches = list(epoch_batches(N, cfg.batch_size, cfg.seed, epoch))
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, cfg.steps // 2, cfg.steps, "cosine")
        lam = cfg.lam * min(1.0, (step + 1) / lam_warmup) if lam_warmup else cfg.lam
        terms = model.energy(X[batches[i].to(X.device)], lam)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        opt.step()
        model.normalise_decoder_()
        running.add(
            reconstruction=terms["reconstruction"].detach(),
            group=terms["group"].detach(),
            energy=terms["total"].detach(),
        )
        if run.should_log(step + 1, cfg.steps):
            run.log(step + 1, **running.pop())
        if run.should_checkpoint(step + 1, cfg.steps):
            run.save_checkpoint(step + 1, model=model, optimizer=opt)


def train_topo(cfg: TopoConfig, run: Run) -> dict:
    """Train a topographic map; return metrics of the map (see the module doc)."""
    device = run.device
    raw = load_patches(n=cfg.n_patches, size=cfg.patch_size, seed=cfg.seed, contrast=False)
    whitening = pca_fit(raw, cfg.keep_variance)
    X = whitening.apply(raw).to(device)
    k = X.shape[1]
    if cfg.layout == "torus":
        pools = torus_pools(cfg.map_side**2, cfg.pool, wrap=cfg.wrap)
    else:
        pools = block_pools(cfg.map_side**2, cfg.pool)
    model = GroupSparseAE(
        k, pools, encoder=cfg.encoder, eps=cfg.eps, generator=torch.Generator().manual_seed(cfg.seed)
    ).to(device)
    fit_group_ae(model, X, cfg, run, "topo")

    # the map: filters in pixel space, Gabor fits, orientations, neighbours, pinwheels
    with torch.no_grad():
        held = whitening.apply(load_patches(n=5000, size=cfg.patch_size, seed=cfg.seed + 1_000_003, contrast=False)).to(
            device
        )
        terms = {k_: float(v) for k_, v in model.energy(held, cfg.lam).items()}
        z = model.encode(held)
    filters = pixel_filters(model, whitening)
    side, m = cfg.map_side, cfg.map_side**2
    images = filters.reshape(m, cfg.patch_size, cfg.patch_size).numpy()
    fit_n = m if cfg.fit_units == 0 else min(cfg.fit_units, m)
    fits = fit_gabors(images[:fit_n])
    r2 = np.array([f.r2 for f in fits])
    result = {
        "reconstruction": terms["reconstruction"],
        "relative_reconstruction_error": 2 * terms["reconstruction"] / float(held.pow(2).sum(1).mean()),
        "group_norm": terms["group"],
        "energy": terms["total"],
        "whitened_dims": k,
        "active_fraction": float((z.abs() > 1e-3 * z.abs().max()).float().mean()),
        "gabor_r2_median": float(np.median(r2)),
        "gabor_fit_fraction": float(np.mean(r2 >= 0.8)),
    }
    # the same fits in whitened pixel coordinates (the space `sparse local` measures its filters in)
    r2_white = np.array(
        [
            f.r2
            for f in fit_gabors(
                whitened_filters(model, whitening)[:fit_n].reshape(fit_n, cfg.patch_size, cfg.patch_size).numpy()
            )
        ]
    )
    result["gabor_fit_fraction_whitened"] = float(np.mean(r2_white >= 0.8))
    result["gabor_r2_median_whitened"] = float(np.median(r2_white))
    # invariance: pooled outputs vs single units under 1–2 pixel shifts and rotations up to 15°
    encode = lambda x: model.encode(whitening.apply(x).to(device)).cpu()  # noqa: E731
    pairs = transformed_pairs(4000, cfg.patch_size, seed=cfg.seed + 7)
    inv = {kind: invariance(encode, pools.index, p) for kind, p in pairs.items()}
    single = np.mean([v.single for v in inv.values()])
    pooled = np.mean([v.pooled for v in inv.values()])
    result.update(
        {
            "invariance_ratio": float(pooled / single),
            **{f"invariance_ratio_{kind}": v.ratio for kind, v in inv.items()},
            **{f"invariance_single_{kind}": v.single for kind, v in inv.items()},
            **{f"invariance_pooled_{kind}": v.pooled for kind, v in inv.items()},
        }
    )
    on_map = fit_n == m and cfg.layout == "torus"
    if on_map:
        theta = np.array([f.orientation for f in fits])
        near = neighbour_orientation_ratio(theta, side, wrap=cfg.wrap, seed=cfg.seed)
        pinwheels = find_pinwheels(theta, side, wrap=cfg.wrap)
        result.update(
            {
                "neighbour_orientation_ratio": near["ratio"],
                "neighbour_orientation_difference_deg": float(np.degrees(near["neighbour"])),
                "shuffled_orientation_difference_deg": float(np.degrees(near["shuffled"])),
                "n_pinwheels": len(pinwheels),
            }
        )
    if run.is_main:
        for name, fig in topo_figures(
            images, side, run.dir / "metrics.jsonl", (theta, pinwheels) if on_map else None
        ).items():
            run.save_figure(name, fig)
        run.export_weights(
            "topo",
            {
                **{k_: v.detach().cpu() for k_, v in model.state_dict().items()},
                "filters": filters,
                "whitening": whitening.matrix,
                "unwhitening": whitening.inverse,
                "mean": whitening.mean,
            },
        )
    return result


def topo_figures(images, side: int, metrics_log, orientation=None) -> dict:
    """``filters``: the decoder filters in map order; ``orientation_map``; ``energy`` against step."""
    from ebmlab.viz.curves import metric_figure
    from ebmlab.viz.grid import tiles_figure

    figs = {
        "filters": tiles_figure(torch.from_numpy(images)[:, None], side, f"decoder filters on the {side}×{side} map")
    }
    if orientation is not None:
        figs["orientation_map"] = orientation_figure(orientation[0], side, orientation[1])
    energy = metric_figure(metrics_log, "energy", "mean energy", "energy of the mini-batches during learning")
    if energy is not None:
        figs["energy"] = energy
    return figs
