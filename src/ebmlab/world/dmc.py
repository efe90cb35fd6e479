"""The DeepMind Control Suite (``dm-control``) as gymnasium environments: ``dmc/<domain>-<task>-v0``.

The suite's tasks are what model-based agents are compared on (PlaNet, Dreamer,
DrQ-v2, TD-MPC2). Each id made here is one ``suite.load(domain, task)``:

- observation: the suite's observation dict flattened into one float32 vector
  (in the dict's order), or, with ``render_mode="rgb_array"``, its rendering by
  camera 0 (camera 2 for the quadruped, as the published pixel results use);
- action: the task's box, rescaled to [−1, 1];
- action repeat: each ``step`` applies the action ``action_repeat`` times (2 by
  default, as TD-MPC2 and DrQ-v2 use) and returns the summed reward; an
  environment step is one such call, so 100,000 steps are 200,000 physics
  steps — the way TD-MPC2 counts them; an episode is 1,000 physics steps
  (500 environment steps at repeat 2), ended by time (``truncated``), never by
  failure;
- seeding: ``reset(seed=s)`` reloads the task with ``task_kwargs={"random": s}``,
  so a seed gives the same episode on every machine; without a seed the next
  episode continues the task's own random stream.

Rendering needs an OpenGL back end without a display: MuJoCo's EGL (Mesa's
``libegl-mesa0`` on Debian) or OSMesa (``libosmesa6``). ``MUJOCO_GL`` picks it;
ebmlab sets ``egl`` unless the user has chosen.
"""

from __future__ import annotations

import logging
import os

import gymnasium as gym
import numpy as np

__all__ = ["DMCEnv", "register_dmc", "TASKS"]

# the tasks registered as dmc/<domain>-<task>-v0 (more are one line each: any (domain, task) of suite.ALL_TASKS)
TASKS = (
    ("pendulum", "swingup"),
    ("cartpole", "swingup"),
    ("cartpole", "balance"),
    ("cheetah", "run"),
    ("walker", "walk"),
    ("reacher", "easy"),
    ("finger", "spin"),
    ("cup", "catch"),
)
DOMAINS = {"cup": "ball_in_cup"}  # the short names the papers use


class _Once(logging.Filter):
    """Lets each distinct message through once: the suite's loader repeats its warnings (a deprecated attribute in
    cheetah's model) at every load, and an environment reloads at every seeded reset."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def _suite():
    os.environ.setdefault("MUJOCO_GL", "egl")
    absl = logging.getLogger("absl")
    if not any(isinstance(f, _Once) for f in absl.filters):
        absl.addFilter(_Once())
    try:
        from dm_control import suite
    except ImportError as exc:
        raise gym.error.DependencyNotInstalled(
            f"dm-control is not installed ({exc}); pip install 'ebmlab[world]' or pip install dm-control"
        ) from None
    return suite


class DMCEnv(gym.Env):
    """One DeepMind Control task through the gymnasium API (see the module doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        domain: str,
        task: str,
        action_repeat: int = 2,
        render_mode: str | None = None,
        render_size: int = 64,
    ) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        self.domain, self.task = DOMAINS.get(domain, domain), task
        self.action_repeat, self.render_mode, self.render_size = action_repeat, render_mode, render_size
        self.camera = 2 if self.domain == "quadruped" else 0
        self._env = self._load(None)
        spec = self._env.action_spec()
        self._low, self._high = spec.minimum.astype(np.float64), spec.maximum.astype(np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, spec.shape, np.float32)
        size = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)

    def _load(self, seed: int | None):
        return _suite().load(self.domain, self.task, task_kwargs={"random": seed})

    @staticmethod
    def _flat(observation) -> np.ndarray:
        return np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in observation.values()])

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.close()
            self._env = self._load(seed)
        return self._flat(self._env.reset().observation), {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        scaled = self._low + (action + 1.0) * (self._high - self._low) / 2
        reward = 0.0
        for _ in range(self.action_repeat):
            step = self._env.step(scaled)
            reward += step.reward or 0.0
            if step.last():
                break
        return self._flat(step.observation), reward, False, step.last(), {}

    def render(self):
        return self._env.physics.render(self.render_size, self.render_size, camera_id=self.camera)

    def close(self) -> None:
        self._env.close()


def register_dmc() -> None:
    """Register ``dmc/<domain>-<task>-v0`` for :data:`TASKS` (once; dm-control is imported only when one is made)."""
    for domain, task in TASKS:
        name = f"dmc/{domain}-{task}-v0"
        if name not in gym.registry:
            gym.register(name, entry_point=DMCEnv, kwargs={"domain": domain, "task": task})
