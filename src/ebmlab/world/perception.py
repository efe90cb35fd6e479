"""Perception: from what the agent sees to the state its forward model and cost use.

- ``--observation state`` (default): the environment's observation vector is the
  state (identity).
- ``--observation pixels``: the agent sees the environment's own rendering,
  grey, ``--frame-size`` pixels square, the last two frames stacked so that
  motion is visible (:class:`PixelObservations`). A small CNN
  (:class:`ConvEncoder`) estimates the state from them; it is fitted with the
  forward model, by regression on the simulator's state of the frames the agent
  has collected (a learned state estimator), and the planner or policy acts on
  its estimate (:class:`Perceiving`).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ebmlab.world.models import spread

__all__ = ["PixelObservations", "conv_trunk", "ConvEncoder", "Perceiving"]


class PixelObservations(gym.Wrapper):
    """Observations become (2, size, size) uint8 grey frames (previous, current); ``info["state"]`` keeps the
    environment's own observation. The environment must be made with ``render_mode="rgb_array"``."""

    def __init__(self, env: gym.Env, size: int = 64) -> None:
        super().__init__(env)
        self.size = size
        if hasattr(env.unwrapped, "screen_dim"):  # classic control draws at the size asked: twice the frame's
            env.unwrapped.screen_dim = 2 * size
        self.observation_space = gym.spaces.Box(0, 255, (2, size, size), np.uint8)
        self._last: np.ndarray | None = None

    def _frame(self) -> np.ndarray:
        rgb = torch.as_tensor(np.ascontiguousarray(self.env.render()), dtype=torch.float32)
        grey = rgb.mean(-1)[None, None]
        return F.interpolate(grey, size=(self.size, self.size), mode="area")[0, 0].round().to(torch.uint8).numpy()

    def reset(self, **kwargs):
        state, info = self.env.reset(**kwargs)
        self._last = self._frame()
        return np.stack([self._last, self._last]), {**info, "state": state}

    def step(self, action):
        state, reward, terminated, truncated, info = self.env.step(action)
        frame = self._frame()
        obs, self._last = np.stack([self._last, frame]), frame
        return obs, reward, terminated, truncated, {**info, "state": state}


def conv_trunk(channels: int, size: int, out: int) -> nn.Sequential:
    """Frames (N×channels×size×size, in [0, 1]) → N×out: three stride-2 convolutions (32, 64, 64 channels, SiLU)
    and two linear layers (256 SiLU units between)."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, 2, 1),
        nn.SiLU(),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.SiLU(),
        nn.Conv2d(64, 64, 4, 2, 1),
        nn.SiLU(),
        nn.Flatten(),
        nn.Linear(64 * (size // 8) ** 2, 256),
        nn.SiLU(),
        nn.Linear(256, out),
    )


class ConvEncoder(nn.Module):
    """Frames (…×2×S×S uint8) → state estimate: :func:`conv_trunk`, predicting the state in units of its spread
    in the data (buffers saved with the weights)."""

    def __init__(self, state_dim: int, size: int = 64, channels: int = 2) -> None:
        super().__init__()
        self.size = size
        self.net = conv_trunk(channels, size, state_dim)
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))

    @torch.no_grad()
    def fit_statistics(self, states: torch.Tensor) -> None:
        self.state_mean.copy_(states.mean(0))
        self.state_std.copy_(spread(states))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        lead = frames.shape[:-3]
        x = frames.reshape(-1, *frames.shape[-3:]).float() / 255.0
        return (self.state_mean + self.state_std * self.net(x)).reshape(*lead, -1)

    def loss(self, frames: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Squared error of the state estimate, in units of the state's spread."""
        return (((self(frames) - states) / self.state_std) ** 2).sum(-1).mean()


class Perceiving:
    """An actor (planner or policy) acting on the encoder's state estimate of each observation."""

    def __init__(self, encoder: ConvEncoder, actor) -> None:
        self.encoder, self.actor = encoder, actor
        self.generator = getattr(actor, "generator", None)

    def reset(self) -> None:
        self.actor.reset()

    def act(self, obs) -> torch.Tensor:
        with torch.no_grad():
            state = self.encoder(torch.as_tensor(np.asarray(obs))[None])[0]
        return self.actor.act(state)
