"""PPUU's evaluation: for each test car, the ego car takes its place after the 20 conditioning frames and drives
until it collides, leaves the road, reaches the end of the segment or runs out of time.

A driver maps the episodes' recent views to actions; here: a trained policy,
``none`` (a = b = 0), ``recorded`` (the replaced car's own actions: the human
reference) and gradient MPC (:mod:`ebmlab.world.driving.mpc`). All test cars run
as one batch. Reported: success rate, mean distance travelled, collision rate,
off-road rate, in ``replay`` (PPUU's protocol) or ``reactive`` mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ebmlab.runtime import TrainConfig, check
from ebmlab.world.traffic.episodes import Episodes
from ebmlab.world.traffic.recording import Recording

__all__ = ["PolicyDriver", "NoAction", "Recorded", "evaluate", "drive"]


class NoAction:
    name = "none"

    def start(self, episodes: Episodes) -> None:
        pass

    def __call__(self, episodes: Episodes, images, states):
        n = len(states)
        return torch.zeros(n), torch.zeros(n)


class Recorded(NoAction):
    name = "recorded"

    def __call__(self, episodes, images, states):
        return episodes.recorded_action()


class PolicyDriver(NoAction):
    """A :class:`~ebmlab.world.driving.policy.DrivingPolicy` acting on its last 20 views (the recorded car's own
    views before the episode, then the episode's)."""

    name = "policy"

    def __init__(self, policy) -> None:
        self.policy = policy

    @torch.no_grad()
    def start(self, episodes: Episodes) -> None:
        images, self.states = episodes.history()
        self.codes = self.policy.encoder(images)

    @torch.no_grad()
    def __call__(self, episodes, images, states):
        self.codes = torch.cat([self.codes[:, 1:], self.policy.encoder(images)[:, None]], 1)
        self.states = torch.cat([self.states[:, 1:], states[:, None]], 1)
        a = self.policy.act(self.codes, self.states)
        return a[:, 0], a[:, 1]


def drive(rec: Recording, driver, cars: torch.Tensor, mode: str = "replay", frames: int = 0, episodes=None):
    """Run ``driver`` on episodes replacing ``cars`` (or on the given ``episodes``, e.g. in a world model);
    returns the episodes and, with ``frames``, the first episode's top-down and ego views for a GIF."""
    from ebmlab.world.traffic.render import top_down, view_rgb

    episodes = Episodes(rec, cars, mode) if episodes is None else episodes
    driver.start(episodes)
    tops, views = [], []
    while not episodes.done.all():
        images, states = episodes.observe()
        if len(tops) < frames and not bool(episodes.done[0]):
            tops.append(
                top_down(
                    {k: v[:1] for k, v in episodes.ego().items()},
                    {k: v[:1] for k, v in episodes.others().items()},
                    rec.road,
                )[0]
            )
            views.append(view_rgb(images[:1])[0])
        a, b = driver(episodes, images, states)
        episodes.step(a, b)
    return episodes, (tops, views)


def evaluate(
    rec: Recording,
    driver,
    run=None,
    mode: str = "replay",
    cars: int = 0,
    gif_name: str | None = None,
    gif_frames: int = 300,
) -> dict:
    """PPUU's metrics of ``driver`` on the test split (its first ``cars``, 0: all), and a GIF of one episode."""
    test = rec.split("test")
    if cars:
        test = test[:cars]
    if len(test) == 0:
        from ebmlab.errors import DataError

        raise DataError("the recording's test split holds no complete car; record more traffic (--envs, --seconds)")
    episodes, (tops, views) = drive(rec, driver, test, mode, frames=gif_frames if gif_name else 0)
    if run is not None and gif_name and tops and run.is_main:
        from ebmlab.world.traffic.render import episode_gif

        episode_gif(run.dir / f"{gif_name}.gif", tops[::2], views[::2])
    summary = episodes.summary()
    return {**summary, "eval_mode": mode}


# ---------------------------------------------------------------------- the `eval` run


@dataclass(frozen=True)
class EvalConfig(TrainConfig):
    """PPUU's evaluation of one driver on the test cars of a recording."""

    recording: str = field(
        default="", metadata={"help": "Recording: a traffic.safetensors file or a `world traffic record` run folder."}
    )
    driver: str = field(
        default="none",
        metadata={
            "help": "none (no action), recorded (the human reference), mpc (gradient MPC through --model), or a `world traffic policy` run folder."
        },
    )
    model: str = field(
        default="",
        metadata={
            "help": "--driver mpc: the `world traffic model` run folder to plan through, constant-velocity (no learning: every other car goes on at its current velocity), or fitted-idm (the others driven on by IDM/MOBIL fitted to the training cars; replay mode)."
        },
    )
    mpc_horizon: int = field(default=10, metadata={"help": "--driver mpc: planning horizon in steps."})
    mpc_iterations: int = field(default=5, metadata={"help": "--driver mpc: Adam steps on the plan per decision."})
    mask_speed: str = field(
        default="max",
        metadata={
            "help": "--driver mpc through a kinematic-ego model or the constant-velocity world: the speed sizing the proximity mask, the larger of the ego's at each step and at the plan's start (max, measured best: docs/RESULTS.md), the ego's own (own, PPUU's), or the start's (start).",
            "choices": ("own", "start", "max"),
        },
    )
    mode: str = field(
        default="replay",
        metadata={
            "help": "replay (PPUU's protocol: the others do not react) or reactive.",
            "choices": ("replay", "reactive"),
        },
    )
    cars: int = field(default=0, metadata={"help": "Test cars evaluated (0: the whole test split)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.recording), "--recording is required (a file or a `world traffic record` run folder)")
        check(self.cars >= 0, "--cars must be >= 0")
        check(self.driver != "mpc" or bool(self.model), "--driver mpc plans through a model: give --model RUN")
        check(
            self.model != "fitted-idm" or self.mode == "replay",
            "--model fitted-idm plans from the recorded present: use it with --mode replay",
        )
        check(self.mpc_horizon >= 1 and self.mpc_iterations >= 1, "--mpc-horizon and --mpc-iterations must be >= 1")


def make_driver(name: str, cfg: EvalConfig | None = None, rec: Recording | None = None):
    if name == "none":
        return NoAction()
    if name == "recorded":
        return Recorded()
    if name == "mpc":
        from ebmlab.world.driving.mpc import MpcDriver
        from ebmlab.world.driving.train_model import load_model

        if cfg.model in ("constant-velocity", "fitted-idm"):
            from ebmlab.world.driving.data import Normalisation
            from ebmlab.world.driving.imagined import fit_idm
            from ebmlab.world.driving.mpc import ConstantVelocityMpc, FittedWorldMpc

            norm = Normalisation().fit(rec, rec.split("train"))
            if cfg.model == "fitted-idm":
                return FittedWorldMpc(
                    norm, rec, fit_idm(rec), cfg.mpc_horizon, cfg.mpc_iterations, mask_speed=cfg.mask_speed
                )
            return ConstantVelocityMpc(norm, cfg.mpc_horizon, cfg.mpc_iterations, mask_speed=cfg.mask_speed)
        return MpcDriver(load_model(cfg.model)[0], cfg.mpc_horizon, cfg.mpc_iterations, mask_speed=cfg.mask_speed)
    from ebmlab.world.driving.train_policy import load_policy

    return PolicyDriver(load_policy(name)[0])


def run_eval(cfg: EvalConfig, run) -> dict:
    from ebmlab.world.driving.record import find_recording

    rec = find_recording(cfg.recording)
    driver = make_driver(cfg.driver, cfg, rec)
    name = cfg.driver if cfg.driver in ("none", "recorded", "mpc") else "policy"
    return {**evaluate(rec, driver, run, cfg.mode, cfg.cars, gif_name=f"episode_{name}"), "driver": cfg.driver}
