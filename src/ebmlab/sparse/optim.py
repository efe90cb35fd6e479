"""The optimiser and learning-rate schedule shared by DrSAE and its baselines.

The DrSAE benchmark (Rolfe & LeCun, ICLR 2013) compares models trained with
the same optimiser, schedule and epochs; both live here once.
"""

from __future__ import annotations

import math

import torch

from ebmlab.errors import ConfigError

__all__ = ["OPTIMIZERS", "make_optimizer", "lr_factor"]

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9; ``params`` may be parameter groups."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def lr_factor(step: int, constant_steps: int, total_steps: int, decay: str) -> float:
    """Learning-rate factor: 1 for ``constant_steps``, then a cosine decay from 1
    to 0 at ``total_steps`` (``decay='cosine'``), or 1 throughout (``'none'``)."""
    if decay == "none" or step < constant_steps:
        return 1.0
    progress = (step - constant_steps) / max(1, total_steps - constant_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))
