"""Decision time of the actors on Pendulum-v1: gradient MPC (hand-written backward vs autograd), CEM, policy.

Claim (issue 5): gradient MPC with horizon 30 decides an action in ≤ 20 ms on
this CPU (median), in real time for Pendulum's 20 Hz control; the policy
network's decision time beside it.

A forward model (the ``ebmlab world train`` defaults: 3 hidden layers of 200,
deterministic) is fitted to ``--data`` steps of smooth random actions, then each
actor drives ``--steps``-step episodes of Pendulum-v1 with the actor settings of
``ebmlab world train`` (MPC: ``--iterations`` warm-started Adam steps on
``--restarts`` plans; CEM: 400 × 5). A decision is one ``act`` call; each
episode gives the median of its decisions, and the table the median over
``--rounds`` episodes per actor, the actors taking turns within a round. One
torch thread; run it on a quiet machine.

Usage::

    python benchmarks/bench_world_planning.py
    python benchmarks/bench_world_planning.py --iterations 5 --rounds 3

Writes benchmarks/results/world_planning.json and prints a table.
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

from bench_world_models import collect  # noqa: E402
from ebmlab.world.costs import PendulumCost  # noqa: E402
from ebmlab.world.envs import make_env  # noqa: E402
from ebmlab.world.policy import Policy  # noqa: E402
from ebmlab.world.train import WorldConfig, build_actor, build_model, fit_model, run_episode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=WorldConfig.mpc_iterations)
    p.add_argument("--restarts", type=int, default=WorldConfig.restarts)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--data", type=int, default=1000)
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    env = make_env("Pendulum-v1")
    low, high = (torch.as_tensor(b) for b in (env.action_space.low, env.action_space.high))
    cfg = WorldConfig(mpc_iterations=args.iterations, restarts=args.restarts, fit_steps=300)
    model = build_model(cfg, 3, 1)
    fit_model(
        cfg,
        model,
        torch.optim.Adam(model.parameters(), lr=cfg.lr),
        collect(env, args.data, 0),
        torch.Generator().manual_seed(0),
    )
    cost = PendulumCost()
    mpc_autograd = build_actor(cfg, model, cost, None, low, high)
    mpc_autograd.fast = False
    actors = {
        "gradient MPC": build_actor(cfg, model, cost, None, low, high),
        "gradient MPC, autograd": mpc_autograd,
        "CEM": build_actor(WorldConfig(actor="cem"), model, cost, None, low, high),
        "policy network": Policy(3, 1, low, high),
    }
    times: dict[str, list[float]] = {name: [] for name in actors}
    for r in range(args.rounds):
        for name, actor in actors.items():
            times[name].append(run_episode(env, actor, seed=r, max_steps=args.steps)["decision_ms"])
        print(f"round {r}: " + ", ".join(f"{n} {t[-1]:.2f} ms" for n, t in times.items()), flush=True)
    env.close()
    median = {name: statistics.median(t) for name, t in times.items()}
    out = {
        "command": "python benchmarks/bench_world_planning.py " + " ".join(sys.argv[1:]),
        "horizon": cfg.horizon,
        "iterations": args.iterations,
        "restarts": args.restarts,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "per_round_ms": times,
        "median_ms": median,
        "wall_s": round(time.time() - start, 1),
    }
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "world_planning.json").write_text(json.dumps(out, indent=1) + "\n")
    base = median["gradient MPC, autograd"]
    print("\n| actor | decision (median ms) | vs autograd MPC |\n| --- | ---: | ---: |")
    for name, m in median.items():
        print(f"| {name} | {m:.2f} | {base / m:.2f}× faster |")
    print(f"wrote benchmarks/results/world_planning.json ({out['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
