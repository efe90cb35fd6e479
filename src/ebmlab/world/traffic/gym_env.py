"""The traffic as a gymnasium environment (``ebmlab/TrafficDriving-v0``) and as a stable-baselines3 VecEnv.

Each episode puts the ego car in the place of a recorded car of the chosen split
(drawn at random with the environment's seed) after its conditioning frames, in
``replay`` or ``reactive`` mode (:mod:`~ebmlab.world.traffic.episodes`).

- observation: ``{"image": uint8 4×117×24, "state": float32 (x, y, vx, vy)}``;
- action: (a, b) in physical units, within the kinematics' bounds;
- reward: progress minus PPUU's costs, r = ``progress_weight`` · Δx − (proximity
  + 0.2 · lane + 1.0 · off-road) of the new view;
- terminated on collision, leaving the road or reaching the segment's end;
  truncated when the recording or ``max_steps`` runs out;
- ``render_mode="rgb_array"``: the top-down view above the ego view.

With ``unit_actions`` the VecEnv takes actions in [−1, 1]² (:func:`from_unit`: 0 is
no action, ±1 the bounds), the scale model-free agents expect.

:class:`TrafficVecEnv` steps many such episodes as one batch (one simulator call
per step, not one per environment) and restarts each as it ends, as
stable-baselines3's VecEnv interface expects.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from ebmlab.world.traffic.episodes import Episodes
from ebmlab.world.traffic.image_costs import COST_WEIGHTS, image_costs
from ebmlab.world.traffic.kinematics import ACTION_HIGH, ACTION_LOW
from ebmlab.world.traffic.raster import CHANNELS, HEIGHT, WIDTH
from ebmlab.world.traffic.recording import Recording, load_recording, record_traffic
from ebmlab.world.traffic.simulator import TrafficConfig

__all__ = [
    "TrafficDrivingEnv",
    "TrafficVecEnv",
    "ENV_ID",
    "from_unit",
    "as_observation",
    "default_recording",
    "observation_space",
    "action_space",
]

ENV_ID = "ebmlab/TrafficDriving-v0"
_DEFAULT: dict[int, Recording] = {}


def default_recording(seed: int = 0) -> Recording:
    """A small recording made on first use (2 environments × 5 minutes, a few seconds), for a quick start."""
    if seed not in _DEFAULT:
        _DEFAULT[seed] = record_traffic(TrafficConfig(), envs=2, seconds=300, seed=seed)
    return _DEFAULT[seed]


def _as_recording(recording) -> Recording:
    if recording is None:
        return default_recording()
    return recording if isinstance(recording, Recording) else load_recording(Path(recording))


def observation_space() -> spaces.Dict:
    return spaces.Dict(
        {
            "image": spaces.Box(0, 255, (len(CHANNELS), HEIGHT, WIDTH), np.uint8),
            "state": spaces.Box(-np.inf, np.inf, (4,), np.float32),
        }
    )


def action_space() -> spaces.Box:
    return spaces.Box(np.array(ACTION_LOW, np.float32), np.array(ACTION_HIGH, np.float32), dtype=np.float32)


def from_unit(u: torch.Tensor) -> torch.Tensor:
    """Actions in [−1, 1]² to physical units, 0 to 0: a = 4u or 8u (accelerating or braking), b = 0.15u."""
    u = u.clamp(-1.0, 1.0)
    a = torch.where(u[..., 0] > 0, u[..., 0] * ACTION_HIGH[0], -u[..., 0] * ACTION_LOW[0])
    return torch.stack([a, u[..., 1] * ACTION_HIGH[1]], -1)


def _rewards(episodes: Episodes, images: torch.Tensor, before: torch.Tensor, progress_weight: float) -> torch.Tensor:
    costs = image_costs(images, episodes.v, episodes.length, episodes.width)
    cost = sum(COST_WEIGHTS[k] * costs[k] for k in COST_WEIGHTS)
    return progress_weight * (episodes.x - before) - cost


def as_observation(images: torch.Tensor, states: torch.Tensor) -> dict[str, np.ndarray]:
    """The observations of a batch: uint8 images and float32 states, as numpy arrays."""
    return {"image": (images * 255).round().to(torch.uint8).numpy(), "state": states.numpy().astype(np.float32)}


class TrafficDrivingEnv(gym.Env):
    """One ego car in dense traffic (see module doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        recording: str | Path | Recording | None = None,
        mode: str = "replay",
        split: str = "train",
        max_steps: int = 1000,
        progress_weight: float = 0.1,
        render_mode: str | None = None,
    ) -> None:
        self.rec = _as_recording(recording)
        self.cars = self.rec.split(split)
        if len(self.cars) == 0:
            from ebmlab.errors import DataError

            raise DataError(f"the recording has no complete cars in its {split} split; record longer")
        self.mode, self.max_steps, self.progress_weight = mode, max_steps, progress_weight
        self.render_mode = render_mode
        self.observation_space, self.action_space = observation_space(), action_space()
        self.episodes: Episodes | None = None
        self._images = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        car = self.cars[int(self.np_random.integers(len(self.cars)))]
        if options and "car" in options:
            car = torch.tensor(int(options["car"]))
        self.episodes = Episodes(
            self.rec, car[None], self.mode, self.max_steps, seed=int(self.np_random.integers(2**31))
        )
        self._images, states = self.episodes.observe()
        return {k: v[0] for k, v in as_observation(self._images, states).items()}, {}

    def step(self, action):
        ep = self.episodes
        a = torch.as_tensor(np.asarray(action, np.float32)).reshape(2)
        before = ep.x.clone()
        ep.step(a[:1], a[1:])
        self._images, states = ep.observe()
        reward = float(_rewards(ep, self._images, before, self.progress_weight)[0])
        info = {k: bool(v[0]) for k, v in ep.outcome.items()} | {"distance": float(ep.distance[0])}
        terminated = bool(ep.outcome["collision"][0] or ep.outcome["offroad"][0] or ep.outcome["arrived"][0])
        truncated = bool(ep.outcome["timeout"][0])
        return {k: v[0] for k, v in as_observation(self._images, states).items()}, reward, terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array" or self.episodes is None:
            return None
        from ebmlab.world.traffic.render import stack_images, top_down, view_rgb

        top = top_down(self.episodes.ego(), self.episodes.others(), self.rec.road)[0]
        return stack_images([top, view_rgb(self._images)[0]], 0)


