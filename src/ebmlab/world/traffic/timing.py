"""How fast the simulator runs: ego steps per second of many episodes stepped at once, images included."""

from __future__ import annotations

import statistics
import time

import torch

from ebmlab.world.traffic.episodes import Episodes
from ebmlab.world.traffic.recording import record_traffic
from ebmlab.world.traffic.simulator import TrafficConfig

__all__ = ["time_episodes"]


def time_episodes(
    envs: int, mode: str = "reactive", steps: int = 200, device: str = "cpu", repeats: int = 5, recording=None
) -> dict[str, float]:
    """Median over ``repeats`` rounds of ``steps`` steps of ``envs`` episodes: each step moves every car
    (reactive) or reads the recorded frame (replay), moves the ego cars by their recorded actions, checks the
    events and rasterises every ego view. Episodes run on ``max_steps`` beyond their end (no restarts)."""
    rec = recording if recording is not None else record_traffic(TrafficConfig(), envs=2, seconds=240, seed=0)
    pool = rec.split("train")
    cars = pool[torch.arange(envs) % len(pool)]
    ep = Episodes(rec, cars, mode, max_steps=10**9, device=device)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)

    def go(n: int) -> None:
        for _ in range(n):
            ep.step(*(t.to(device) for t in ep.recorded_action()))
            ep.observe()
        sync()

    go(5)
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        go(steps)
        rounds.append((time.perf_counter() - start) / steps)
    per_step = statistics.median(rounds)
    return {
        "ego_steps_per_s": envs / per_step,
        "ms_per_step": per_step * 1e3,
        "cars_per_env": float(ep.others()["present"].sum(1).float().mean()) + 1,
        "rounds_ms": [r * 1e3 for r in rounds],
    }
