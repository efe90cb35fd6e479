"""``ebmlab world traffic record``: simulate traffic, keep every car's trajectory, and show how hard it is.

The run folder holds ``traffic.safetensors`` (the recording, see
:mod:`ebmlab.world.traffic.recording`), ``metrics.json`` (density, mean speed,
stop-and-go share, flow, the number of cars in each split), the time-space
diagram, the fundamental diagram, and one test car's episode as a GIF: the
recorded driver's, from the top and as the ego car sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ebmlab.errors import DataError
from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.world.traffic.recording import Recording, load_recording, record_traffic
from ebmlab.world.traffic.simulator import TrafficConfig

__all__ = ["RecordConfig", "run_record", "RECORDING", "find_recording", "render_episode"]

RECORDING = "traffic.safetensors"


@dataclass(frozen=True)
class RecordConfig(TrainConfig):
    """Recorded traffic: independent simulations of the highway segment, after their warm-up."""

    envs: int = field(default=12, metadata={"help": "Independent simulations recorded side by side."})
    seconds: float = field(default=300.0, metadata={"help": "Seconds recorded per simulation (10 frames a second)."})
    inflow: float = field(default=1800.0, metadata={"help": "Vehicles per hour per lane offered at the upstream end."})
    slots: int = field(default=192, metadata={"help": "Car slots per simulation (the most cars it holds)."})
    gif_steps: int = field(
        default=300,
        metadata={"help": "Frames (one every 2 steps) of a recorded driver's episode shown as a GIF (0: none)."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.envs >= 1, "--envs must be >= 1")
        check(self.seconds >= 10, "--seconds must be >= 10 (a car needs time to cross the segment)")
        check(self.inflow > 0, "--inflow must be > 0")
        check(self.slots >= 20, "--slots must be >= 20")
        check(self.gif_steps >= 0, "--gif-steps must be >= 0")

    def traffic(self) -> TrafficConfig:
        return TrafficConfig(inflow=self.inflow, slots=self.slots)


def find_recording(path: str | Path) -> Recording:
    """A recording from its file or from the run folder of ``ebmlab world traffic record``."""
    path = Path(path)
    if path.is_dir():
        if not (path / RECORDING).exists():
            raise DataError(
                f"{path} holds no {RECORDING}; give a recording file or a `world traffic record` run folder"
            )
        path = path / RECORDING
    return load_recording(path)


def render_episode(
    rec: Recording,
    car: int,
    path: Path,
    driver: str = "recorded",
    mode: str = "replay",
    steps: int = 300,
    stride: int = 2,
) -> dict:
    """One ego episode in place of recorded car ``car`` as a GIF of at most ``steps`` frames, one every ``stride``
    steps (shown at 10 frames a second); ``driver`` recorded (its own actions) or none (a = b = 0). Returns the
    episode's outcome."""
    from ebmlab.world.traffic.episodes import Episodes
    from ebmlab.world.traffic.render import episode_gif, top_down, view_rgb

    ep = Episodes(rec, torch.tensor([car]), mode)
    tops, views = [], []
    for i in range(steps * stride):
        if i % stride == 0 or ep.done.all():
            images, _ = ep.observe()
            tops.append(top_down(ep.ego(), ep.others(), rec.road)[0])
            views.append(view_rgb(images)[0])
        if ep.done.all():
            break
        action = ep.recorded_action() if driver == "recorded" else (torch.zeros(1), torch.zeros(1))
        ep.step(*action)
    episode_gif(path, tops, views)
    return {k: bool(v[0]) for k, v in ep.outcome.items()} | {"distance": float(ep.distance[0]), "frames": len(tops)}


def run_record(cfg: RecordConfig, run: Run) -> dict:
    from ebmlab.world.traffic.render import fundamental_figure, time_space_diagram
    from ebmlab.world.traffic.stats import fundamental_diagram, overlapping_pairs, traffic_stats

    rec = record_traffic(
        cfg.traffic(),
        cfg.envs,
        cfg.seconds,
        seed=cfg.seed,
        device=run.device,
        progress=lambda it: run.progress(it, total=len(it), desc="record"),
    )
    if run.is_main:
        rec.save(run.dir / RECORDING)
    stats = traffic_stats(rec) | {"overlapping_pairs": overlapping_pairs(rec)}
    run.save_figure("time_space", time_space_diagram(rec))
    density, flow = fundamental_diagram(rec)
    run.save_figure("fundamental_diagram", fundamental_figure(density, flow, stats))
    shown = rec.split("test") if len(rec.split("test")) else rec.complete()  # a short recording may have no test car
    if cfg.gif_steps and len(shown) and run.is_main:
        outcome = render_episode(rec, int(shown[0]), run.dir / "episode_recorded.gif", steps=cfg.gif_steps)
        stats["gif_car"] = int(shown[0])
        stats["gif_distance_m"] = outcome["distance"]
    return stats
