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


def make_optimizer(params, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9; ``params`` may be parameter groups.

    ``weight_decay`` > 0 shrinks every weight by lr·weight_decay per step:
    decoupled for Adam (AdamW), the L2 gradient term for SGD.
    """
    if weight_decay < 0:
        raise ConfigError(f"weight decay must be >= 0, got {weight_decay}")
    if name == "adam":
        if weight_decay > 0:
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
