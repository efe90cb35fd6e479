"""How far from the recorded driver an ego car may drive and still succeed in replay mode: the traffic's tolerance.

Replay mode (PPUU's protocol) replaces a recorded car by the ego car while the
others follow their recordings, so the car behind keeps following where the
recorded car went. This probe drives every test car's ego by a closed-loop
tracker of the recorded car's own trajectory shifted in time by ``d`` (d > 0:
that far behind it; the recorded steering, a PD on position and speed plus the
recorded acceleration) and, for contrast, by the recorded actions replayed open
loop with a delay of one or more steps (whose speed error, never corrected,
makes the position drift without bound). Writes
``benchmarks/results/traffic_tolerance.json``.

    python benchmarks/traffic_tolerance_probe.py
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

from ebmlab.world.driving.evaluate import NoAction, drive  # noqa: E402
from ebmlab.world.driving.record import find_recording  # noqa: E402
from ebmlab.world.traffic.recording import CONDITIONING  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "traffic_tolerance.json"


class ShiftedTracker(NoAction):
    """Tracks the recorded car's trajectory ``shift`` steps late (early, if negative), closed loop."""

    def __init__(self, shift: int, kp: float = 4.0, kd: float = 4.0) -> None:
        self.shift, self.kp, self.kd = shift, kp, kd

    def start(self, episodes) -> None:
        self.first = episodes.start - CONDITIONING

    def __call__(self, episodes, images, states):
        f = episodes.rec.frames
        t = torch.maximum((episodes.t - self.shift).clamp(max=episodes.rec.shape[1] - 2), self.first)
        at = (episodes.env, t, episodes.slot)
        a = self.kp * (f["x"][at] - episodes.x) + self.kd * (f["v"][at] - episodes.v) + f["a"][at]
        return a, f["b"][at]


class DelayedReplay(NoAction):
    """The recorded actions, ``delay`` steps late, open loop."""

    def __init__(self, delay: int) -> None:
        self.delay = delay

    def __call__(self, episodes, images, states):
        f = episodes.rec.frames
        at = (episodes.env, (episodes.t - self.delay).clamp(min=0), episodes.slot)
        return f["a"][at], f["b"][at]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recording", default=str(ROOT / "runs" / "bench-traffic" / "record"))
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = find_recording(args.recording)
    test = rec.split("test")
    results = {}
    drivers = [(f"tracker, {s / 10:+.1f} s", ShiftedTracker(s)) for s in (0, 2, 5, 10, 15, 20, -2, -5, -10)]
    drivers += [(f"open-loop replay, {d} step(s) late", DelayedReplay(d)) for d in (1, 3, 5)]
    for name, driver in drivers:
        started = time.time()
        episodes, _ = drive(rec, driver, test)
        results[name] = {**episodes.summary(), "wall_s": round(time.time() - started, 1)}
        print(name, {k: round(v, 3) for k, v in results[name].items()}, flush=True)
    results["date"] = time.strftime("%Y-%m-%d %H:%M")
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
