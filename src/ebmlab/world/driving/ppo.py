"""``ebmlab world traffic ppo``: the model-free comparison — stable-baselines3 PPO on the traffic environment.

PPO interacts with the simulator (replay mode on the training cars, the
batched :class:`~ebmlab.world.traffic.gym_env.TrafficVecEnv`; reward: progress
minus PPUU's costs, episodes end on collision), unlike the world-model
policies, which see only the recordings. Its images go through the same small
CNN as the model's (:class:`~ebmlab.world.driving.model.FrameEncoder`; SB3's
NatureCNN needs images of 36 pixels or more a side). It is then evaluated like
every other driver on the test cars, and reports the environment steps it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ebmlab.errors import ConfigError
from ebmlab.runtime import Run, TrainConfig, check
from ebmlab.world.driving.evaluate import NoAction, evaluate
from ebmlab.world.driving.model import FrameEncoder
from ebmlab.world.driving.record import find_recording

__all__ = ["PpoConfig", "train_ppo"]

_STATE_SCALE = torch.tensor([400.0, 22.2, 30.0, 3.0])  # x, y, vx, vy to about unit range


def _extractor_class():
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class TrafficFeatures(BaseFeaturesExtractor):
        """Image (uint8 4×117×24) through a small CNN, beside the scaled ego state."""

        def __init__(self, observation_space, features_dim: int = 128) -> None:
            super().__init__(observation_space, features_dim + 4)
            self.encoder = FrameEncoder(features_dim)

        def forward(self, obs: dict) -> torch.Tensor:
            return torch.cat(
                [torch.relu(self.encoder(obs["image"].float() / 255)), obs["state"] / _STATE_SCALE.to(obs["state"])], -1
            )

    return TrafficFeatures


@dataclass(frozen=True)
class PpoConfig(TrainConfig):
    """stable-baselines3 PPO on the traffic environment, evaluated on the test cars like the world-model policies."""

    recording: str = field(
        default="", metadata={"help": "Recording: a traffic.safetensors file or a `world traffic record` run folder."}
    )
    steps: int = field(
        default=200_000, metadata={"help": "Environment steps of training (the simulator's, in replay mode)."}
    )
    n_envs: int = field(default=16, metadata={"help": "Episodes stepped at once."})
    n_steps: int = field(default=256, metadata={"help": "PPO: steps per environment per rollout."})
    lr: float = field(default=3e-4, metadata={"help": "PPO: Adam learning rate."})
    progress_weight: float = field(default=0.1, metadata={"help": "Reward per metre of progress."})
    eval_cars: int = field(default=0, metadata={"help": "Test cars evaluated at the end (0: all)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.recording), "--recording is required (a file or a `world traffic record` run folder)")
        check(self.steps >= 1 and self.n_envs >= 1 and self.n_steps >= 2, "--steps, --n-envs >= 1 and --n-steps >= 2")


class Sb3Driver(NoAction):
    """A stable-baselines3 policy as a driver for :func:`~ebmlab.world.driving.evaluate.evaluate`."""

    name = "ppo"

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, episodes, images, states):
        from ebmlab.world.traffic.gym_env import as_observation, from_unit

        u, _ = self.model.predict(as_observation(images, states), deterministic=True)
        a = from_unit(torch.as_tensor(u))
        return a[:, 0], a[:, 1]


def train_ppo(cfg: PpoConfig, run: Run) -> dict:
    if not run.fresh:
        raise ConfigError("a PPO baseline cannot be resumed; start it again with a new --out")
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure

    from ebmlab.world.traffic.gym_env import TrafficVecEnv

    rec = find_recording(cfg.recording)
    env = TrafficVecEnv(
        cfg.n_envs, rec, "replay", "train", progress_weight=cfg.progress_weight, seed=cfg.seed, unit_actions=True
    )
    model = PPO(
        "MultiInputPolicy",
        env,
        n_steps=cfg.n_steps,
        batch_size=256,
        n_epochs=4,
        learning_rate=cfg.lr,
        gamma=0.99,
        gae_lambda=0.95,
        seed=cfg.seed,
        device="cpu",
        verbose=0,
        policy_kwargs={"features_extractor_class": _extractor_class(), "net_arch": [128, 128]},
    )
    model.set_logger(configure(str(run.dir / "sb3"), ["csv"]))
    bar = run.progress(range(cfg.steps), total=cfg.steps, desc="ppo traffic")
    finished: list[dict] = []

    class _Log(BaseCallback):
        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"]):
                if done:
                    finished.append(info)
            bar.n = min(self.num_timesteps, cfg.steps)
            bar.refresh()
            return True

        def _on_rollout_end(self) -> None:
            if finished:
                recent = finished[-200:]
                run.log(
                    self.num_timesteps,
                    train_success=float(np.mean([i["arrived"] for i in recent])),
                    train_distance=float(np.mean([i["distance"] for i in recent])),
                )

    model.learn(cfg.steps, callback=_Log())
    bar.close()
    model.save(run.dir / "ppo.zip")
    return {
        **evaluate(rec, Sb3Driver(model), run, "replay", cfg.eval_cars, gif_name="episode_ppo"),
        "env_steps": int(model.num_timesteps),
    }
