"""2-D Gaussian mixtures for measuring mode collapse (PacGAN, Lin et al., NeurIPS 2018).

``ring8``  — 8 Gaussians with means on the unit circle at angles 2πk/8, σ = 0.01;
``grid25`` — 25 Gaussians with means at {−4, −2, 0, 2, 4}², σ = 0.05.

Every mode has the same weight. Samples are float32 N×2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ebmlab.errors import DataError

__all__ = ["MIXTURES", "Mixture", "mixture"]


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians: ``centers`` (K×2) and one ``sigma``."""

    name: str
    centers: torch.Tensor
    sigma: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points: a mode drawn uniformly, plus N(0, σ²I) noise."""
        k = torch.randint(len(self.centers), (n,), generator=generator)
        return self.centers[k] + self.sigma * torch.randn(n, 2, generator=generator)


def _ring8() -> Mixture:
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return Mixture("ring8", torch.stack([angles.cos(), angles.sin()], 1).float(), 0.01)


def _grid25() -> Mixture:
    values = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return Mixture("grid25", torch.cartesian_prod(values, values), 0.05)


MIXTURES = {"ring8": _ring8(), "grid25": _grid25()}


def mixture(name: str) -> Mixture:
    """The mixture called ``name`` (``ring8`` or ``grid25``)."""
    if name not in MIXTURES:
        raise DataError(f"unknown 2-D mixture {name!r}; known: {', '.join(MIXTURES)}")
    return MIXTURES[name]
