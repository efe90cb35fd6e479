"""Costs computed from ego-centred images (:mod:`~ebmlab.world.traffic.raster`): differentiable in the image, so
they apply to a forward model's predicted images as well as to real ones (PPUU, Henaff et al. 2019, section 3.1).

- proximity: max over pixels of M ⊙ cars, with a mask M that is 1 over the ego
  car and falls linearly to 0 at the safe distance d = 1.5 · |v| + 1 m ahead of
  and behind it, and across to 0 at one lane width from its centre;
- lane: max over pixels of M_lane ⊙ lane markings, M_lane 1 at the ego car's
  centre and 0 at 1.4 m to its side (a car centred in its lane pays nothing);
- off-road: the same with the off-road channel.

Each is B (or B×T for images B×T×C×H×W) in [0, 1].
"""

from __future__ import annotations

import torch

from ebmlab.world.traffic.raster import pixel_offsets
from ebmlab.world.traffic.road import Road

__all__ = [
    "proximity_mask",
    "proximity_window",
    "lane_mask",
    "image_costs",
    "profile_costs",
    "mask_speed",
    "COST_WEIGHTS",
    "MASK_SPEEDS",
]

COST_WEIGHTS = {"proximity": 1.0, "lane": 0.2, "offroad": 1.0}  # PPUU's MPUR cost: proximity + 0.2 lane + 1 off-road
LANE_WIDTH = Road().lane_width


def proximity_mask(speed: torch.Tensor, length: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """…×H×W: 1 over the ego car, falling to 0 at 1.5 · |v| + 1 m beyond its bumpers and one lane width aside."""
    rows, cols = pixel_offsets(speed.device)
    safe = (1.5 * speed.abs() + 1.0)[..., None]
    along = (1 - (rows.abs() - length[..., None] / 2).clamp_min(0) / safe).clamp_min(0)
    half = width[..., None] / 2
    across = (1 - (cols.abs() - half).clamp_min(0) / (LANE_WIDTH - half)).clamp_min(0)
    return along[..., :, None] * across[..., None, :]


def lane_mask(length: torch.Tensor) -> torch.Tensor:
    """…×H×W: 1 at the ego car's centre line over its length (+ 1 m), 0 at 1.4 m aside."""
    rows, cols = pixel_offsets(length.device)
    along = (1 - (rows.abs() - length[..., None] / 2).clamp_min(0)).clamp_min(0)
    across = (1 - cols.abs() / 1.4).clamp_min(0)
    return along[..., :, None] * across[..., None, :]


MASK_SPEEDS = ("own", "start", "max")


def mask_speed(own: torch.Tensor, start: torch.Tensor, rule: str) -> torch.Tensor:
    """The speed that sizes the proximity mask along a rollout: the ego's ``own`` at each step (PPUU), its speed
    at the rollout's ``start`` (braking cannot shorten the mask, so the car behind that a replayed world sends
    is seen in time), or the ``max`` of the two (speeding up still lengthens it). ``start`` broadcasts."""
    if rule not in MASK_SPEEDS:
        raise ValueError(f"mask_speed must be one of {MASK_SPEEDS}, not {rule!r}")
    start = start.expand_as(own)
    return {"own": own, "start": start, "max": torch.maximum(own, start)}[rule]


EGO_LENGTH, EGO_WIDTH = 4.7, 1.85  # m: the size the costs assume for the ego car unless told


def image_costs(
    images: torch.Tensor,
    speed: torch.Tensor,
    length: torch.Tensor | float = EGO_LENGTH,
    width: torch.Tensor | float = EGO_WIDTH,
) -> dict[str, torch.Tensor]:
    """Proximity, lane and off-road costs of images …×4×H×W for an ego car at ``speed`` (…), size (length, width)."""
    length = torch.as_tensor(length, dtype=images.dtype, device=images.device).expand_as(speed)
    width = torch.as_tensor(width, dtype=images.dtype, device=images.device).expand_as(speed)
    prox = proximity_mask(speed, length, width)
    lane = lane_mask(length)
    top = lambda m, channel: (m * images[..., channel, :, :]).flatten(-2).amax(-1)  # noqa: E731
    return {"proximity": top(prox, 1), "lane": top(lane, 0), "offroad": top(lane, 3)}


def proximity_window(speed: torch.Tensor, length: float = EGO_LENGTH) -> tuple[slice, slice]:
    """The rows and columns outside of which the proximity mask is 0 for every ego car of ``speed`` (…): one lane
    width aside, the largest safe distance beyond the bumpers. A planner samples the cars channel only there."""
    rows, cols = pixel_offsets(speed.device)
    reach = length / 2 + 1.5 * float(speed.detach().abs().max()) + 1.0
    inside = lambda offsets, limit: (offsets.abs() < limit).nonzero()[:, 0]  # noqa: E731  (a contiguous run)
    r, c = inside(rows, reach), inside(cols, LANE_WIDTH)
    return slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1)


def profile_costs(
    cars: torch.Tensor,
    lanes: torch.Tensor,
    offroad: torch.Tensor,
    speed: torch.Tensor,
    window: tuple[slice, slice] | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`image_costs` (default ego size) of views whose lane and off-road channels are the same on every row
    (a straight road seen square to it): from the cars channel (…×H×W) and those channels' column profiles (…×W),
    without building the images. Equal to it, gradients included: the lane mask is a product of a row factor and
    a column factor, so its maximum over the rows is taken first. With ``window`` (:func:`proximity_window`),
    ``cars`` holds only those rows and columns of the channel."""
    prox = proximity_mask(speed, torch.full_like(speed, EGO_LENGTH), torch.full_like(speed, EGO_WIDTH))
    if window is not None:
        prox = prox[..., window[0], window[1]]
    across = lane_mask(torch.tensor(EGO_LENGTH, device=speed.device)).amax(-2)  # W: the best row, column by column
    return {
        "proximity": (prox * cars).flatten(-2).amax(-1),
        "lane": (across * lanes).amax(-1).expand_as(speed),
        "offroad": (across * offroad).amax(-1).expand_as(speed),
    }