def _register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point="ebmlab.world.traffic.gym_env:TrafficDrivingEnv")


_register()


class TrafficVecEnv(VecEnv):
    """``n_envs`` ego episodes stepped as one batch, each restarted on a random car of the split as it ends."""

    def __init__(
        self,
        n_envs: int,
        recording: str | Path | Recording | None = None,
        mode: str = "replay",
        split: str = "train",
        max_steps: int = 1000,
        progress_weight: float = 0.1,
        seed: int = 0,
        unit_actions: bool = False,
    ) -> None:
        self.render_mode = None
        self.unit_actions = unit_actions
        space = spaces.Box(-1.0, 1.0, (2,), np.float32) if unit_actions else action_space()
        super().__init__(n_envs, observation_space(), space)
        self.rec = _as_recording(recording)
        self.pool = self.rec.split(split)
        self.mode, self.max_steps, self.progress_weight = mode, max_steps, progress_weight
        self.gen = torch.Generator().manual_seed(seed)
        self.episodes = Episodes(self.rec, self._draw(n_envs), mode, max_steps, seed=seed)
        self._actions = None
        self.env_steps = 0
        self.render_mode = None

    def _draw(self, n: int) -> torch.Tensor:
        return self.pool[torch.randint(len(self.pool), (n,), generator=self.gen)]

    def reset(self):
        self.episodes.reset(torch.arange(self.num_envs), self._draw(self.num_envs))
        return as_observation(*self.episodes.observe())

    def step_async(self, actions) -> None:
        actions = torch.as_tensor(np.asarray(actions, np.float32)).reshape(self.num_envs, 2)
        self._actions = from_unit(actions) if self.unit_actions else actions

    def step_wait(self):
        ep = self.episodes
        before = ep.x.clone()
        ep.step(self._actions[:, 0], self._actions[:, 1])
        self.env_steps += self.num_envs
        images, states = ep.observe()
        rewards = _rewards(ep, images, before, self.progress_weight).numpy().astype(np.float32)
        done = ep.done.clone()
        obs = as_observation(images, states)
        infos = [{} for _ in range(self.num_envs)]
        index = torch.nonzero(done).flatten()
        if len(index):
            for i in index.tolist():
                infos[i] = {k: bool(v[i]) for k, v in ep.outcome.items()} | {
                    "distance": float(ep.distance[i]),
                    "terminal_observation": {k: v[i] for k, v in obs.items()},
                    "TimeLimit.truncated": bool(ep.outcome["timeout"][i]),
                }
            ep.reset(index, self._draw(len(index)))
            fresh = as_observation(*ep.observe())
            for k in obs:
                obs[k][index.numpy()] = fresh[k][index.numpy()]
        return obs, rewards, done.numpy(), infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self, method_name)(*args, **kwargs)] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(self._indices(indices))

    def _indices(self, indices):
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else indices
