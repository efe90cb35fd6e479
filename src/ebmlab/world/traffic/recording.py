"""Recorded traffic: the states and actions of every car of simulated drivers, stored compactly, split by car.

A recording is what NGSIM is to PPUU: trajectories of observed drivers, from
which ego-centred views are rasterised when read (never stored as images).
``record_traffic`` runs ``envs`` independent simulations after their warm-up and
keeps, for every frame and car slot, x, y, ψ, v and the action (a, b) that took
the car to the next frame, with the car's id (−1: empty slot); a table of cars
gives each car's environment, slot, first and last frame, size and driver.

A file (``.safetensors``, its settings in the header's metadata) holds it; the
cars that crossed the whole segment inside the recording are split 80/10/10
into train / validation / test by car with a fixed seed, as PPUU splits NGSIM.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ebmlab.errors import DataError
from ebmlab.runtime.atomic import atomic_write
from ebmlab.world.traffic.drivers import DriverMix
from ebmlab.world.traffic.road import Road
from ebmlab.world.traffic.simulator import COL, Traffic, TrafficConfig

__all__ = ["Recording", "record_traffic", "load_recording", "SPLITS", "CONDITIONING"]

SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLIT_SEED = 0
CONDITIONING = 20  # frames a model sees before the ego car takes a recorded car's place
FRAME_KEYS = ("x", "y", "psi", "v", "a", "b")
FORMAT = "ebmlab-traffic-1"


@dataclass
class Recording:
    """Frames E×T×N (``x``, ``y``, ``psi``, ``v``, ``a``, ``b`` float32, ``car_id`` int32, −1 where no car), the
    table of cars (one row per car, ``cars[name]``) and the simulation's settings."""

    frames: dict[str, torch.Tensor]
    cars: dict[str, torch.Tensor]
    config: TrafficConfig
    seed: int
    bottleneck: dict[str, torch.Tensor]  # period, phase (E×lanes) and t0 (E): the simulations' downstream state

    @property
    def road(self) -> Road:
        return self.config.road

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.frames["car_id"].shape)

    def __len__(self) -> int:
        return len(self.cars["env"])

    # ------------------------------------------------------------------ which cars
    def complete(self) -> torch.Tensor:
        """Indices of the cars an ego car can replace: seen for ``CONDITIONING`` frames before it starts, and
        seen leaving the segment (past ``road.length``) before the recording ends."""
        start = self.cars["first"] + CONDITIONING
        return torch.nonzero((self.cars["crossed"] >= 0) & (start < self.cars["crossed"])).flatten()

    def split(self, name: str) -> torch.Tensor:
        """The complete cars of split ``name`` (train / val / test), 80/10/10 by car with a fixed seed."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        cars = self.complete()
        order = cars[torch.randperm(len(cars), generator=torch.Generator().manual_seed(SPLIT_SEED))]
        n_train = round(SPLITS["train"] * len(cars))
        n_val = round(SPLITS["val"] * len(cars))
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(cars))}
        lo, hi = bounds[name]
        return order[lo:hi].sort().values

    def trajectory(self, car: int) -> dict[str, torch.Tensor]:
        """One car's frames from its first to its last: x, y, psi, v, a, b (each of length last − first + 1)."""
        e, slot, first, last = (int(self.cars[k][car]) for k in ("env", "slot", "first", "last"))
        return {k: self.frames[k][e, first : last + 1, slot] for k in FRAME_KEYS}

    # ------------------------------------------------------------------ file
    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save

        tensors = {f"frames.{k}": v.contiguous() for k, v in self.frames.items()}
        tensors |= {f"cars.{k}": v.contiguous() for k, v in self.cars.items()}
        tensors |= {f"bottleneck.{k}": v.contiguous() for k, v in self.bottleneck.items()}
        meta = {"format": FORMAT, "seed": str(self.seed), "config": json.dumps(dataclasses.asdict(self.config))}
        data = save(tensors, metadata=meta)
        return atomic_write(path, lambda f: f.write(data))


