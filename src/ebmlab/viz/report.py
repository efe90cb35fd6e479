"""report.html: one self-contained page per run (config, final metrics, curves, figures)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from ebmlab.runtime.atomic import atomic_write_text
from ebmlab.runtime.run import read_run_info
from ebmlab.viz.curves import plot_curves, read_metrics_log

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}figure{display:inline-block;margin:.5em;vertical-align:top}
figcaption{font-size:.85em;color:#555;text-align:center}img{max-width:100%;border:1px solid #eee}
.meta{color:#666;font-size:.9em}
"""


def _table(mapping: dict) -> str:
    rows = []
    for key, value in mapping.items():
        if isinstance(value, float):
            text, cls = f"{value:.6g}", "num"
        elif isinstance(value, int) and not isinstance(value, bool):
            text, cls = str(value), "num"
        else:
            text, cls = json.dumps(value) if not isinstance(value, str) else value, ""
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td class='{cls}'>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _img(data: bytes, caption: str, kind: str = "png") -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f"<figure><img src='data:image/{kind};base64,{encoded}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def write_report(run_dir: str | Path) -> Path:
    """Build ``run_dir/report.html`` from the files the run wrote; return its path."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    records = read_metrics_log(run_dir / "metrics.jsonl")

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(info['family'])} "
        f"{html.escape(info['name'])} — ebmlab</title><style>{_STYLE}</style></head><body>",
        f"<h1>ebmlab {html.escape(info['family'])} {html.escape(info['name'])}</h1>",
        f"<p class='meta'>{html.escape(str(run_dir))} · created {html.escape(info.get('created', '?'))} · "
        f"ebmlab {html.escape(info.get('ebmlab', '?'))} · torch {html.escape(info.get('torch', '?'))} · "
        f"device {html.escape(info.get('device', '?'))} · processes {info.get('world_size', 1)}</p>",
        "<h2>Final metrics</h2>" + (_table(metrics) if metrics else "<p>The run has not finished.</p>"),
    ]
    fig = plot_curves(records)
    if fig is not None:
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        parts.append("<h2>Training curves</h2>" + _img(buffer.getvalue(), "metrics.jsonl"))
    figures = sorted(run_dir.glob("*.png"))
    if figures:
        parts.append("<h2>Figures</h2>" + "".join(_img(p.read_bytes(), p.stem) for p in figures))
    animations = sorted(run_dir.glob("*.gif"))
    if animations:
        parts.append("<h2>Animations</h2>" + "".join(_img(p.read_bytes(), p.stem, "gif") for p in animations))
    parts.append("<h2>Configuration</h2>" + _table(config))
    command = " ".join(info.get("command", []))
    if command:
        parts.append(f"<h2>Command</h2><pre>{html.escape(command)}</pre>")
    parts.append("</body></html>")
    return atomic_write_text(run_dir / "report.html", "\n".join(parts))
