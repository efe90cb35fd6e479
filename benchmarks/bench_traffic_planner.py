"""What a gradient-MPC planner pays per decision for its costs: ego views built as images, or costs from profiles.

A planner's rollout through a kinematic ego (:func:`~ebmlab.world.driving.kinematic_ego.kinematic_rollout` with
given actions: gradient MPC, DAgger's expert) needs only the costs of each step, not the ego views. Since
2026-12-07 it takes them from the cars channel and the road's column profiles
(:func:`~ebmlab.world.traffic.image_costs.profile_costs`) instead of building B×K×4×H×W images and pricing them
(:func:`~ebmlab.world.traffic.image_costs.image_costs`). This times both, forward and backward over a 30-step
plan, on the first ``--cars`` test cars of the recording, rounds alternating in order; it also checks they agree.
Writes ``benchmarks/results/traffic_planner.json``.

    python benchmarks/bench_traffic_planner.py [--cars 256] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.world.driving.data import Normalisation, reference_track  # noqa: E402
from ebmlab.world.driving.kinematic_ego import _seen  # noqa: E402
from ebmlab.world.driving.mpc import ConstantVelocityMpc  # noqa: E402
from ebmlab.world.driving.record import find_recording  # noqa: E402
from ebmlab.world.traffic.episodes import Episodes, ego_state  # noqa: E402
from ebmlab.world.traffic.kinematics import kinematic_step  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "traffic_planner.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recording", default=str(ROOT / "runs" / "bench-traffic" / "record"))
    p.add_argument("--cars", type=int, default=256)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    rec = find_recording(args.recording)
    episodes = Episodes(rec, rec.split("test")[: args.cars], "replay")
    planner = ConstantVelocityMpc(Normalisation().fit(rec, rec.split("train")), 30, 5)
    planner.start(episodes)
    futures = planner.futures(episodes)[:, None]
    states = planner.states
    batch = {"states": states, "track": states[:, -1, :3], "size": planner.size, "futures": futures}
    cx, cy = reference_track(batch["track"], torch.arange(1, 31))
    plan = (torch.randn(len(states), 30, 2, generator=torch.Generator().manual_seed(0)) * 0.3).requires_grad_()

    def costs(views_needed: bool) -> torch.Tensor:
        s = states[:, -1]
        x, y, psi, v = s[:, 0], s[:, 1], torch.atan2(s[:, 3], s[:, 2]), s[:, 2:].norm(dim=-1)
        total = 0.0
        for t in range(30):
            x, y, psi, v = kinematic_step(x, y, psi, v, plan[:, t, 0], 0.01 * plan[:, t, 1], rec.road.dt, True)
            total = total + _seen(batch, t, ego_state(x, y, psi, v), cx, cy, v, rec.road, views_needed)[1].sum()
        return total

    checks = {}
    for needed in (True, False):
        value = costs(needed)
        (grad,) = torch.autograd.grad(value, plan)
        checks[needed] = (float(value.detach()), grad)
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds):
        for needed in (True, False) if r % 2 else (False, True):
            start = time.perf_counter()
            torch.autograd.grad(costs(needed), plan)
            times[needed].append(time.perf_counter() - start)
    images, profiles = statistics.median(times[True]), statistics.median(times[False])
    row = {
        "cars": len(states),
        "horizon": 30,
        "rounds": args.rounds,
        "images_s": round(images, 4),
        "profiles_s": round(profiles, 4),
        "speedup": round(images / profiles, 3),
        "cost_difference": abs(checks[True][0] - checks[False][0]),
        "gradient_difference": float((checks[True][1] - checks[False][1]).abs().max()),
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[f"cars{len(states)}"] = row
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
