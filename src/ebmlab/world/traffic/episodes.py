"""Ego episodes over recorded traffic, many at once: PPUU's evaluation protocol and its training views.

An episode replaces one recorded car (the ego car) after its first
``CONDITIONING`` frames, from that car's state, and drives it by the actions it
is given, until it collides, leaves the road, reaches the end of the segment, or
the recording (or ``max_steps``) runs out. The other cars either

- ``replay``: follow their recorded trajectories and do not react to the ego car
  (PPUU's protocol, in which doing nothing fails: cars behind drive into you); or
- ``reactive``: drive on from the recorded frame by IDM/MOBIL, seeing the ego car.

:func:`views` rasterises what any recorded car saw at any frames (the images of a
training set; the conditioning frames of an episode); :func:`driven_on`, the
others' next frames if every one of them went on at its current velocity; :meth:`Episodes.future`, the others'
next steps as they will be whatever the ego car does (in replay mode, the recording), seen by :func:`seen_from`.
"""

from __future__ import annotations

import torch

from ebmlab.world.traffic.drivers import DriverMix
from ebmlab.world.traffic.kinematics import clip_action, kinematic_step
from ebmlab.world.traffic.raster import HEIGHT, WIDTH, rasterise
from ebmlab.world.traffic.recording import CONDITIONING, Recording
from ebmlab.world.traffic.road import Road
from ebmlab.world.traffic.simulator import COL, FIELDS, Traffic

__all__ = [
    "Episodes",
    "views",
    "driven_on",
    "seen_from",
    "moved_on",
    "ego_state",
    "collisions",
    "boxes_overlap",
    "frame_rows",
    "MODES",
]

MODES = ("replay", "reactive")


def ego_state(x, y, psi, v) -> torch.Tensor:
    """PPUU's state vector: position and velocity (x, y, v cos ψ, v sin ψ), …×4."""
    return torch.stack([x, y, v * torch.cos(psi), v * torch.sin(psi)], -1)


def boxes_overlap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
    """Whether boxes a and b (x, y, length, width; broadcastable tensors), aligned with the road, overlap."""
    return ((a["x"] - b["x"]).abs() < (a["length"] + b["length"]) / 2) & (
        (a["y"] - b["y"]).abs() < (a["width"] + b["width"]) / 2
    )


