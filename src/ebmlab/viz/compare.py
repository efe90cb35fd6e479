"""``ebmlab compare RUN RUN …``: several runs side by side in one table and one figure.

The table has one row per run and one column per metric that at least one run
reports (known metrics first, in a fixed order, then the others in the order the
runs write them, twelve at most besides warnings), with the best value of each
column marked (lower is better for distances and divergences, higher for the
rest). The figure has one bar panel per metric. Both are written to the output
folder (``compare.md``, ``compare.png``, ``compare.html``) and the table is printed.
Runs that log ``eval_return`` against environment steps (``world train`` and
``world baseline``) are also drawn on one sample-efficiency plot
(``sample_efficiency.png``): return against environment steps, one line per run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ebmlab.errors import RunFolderError
from ebmlab.runtime.atomic import atomic_write_text
from ebmlab.runtime.run import read_run_info

__all__ = [
    "RunSummary",
    "load_summaries",
    "comparison_table",
    "comparison_figure",
    "sample_efficiency_figure",
    "compare_runs",
]

# metric -> True when lower is better; the order is the order of the table's columns
KNOWN = {
    "modes_captured": False,
    "high_quality": False,
    "reverse_kl": True,
    "fd": True,
    "precision": False,
    "recall": False,
    "density": False,
    "coverage": False,
    "diversity": False,
    "eval_return": False,
    "env_steps": True,
    "probe_accuracy": False,
    "test_accuracy": False,
    "neighbour_orientation_ratio": True,
    "invariance_ratio": False,
}
SKIP = {"eval_s", "iterations", "train_s", "feature_classifier_accuracy", "oscillation_score", "generator_grad_ratio"}
# which configuration fields tell runs of one command apart
DISTINGUISH = ("loss", "saturating", "arch", "actor", "algo", "data", "seed")


@dataclass(frozen=True)
class RunSummary:
    label: str
    path: Path
    metrics: dict


def _label(path: Path, info: dict, config: dict, configs: list[dict]) -> str:
    """``family name`` and the distinguishing options (loss, arch, …) that vary among the compared runs."""
    parts = [f"{info['family']} {info['name']}"]
    for k in DISTINGUISH:
        if k not in config:
            continue
        values = {json.dumps(c[k]) for c in configs if k in c}
        v = config[k]
        if isinstance(v, bool):
            if v and len(values) > 1 or (v and len(configs) > 1):
                parts.append(k)
        elif len(values) > 1 or (k in ("loss", "arch", "actor", "algo") and len(configs) > 1):
            parts.append(f"seed {v}" if k == "seed" else str(v))
    return " · ".join(parts)


def load_summaries(run_dirs: list[str | Path]) -> list[RunSummary]:
    """Label and final metrics of each run folder; a RunFolderError for folders that are not finished runs."""
    loaded = []
    for d in map(Path, run_dirs):
        info = read_run_info(d)
        try:
            metrics = json.loads((d / "metrics.json").read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{d} has no metrics.json: the run has not finished (resume it first)") from None
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{d / 'metrics.json'} is damaged: {exc}") from None
        config = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else {}
        loaded.append((d, info, config, metrics))
    configs = [c for _, _, c, _ in loaded]
    out, seen = [], {}
    for d, info, config, metrics in loaded:
        label = _label(d, info, config, configs)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1 or sum(_label(e, i, c, configs) == label for e, i, c, _ in loaded) > 1:
            label = f"{label} ({d.name})"
        out.append(RunSummary(label, d, metrics))
    return out


def _columns(runs: list[RunSummary]) -> list[str]:
    """Known metrics in KNOWN's order, then the others in the order the runs write them (their
    headline metrics first, e.g. LISTA's code_error_T*), at most 12 in all, then the warnings."""
    present = list(
        dict.fromkeys(
            k for r in runs for k, v in r.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
    )
    known = [k for k in KNOWN if k in present]
    rest = [k for k in present if k not in known and k not in SKIP and not k.startswith("warn_")]
    warns = sorted(k for k in present if k.startswith("warn_"))
    return known + rest[: max(0, 12 - len(known))] + warns


def _best(runs: list[RunSummary], key: str) -> float | None:
    values = [
        r.metrics[key] for r in runs if isinstance(r.metrics.get(key), (int, float)) and math.isfinite(r.metrics[key])
    ]
    if key.startswith("warn_") or key not in KNOWN or len(values) < 2:
        return None
    return min(values) if KNOWN[key] else max(values)


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return "–" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def comparison_table(runs: list[RunSummary]) -> str:
    """A markdown table, the best value of each known metric in bold."""
    cols = _columns(runs)
    lines = ["| run | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    best = {k: _best(runs, k) for k in cols}
    for r in runs:
        cells = []
        for k in cols:
            v = r.metrics.get(k)
            text = _fmt(v)
            cells.append(f"**{text}**" if v is not None and best[k] is not None and v == best[k] else text)
        lines.append(f"| {r.label} | " + " | ".join(cells) + " |")
    arrows = ", ".join(f"{k} {'↓' if KNOWN[k] else '↑'}" for k in cols if k in KNOWN)
    return "\n".join(lines) + (f"\n\nBest in bold ({arrows})." if arrows else "")


def comparison_figure(runs: list[RunSummary]):
    """One bar panel per metric (warnings left out), runs in the same colours throughout."""
    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    cols = [k for k in _columns(runs) if not k.startswith("warn_")][:12]
    ncols = min(4, max(1, len(cols)))
    nrows = max(1, math.ceil(len(cols) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 0.8 + 0.32 * len(runs) * nrows + 1.2 * nrows), squeeze=False
    )
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, key in zip(axes.flat, cols):
        values = [r.metrics.get(key, float("nan")) for r in runs]
        ax.barh(range(len(runs)), values, color=colours)
        ax.set_yticks(range(len(runs)))
        ax.set_yticklabels([r.label for r in runs] if ax in axes[:, 0] else [], fontsize=7)
        ax.invert_yaxis()
        arrow = "" if key not in KNOWN else (" (lower is better)" if KNOWN[key] else " (higher is better)")
        ax.set_title(key + arrow, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(cols) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def sample_efficiency_figure(runs: list[RunSummary]):
    """Evaluation return against environment steps for the runs that log it (None when none does)."""
    from ebmlab.viz.curves import read_metrics_log

    curves = {}
    for i, r in enumerate(runs):
        points = [
            (row["step"], row["eval_return"])
            for row in read_metrics_log(r.path / "metrics.jsonl")
            if isinstance(row.get("eval_return"), (int, float))
        ]
        if points:
            curves[i] = points
    if not curves:
        return None

    from ebmlab.viz.backend import file_backend

    file_backend()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, points in curves.items():
        ax.plot(
            [p[0] for p in points], [p[1] for p in points], "o-", color=f"C{i % 10}", lw=1.5, ms=3, label=runs[i].label
        )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title("sample efficiency", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def compare_runs(run_dirs: list[str | Path], out: str | Path) -> tuple[str, Path]:
    """Write compare.md, compare.png and compare.html into ``out``; return the table and the folder."""
    import base64
    import html
    import io

    import matplotlib.pyplot as plt

    from ebmlab.runtime.atomic import atomic_write

    if len(run_dirs) < 1:
        raise RunFolderError("give at least one run folder to compare")
    runs = load_summaries(run_dirs)
    table = comparison_table(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.md", table + "\n\nRuns:\n" + "".join(f"- {r.label}: {r.path}\n" for r in runs))
    fig = comparison_figure(runs)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(out / "compare.png", lambda f: f.write(buffer.getvalue()))
    images = [buffer.getvalue()]
    curves = sample_efficiency_figure(runs)
    if curves is not None:
        curve_buffer = io.BytesIO()
        curves.savefig(curve_buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(curves)
        atomic_write(out / "sample_efficiency.png", lambda f: f.write(curve_buffer.getvalue()))
        images.append(curve_buffer.getvalue())
    rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td><td><a href='{html.escape(str(r.path.resolve() / 'report.html'))}'>"
        "report</a></td></tr>"
        for r in runs
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>ebmlab compare</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto'>"
        f"<h1>ebmlab compare</h1><pre>{html.escape(table)}</pre>"
        + "".join(
            f"<img style='max-width:100%' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            for png in images
        )
        + f"<table>{rows}</table></body></html>"
    )
    atomic_write_text(out / "compare.html", page)
    return table, out
