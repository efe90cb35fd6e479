"""Imagined worlds: episodes driven on from a recorded frame without the simulator, within PPUU's rules.

A policy trained only on recordings can still be rolled out, labelled and scored in a world *model*: the
recording's present, and a rule for how the other cars go on from it. Two such worlds, both episodes like
:class:`~ebmlab.world.traffic.episodes.Episodes` in replay mode (the others do not react to the ego car; the ego
moves by its known kinematics), each starting ``offsets`` frames after its car's first ``CONDITIONING``:

- :class:`ConstantVelocityWorld`: every other car goes on at its velocity at the start (no learning; right for
  about a second, then cars that should brake drive through the ones ahead);
- :class:`FittedTrafficWorld`: the others are driven by car-following and lane-change rules (IDM/MOBIL) whose
  parameters are *fitted to the recording* (:func:`fit_idm`: least squares on the recorded training cars'
  accelerations, gaps and speeds), the downstream pace held at the speed the recording shows past the segment
  then, cars entering at the recording's mean rate. The replaced car stays in that world as an unseen "ghost"
  that the cars behind it follow, as in replay mode the recorded car's followers follow it, not the ego car.

Nothing here reads the simulator's own drivers (their parameters in the car table), its bottleneck's schedule
or its inflow setting: only what a recording of observed cars holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ebmlab.world.traffic.drivers import NO_LEADER_GAP, DriverMix, idm_acceleration
from ebmlab.world.traffic.episodes import Episodes, _frame, _sizes, frame_rows, moved_on
from ebmlab.world.traffic.recording import CONDITIONING, Recording
from ebmlab.world.traffic.simulator import COL, Traffic

__all__ = [
    "IdmFit",
    "fit_idm",
    "ConstantVelocityWorld",
    "FittedTrafficWorld",
    "imagined_episodes",
    "imagined_futures",
    "world_error",
    "WORLDS",
]

WORLDS = ("constant-velocity", "fitted-idm")
_IDM = ("desired_speed", "time_headway", "min_gap", "max_accel", "comfort_decel")
_START = (30.0, 1.5, 2.0, 1.0, 1.5)  # textbook highway IDM values (Treiber & Kesting), where the fit starts
_POLITENESS = 0.3  # not identifiable from car-following: a common MOBIL value
_PACE = (0.0, 40.0)  # m/s: the range the held downstream pace is written in


@dataclass(frozen=True)
class IdmFit:
    """IDM parameters fitted to recorded drivers (one set for all), the residual's spread and the fit's R²."""

    desired_speed: float
    time_headway: float
    min_gap: float
    max_accel: float
    comfort_decel: float
    noise: float  # m/s²: standard deviation of the recorded accelerations around the fitted ones
    r2: float
    samples: int


def _car_following(rec: Recording, cars: torch.Tensor, frames: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """(v, v_lead, gap, a) of the recorded cars ``cars`` at ``frames`` frames drawn per environment: each
    settled in its lane (not changing lanes), inside the segment (before the downstream bottleneck), behind the
    next car of its lane (or a free road)."""
    f, road = rec.frames, rec.road
    E, T, N = rec.shape
    wanted = torch.zeros(E, int(rec.cars["id"].max()) + 1, dtype=torch.bool)
    wanted[rec.cars["env"][cars], rec.cars["id"][cars]] = True
    env = torch.arange(E).repeat_interleave(frames)
    t = torch.randint(T - 1, (E * frames,), generator=g)
    cid = f["car_id"][env, t].long()
    x, y, v, a = (f[k][env, t] for k in ("x", "y", "v", "a"))
    length = _sizes(rec)["length"][env[:, None], cid.clamp_min(0)]
    lane = road.lane_of(y)
    present = cid >= 0
    key = torch.where(present, lane * 1e4 + x, torch.full_like(x, 1e9))
    key, order = key.sort(1)
    pick = lambda z: z.gather(1, order)  # noqa: E731
    x, v, a, length, lane, cid, y, present = map(pick, (x, v, a, length, lane, cid, y, present))
    same = torch.zeros_like(present)
    same[:, :-1] = present[:, 1:] & (lane[:, 1:] == lane[:, :-1])
    gap = torch.full_like(x, NO_LEADER_GAP)
    gap[:, :-1] = torch.where(
        same[:, :-1], x[:, 1:] - length[:, 1:] / 2 - x[:, :-1] - length[:, :-1] / 2, NO_LEADER_GAP
    )
    v_lead = v.clone()
    v_lead[:, :-1] = torch.where(same[:, :-1], v[:, 1:], v[:, :-1])
    settled = (y - road.lane_centre(lane.float())).abs() < 0.3
    keep = (
        present
        & wanted[env[:, None].expand_as(cid), cid.clamp_min(0)]
        & settled
        & (x > 5.0)
        & (x < road.length - 5.0)
        & (gap > 0)
    )
    return {"v": v[keep], "v_lead": v_lead[keep], "gap": gap[keep], "a": a[keep]}


def fit_idm(
    rec: Recording, cars: torch.Tensor | None = None, frames: int = 400, steps: int = 400, seed: int = 0
) -> IdmFit:
    """One set of IDM parameters for the recorded drivers ``cars`` (default: the training split), by least
    squares on their accelerations given speed, the leader's speed and the gap, at ``frames`` frames per
    environment (Adam on the parameters' logarithms, from textbook values)."""
    cars = rec.split("train") if cars is None else cars
    data = _car_following(rec, cars, frames, torch.Generator().manual_seed(seed))
    if len(data["a"]) < 100:
        from ebmlab.errors import DataError

        raise DataError(f"only {len(data['a'])} car-following samples in the recording; record more traffic")
    log_p = torch.tensor(_START).log().requires_grad_(True)
    opt = torch.optim.Adam([log_p], lr=0.05)

    def predicted() -> torch.Tensor:
        v0, T, s0, a_max, b = log_p.exp()
        return idm_acceleration(data["v"], data["v_lead"], data["gap"], v0, T, s0, a_max, b)

    for _ in range(steps):
        loss = ((predicted() - data["a"]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        residual = data["a"] - predicted()
        r2 = 1 - residual.var() / data["a"].var()
    params = dict(zip(_IDM, (float(p) for p in log_p.detach().exp())))
    return IdmFit(**params, noise=float(residual.std()), r2=float(r2), samples=len(data["a"]))


class ConstantVelocityWorld(Episodes):
    """Episodes in the constant-velocity world, the world model without learning: each starts ``offsets`` frames
    after its car's first C, and from there every other car goes on at its velocity then while the ego moves by
    its kinematics. The episode ends after ``max_steps``, a collision with an extrapolated car, or leaving the
    road."""

    def __init__(self, rec: Recording, cars: torch.Tensor, offsets: torch.Tensor, max_steps: int) -> None:
        self.offsets = offsets
        super().__init__(rec, cars, "replay", max_steps)

    def reset(self, index: torch.Tensor, cars: torch.Tensor) -> None:
        super().reset(index, cars)
        f = self.rec.frames
        self.start[index] += self.offsets[index]
        self.t[index] = self.start[index]
        at = (self.env[index], self.t[index], self.slot[index])
        for k in ("x", "y", "psi", "v"):
            getattr(self, k)[index] = f[k][at]
        self.x0[index] = self.x[index]
        self.now = _frame(self.rec, self.env, self.start, self.slot)

    def others(self) -> dict:
        if self._others is None:
            self._others = moved_on(self.now, ((self.t - self.start).float() * self.road.dt)[:, None])
        return self._others

    def future(self, horizon: int) -> dict:
        """The other cars at each of the next ``horizon`` steps of this world (B×H×N each), whatever the ego does."""
        steps = (self.t - self.start)[:, None] + torch.arange(1, horizon + 1)
        moved = moved_on({k: v[:, None] for k, v in self.now.items()}, (steps.float() * self.road.dt)[..., None])
        shape = moved["x"].shape
        return {k: torch.broadcast_to(v, shape) for k, v in moved.items()}


class FittedTrafficWorld(ConstantVelocityWorld):
    """Episodes in which the other cars are driven on from the recorded frame by IDM/MOBIL with fitted
    parameters (see the module doc); the replaced car drives on unseen, a ghost its followers follow."""

    def __init__(
        self,
        rec: Recording,
        cars: torch.Tensor,
        offsets: torch.Tensor,
        max_steps: int,
        fit: IdmFit,
        seed: int = 0,
        inflow: bool = True,
    ) -> None:
        """``inflow`` False: no car enters (a prediction over a few seconds, where a drawn arrival would be
        noise); otherwise cars enter at the recording's mean rate."""
        E, T, N = rec.shape
        rate = len(rec) / (E * T * rec.road.dt / 3600.0) / rec.road.lanes  # cars per hour per lane, as seen
        inflow = rate if inflow else 0.0
        drivers = DriverMix(**{name: (getattr(fit, name),) * 2 for name in _IDM}, accel_noise=fit.noise)
        drivers = dataclasses.replace(drivers, politeness=(_POLITENESS, _POLITENESS))
        lo, hi = _PACE
        self.config = dataclasses.replace(
            rec.config, drivers=drivers, inflow=inflow, bottleneck_low=lo, bottleneck_high=hi, slots=N
        )
        self.fit = fit
        self.world = Traffic(self.config, len(cars), seed=seed, warmup=False)
        super().__init__(rec, cars, offsets, max_steps)

    def reset(self, index: torch.Tensor, cars: torch.Tensor) -> None:
        super().reset(index, cars)
        rec, road = self.rec, self.road
        env, t = self.env[index], self.start[index]
        rows, cid = frame_rows(rec, env, t)
        for name in _IDM:
            rows[..., COL[name]] = getattr(self.fit, name)
        rows[..., COL["politeness"]] = _POLITENESS
        for name in ("length", "width"):  # what an observer sees of each car
            rows[..., COL[name]] = _sizes(rec)[name][env[:, None], cid.clamp_min(0)]
        pace = self._downstream_pace(rows, cid >= 0)
        lo, hi = _PACE  # hold the bottleneck at ``pace``: an endless period, the phase where the wave gives it
        share = ((pace - lo) / (hi - lo)).clamp(0.02, 0.98)
        phase = torch.asin((torch.logit(share) / 4).clamp(-1, 1))
        lanes = road.lanes
        self.ghost_id = getattr(self, "ghost_id", torch.zeros(len(self.cars), dtype=torch.long))
        self.ghost_id[index] = cid[torch.arange(len(index)), self.slot[index]]
        if len(getattr(self, "tape", ())) > 1 and len(index) < len(self.cars):
            raise RuntimeError("episodes of a fitted world cannot restart one by one once their future was read")
        self.tape = []
        self.world.load(
            index,
            rows,
            cid >= 0,
            cid,
            torch.zeros(len(index)),
            torch.full((len(index), lanes), 1e12),
            phase,
            torch.full((len(index),), -1, dtype=torch.long),
        )

    def _downstream_pace(self, rows: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """k×lanes: the mean speed of the cars past the segment, lane by lane (the lanes' mean where a lane has
        none there; 22 m/s where none has)."""
        road = self.road
        lane = rows[..., COL["lane"]].long()
        past = present & (rows[..., COL["x"]] > road.length + 20.0)
        onehot = torch.nn.functional.one_hot(lane, road.lanes).float() * past[..., None]
        count = onehot.sum(1)
        total = (onehot * rows[..., COL["v"], None]).sum(1)
        mean_all = total.sum(1, keepdim=True) / count.sum(1, keepdim=True).clamp_min(1)
        mean_all = torch.where(count.sum(1, keepdim=True) > 0, mean_all, torch.full_like(mean_all, 22.0))
        return torch.where(count > 0, total / count.clamp_min(1), mean_all)

    def _ahead(self, k: int) -> dict:
        """The other cars ``k`` steps from now. The world does not see the ego car, so its next steps are known
        before the ego acts: they are simulated once, kept on a tape, and read from it as the episodes reach them."""
        while len(self.tape) <= k:
            if self.tape:
                self.world.step()
            w = self.world
            self.tape.append(
                {
                    "x": w.x.clone(),
                    "y": w.y.clone(),
                    "v": w.v.clone(),
                    "psi": w.psi.clone(),
                    "length": w.length.clone(),
                    "width": w.width.clone(),
                    "present": w.alive & (w.car_id != self.ghost_id[:, None]),
                }
            )
        return self.tape[k]

    def others(self) -> dict:
        if self._others is None:
            self._others = self._ahead(0)
        return self._others

    def future(self, horizon: int) -> dict:
        frames = [self._ahead(k) for k in range(1, horizon + 1)]
        return {key: torch.stack([f[key] for f in frames], 1) for key in frames[0]}

    @torch.no_grad()
    def step(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        self._ahead(1)
        self.tape.pop(0)
        return super().step(a, b)


def imagined_episodes(
    rec: Recording, cars: torch.Tensor, steps: int, g: torch.Generator, world: str, fit: IdmFit | None = None
) -> ConstantVelocityWorld:
    """Episodes of ``steps`` steps in ``world`` (one of ``WORLDS``), each from a frame drawn uniformly along its
    car's recorded crossing (its first C frames excluded: they are the episode's past)."""
    c = rec.cars
    room = (c["crossed"][cars] - c["first"][cars] - CONDITIONING).clamp_min(1)
    offsets = (torch.rand(len(cars), generator=g) * room).long()
    if world == "constant-velocity":
        return ConstantVelocityWorld(rec, cars, offsets, steps)
    if world == "fitted-idm":
        seed = int(torch.randint(2**31, (1,), generator=g))
        return FittedTrafficWorld(rec, cars, offsets, steps, fit or fit_idm(rec), seed=seed)
    from ebmlab.errors import ConfigError

    raise ConfigError(f"unknown world {world!r}; choose one of {', '.join(WORLDS)}")


@torch.no_grad()
def imagined_futures(
    rec: Recording,
    cars: torch.Tensor,
    t: torch.Tensor,
    track: torch.Tensor,
    horizon: int,
    fit: IdmFit,
    samples: int,
    g: torch.Generator,
) -> torch.Tensor:
    """n×(1 + samples)×horizon×H×W cars channels of the fitted world's futures after frame ``t`` of recorded cars
    ``cars`` (the others driven on from that frame, the car itself a ghost), seen from the reference track that
    starts at ``track`` (x, y, vx: n×3): first with the drivers' noise off (the mean future), then ``samples``
    futures each under its own noise: a stochastic world model fitted to the recording, whose spread MPUR's
    uncertainty term can read."""
    from ebmlab.world.driving.data import reference_track
    from ebmlab.world.traffic.episodes import seen_from

    offsets = t - rec.cars["first"][cars] - CONDITIONING
    cx, cy = reference_track(track, torch.arange(1, horizon + 1))
    out = []
    for k in range(1 + samples):
        world_fit = dataclasses.replace(fit, noise=0.0) if k == 0 else fit
        seed = int(torch.randint(2**31, (1,), generator=g))
        world = FittedTrafficWorld(rec, cars, offsets, horizon, world_fit, seed=seed)
        out.append(seen_from(world.future(horizon), cx, cy, rec.road))
    return torch.stack(out, 1)


def world_error(rec: Recording, cars: int = 256, horizons=(10, 50, 150, 300), fit: IdmFit | None = None) -> dict:
    """How far the other cars of each imagined world are from the recorded ones, ``horizons`` steps after a frame
    drawn along each of ``cars`` validation cars' crossings: the mean and median error of x and the mean error of
    y (m), over the cars within 40 m of the replaced car's recorded position that are still there, matched by id.
    The ego car drives by the replaced car's recorded actions; the episodes are kept running to the end."""
    f, out = rec.frames, {}
    fit = fit_idm(rec) if fit is None else fit
    out["fit"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in dataclasses.asdict(fit).items()}
    for world in WORLDS:
        eps = imagined_episodes(
            rec, rec.split("val")[:cars], max(horizons), torch.Generator().manual_seed(0), world, fit
        )
        start_ids = f["car_id"][eps.env, eps.start].long()
        rows = {}
        for k in range(1, max(horizons) + 1):
            eps.step(*eps.recorded_action())
            eps.done[:] = False  # measuring the world, not the ego car
            if k not in horizons:
                continue
            t = (eps.start + k).clamp(max=rec.shape[1] - 1)
            ids = eps.world.car_id if world == "fitted-idm" else start_ids
            o, recorded = eps.others(), f["car_id"][eps.env, t].long()
            near = (f["x"][eps.env, t] - f["x"][eps.env, t, eps.slot][:, None]).abs() < 40
            ok = o["present"] & (ids == recorded) & (recorded >= 0) & near & (eps.start + k < rec.shape[1])[:, None]
            dx, dy = (o["x"] - f["x"][eps.env, t]).abs()[ok], (o["y"] - f["y"][eps.env, t]).abs()[ok]
            rows[f"{k / 10:g} s"] = {
                "x_mean": round(float(dx.mean()), 2),
                "x_median": round(float(dx.median()), 2),
                "y_mean": round(float(dy.mean()), 2),
                "cars": int(ok.sum()),
            }
        out[world] = rows
    return out
