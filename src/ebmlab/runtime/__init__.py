"""What every training run needs: run folder, config, seeding, device, atomic
checkpoints and resume, metrics log, progress bar, torchrun/DDP helpers."""

from ebmlab.runtime.averaging import RunningMean
from ebmlab.runtime.budget import TimeBudget
from ebmlab.runtime.config import TrainConfig, check, resolve_config
from ebmlab.runtime.device import resolve_device
from ebmlab.runtime.run import Run
from ebmlab.runtime.seeding import seed_everything

__all__ = [
    "Run",
    "RunningMean",
    "TimeBudget",
    "TrainConfig",
    "check",
    "resolve_config",
    "resolve_device",
    "seed_everything",
]
