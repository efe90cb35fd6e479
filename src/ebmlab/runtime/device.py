"""Choice of the torch device: ``--device auto|cpu|cuda|cuda:N|mps``."""

from __future__ import annotations

import torch

from ebmlab.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """The device named, or for ``auto`` the best one present (cuda, then mps, then cpu).

    Asking for a device that is not present is a ConfigError, never a silent fallback.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is available here; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are present")
        return device
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("--device mps: MPS is not available here; use --device cpu or auto")
        return torch.device("mps")
    raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
