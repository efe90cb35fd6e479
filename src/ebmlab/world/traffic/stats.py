"""How hard the recorded traffic is: density, speed, stop-and-go, the fundamental diagram, and overlaps.

Measured inside the segment (0 ≤ x < road.length) over every frame of a
recording. Flow and density per space-time cell follow Edie's generalised
definitions (Edie 1963): over a cell of length Δx and duration Δt of one lane,
density k = (total time cars spent in it) / (Δx Δt) and flow q = (total distance
they drove in it) / (Δx Δt); the cloud of (k, q) over cells is the
fundamental diagram.
"""

from __future__ import annotations

import torch

from ebmlab.world.traffic.recording import Recording

__all__ = ["traffic_stats", "fundamental_diagram", "overlapping_pairs", "STOP_AND_GO_SPEED"]

STOP_AND_GO_SPEED = 15 / 3.6  # m/s: below 15 km/h a car is stopped or crawling in a wave


def _in_segment(rec: Recording) -> torch.Tensor:
    f = rec.frames
    return (f["car_id"] >= 0) & (f["x"] >= 0) & (f["x"] < rec.road.length)


def traffic_stats(rec: Recording) -> dict[str, float]:
    """Density (vehicles per km per lane), space-mean speed (m/s), share of car-time below 15 km/h, flow
    (vehicles per hour per lane, Edie over the whole segment), cars in the simulation per frame."""
    road, f = rec.road, rec.frames
    inside = _in_segment(rec)
    E, T, N = inside.shape
    car_time = inside.sum().item() * road.dt  # vehicle-seconds in the segment
    span = road.length / 1000 * road.lanes * E * T * road.dt  # lane-km × s
    v = f["v"][inside]
    return {
        "density_veh_per_km_lane": car_time / span,
        "mean_speed_mps": v.mean().item(),
        "stop_and_go_share": (v < STOP_AND_GO_SPEED).float().mean().item(),
        "flow_veh_per_h_lane": (v.sum().item() * road.dt / 1000) / span * 3600,
        "cars_per_env": (f["car_id"] >= 0).sum((0, 2)).float().mean().item() / E,
        "recorded_cars": len(rec),
        "test_cars": len(rec.split("test")),
    }


def fundamental_diagram(
    rec: Recording, cell_m: float = 100.0, cell_s: float = 30.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Density (veh/km/lane) and flow (veh/h/lane) of every (environment, lane, cell_m × cell_s) cell."""
    road, f = rec.road, rec.frames
    inside = _in_segment(rec)
    E, T, N = inside.shape
    lane = road.lane_of(f["y"])
    xc = (f["x"] / cell_m).floor().clamp(0, road.length / cell_m - 1).long()
    tc = (torch.arange(T) * road.dt / cell_s).floor().long()[None, :, None].expand(E, T, N)
    n_x, n_t = int(road.length / cell_m), int(tc.max()) + 1
    cell = ((torch.arange(E)[:, None, None] * road.lanes + lane) * n_x + xc) * n_t + tc
    cells = E * road.lanes * n_x * n_t
    time = torch.zeros(cells).index_add_(0, cell[inside], torch.full((int(inside.sum()),), road.dt))
    dist = torch.zeros(cells).index_add_(0, cell[inside], f["v"][inside] * road.dt)
    area = cell_m / 1000 * cell_s / 3600  # km × h
    full = torch.arange(cells) % n_t < (T * road.dt // cell_s)  # whole cells only
    return (time / 3600 / area)[full], (dist / 1000 / area)[full]


def overlapping_pairs(rec: Recording, every: int = 10) -> int:
    """Pairs of recorded cars whose boxes overlap, counted over every ``every``-th frame (0: a clean recording)."""
    from ebmlab.world.traffic.episodes import _frame, boxes_overlap

    f = rec.frames
    E, T, N = f["car_id"].shape
    total = 0
    for t in range(0, T, every):
        env = torch.arange(E)
        cars = _frame(rec, env, torch.full((E,), t), torch.zeros(E, dtype=torch.long))
        cars["present"] = f["car_id"][:, t] >= 0
        hit = boxes_overlap({k: v[:, :, None] for k, v in cars.items()}, {k: v[:, None, :] for k, v in cars.items()})
        total += int((hit & cars["present"][:, :, None] & cars["present"][:, None, :]).triu(1).sum())
    return total