def load_recording(path: str | Path) -> Recording:
    """Read a recording written by :meth:`Recording.save`; a clear DataError for a missing or foreign file."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"recording {path} does not exist; make one with `ebmlab world traffic record --out DIR`"
        ) from None
    except IsADirectoryError:
        raise DataError(f"recording {path} is a folder; give the .safetensors file") from None
    try:
        tensors = load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__", {})
    except (SafetensorError, ValueError, UnicodeDecodeError, json.JSONDecodeError):
        raise DataError(
            f"{path} is not a traffic recording (not a readable safetensors file); record it again"
        ) from None
    if meta.get("format") != FORMAT:
        raise DataError(
            f"{path} is not a traffic recording of this version (format {meta.get('format')!r}, "
            f"expected {FORMAT!r}); record it again"
        )
    cfg = json.loads(meta["config"])
    config = TrafficConfig(
        **{
            **cfg,
            "road": Road(**cfg["road"]),
            "drivers": DriverMix(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["drivers"].items()}),
            "bottleneck_period": tuple(cfg["bottleneck_period"]),
        }
    )
    group = lambda prefix: {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}  # noqa: E731
    frames, cars = group("frames"), group("cars")
    missing = sorted(set(FRAME_KEYS + ("car_id",)) - set(frames)) + sorted(
        {"env", "slot", "first", "last", "crossed"} - set(cars)
    )
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; it is damaged: record it again")
    return Recording(frames, cars, config, int(meta["seed"]), group("bottleneck"))


@torch.no_grad()
def record_traffic(
    config: TrafficConfig, envs: int, seconds: float, seed: int = 0, device="cpu", progress=None
) -> Recording:
    """Simulate ``envs`` environments for ``seconds`` after the warm-up and keep every car's frames.

    ``progress`` wraps the range of steps (e.g. a tqdm bar)."""
    traffic = Traffic(config, envs, seed=seed, device=device)
    steps = round(seconds / config.road.dt)
    E, N = traffic.alive.shape
    keep = {k: torch.empty(E, steps, N) for k in FRAME_KEYS}
    car_id = torch.empty(E, steps, N, dtype=torch.int32)
    params = torch.empty(E, steps, N, len(DriverMix.FIELDS))
    t0 = traffic.clock.cpu().clone()
    loop = range(steps) if progress is None else progress(range(steps))
    for t in loop:
        snap = traffic.snapshot()
        for k in ("x", "y", "psi", "v"):
            keep[k][:, t] = snap[k].cpu()
        car_id[:, t] = torch.where(snap["alive"], snap["car_id"], -1).int().cpu()
        params[:, t] = traffic.cars[..., COL[DriverMix.FIELDS[0]] :].cpu()
        traffic.step()
        keep["a"][:, t], keep["b"][:, t] = traffic.accel.cpu(), traffic.curv.cpu()
    cars = _car_table(car_id, keep["x"], params, config.road)
    bottleneck = {"period": traffic.period.cpu(), "phase": traffic.phase.cpu(), "t0": t0}
    return Recording({**keep, "car_id": car_id}, cars, config, seed, bottleneck)


def _car_table(car_id: torch.Tensor, x: torch.Tensor, params: torch.Tensor, road: Road) -> dict[str, torch.Tensor]:
    """One row per (environment, id): slot, first and last frame, the frame it crossed ``road.length`` (−1 if not
    inside the recording) and its driver's parameters."""
    E, T, N = car_id.shape
    e, t, n = torch.nonzero(car_id >= 0, as_tuple=True)
    ids = car_id[e, t, n].long()
    key = e * (int(ids.max()) + 1 if len(ids) else 1) + ids
    uniq, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((len(uniq),), T, dtype=torch.long).scatter_reduce(0, inverse, t, "amin")
    last = torch.full((len(uniq),), -1, dtype=torch.long).scatter_reduce(0, inverse, t, "amax")
    slot = torch.zeros(len(uniq), dtype=torch.long).scatter(0, inverse, n)
    env = torch.zeros(len(uniq), dtype=torch.long).scatter(0, inverse, e)
    past = x[e, t, n] >= road.length
    crossed = torch.full((len(uniq),), T, dtype=torch.long).scatter_reduce(
        0, inverse, torch.where(past, t, torch.full_like(t, T)), "amin"
    )
    started_inside = first > 0  # a car already there when the recording began has no clean start
    crossed = torch.where((crossed < T) & started_inside, crossed, -1)
    table = {
        "env": env,
        "id": uniq - env * (int(ids.max()) + 1 if len(ids) else 1),
        "slot": slot,
        "first": first,
        "last": last,
        "crossed": crossed,
    }
    driver = params[env, first, slot]
    for i, name in enumerate(DriverMix.FIELDS):
        table[name] = driver[:, i]
    return table
