"""Means of per-step scalars between two log lines, averaged over torchrun processes when they are logged."""

from __future__ import annotations

import math

import torch

from ebmlab.errors import Diverged
from ebmlab.runtime.distributed import DistInfo, all_reduce_mean

__all__ = ["RunningMean"]


class RunningMean:
    """Sums scalars step by step; :meth:`pop` returns their means since the last pop and starts again.

    Values may be Python numbers or 0-d tensors; tensors are summed where they
    live, so adding one costs no device synchronisation and no collective: both
    happen once per log line, in :meth:`pop`. Each name keeps its own count, so a
    value added only on some steps (a generator step every ``n_critic`` critic
    steps) is averaged over those steps.

    >>> m = RunningMean(); m.add(loss=1.0); m.add(loss=3.0); m.pop()
    {'loss': 2.0}
    """

    def __init__(self) -> None:
        self._sums: dict[str, float | torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, **scalars: float | torch.Tensor) -> None:
        for name, value in scalars.items():
            if isinstance(value, torch.Tensor):
                value = value.detach()
                value = value if value.is_floating_point() else value.float()
            self._sums[name] = self._sums.get(name, 0.0) + value
            self._counts[name] = self._counts.get(name, 0) + 1

    def pop(self, dist: DistInfo | None = None) -> dict[str, float]:
        """The means since the last pop; with ``dist`` enabled, also averaged over its processes.

        Under torchrun every process must pop at the same step with the same names.
        """
        means = {name: total / self._counts[name] for name, total in self._sums.items()}
        self._sums, self._counts = {}, {}
        if dist is not None and dist.enabled and means:
            device = next((v.device for v in means.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
            stacked = torch.stack(
                [torch.as_tensor(v, dtype=torch.float32, device=device).reshape(()) for v in means.values()]
            )
            means = dict(zip(means, all_reduce_mean(stacked, dist).double().cpu().tolist()))
        means = {name: float(v) for name, v in means.items()}
        for name, value in means.items():  # one non-finite step makes its mean non-finite: the run diverged
            if not math.isfinite(value):
                raise Diverged(f"{name} became {value} (its mean over the last steps)")
        return means
