"""Training loop of the image-level, locally connected topographic model (``ebmlab sparse local``).

Crops of ``image_size``² pixels from scikit-image's photographs (mean removed,
ZCA-whitened with relative ε ``zca_eps`` after dropping the weakest principal
components beyond ``keep_variance``: a low-pass whitening that stays in pixel space) are encoded by a :class:`~ebmlab.structured.local_ae.LocallyConnectedAE`
with a ``map_side``² map of units, each with its own ``window``² filters, and
overlapping ``pool``×``pool`` pools on the map (clipped at its edges: positions do
not wrap). Learning is :func:`ebmlab.structured.train_topo.fit_group_ae`, the loop of
``sparse topo``. At the end every decoder filter gets a Gabor fit; the map of
fitted orientations gives the neighbour/shuffled orientation ratio and the
pinwheels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ebmlab.data import load_patches, zca_fit
from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.sparse.groups import torus_pools
from ebmlab.structured.group_ae import ENCODERS
from ebmlab.structured.local_ae import LocallyConnectedAE
from ebmlab.structured.topography import find_pinwheels, fit_gabors, neighbour_orientation_ratio
from ebmlab.structured.train_topo import fit_group_ae, topo_figures

__all__ = ["LocalConfig", "train_local"]


@dataclass(frozen=True)
class LocalConfig(TrainConfig):
    """Image-level topographic map: 32×32 crops, a 24×24 map of units with 10×10 windows, 3×3 pools."""

    image_size: int = field(default=32, metadata={"help": "Side of the image crops in pixels."})
    window: int = field(default=10, metadata={"help": "Side of each unit's window (its receptive field) in pixels."})
    map_side: int = field(default=24, metadata={"help": "The map has map_side × map_side units laid over the image."})
    pool: int = field(
        default=3, metadata={"help": "Pools are pool × pool neighbourhoods on the map (clipped at its edges)."}
    )
    n_images: int = field(default=20000, metadata={"help": "Training crops to sample from the photographs."})
    zca_eps: float = field(
        default=0.1,
        metadata={"help": "ZCA whitening ε relative to the mean eigenvalue (larger damps high frequencies more)."},
    )
    keep_variance: float = field(
        default=0.9, metadata={"help": "Fraction of the crops' variance kept by the (low-pass) ZCA whitening."}
    )
    encoder: str = field(
        default="linear", metadata={"help": "Encoder non-linearity h in s ⊙ h(Wx − b).", "choices": ENCODERS}
    )
    lam: float = field(
        default=0.4,
        metadata={"help": "λ, the weight of the group norm in the energy (above ~0.45 every unit is switched off)."},
    )
    eps: float = field(default=1e-4, metadata={"help": "ε in √(ε + ‖z_P‖²), the smoothing of the group norm at 0."})
    steps: int = field(default=12000, metadata={"help": "Adam steps."})
    lam_warmup: int = field(
        default=1000,
        metadata={"help": "Steps over which λ grows linearly from 0 (units are not switched off before they learn)."},
    )
    batch_size: int = field(default=64, metadata={"help": "Crops per step."})
    lr: float = field(
        default=3e-3, metadata={"help": "Adam learning rate (cosine decay over the last half of the steps)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.window >= 4, f"--window must be >= 4, got {self.window}")
        check(
            self.image_size >= self.window,
            f"windows of --window {self.window} pixels do not fit --image-size {self.image_size}",
        )
        check(self.map_side >= 2, f"--map-side must be >= 2, got {self.map_side}")
        check(1 <= self.pool <= self.map_side, f"--pool must be in 1..--map-side ({self.map_side}), got {self.pool}")
        check(
            self.n_images >= self.batch_size,
            f"--n-images ({self.n_images}) must be >= --batch-size ({self.batch_size})",
        )
        check(self.zca_eps > 0, f"--zca-eps must be > 0, got {self.zca_eps}")
        check(0 < self.keep_variance <= 1, f"--keep-variance must be in (0, 1], got {self.keep_variance}")
        check(self.encoder in ENCODERS, f"--encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        check(self.lam >= 0, f"--lam must be >= 0, got {self.lam}")
        check(self.eps > 0, f"--eps must be > 0, got {self.eps}")
        check(self.steps >= 0, f"--steps must be >= 0, got {self.steps}")
        check(self.lam_warmup >= 0, f"--lam-warmup must be >= 0, got {self.lam_warmup}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")


def train_local(cfg: LocalConfig, run: Run) -> dict:
    """Train the locally connected map; return metrics of its orientation map (see the module doc)."""
    device = run.device
    raw = load_patches(n=cfg.n_images, size=cfg.image_size, seed=cfg.seed, contrast=False)
    whitening = zca_fit(raw, cfg.zca_eps, cfg.keep_variance)
    X = whitening.apply(raw).to(device)
    side, m = cfg.map_side, cfg.map_side**2
    pools = torus_pools(m, cfg.pool, wrap=False)
    model = LocallyConnectedAE(
        cfg.image_size,
        cfg.window,
        side,
        pools,
        encoder=cfg.encoder,
        eps=cfg.eps,
        generator=torch.Generator().manual_seed(cfg.seed),
    ).to(device)
    fit_group_ae(model, X, cfg, run, "local", lam_warmup=cfg.lam_warmup)

    with torch.no_grad():
        held = whitening.apply(load_patches(n=2000, size=cfg.image_size, seed=cfg.seed + 1_000_003, contrast=False)).to(
            device
        )
        terms = {k: float(v) for k, v in model.energy(held, cfg.lam).items()}
    filters = model.D.detach().T.cpu().reshape(m, cfg.window, cfg.window)
    fits = fit_gabors(filters.numpy())
    r2 = np.array([f.r2 for f in fits])
    theta = np.array([f.orientation for f in fits])
    near = neighbour_orientation_ratio(theta, side, wrap=False, seed=cfg.seed)
    pinwheels = find_pinwheels(theta, side, wrap=False)
    result = {
        "reconstruction": terms["reconstruction"],
        "relative_reconstruction_error": 2 * terms["reconstruction"] / float(held.pow(2).sum(1).mean()),
        "group_norm": terms["group"],
        "energy": terms["total"],
        "gabor_r2_median": float(np.median(r2)),
        "gabor_fit_fraction": float(np.mean(r2 >= 0.8)),
        "neighbour_orientation_ratio": near["ratio"],
        "neighbour_orientation_difference_deg": float(np.degrees(near["neighbour"])),
        "shuffled_orientation_difference_deg": float(np.degrees(near["shuffled"])),
        "n_pinwheels": len(pinwheels),
    }
    if run.is_main:
        for name, fig in topo_figures(filters.numpy(), side, run.dir / "metrics.jsonl", (theta, pinwheels)).items():
            run.save_figure(name, fig)
        run.export_weights(
            "local",
            {
                **{k: v.detach().cpu() for k, v in model.state_dict().items()},
                "whitening": whitening.matrix,
                "mean": whitening.mean,
            },
        )
    return result
