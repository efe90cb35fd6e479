"""Pictures of the traffic: a top-down view, animated episodes (GIF), the time-space speed diagram and the
fundamental diagram.

- :func:`top_down`: RGB frames (uint8) of the road around each ego car, road running left to right, drawn with
  the rasteriser's exact pixel coverage; other cars blue, the ego car red.
- :func:`episode_gif`: an episode as an animated GIF, the top-down view above the
  ego-centred view (turned so that ahead is to the right), and, for a model,
  its predicted ego-centred views beside the real one.
- :func:`time_space_diagram`: position along the road against time, coloured by
  speed, one lane: the picture in which stop-and-go waves show as bands
  travelling upstream.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ebmlab.runtime.atomic import atomic_write
from ebmlab.world.traffic.raster import interval_coverage
from ebmlab.world.traffic.road import Road

__all__ = [
    "top_down",
    "view_rgb",
    "stack_images",
    "write_gif",
    "episode_gif",
    "time_space_diagram",
    "fundamental_figure",
]

_ROAD, _MARK, _CAR, _EGO, _GRASS = (70, 70, 70), (235, 235, 235), (60, 130, 230), (230, 60, 50), (60, 110, 60)


def top_down(
    ego: dict[str, torch.Tensor],
    others: dict[str, torch.Tensor],
    road: Road,
    behind: float = 40.0,
    ahead: float = 80.0,
    px_per_m: float = 4.0,
) -> np.ndarray:
    """B×h×w×3 uint8 frames of the road from ``behind`` m behind to ``ahead`` m ahead of each ego car."""
    B = len(ego["x"])
    w = round((behind + ahead) * px_per_m)
    margin = 2.0
    h = round((road.width + 2 * margin) * px_per_m)
    left = ego["x"] - behind  # metres at column 0

    def boxes(x, y, length, width):
        cols = interval_coverage(
            (x - length / 2 - left[:, None]) * px_per_m, (x + length / 2 - left[:, None]) * px_per_m, w
        )
        rows = interval_coverage((y - width / 2 + margin) * px_per_m, (y + width / 2 + margin) * px_per_m, h)
        return torch.einsum("bnh,bnw->bhw", rows, cols).clamp(max=1)

    cars = boxes(others["x"], others["y"], others["length"], others["width"] * others["present"])
    me = boxes(ego["x"][:, None], ego["y"][:, None], ego["length"][:, None], ego["width"][:, None])
    ys = torch.arange(road.lanes + 1) * road.lane_width + margin
    marks = interval_coverage((ys - 0.15) * px_per_m, (ys + 0.15) * px_per_m, h).sum(0).clamp(max=1)
    on_road = interval_coverage(torch.tensor(margin * px_per_m), torch.tensor((road.width + margin) * px_per_m), h)
    img = torch.empty(B, h, w, 3)
    for c in range(3):
        base = on_road[:, None] * _ROAD[c] + (1 - on_road[:, None]) * _GRASS[c]
        base = base * (1 - marks[:, None]) + marks[:, None] * _MARK[c]
        img[..., c] = base * (1 - cars - me).clamp(min=0) + cars * _CAR[c] + me * _EGO[c]
    return img.clamp(0, 255).round().to(torch.uint8).numpy()


def view_rgb(images: torch.Tensor, scale: int = 3) -> np.ndarray:
    """Ego-centred images …×4×H×W as RGB uint8 …×W'×H'×3, turned so ahead is to the right, enlarged ``scale``×:
    lanes white, cars blue, ego red, off-road green."""
    lanes, cars, me, off = images.unbind(-3)
    rgb = torch.stack(
        [lanes * 200 + me * 230 + off * 40, lanes * 200 + cars * 130 + off * 90, lanes * 200 + cars * 230 + off * 40],
        -1,
    ).clamp(0, 255)
    rgb = rgb.flip(-3).transpose(-3, -2)  # rows ahead-first -> columns ahead-last
    rgb = rgb.repeat_interleave(scale, -3).repeat_interleave(scale, -2)
    return rgb.round().to(torch.uint8).numpy()


def stack_images(parts: list[np.ndarray], axis: int) -> np.ndarray:
    """RGB images (h×w×3) side by side (axis 1) or one above the other (axis 0), white-padded, 4 px apart."""
    size = max(p.shape[1 - axis] for p in parts)
    padded = [
        np.pad(p, [(0, 0) if a == axis else (0, size - p.shape[a]) for a in range(2)] + [(0, 0)], constant_values=255)
        for p in parts
    ]
    gap = np.full((4, size, 3) if axis == 0 else (size, 4, 3), 255, np.uint8)
    out = [padded[0]]
    for p in padded[1:]:
        out += [gap, p]
    return np.concatenate(out, axis)


def episode_gif(
    path: str | Path,
    tops: list[np.ndarray],
    views: list[np.ndarray],
    predicted: list[np.ndarray] | None = None,
    fps: int = 10,
) -> Path:
    """Write an animated GIF: per frame, the top-down view above the real ego view (and the predicted one)."""
    frames = []
    for i, (top, view) in enumerate(zip(tops, views)):
        bottom = view if predicted is None else stack_images([view, predicted[i]], 0)
        frames.append(stack_images([top, bottom], 0))
    return write_gif(path, frames, fps)


def write_gif(path: str | Path, frames: list[np.ndarray], fps: float = 10) -> Path:
    """RGB frames (h×w×3 uint8) as an animated GIF, written atomically."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


def time_space_diagram(rec, env: int = 0, lane: int = 2, every: int = 2):
    """A matplotlib figure: x against t for every car-frame of one lane of one environment, coloured by speed."""
    import matplotlib.pyplot as plt

    f, road = rec.frames, rec.road
    cid = f["car_id"][env, ::every]
    x, v, y = f["x"][env, ::every], f["v"][env, ::every], f["y"][env, ::every]
    keep = (cid >= 0) & (road.lane_of(y) == lane) & (x < road.end)
    t = (torch.arange(cid.shape[0]) * every * road.dt)[:, None].expand_as(x)
    fig, ax = plt.subplots(figsize=(9, 4))
    sc = ax.scatter(t[keep], x[keep], c=v[keep] * 3.6, s=0.4, cmap="RdYlGn", vmin=0, vmax=100, rasterized=True)
    ax.axhline(road.length, color="k", lw=0.8, ls="--")
    ax.text(0, road.length + 5, "end of segment", fontsize=8)
    ax.set(
        xlabel="time (s)",
        ylabel="position along the road (m)",
        title=f"time-space diagram, lane {lane + 1} of {road.lanes} (environment {env}); red bands: stop-and-go waves",
    )
    fig.colorbar(sc, ax=ax, label="speed (km/h)")
    return fig


def fundamental_figure(density: torch.Tensor, flow: torch.Tensor, stats: dict | None = None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(density, flow, s=4, alpha=0.5)
    ax.set(
        xlabel="density (vehicles / km / lane)",
        ylabel="flow (vehicles / h / lane)",
        title="fundamental diagram (Edie, 100 m × 30 s cells)",
    )
    if stats:
        ax.text(
            0.02,
            0.98,
            f"mean density {stats['density_veh_per_km_lane']:.0f} veh/km/lane\n"
            f"mean speed {stats['mean_speed_mps'] * 3.6:.0f} km/h\n"
            f"below 15 km/h: {100 * stats['stop_and_go_share']:.0f} % of car-time",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
        )
    return fig
