"""Transitions (s, a, r, s') collected by an agent: the replay buffer of a world-model run.

A growing store of tensors — states, actions, rewards, next states, whether
the step ended its episode on failure or success (``terminated``: 1, a time
limit: 0), the index of the episode each step belongs to and, for an agent
that sees pixels, the frames it saw at s and the newest frame of s' (the frames at s' are those at s shifted
by one: ``data.next_frames``) — read as whole tensors (``data.obs``, ``data.frames``…).
Steps are appended to lists and joined once when read, so that collecting n
steps costs O(n), frames included. ``state_dict``/``load_state_dict`` save it
in a run's checkpoint, so a resumed run refits its model on exactly the data it
had.
"""

from __future__ import annotations

import torch

__all__ = ["Transitions"]

FIELDS = ("obs", "act", "reward", "next_obs", "terminated", "episode")


class Transitions:
    def __init__(self, obs_dim: int, act_dim: int, frame_shape: tuple[int, ...] | None = None) -> None:
        self._fields = FIELDS + (("frames", "next_frame") if frame_shape is not None else ())
        empty = {
            "obs": torch.zeros(0, obs_dim),
            "act": torch.zeros(0, act_dim),
            "reward": torch.zeros(0),
            "next_obs": torch.zeros(0, obs_dim),
            "terminated": torch.zeros(0),
            "episode": torch.zeros(0, dtype=torch.long),
        }
        if frame_shape is not None:
            empty["frames"] = torch.zeros(0, *frame_shape, dtype=torch.uint8)
            empty["next_frame"] = torch.zeros(0, 1, *frame_shape[1:], dtype=torch.uint8)
        self._parts: dict[str, list[torch.Tensor]] = {name: [t] for name, t in empty.items()}

    def _joined(self, name: str) -> torch.Tensor:
        parts = self._parts[name]
        if len(parts) > 1:
            parts[:] = [torch.cat(parts)]
        return parts[0]

    obs = property(lambda self: self._joined("obs"))
    act = property(lambda self: self._joined("act"))
    reward = property(lambda self: self._joined("reward"))
    next_obs = property(lambda self: self._joined("next_obs"))
    terminated = property(lambda self: self._joined("terminated"))
    episode = property(lambda self: self._joined("episode"))
    frames = property(lambda self: self._joined("frames"))

    @property
    def next_frames(self) -> torch.Tensor:
        """The frames seen at s': those at s without the oldest, and the newest."""
        return torch.cat([self.frames[:, 1:], self._joined("next_frame")], 1)

    def __len__(self) -> int:
        return sum(len(t) for t in self._parts["obs"])

    def add(
        self, obs, act, reward: float, next_obs, episode: int, frames=None, terminated: bool = False, next_frames=None
    ) -> None:
        """Append one step (arrays or tensors); ``frames`` and ``next_frames`` (the frames at s and s', channels
        first, the newest last) are required when the buffer holds frames."""
        row = {
            "obs": torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1),
            "act": torch.as_tensor(act, dtype=torch.float32).reshape(1, -1),
            "reward": torch.tensor([float(reward)]),
            "next_obs": torch.as_tensor(next_obs, dtype=torch.float32).reshape(1, -1),
            "terminated": torch.tensor([float(terminated)]),
            "episode": torch.tensor([episode]),
        }
        if "frames" in self._fields:
            row["frames"] = torch.as_tensor(frames, dtype=torch.uint8)[None]
            row["next_frame"] = torch.as_tensor(next_frames, dtype=torch.uint8)[None, -1:]
        for name, value in row.items():
            self._parts[name].append(value)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n transitions (s, a, s') drawn uniformly with replacement."""
        idx = torch.randint(len(self), (n,), generator=generator)
        return self.obs[idx], self.act[idx], self.next_obs[idx]

    def state_dict(self) -> dict:
        return {name: self._joined(name) for name in self._fields}

    def load_state_dict(self, state: dict) -> None:
        for name in self._fields:
            if name == "terminated" and name not in state:  # a checkpoint from before termination was kept
                state = {**state, name: torch.zeros(len(state["obs"]))}
            if name == "next_frame" and name not in state:  # from before s' frames were kept: the next step's
                newest = state["frames"][:, -1:]
                same = torch.cat([state["episode"][1:] == state["episode"][:-1], torch.tensor([False])])
                following = torch.cat([newest[1:], newest[-1:]])
                state = {**state, name: torch.where(same[:, None, None, None], following, newest)}
            self._parts[name] = [state[name].cpu()]
