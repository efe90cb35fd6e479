"""The planner's ceiling on Pendulum-v1: gradient MPC through the true dynamics, on the benchmark's own episodes.

How good can an evaluation return be on a given seed's ten evaluation episodes?
This plans with the environment's own equations (written in torch below, from
gymnasium's Pendulum-v1: g = 10, m = l = 1, dt = 0.05, torque clipped to ±2,
speed to ±8) instead of a learned model, with the planner settings of
``ebmlab world train`` (and, with ``--iterations``, more Adam steps per decision), on the same
episodes as ``bench_world_control.py`` evaluates (``EVAL_SEED + 1000·seed + i``).
It tells a learned model's shortfall from what a set of starts allows.

Usage::

    python benchmarks/bench_world_oracle.py                # seeds 0, 1, 2, the default 5 steps per decision
    python benchmarks/bench_world_oracle.py --seeds 2 --iterations 5,30
    python benchmarks/bench_world_oracle.py --seeds 2 --horizon 60 --tag h60

Writes benchmarks/results/world_oracle.json and prints a table.
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

from ebmlab.world.costs import PendulumCost  # noqa: E402
from ebmlab.world.envs import make_env  # noqa: E402
from ebmlab.world.models import PendulumDynamics  # noqa: E402
from ebmlab.world.planners import GradientMPC  # noqa: E402
from ebmlab.world.train import EVAL_SEED, WorldConfig, run_episode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--iterations", default=str(WorldConfig.mpc_iterations), help="Adam steps per decision (list)")
    p.add_argument("--horizon", type=int, default=WorldConfig.horizon, help="planning horizon in steps")
    p.add_argument("--tag", default="", help="suffix of the result file (world_oracle_<tag>.json)")
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    cfg = WorldConfig()
    settings = {
        f"horizon {args.horizon}, {n} steps per decision"
        + (" (defaults)" if n == cfg.mpc_iterations and args.horizon == cfg.horizon else ""): n
        for n in (int(i) for i in args.iterations.split(","))
    }
    env = make_env("Pendulum-v1")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, iterations in settings.items():
            mpc = GradientMPC(
                PendulumDynamics(),
                PendulumCost().planning,
                torch.tensor([-2.0]),
                torch.tensor([2.0]),
                args.horizon,
                iterations,
                cfg.mpc_first_iterations,
                cfg.mpc_lr,
                cfg.restarts,
            )
            returns = [run_episode(env, mpc, EVAL_SEED + seed * 1000 + i, 0)["return"] for i in range(args.episodes)]
            rows.append(
                {
                    "seed": seed,
                    "planner": name,
                    "eval_return": statistics.mean(returns),
                    "returns": [round(r, 1) for r in returns],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    env.close()
    out = {
        "command": "python benchmarks/bench_world_oracle.py " + " ".join(sys.argv[1:]),
        "rows": rows,
        "wall_s": round(time.time() - start, 1),
    }
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / f"world_oracle{'_' + args.tag if args.tag else ''}.json").write_text(
        json.dumps(out, indent=1) + "\n"
    )
    print("\n| seed | planner on the true dynamics | mean return (10 episodes) |\n| ---: | --- | ---: |")
    for r in rows:
        print(f"| {r['seed']} | {r['planner']} | {r['eval_return']:.1f} |")


if __name__ == "__main__":
    main()
