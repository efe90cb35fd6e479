"""Training curves from a run's metrics.jsonl."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ebmlab.viz.backend import file_backend  # noqa: E402

file_backend()
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics_log(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(records: list[dict], max_panels: int = 12):
    """Small multiples: one panel per logged scalar against step. None if nothing was logged."""
    keys: list[str] = []
    for record in records:
        for key, value in record.items():
            if key not in ("step", "time_s") and key not in keys and isinstance(value, (int, float)):
                keys.append(key)
    keys = keys[:max_panels]
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in points], [p[1] for p in points], lw=1.2)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def metric_figure(path: str | Path, key: str, ylabel: str, title: str):
    """One logged scalar against step, from a run's metrics.jsonl; None when nothing was logged."""
    records = [r for r in read_metrics_log(path) if key in r]
    if not records:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["step"] for r in records], [r[key] for r in records], lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    return fig
