"""Does the traffic model pay for steering? A probe of the PPUU benchmark's deterministic model.

From the last conditioning frame of the first 32 validation cars, the ego car
holds a = 0 and a constant curvature b for 30 steps (3 s), once through the
model (its predicted images and states) and once in the simulator (replay
mode); the lane and off-road costs are read from the images of each, and the
ego's lateral drift after 30 steps is compared. Then each trained policy of the
benchmark is evaluated again on the test cars with its curvature forced to 0
(it controls the speed only): does it drive well along its lane? Run after
``bench_traffic_ppuu.py`` (it reads runs/bench-traffic/record and model-det).

Usage::

    python benchmarks/traffic_steering_probe.py

Writes benchmarks/results/traffic_steering.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.world.driving.evaluate import PolicyDriver, evaluate  # noqa: E402
from ebmlab.world.driving.train_model import load_model  # noqa: E402
from ebmlab.world.driving.train_policy import load_policy  # noqa: E402
from ebmlab.world.traffic.episodes import Episodes  # noqa: E402
from ebmlab.world.traffic.image_costs import image_costs  # noqa: E402
from ebmlab.world.traffic.recording import load_recording  # noqa: E402

RUNS = ROOT / "runs" / "bench-traffic"


def main() -> None:
    rec = load_recording(RUNS / "record" / "traffic.safetensors")
    model, _ = load_model(RUNS / "model-det")
    cars = rec.split("val")[:32]
    images, states = Episodes(rec, cars).history()
    out = {}
    for b in (0.0, 0.01, 0.03):
        actions = torch.zeros(len(cars), 30, 2)
        actions[..., 1] = b
        with torch.no_grad():
            pred_images, pred_states, _ = model.unroll(images, states, actions)
        model_costs = image_costs(pred_images, pred_states[..., 2:].norm(dim=-1))
        ep = Episodes(rec, cars)
        lane, off = [], []
        for _ in range(30):
            ep.step(torch.zeros(len(cars)), torch.full((len(cars),), b))
            real, _ = ep.observe()
            costs = image_costs(real, ep.v)
            lane.append(costs["lane"])
            off.append(costs["offroad"])
        out[str(b)] = {
            "model_lane": float(model_costs["lane"].mean()),
            "model_offroad": float(model_costs["offroad"].mean()),
            "real_lane": float(torch.stack(lane).mean()),
            "real_offroad": float(torch.stack(off).mean()),
            "model_drift_m": float((pred_states[:, -1, 1] - states[:, -1, 1]).abs().mean()),
            "real_drift_m": float((ep.y - states[:, -1, 1]).abs().mean()),
        }
        print(b, {k: round(v, 4) for k, v in out[str(b)].items()}, flush=True)
    for name in ("imitation-s0", "mper-s0", "mpur-s0", "mpur-det-s0"):
        if (RUNS / name / "policy.safetensors").exists():
            result = evaluate(rec, SpeedOnly(load_policy(RUNS / name)[0]))
            out[f"{name}, b = 0"] = result
            print(
                name, "b = 0:", {k: result[k] for k in ("success_rate", "mean_distance", "collision_rate")}, flush=True
            )
    (ROOT / "benchmarks" / "results" / "traffic_steering.json").write_text(json.dumps(out, indent=1) + "\n")


class SpeedOnly(PolicyDriver):
    """The policy's acceleration, no steering."""

    def __call__(self, episodes, images, states):
        a, b = super().__call__(episodes, images, states)
        return a, torch.zeros_like(b)


if __name__ == "__main__":
    main()
