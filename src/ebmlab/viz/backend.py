"""Figures are written to files: matplotlib draws them without a window (Agg), except inside a notebook, whose
inline (or widget) backend is kept so that the notebook's own figures still show."""

from __future__ import annotations

import matplotlib

__all__ = ["file_backend"]

_NOTEBOOK_BACKENDS = ("inline", "ipympl", "widget", "nbagg")


def file_backend() -> None:
    """Switch matplotlib to Agg, unless a notebook's backend is in use."""
    if not any(name in matplotlib.get_backend().lower() for name in _NOTEBOOK_BACKENDS):
        matplotlib.use("Agg")
