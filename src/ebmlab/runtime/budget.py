"""A wall-clock budget for training, for comparing models at equal time rather than equal steps.

``TimeBudget(seconds, already)`` counts training time from its creation plus
``already`` (the time a resumed run had spent, kept in its checkpoint); time
inside ``with budget.paused():`` (evaluation) is not counted. ``spent(dist)`` is
True once the budget is used up, on every torchrun rank at the same step (rank
0 decides). A budget of 0 never runs out. Where a budget stops a run depends on
the machine's speed, so such runs are not bit-for-bit reproducible.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch

__all__ = ["TimeBudget"]


class TimeBudget:
    def __init__(self, seconds: float, already: float = 0.0) -> None:
        self.seconds = float(seconds)
        self._offset = float(already)
        self._start = time.perf_counter()
        self._paused = 0.0

    def elapsed(self) -> float:
        """Training seconds so far (evaluation excluded), including those before a resume."""
        return self._offset + time.perf_counter() - self._start - self._paused

    @contextmanager
    def paused(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - t

    def spent(self, dist=None, device: torch.device | str = "cpu") -> bool:
        if self.seconds <= 0:
            return False
        over = self.elapsed() >= self.seconds
        if dist is not None and dist.enabled:
            import torch.distributed

            flag = torch.tensor([float(over)], device=device)
            torch.distributed.broadcast(flag, src=0)
            over = bool(flag.item())
        return over