def collisions(ego: dict[str, torch.Tensor], others: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """B, B: whether the ego car's box overlaps any present other car's, and whether one of those is behind it
    (its centre further back along the road: the ego car was hit from behind)."""
    ego = {k: v[:, None] for k, v in ego.items()}
    overlap = boxes_overlap(ego, others) & others["present"]
    return overlap.any(1), (overlap & (others["x"] < ego["x"])).any(1)


def _frame(rec: Recording, env: torch.Tensor, t: torch.Tensor, own_slot: torch.Tensor) -> dict[str, torch.Tensor]:
    """The recorded cars of frames (env, t), B each, as ``others`` for :func:`rasterise` (without ``own_slot``),
    with their speeds and headings (v, psi)."""
    f = rec.frames
    cid = f["car_id"][env, t]
    present = cid >= 0
    present[torch.arange(len(env)), own_slot] = False
    size = _sizes(rec)
    return {
        "x": f["x"][env, t],
        "y": f["y"][env, t],
        "v": f["v"][env, t],
        "psi": f["psi"][env, t],
        "present": present,
        "length": size["length"][env[:, None], cid.long().clamp_min(0)],
        "width": size["width"][env[:, None], cid.long().clamp_min(0)],
    }


def _sizes(rec: Recording) -> dict[str, torch.Tensor]:
    """E × (max id + 1) look-up tables of each car's length and width (and its row in the car table)."""
    cache = rec.__dict__.setdefault("_size_tables", {})
    if not cache:
        E = rec.shape[0]
        width = int(rec.cars["id"].max()) + 1 if len(rec) else 1
        for name in ("length", "width"):
            table = torch.ones(E, width)
            table[rec.cars["env"], rec.cars["id"]] = rec.cars[name]
            cache[name] = table
        row = torch.full((E, width), -1, dtype=torch.long)
        row[rec.cars["env"], rec.cars["id"]] = torch.arange(len(rec))
        cache["row"] = row
    return cache


def frame_rows(rec: Recording, env: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The recorded frames (env, t), k each, as :class:`~ebmlab.world.traffic.simulator.Traffic` rows (k×N×F: the
    state columns and the lane filled, the drivers' columns zero) and their car ids (k×N, −1: no car)."""
    f = rec.frames
    cid = f["car_id"][env, t].long()
    rows = torch.zeros(cid.shape + (len(FIELDS),))
    for k in ("x", "y", "psi", "v"):
        rows[..., COL[k]] = f[k][env, t]
    rows[..., COL["lane"]] = rec.road.lane_of(rows[..., COL["y"]]).float()
    return rows, cid


def views(rec: Recording, cars: torch.Tensor, frames: torch.Tensor, centre=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B×4×H×W) and states (B×4) that cars ``cars`` (rows of the car table) saw at ``frames`` (B); with
    ``centre`` (x, y: B each), the views are centred there instead of on each car."""
    env, slot = rec.cars["env"][cars], rec.cars["slot"][cars]
    f = rec.frames
    ego = {
        "x": f["x"][env, frames, slot],
        "y": f["y"][env, frames, slot],
        "length": rec.cars["length"][cars],
        "width": rec.cars["width"][cars],
    }
    image = rasterise(ego, _frame(rec, env, frames, slot), rec.road, centre=centre)
    return image, ego_state(ego["x"], ego["y"], f["psi"][env, frames, slot], f["v"][env, frames, slot])


def moved_on(others: dict[str, torch.Tensor], seconds: torch.Tensor) -> dict[str, torch.Tensor]:
    """The cars ``others`` (x, y, v, psi, …) ``seconds`` later (broadcastable against x), each gone on at its
    current velocity."""
    return {
        **others,
        "x": others["x"] + others["v"] * torch.cos(others["psi"]) * seconds,
        "y": others["y"] + others["v"] * torch.sin(others["psi"]) * seconds,
    }


def seen_from(others: dict[str, torch.Tensor], cx: torch.Tensor, cy: torch.Tensor, road: Road) -> torch.Tensor:
    """B×T×H×W cars channels of views centred at (cx, cy) (B×T) of the cars ``others`` (x, y, length, width,
    present: B×T×N, one set of cars per view, or anything that broadcasts to it); no ego car is drawn."""
    B, T = cx.shape
    N = others["x"].shape[-1]
    flat = {k: torch.broadcast_to(others[k], (B, T, N)).flatten(0, 1) for k in ("x", "y", "length", "width", "present")}
    x, y = cx.flatten(), cy.flatten()
    nobody = torch.zeros_like(x)
    image = rasterise({"x": x, "y": y, "length": nobody, "width": nobody}, flat, road, centre=(x, y))
    return image[:, 1].view(B, T, HEIGHT, WIDTH)


def driven_on(others: dict[str, torch.Tensor], cx: torch.Tensor, cy: torch.Tensor, road: Road) -> torch.Tensor:
    """B×T×H×W cars channels of views centred at (cx, cy) (B×T; view k is k + 1 steps ahead) of the cars
    ``others`` (B×N, with v and psi) going on at their current velocity: the simplest prediction of the traffic
    from the present alone (exact for one step, since a step moves a car at its velocity before changing it)."""
    T = cx.shape[1]
    ahead = (torch.arange(1, T + 1, dtype=cx.dtype, device=cx.device) * road.dt)[None, :, None]
    return seen_from(moved_on({k: v[:, None] for k, v in others.items()}, ahead), cx, cy, road)


class Episodes:
    """Episodes of ego cars replacing recorded cars ``cars`` (rows of the car table), all stepped at once."""

    def __init__(
        self,
        rec: Recording,
        cars: torch.Tensor,
        mode: str = "replay",
        max_steps: int | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            from ebmlab.errors import ConfigError

            raise ConfigError(f"unknown mode {mode!r}; choose replay or reactive")
        self.rec, self.mode, self.road = rec, mode, rec.road
        self.max_steps = max_steps or rec.shape[1]
        B = len(cars)
        zeros = lambda dtype=torch.float32: torch.zeros(B, dtype=dtype)  # noqa: E731
        self.cars, self.env, self.slot, self.start, self.t, self.steps = (zeros(torch.long) for _ in range(6))
        self.x, self.y, self.psi, self.v, self.x0, self.length, self.width = (zeros() for _ in range(7))
        self.done = zeros(torch.bool)
        self.outcome = {k: zeros(torch.bool) for k in ("collision", "hit_from_behind", "offroad", "arrived", "timeout")}
        self.traffic = (
            Traffic(rec.config, B, seed=rec.seed + 1 + seed, device=device, warmup=False)
            if mode == "reactive"
            else None
        )
        self.reset(torch.arange(B), torch.as_tensor(cars, dtype=torch.long))

    def reset(self, index: torch.Tensor, cars: torch.Tensor) -> None:
        """Start episodes ``index`` anew, replacing recorded cars ``cars`` (rows of the car table)."""
        c, f = self.rec.cars, self.rec.frames
        self.cars[index] = cars
        self.env[index], self.slot[index] = c["env"][cars], c["slot"][cars]
        self.start[index] = c["first"][cars] + CONDITIONING
        self.t[index] = self.start[index]
        self.steps[index] = 0
        at = (self.env[index], self.t[index], self.slot[index])
        for k in ("x", "y", "psi", "v"):
            getattr(self, k)[index] = f[k][at]
        self.x0[index] = self.x[index]
        self.length[index], self.width[index] = c["length"][cars], c["width"][cars]
        self.done[index] = False
        self._others = None
        for flags in self.outcome.values():
            flags[index] = False
        if self.traffic is not None:
            self._load_traffic(index)

    def _load_traffic(self, index: torch.Tensor) -> None:
        """Reactive mode: the simulations of episodes ``index`` start from their recorded frames."""
        rec = self.rec
        env, t = self.env[index], self.t[index]
        rows, cid = frame_rows(rec, env, t)
        table = _sizes(rec)["row"][env[:, None], cid.clamp_min(0)]
        for name in DriverMix.FIELDS:
            rows[..., COL[name]] = rec.cars[name][table.clamp_min(0)]
        clock = rec.bottleneck["t0"][env] + t * self.road.dt
        self.traffic.load(
            index,
            rows,
            cid >= 0,
            cid,
            clock,
            rec.bottleneck["period"][env],
            rec.bottleneck["phase"][env],
            self.slot[index],
        )

    # ------------------------------------------------------------------ what the ego sees
    def ego(self) -> dict[str, torch.Tensor]:
        return {"x": self.x, "y": self.y, "length": self.length, "width": self.width}

    def others(self) -> dict[str, torch.Tensor]:
        """The other cars now (B×N: x, y, v, psi, length, width, present), computed once per step."""
        if self._others is None:
            if self.traffic is None:
                self._others = _frame(self.rec, self.env, self.t.clamp(max=self.rec.shape[1] - 1), self.slot)
            else:
                tr = self.traffic
                present = tr.alive.clone()
                present[torch.arange(len(self.cars)), self.slot] = False
                self._others = {
                    "x": tr.x,
                    "y": tr.y,
                    "v": tr.v,
                    "psi": tr.psi,
                    "length": tr.length,
                    "width": tr.width,
                    "present": present,
                }
        return self._others

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Images B×4×H×W and states B×4 (x, y, vx, vy) of the ego cars now."""
        return rasterise(self.ego(), self.others(), self.road), ego_state(self.x, self.y, self.psi, self.v)

    def history(self, frames: int = CONDITIONING) -> tuple[torch.Tensor, torch.Tensor]:
        """The recorded car's own views of its last ``frames`` frames before the episode (B×frames×…)."""
        images, states = zip(*(views(self.rec, self.cars, self.start - frames + k) for k in range(frames)))
        return torch.stack(images, 1), torch.stack(states, 1)

    def future(self, horizon: int) -> dict[str, torch.Tensor]:
        """The other cars at each of the next ``horizon`` steps (x, y, v, psi, length, width, present: B×H×N), as
        they will be whatever the ego car does: in replay mode, the recording (privileged knowledge, what a
        perfect world model would predict; frames past the recording's end repeat its last)."""
        if self.traffic is not None:
            from ebmlab.errors import ConfigError

            raise ConfigError("in reactive mode the other cars react to the ego car: their future is not known ahead")
        B, last = len(self.cars), self.rec.shape[1] - 1
        t = (self.t[:, None] + torch.arange(1, horizon + 1)).clamp(max=last).flatten()
        rep = lambda v: v.repeat_interleave(horizon)  # noqa: E731
        return {k: v.view(B, horizon, -1) for k, v in _frame(self.rec, rep(self.env), t, rep(self.slot)).items()}

    def recorded_action(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The replaced car's recorded action now (a, b), B each (zero past its last frame)."""
        f = self.rec.frames
        t = self.t.clamp(max=self.rec.shape[1] - 1)
        return f["a"][self.env, t, self.slot], f["b"][self.env, t, self.slot]

    @property
    def distance(self) -> torch.Tensor:
        return self.x - self.x0

    # ------------------------------------------------------------------ step
    @torch.no_grad()
    def step(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Drive every running episode one step by actions (a, b); finished ones stay put. Returns ``done``."""
        a, b = clip_action(a.to(self.x), b.to(self.x))
        running = ~self.done
        if self.traffic is not None:
            self.traffic.step((a, b))
            ar = torch.arange(len(self.cars))
            moved = (
                self.traffic.x[ar, self.slot],
                self.traffic.y[ar, self.slot],
                self.traffic.psi[ar, self.slot],
                self.traffic.v[ar, self.slot],
            )
        else:
            moved = kinematic_step(self.x, self.y, self.psi, self.v, a, b, self.road.dt)
        self.x, self.y, self.psi, self.v = (
            torch.where(running, new, old) for new, old in zip(moved, (self.x, self.y, self.psi, self.v))
        )
        self.t = torch.where(running, self.t + 1, self.t)
        self._others = None
        self.steps = torch.where(running, self.steps + 1, self.steps)
        hit, from_behind = collisions(self.ego(), self.others())
        hit = hit & running
        off = ((self.y < 0) | (self.y > self.road.width)) & running & ~hit
        arrived = (self.x >= self.road.length) & running & ~hit & ~off
        out_of_time = (
            ((self.t >= self.rec.shape[1] - 1) | (self.steps >= self.max_steps)) & running & ~hit & ~off & ~arrived
        )
        for key, event in (
            ("collision", hit),
            ("hit_from_behind", hit & from_behind),
            ("offroad", off),
            ("arrived", arrived),
            ("timeout", out_of_time),
        ):
            self.outcome[key] |= event
        self.done |= hit | off | arrived | out_of_time
        return self.done

    def summary(self) -> dict[str, float]:
        """PPUU's evaluation: success rate (arrived without collision or leaving the road), mean distance
        travelled, collision and off-road rates; and the share of episodes ended by a car behind running into
        the ego car (part of the collisions)."""
        o = self.outcome
        return {
            "success_rate": o["arrived"].float().mean().item(),
            "mean_distance": self.distance.mean().item(),
            "collision_rate": o["collision"].float().mean().item(),
            "hit_from_behind_rate": o["hit_from_behind"].float().mean().item(),
            "offroad_rate": o["offroad"].float().mean().item(),
            "timeout_rate": o["timeout"].float().mean().item(),
            "episodes": len(self.cars),
        }
