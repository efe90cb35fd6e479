"""Mode coverage of samples from a known mixture (PacGAN's and VEEGAN's 2-D benchmarks).

Each sample is assigned to its nearest mode. It is *high quality* when it lies
within ``threshold``·σ of that mode (3σ by default). A mode is *captured* when
it is the nearest mode of at least one high-quality sample. The *reverse KL*
is KL(p ‖ q) = Σ_k p_k log(p_k / q_k) between p, the histogram of the
high-quality samples over modes, and q, the mixture's (uniform) weights; modes
with p_k = 0 add nothing, so a collapse onto a few modes shows as a KL near
log(K / captured), not infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ebmlab.errors import DataError

__all__ = ["ModeStats", "mode_stats"]


@dataclass(frozen=True)
class ModeStats:
    modes_captured: int
    high_quality: float
    reverse_kl: float
    counts: tuple[int, ...]  # high-quality samples per mode

    def as_metrics(self) -> dict[str, float]:
        return {"modes_captured": self.modes_captured, "high_quality": self.high_quality, "reverse_kl": self.reverse_kl}


def mode_stats(samples: torch.Tensor, centers: torch.Tensor, sigma: float, threshold: float = 3.0) -> ModeStats:
    """Modes captured, share of high-quality samples and reverse KL (see the module doc)."""
    samples = samples.detach().float().cpu()
    centers = centers.float().cpu()
    if samples.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise DataError(f"samples must be N×{centers.shape[1]}, got shape {tuple(samples.shape)}")
    if len(samples) == 0:
        raise DataError("mode_stats needs at least one sample")
    distance, nearest = torch.cdist(samples, centers).min(1)
    good = torch.isfinite(distance) & (distance <= threshold * sigma)
    counts = torch.bincount(nearest[good], minlength=len(centers))
    n_good = int(counts.sum())
    kl = 0.0
    if n_good:
        q = 1.0 / len(centers)
        kl = sum(c / n_good * math.log(c / n_good / q) for c in counts.tolist() if c)
    return ModeStats(
        modes_captured=int((counts > 0).sum()),
        high_quality=n_good / len(samples),
        reverse_kl=max(kl, 0.0),
        counts=tuple(counts.tolist()),
    )
