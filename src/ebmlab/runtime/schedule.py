"""The learning-rate schedule every family uses: constant, then an optional cosine decay to 0."""

from __future__ import annotations

import math

__all__ = ["DECAYS", "lr_factor"]

DECAYS = ("none", "cosine")


def lr_factor(step: int, constant_steps: int, total_steps: int, decay: str) -> float:
    """Learning-rate factor: 1 for ``constant_steps``, then a cosine decay from 1
    to 0 at ``total_steps`` (``decay='cosine'``), or 1 throughout (``'none'``)."""
    if decay == "none" or step < constant_steps:
        return 1.0
    progress = (step - constant_steps) / max(1, total_steps - constant_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))
