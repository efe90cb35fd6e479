"""Simulator speed: ego steps per second of ebmlab's traffic, beside highway-env, on this machine.

Claim (issue 20): at least 20,000 ego steps per second in total on the 2-core
CPU with 64 environments of at least 60 cars each, ego images included,
measured in one run beside highway-env's ``highway-fast-v0`` (one environment,
its default observation, random actions) and ebmlab's simulator with one
environment.

An ebmlab "ego step" moves every car of every environment (``reactive``: IDM
and MOBIL drivers seeing the ego car; ``replay``: the recorded frame read back),
moves each ego car by its recorded action, checks collisions, leaving the road
and arrival, and rasterises every ego view (4×117×24). Each row is the median
of 5 rounds of ``--steps`` steps after a warm-up; ``2 workers`` runs two
processes of 32 environments at once (both cores) and sums them. Rows are
written to the results file as they finish; rerun with ``--rows`` to redo some.

Usage::

    python benchmarks/bench_traffic_sim.py
    python benchmarks/bench_traffic_sim.py --rows highway-env --steps 100

Writes benchmarks/results/traffic_sim.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.world.traffic.recording import record_traffic  # noqa: E402
from ebmlab.world.traffic.simulator import TrafficConfig  # noqa: E402
from ebmlab.world.traffic.timing import time_episodes  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "traffic_sim.json"
ROWS = ("reactive-64", "replay-64", "reactive-1", "replay-1", "reactive-2x32", "highway-env")


def _worker(args):
    envs, mode, steps, start = args
    torch.set_num_threads(1)
    rec = record_traffic(TrafficConfig(), envs=2, seconds=240, seed=0)
    while time.time() < start:  # both workers start timing together
        time.sleep(0.01)
    return time_episodes(envs, mode, steps, recording=rec)


def highway_env_rate(steps: int, repeats: int = 5) -> dict:
    import gymnasium as gym
    import highway_env  # noqa: F401  (registers the environments)

    env = gym.make("highway-fast-v0")
    env.reset(seed=0)
    env.action_space.seed(0)
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        rounds.append((time.perf_counter() - start) / steps)
    per = statistics.median(rounds)
    cfg = env.unwrapped.config
    return {
        "ego_steps_per_s": 1 / per,
        "ms_per_step": per * 1e3,
        "cars_per_env": cfg["vehicles_count"] + 1,
        "observation": cfg["observation"]["type"],
        "policy_frequency": cfg["policy_frequency"],
        "simulation_frequency": cfg["simulation_frequency"],
        "rounds_ms": [r * 1e3 for r in rounds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"Comma-separated rows among {', '.join(ROWS)}.")
    parser.add_argument("--steps", type=int, default=200, help="Steps per timed round.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rec = record_traffic(TrafficConfig(), envs=2, seconds=240, seed=0)
    for row in args.rows.split(","):
        started = time.time()
        if row == "highway-env":
            result = highway_env_rate(max(20, args.steps // 4))
        elif row == "reactive-2x32":
            with mp.get_context("spawn").Pool(2) as pool:
                start = time.time() + 20
                parts = pool.map(_worker, [(32, "reactive", args.steps, start)] * 2)
            result = {
                "ego_steps_per_s": sum(p["ego_steps_per_s"] for p in parts),
                "ms_per_step": statistics.mean(p["ms_per_step"] for p in parts),
                "cars_per_env": statistics.mean(p["cars_per_env"] for p in parts),
                "workers": parts,
            }
        else:
            mode, envs = row.split("-")
            result = time_episodes(int(envs), mode, args.steps, recording=rec)
        result |= {"threads_per_process": 1, "date": time.strftime("%Y-%m-%d %H:%M"), "wall_s": time.time() - started}
        results[row] = result
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(
            f"{row:15s} {result['ego_steps_per_s']:10,.0f} ego steps/s  {result['ms_per_step']:7.2f} ms/step  "
            f"{result['cars_per_env']:.0f} cars/env",
            flush=True,
        )


if __name__ == "__main__":
    main()
