"""Means of per-step scalars between two log lines."""

from __future__ import annotations

__all__ = ["RunningMean"]


class RunningMean:
    """Sums scalars step by step; :meth:`pop` returns their means since the last pop and starts again.

    >>> m = RunningMean(); m.add(loss=1.0); m.add(loss=3.0); m.pop()
    {'loss': 2.0}
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._count = 0

    def add(self, **scalars: float) -> None:
        for name, value in scalars.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)
        self._count += 1

    def pop(self) -> dict[str, float]:
        means = {name: total / self._count for name, total in self._sums.items()} if self._count else {}
        self._sums, self._count = {}, 0
        return means
