"""Sample efficiency on Pendulum-v1: the world-model agent against stable-baselines3 SAC, side by side.

Claim (issue 5): the world-model agent reaches a mean evaluation return ≥ −200
within 1,000 environment steps and ≥ −160 within 2,000, in every seed — at least
5× fewer environment steps than SAC (rl-baselines3-zoo settings) needs for the
same thresholds, measured in the same run. Each agent is evaluated on 10 fresh
episodes (deterministic actions) every ``--eval-every`` steps.

Usage::

    python benchmarks/bench_world_pendulum.py                      # 3 seeds, world 2,000 steps, SAC 10,000
    python benchmarks/bench_world_pendulum.py --seeds 0 --sac-steps 3000

Writes benchmarks/results/world_pendulum.json and prints a table: per agent and
seed, the first evaluated step at which the return reaches −200 and −160.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from seed_runs import ROOT, run_seeds, write_result

THRESHOLDS = (-200.0, -160.0)


def first_step(folder: Path, threshold: float) -> int | None:
    """The first logged env step whose eval_return ≥ threshold (None if never)."""
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "eval_return" in r and r["eval_return"] >= threshold:
            return r["step"]
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--world-steps", type=int, default=2000)
    p.add_argument("--sac-steps", type=int, default=10000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "runs" / f"bench-world_pendulum-{time.strftime('%Y%m%d-%H%M%S')}"))
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.time()
    agents = {
        "world-mpc": (["world", "train"], ["--env", "Pendulum-v1", "--env-steps", str(args.world_steps),
                                           "--eval-every", str(args.eval_every), "--eval-episodes", "10"]),
        "sac": (["world", "baseline"], ["--algo", "sac", "--env", "Pendulum-v1", "--steps", str(args.sac_steps),
                                        "--eval-every", str(args.eval_every), "--eval-episodes", "10"]),
    }
    result = {"command": "python benchmarks/bench_world_pendulum.py " + " ".join(sys.argv[1:]), "agents": {}}
    for name, (command, extra) in agents.items():
        out = Path(args.out) / name
        rows = run_seeds(command, seeds, extra, out, ("eval_return", "decision_ms", "env_steps"), args.parallel)
        for row in rows:
            for t in THRESHOLDS:
                row[f"steps_to_{int(-t)}"] = first_step(out / f"seed{row['seed']}", t)
        result["agents"][name] = {"options": extra, "rows": rows}
    result["wall_s"] = round(time.time() - start, 1)
    write_result("world_pendulum", result)
    print("\n| agent | seed | final return | steps to −200 | steps to −160 |\n| --- | ---: | ---: | ---: | ---: |")
    for name, entry in result["agents"].items():
        for r in entry["rows"]:
            print(f"| {name} | {r['seed']} | {r['eval_return']:.0f} | {r['steps_to_200']} | {r['steps_to_160']} |")
    for name, entry in result["agents"].items():
        finals = [r["eval_return"] for r in entry["rows"]]
        print(f"{name}: mean final return {statistics.mean(finals):.0f}")
    print(f"wrote benchmarks/results/world_pendulum.json ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
