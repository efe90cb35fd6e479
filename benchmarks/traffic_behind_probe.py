"""Does the traffic model see the car behind coming when the ego car brakes? A probe of why MPUR slows down.

MPUR through the learnt model lowers its cost by driving slower, and the slower
policies are hit from behind in replay mode (benchmarks/bench_traffic_ppuu.py,
docs/RESULTS.md). Here, from the last conditioning frame of validation cars,
the ego car either repeats its recorded actions or brakes at a constant
``--brake`` m/s² (curvature 0) for 30 steps (3 s), once in the replay simulator
(the others follow their recorded paths and do not wait) and once through each
forward model of the benchmark (the stochastic one with z drawn from the prior,
as MPUR drives it, and the deterministic one). From every image the proximity
cost is read three ways: with PPUU's mask (sized by the ego's own speed) over the
car's whole neighbourhood; with it cut to the rows behind the ego's centre (the
car behind); and behind, with the mask sized by the larger of the ego's speed
and its speed at the start (``--mask-speed max``), which braking cannot shrink. The
replay's rear cost rises as the followers close in; if the models' does not,
the model tells MPUR that braking is free. Episodes are kept running past a
collision (the measurement is of the world, not of a driver); the share of
braking episodes hit from behind in replay is reported too.

Usage::

    python benchmarks/traffic_behind_probe.py

Run after ``bench_traffic_ppuu.py`` (it reads runs/bench-traffic/record, model-stoch and model-det).
Writes benchmarks/results/traffic_behind.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.world.driving.train_model import load_model  # noqa: E402
from ebmlab.world.traffic.episodes import Episodes  # noqa: E402
from ebmlab.world.traffic.image_costs import EGO_LENGTH, EGO_WIDTH, proximity_mask  # noqa: E402
from ebmlab.world.traffic.raster import pixel_offsets  # noqa: E402
from ebmlab.world.traffic.recording import load_recording  # noqa: E402

RUNS = ROOT / "runs" / "bench-traffic"
RESULTS = ROOT / "benchmarks" / "results" / "traffic_behind.json"
HORIZON, SHOWN = 30, (10, 20, 30)


PARTS = ("all", "behind", "behind_max")


def proximity(images: torch.Tensor, speed: torch.Tensor, start: torch.Tensor) -> dict[str, torch.Tensor]:
    """PPUU's proximity cost of images …×4×H×W at the ego's ``speed`` (…): over the whole mask (``all``), behind
    the centre only (``behind``), and behind with the mask sized by the larger of ``speed`` and the speed at the
    start (``behind_max``: ``--mask-speed max``)."""
    rows, _ = pixel_offsets()
    cars = images[..., 1, :, :]
    out = {}
    for name, v in (("own", speed), ("max", torch.maximum(speed, start))):
        mask = proximity_mask(v, torch.full_like(v, EGO_LENGTH), torch.full_like(v, EGO_WIDTH))
        behind = mask * (rows < 0).float()[:, None]
        if name == "own":
            out["all"] = (mask * cars).flatten(-2).amax(-1)
            out["behind"] = (behind * cars).flatten(-2).amax(-1)
        else:
            out["behind_max"] = (behind * cars).flatten(-2).amax(-1)
    return out


def actions(eps: Episodes, brake: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The replaced car's recorded action now, or braking at ``brake`` m/s² with no curvature."""
    a, b = eps.recorded_action()
    return (a, b) if brake is None else (torch.full_like(a, -brake), torch.zeros_like(b))


def replay(rec, cars: torch.Tensor, brake: float | None) -> dict[str, torch.Tensor]:
    """Proximity costs (B×HORIZON each) along 30 replay steps, and who was hit from behind."""
    eps = Episodes(rec, cars, "replay", HORIZON + 1)
    start = eps.v.clone()
    out = {k: [] for k in PARTS}
    for _ in range(HORIZON):
        a, b = actions(eps, brake)
        eps.step(a, b)
        eps.done[:] = False  # keep measuring past a collision
        images, states = eps.observe()
        for k, v in proximity(images, states[:, 2:].norm(dim=-1), start).items():
            out[k].append(v)
    result = {k: torch.stack(v, 1) for k, v in out.items()}
    result["hit_from_behind"] = eps.outcome["hit_from_behind"].float()
    return result


@torch.no_grad()
def through_model(model, rec, cars: torch.Tensor, brake: float | None, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The same 30 steps through a forward model from the same recorded past (its own predicted images)."""
    eps = Episodes(rec, cars, "replay", HORIZON + 1)
    images, states = eps.history()
    codes, last = model.encoder(images), images[:, -1]
    start = eps.v.clone()
    out = {k: [] for k in PARTS}
    for _ in range(HORIZON):
        a, b = actions(eps, brake)
        eps.step(a, b)  # only for the next recorded action; the model's own states are used below
        eps.done[:] = False
        action = torch.stack([a, b], -1)
        z = torch.randn(len(cars), model.latent_dim, generator=g) if model.latent_dim else None
        image, state, _ = model.step(codes, states, last, action, z=z)
        for k, v in proximity(image, state[:, 2:].norm(dim=-1), start).items():
            out[k].append(v)
        last = image
        codes = torch.cat([codes[:, 1:], model.encoder(image)[:, None]], 1)
        states = torch.cat([states[:, 1:], state[:, None]], 1)
    return {k: torch.stack(v, 1) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cars", type=int, default=256, help="Validation cars.")
    p.add_argument("--brake", type=float, default=2.0, help="Deceleration of the braking ego, m/s².")
    args = p.parse_args()
    started = time.time()
    rec = load_recording(RUNS / "record" / "traffic.safetensors")
    cars = rec.split("val")[: args.cars]
    models = {name: load_model(RUNS / name)[0].eval() for name in ("model-stoch", "model-det")}
    rows = {}
    for action, brake in (("recorded", None), ("brake", args.brake)):
        worlds = {"replay": replay(rec, cars, brake)}
        for name, model in models.items():
            worlds[name] = through_model(model, rec, cars, brake, torch.Generator().manual_seed(0))
        for world, res in worlds.items():
            row = {f"{part}_{k}": round(float(res[part][:, k - 1].mean()), 4) for part in PARTS for k in SHOWN}
            if "hit_from_behind" in res:
                row["hit_from_behind"] = round(float(res["hit_from_behind"].mean()), 4)
            rows[f"{action}/{world}"] = row
            print(action, world, row, flush=True)
    result = {
        "cars": len(cars),
        "brake_m_s2": args.brake,
        "rows": rows,
        "wall_s": round(time.time() - started, 1),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
