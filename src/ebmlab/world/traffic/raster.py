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

__all__ = ["HEIGHT", "WIDTH", "SCALE", "CHANNELS", "rasterise", "interval_coverage", "pixel_offsets"]

HEIGHT, WIDTH = 117, 24
SCALE = WIDTH / (4 * 3.7)          # pixels per metre
CHANNELS = ("lanes", "cars", "ego", "offroad")
MARKING = 0.3                       # m, width of a painted line


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
    return (interval_coverage(u - length * SCALE / 2, u + length * SCALE / 2, HEIGHT),
            interval_coverage(w - width * SCALE / 2, w + width * SCALE / 2, WIDTH))


def rasterise(ego: dict[str, torch.Tensor], others: dict[str, torch.Tensor], road: Road, max_cars: int = 48
              ) -> torch.Tensor:
    """B×4×H×W images centred on ``ego`` (x, y, length, width: B each) among ``others`` (x, y, length, width,
    present: B×N; ``present`` False for empty slots and for the ego's own)."""
    x0, y0 = ego["x"], ego["y"]
    B, N = others["x"].shape
    out = torch.empty(B, len(CHANNELS), HEIGHT, WIDTH, device=x0.device)
    dx, dy = others["x"] - x0[:, None], others["y"] - y0[:, None]
    in_view = others["present"] & (dx.abs() < HEIGHT / SCALE / 2 + 3.0) & (dy.abs() < WIDTH / SCALE / 2 + 1.5)
    k = max(1, min(max_cars, int(in_view.sum(1).max())))
    near = torch.where(in_view, dx.abs(), torch.full_like(dx, 1e9)).topk(k, dim=1, largest=False)
    pick = lambda t: t.gather(1, near.indices)  # noqa: E731
    rows, cols = _boxes(pick(dx), pick(dy), pick(others["length"]), pick(others["width"]))
    cols = cols * (near.values < 1e9)[..., None]                                   # padding picks: nothing
    out[:, 1] = torch.bmm(rows.transpose(1, 2), cols).clamp_(max=1.0)               # B×H×W
    ego_rows, ego_cols = _boxes(torch.zeros_like(x0), torch.zeros_like(y0), ego["length"], ego["width"])
    torch.mul(ego_rows[:, :, None], ego_cols[:, None, :], out=out[:, 2])
    # lane markings, the road's edges and what lies off the road: column profiles, the same on every row
    w = WIDTH / 2 + (torch.arange(road.lanes + 1, device=x0.device) * road.lane_width - y0[:, None]) * SCALE  # B×(L+1)
    out[:, 0] = interval_coverage(w - MARKING * SCALE / 2, w + MARKING * SCALE / 2, WIDTH).sum(1).clamp(max=1.0)[:, None, :]
    edges = torch.stack([WIDTH / 2 - y0 * SCALE, WIDTH / 2 + (road.width - y0) * SCALE], 1)
    inside = interval_coverage(edges[:, 0], edges[:, 1], WIDTH)
    out[:, 3] = (1.0 - inside)[:, None, :]
    return out
