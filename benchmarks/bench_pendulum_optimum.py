"""The best return each seed's Pendulum-v1 evaluation episodes allow, by dynamic programming.

The world-model benchmark (``bench_world_control.py``) evaluates every run seed on
its own ten episodes (``EVAL_SEED + 1000·seed + i``); a threshold such as −160
means more or less depending on where those episodes start. Pendulum's state is
two numbers (θ, θ̇), so its finite-horizon optimal control problem can be solved
outright: backward value iteration over the 200 steps of an episode,

    V_0 = 0,    V_{h+1}(s) = min_u  c(s, u) + V_h(f(s, u)),

on a grid of θ (periodic) × θ̇ ∈ [−8, 8] with a grid of torques, V read between
grid points by bilinear interpolation. Then each evaluation episode is played
in the real gymnasium environment by the greedy policy
u_t = argmin_u c(s_t, u) + V_{200−t−1}(f(s_t, u)) over a finer grid of torques:
the returns are achievable (a real controller in the real environment), and as
the grids are refined they converge to the optimum.

Usage::

    python benchmarks/bench_pendulum_optimum.py                  # three grids, each twice as fine: ~12 minutes
    python benchmarks/bench_pendulum_optimum.py --grids 180x81x21 --seeds 2

Writes benchmarks/results/pendulum_optimum.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.world.envs import make_env  # noqa: E402
from ebmlab.world.train import EVAL_SEED  # noqa: E402

G, DT, MAX_SPEED, MAX_TORQUE, STEPS = 10.0, 0.05, 8.0, 2.0, 200  # gymnasium's Pendulum-v1 (m = l = 1)


def wrap(theta: torch.Tensor) -> torch.Tensor:
    return (theta + math.pi) % (2 * math.pi) - math.pi


def step(theta, speed, u):
    """Pendulum-v1's step on (θ, θ̇): next θ, next θ̇ and the cost of the step."""
    cost = wrap(theta) ** 2 + 0.1 * speed**2 + 0.001 * u**2
    speed = (speed + (1.5 * G * torch.sin(theta) + 3.0 * u) * DT).clamp(-MAX_SPEED, MAX_SPEED)
    return theta + speed * DT, speed, cost


class Grid:
    """Bilinear interpolation on n_theta (periodic) × n_speed points."""

    def __init__(self, n_theta: int, n_speed: int):
        self.n_theta, self.n_speed = n_theta, n_speed
        self.theta = torch.arange(n_theta, dtype=torch.float64) * (2 * math.pi / n_theta) - math.pi
        self.speed = torch.linspace(-MAX_SPEED, MAX_SPEED, n_speed, dtype=torch.float64)

    def weights(self, theta, speed):
        """Flat indices and weights of the four grid points around each (θ, θ̇)."""
        ft = (wrap(theta) + math.pi) / (2 * math.pi / self.n_theta)
        i0 = ft.floor().long()
        wt = ft - i0
        i0, i1 = i0 % self.n_theta, (i0 + 1) % self.n_theta
        fs = (speed.clamp(-MAX_SPEED, MAX_SPEED) + MAX_SPEED) / (2 * MAX_SPEED / (self.n_speed - 1))
        j0 = fs.floor().long().clamp(0, self.n_speed - 2)
        ws = (fs - j0).clamp(0, 1)
        n = self.n_speed
        return (
            (i0 * n + j0, (1 - wt) * (1 - ws)),
            (i0 * n + j0 + 1, (1 - wt) * ws),
            (i1 * n + j0, wt * (1 - ws)),
            (i1 * n + j0 + 1, wt * ws),
        )

    @staticmethod
    def read(V, weights):
        return sum(w * V[i] for i, w in weights)


def value_iteration(grid: Grid, n_torques: int) -> list[torch.Tensor]:
    """V_h for h = 0 … 200 steps to go (each flat over the grid)."""
    th, sp, u = torch.meshgrid(
        grid.theta, grid.speed, torch.linspace(-MAX_TORQUE, MAX_TORQUE, n_torques, dtype=torch.float64), indexing="ij"
    )
    th2, sp2, cost = step(th, sp, u)
    weights = grid.weights(th2, sp2)
    values = [torch.zeros(grid.n_theta * grid.n_speed, dtype=torch.float64)]
    for _ in range(STEPS):
        values.append((cost + Grid.read(values[-1], weights)).min(-1).values.reshape(-1))
    return values


def play(env, seed: int, grid: Grid, values, n_torques: int = 401) -> float:
    """One episode of the real environment under the greedy policy on V; its return."""
    env.reset(seed=seed)
    torques = torch.linspace(-MAX_TORQUE, MAX_TORQUE, n_torques, dtype=torch.float64)
    total = 0.0
    for t in range(STEPS):
        theta, speed = (torch.tensor(float(v), dtype=torch.float64) for v in env.unwrapped.state)
        th2, sp2, cost = step(theta.expand(n_torques), speed.expand(n_torques), torques)
        u = torques[int((cost + Grid.read(values[STEPS - t - 1], grid.weights(th2, sp2))).argmin())]
        _, reward, terminated, truncated, _ = env.step([float(u)])
        total += float(reward)
        if terminated or truncated:
            break
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2", help="run seeds whose evaluation episodes to play")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument(
        "--grids",
        default="360x161x21,720x321x41,1440x641x41",
        help="θ points x θ̇ points x torques, a list (the finest holds ~38 million grid transitions: several GB)",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    env = make_env("Pendulum-v1")
    rows = []
    for spec in args.grids.split(","):
        n_theta, n_speed, n_torques = (int(v) for v in spec.split("x"))
        t0 = time.time()
        grid = Grid(n_theta, n_speed)
        values = value_iteration(grid, n_torques)
        solve_s = time.time() - t0
        for seed in (int(s) for s in args.seeds.split(",")):
            returns = [play(env, EVAL_SEED + seed * 1000 + i, grid, values) for i in range(args.episodes)]
            rows.append(
                {
                    "grid": spec,
                    "seed": seed,
                    "eval_return": statistics.mean(returns),
                    "returns": [round(r, 1) for r in returns],
                    "solve_s": round(solve_s, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    env.close()
    out = {
        "command": "python benchmarks/bench_pendulum_optimum.py " + " ".join(sys.argv[1:]),
        "rows": rows,
        "wall_s": round(time.time() - start, 1),
    }
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "pendulum_optimum.json").write_text(json.dumps(out, indent=1) + "\n")
    print("\n| grid (θ × θ̇ × torques) | seed | best return found (10 episodes) |\n| --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['grid']} | {r['seed']} | {r['eval_return']:.1f} |")


if __name__ == "__main__":
    main()
