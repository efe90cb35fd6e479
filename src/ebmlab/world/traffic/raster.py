"""Ego-centred images of the traffic, as PPUU's observations, vectorised over environments and cars.

An image is C×H×W = 4×117×24 float in [0, 1]: rows run along the road (row 0
ahead of the ego car, ±36 m), columns across it (column 0 on the left, 4 lanes
wide), at ``SCALE`` = 24 px / (4 lanes · 3.7 m) ≈ 1.62 px/m (PPUU draws 24 px
per lane and shrinks by 4, which gives 117 × 24). Channels:

0. lane markings (and the road's edges), 1. other cars, 2. the ego car,
3. off the road (an addition to PPUU's three, for the off-road cost).

The view is aligned with the road, not turned with the ego's heading (headings
stay within a few degrees here), and a car is drawn as its axis-aligned box with
each pixel's exact coverage, so a car moving by a fraction of a pixel changes
the image smoothly. A box's coverage of a pixel is its row coverage times its
column coverage, so the cars channel is one batched matrix product of
(cars × rows) and (cars × columns) over the cars in view (at most ``max_cars``,
the nearest).
"""

from __future__ import annotations

import torch

from ebmlab.world.traffic.road import Road

__all__ = [
    "HEIGHT",
    "WIDTH",
    "SCALE",
    "CHANNELS",
    "rasterise",
    "road_channels",
    "ego_channel",
    "interval_coverage",
    "pixel_offsets",
]

HEIGHT, WIDTH = 117, 24
SCALE = WIDTH / (4 * 3.7)  # pixels per metre
CHANNELS = ("lanes", "cars", "ego", "offroad")
MARKING = 0.3  # m, width of a painted line


def interval_coverage(lo: torch.Tensor, hi: torch.Tensor, n: int) -> torch.Tensor:
    """How much of each of ``n`` unit pixels [k, k + 1] the interval [lo, hi] (pixel units, …) covers: …×n."""
    k = torch.arange(n, dtype=lo.dtype, device=lo.device)
    return (torch.minimum(hi[..., None], k + 1) - torch.maximum(lo[..., None], k)).clamp(0.0, 1.0)


def pixel_offsets(device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (m) of the pixel centres from the ego car's centre: along the road per row (ahead > 0), across per
    column (right > 0)."""
    rows = (HEIGHT / 2 - torch.arange(HEIGHT, device=device) - 0.5) / SCALE
    cols = (torch.arange(WIDTH, device=device) + 0.5 - WIDTH / 2) / SCALE
    return rows, cols


def _boxes(dx, dy, length, width):
    """Row and column coverage (…×H, …×W) of boxes centred (dx, dy) m from the ego car."""
    u = HEIGHT / 2 - dx * SCALE
    w = WIDTH / 2 + dy * SCALE
    return (
        interval_coverage(u - length * SCALE / 2, u + length * SCALE / 2, HEIGHT),
        interval_coverage(w - width * SCALE / 2, w + width * SCALE / 2, WIDTH),
    )


def road_channels(y0: torch.Tensor, road: Road) -> tuple[torch.Tensor, torch.Tensor]:
    """Column profiles (B×W) of the lane markings (with the road's edges) and of what lies off the road, for views
    centred ``y0`` (B) across the road; the same on every row, and differentiable in ``y0``."""
    w = WIDTH / 2 + (torch.arange(road.lanes + 1, device=y0.device) * road.lane_width - y0[:, None]) * SCALE  # B×(L+1)
    lanes = interval_coverage(w - MARKING * SCALE / 2, w + MARKING * SCALE / 2, WIDTH).sum(1).clamp(max=1.0)
    edges = torch.stack([WIDTH / 2 - y0 * SCALE, WIDTH / 2 + (road.width - y0) * SCALE], 1)
    return lanes, 1.0 - interval_coverage(edges[:, 0], edges[:, 1], WIDTH)


def ego_channel(dx: torch.Tensor, dy: torch.Tensor, length: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """B×H×W: the ego car's box, centred (dx, dy) m from the view's centre (zero in an ego-centred view)."""
    rows, cols = _boxes(dx, dy, length, width)
    return rows[:, :, None] * cols[:, None, :]


def rasterise(
    ego: dict[str, torch.Tensor],
    others: dict[str, torch.Tensor],
    road: Road,
    max_cars: int = 48,
    centre: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """B×4×H×W images of ``ego`` (x, y, length, width: B each) among ``others`` (x, y, length, width,
    present: B×N; ``present`` False for empty slots and for the ego's own), centred on the ego car or on
    ``centre`` (x, y: B each; the ego car is then drawn where it is in that view)."""
    x0, y0 = (ego["x"], ego["y"]) if centre is None else centre
    B, N = others["x"].shape
    out = torch.empty(B, len(CHANNELS), HEIGHT, WIDTH, device=x0.device)
    dx, dy = others["x"] - x0[:, None], others["y"] - y0[:, None]
    in_view = others["present"] & (dx.abs() < HEIGHT / SCALE / 2 + 3.0) & (dy.abs() < WIDTH / SCALE / 2 + 1.5)
    k = max(1, min(max_cars, int(in_view.sum(1).max())))
    near = torch.where(in_view, dx.abs(), torch.full_like(dx, 1e9)).topk(k, dim=1, largest=False)
    pick = lambda t: t.gather(1, near.indices)  # noqa: E731
    rows, cols = _boxes(pick(dx), pick(dy), pick(others["length"]), pick(others["width"]))
    cols = cols * (near.values < 1e9)[..., None]  # padding picks: nothing
    out[:, 1] = torch.bmm(rows.transpose(1, 2), cols).clamp_(max=1.0)  # B×H×W
    out[:, 2] = ego_channel(ego["x"] - x0, ego["y"] - y0, ego["length"], ego["width"])
    lanes, offroad = road_channels(y0, road)
    out[:, 0], out[:, 3] = lanes[:, None, :], offroad[:, None, :]
    return out
