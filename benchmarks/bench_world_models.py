"""Model quality: multi-step prediction error against horizon, deterministic vs latent-variable vs ensemble.

Claim (issue 5): the error of open-loop predictions as the horizon grows,
plotted for the three forward models of ``ebmlab.world.models``.

Data: Pendulum-v1 episodes of smoothly varying random actions (an AR(1)
process, so that the states cover swings as well as the bottom), ``--train``
steps to fit and ``--test`` fresh episodes to score. Each model is fitted with
the same Adam steps (``--fit-steps``, batch 256, lr 1e-3; ensemble: 5 members).
From every start in the test episodes the model is unrolled open loop with the
executed actions; the error at horizon h is the RMS over starts of the
normalised state error (each state dimension divided by its standard
deviation in the training data). The latent model predicts with z = 0.

Usage::

    python benchmarks/bench_world_models.py                  # 3 seeds
    python benchmarks/bench_world_models.py --seeds 0 --fit-steps 500

Writes benchmarks/results/world_models.json and docs/world_model_error.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.data.trajectories import Transitions  # noqa: E402
from ebmlab.world.envs import make_env  # noqa: E402
from ebmlab.world.train import WorldConfig, build_model, fit_model  # noqa: E402

HORIZONS = (1, 2, 5, 10, 20, 30)


def collect(env, steps: int, seed: int) -> Transitions:
    data = Transitions(env.observation_space.shape[0], env.action_space.shape[0])
    rng = np.random.default_rng(seed)
    episode, done = 0, 0
    while done < steps:
        obs, _ = env.reset(seed=seed * 10_000 + episode)
        a = np.zeros(env.action_space.shape, dtype=np.float32)
        over = False
        while not over and done < steps:
            a = np.clip(
                0.8 * a + 0.6 * rng.normal(size=a.shape) * env.action_space.high,
                env.action_space.low,
                env.action_space.high,
            ).astype(np.float32)
            next_obs, reward, terminated, truncated, _ = env.step(a)
            data.add(obs, a, reward, next_obs, episode)
            obs, over, done = next_obs, terminated or truncated, done + 1
        episode += 1
    return data


@torch.no_grad()
def horizon_errors(model, test: Transitions, scale: torch.Tensor) -> dict[int, float]:
    errors = {}
    for h in HORIZONS:
        sq = []
        for e in test.episode.unique():
            idx = (test.episode == e).nonzero().flatten()
            obs, act, nxt = test.obs[idx], test.act[idx], test.next_obs[idx]
            starts = torch.arange(0, len(idx) - h + 1)
            s = obs[starts]
            for k in range(h):
                s = model(s, act[starts + k])
            sq.append((((s - nxt[starts + h - 1]) / scale) ** 2).sum(-1))
        errors[h] = float(torch.cat(sq).mean().sqrt())
    return errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--fit-steps", type=int, default=2000)
    args = p.parse_args()
    start = time.time()
    env = make_env("Pendulum-v1")
    results: dict[str, list[dict[int, float]]] = {"deterministic": [], "latent": [], "ensemble": []}
    for seed in [int(s) for s in args.seeds.split(",")]:
        train, test = collect(env, args.train, seed), collect(env, args.test, 1000 + seed)
        scale = train.next_obs.std(0)
        for kind in results:
            torch.manual_seed(seed)
            cfg = WorldConfig(model=kind, fit_steps=args.fit_steps, seed=seed)
            model = build_model(cfg, 3, 1)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            fit_model(cfg, model, opt, train, torch.Generator().manual_seed(seed))
            results[kind].append(horizon_errors(model, test, scale))
            print(seed, kind, {h: round(v, 4) for h, v in results[kind][-1].items()}, flush=True)
    env.close()
    summary = {kind: {h: statistics.mean(r[h] for r in rows) for h in HORIZONS} for kind, rows in results.items()}
    out = {
        "command": "python benchmarks/bench_world_models.py " + " ".join(sys.argv[1:]),
        "horizons": HORIZONS,
        "per_seed": results,
        "mean": summary,
        "wall_s": round(time.time() - start, 1),
    }
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "world_models.json").write_text(json.dumps(out, indent=1) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for kind, rows in results.items():
        mean = [summary[kind][h] for h in HORIZONS]
        ax.plot(HORIZONS, mean, "o-", label=kind)
    ax.set_xlabel("prediction horizon (steps, open loop)")
    ax.set_ylabel("RMS normalised state error")
    ax.set_yscale("log")
    ax.set_title("Pendulum-v1: forward models, mean over seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "world_model_error.png", dpi=110)
    print("\n| model | " + " | ".join(f"h = {h}" for h in HORIZONS) + " |")
    print("| --- | " + " | ".join("---:" for _ in HORIZONS) + " |")
    for kind in results:
        print(f"| {kind} | " + " | ".join(f"{summary[kind][h]:.4f}" for h in HORIZONS) + " |")
    print(f"wrote benchmarks/results/world_models.json, docs/world_model_error.png ({out['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
