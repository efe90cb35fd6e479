"""index.html: one page linking the reports of several runs with their final metrics."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ebmlab.runtime.atomic import atomic_write_text
from ebmlab.runtime.run import read_run_info


def write_index(
    folder: str | Path, run_dirs: list[Path], title: str = "ebmlab runs", extra: dict[str, str] | None = None
) -> Path:
    """Write ``folder/index.html`` listing each run (family, name, final metrics, link to report),
    then ``extra`` links (text -> path relative to ``folder``)."""
    folder = Path(folder)
    items = []
    for run_dir in run_dirs:
        info = read_run_info(run_dir)
        metrics_path = run_dir / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        shown = ", ".join(
            f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in list(metrics.items())[:8]
        )
        link = html.escape(str((run_dir / "report.html").relative_to(folder)))
        items.append(
            f"<li><a href='{link}'>ebmlab {html.escape(info['family'])} {html.escape(info['name'])}</a>"
            f" ({html.escape(run_dir.name)})<br><small>{html.escape(shown)}</small></li>"
        )
    for text, target in (extra or {}).items():
        items.append(f"<li><a href='{html.escape(target)}'>{html.escape(text)}</a></li>")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto}"
        "li{margin:.8em 0}small{color:#555}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><ul>{''.join(items)}</ul></body></html>"
    )
    return atomic_write_text(folder / "index.html", page)
