"""The optimiser and learning-rate schedule shared by DrSAE and its baselines.

The DrSAE benchmark (Rolfe & LeCun, ICLR 2013) compares models trained with
the same optimiser, schedule and epochs; both live here once.
"""

from __future__ import annotations

import torch

from ebmlab.errors import ConfigError
from ebmlab.runtime.schedule import lr_factor

__all__ = ["OPTIMIZERS", "make_optimizer", "lr_factor"]

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9; ``params`` may be parameter groups."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
