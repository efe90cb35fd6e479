"""Transitions (s, a, r, s') collected by an agent: the replay buffer of a world-model run.

A growing store of float32 tensors with the index of the episode each step
belongs to; ``state_dict``/``load_state_dict`` save it in a run's checkpoint,
so a resumed run refits its model on exactly the data it had.
"""

from __future__ import annotations

import torch

__all__ = ["Transitions"]

FIELDS = ("obs", "act", "reward", "next_obs", "episode")


class Transitions:
    def __init__(self, obs_dim: int, act_dim: int) -> None:
        self.obs = torch.zeros(0, obs_dim)
        self.act = torch.zeros(0, act_dim)
        self.reward = torch.zeros(0)
        self.next_obs = torch.zeros(0, obs_dim)
        self.episode = torch.zeros(0, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.obs)

    def add(self, obs, act, reward: float, next_obs, episode: int) -> None:
        """Append one step (arrays or tensors)."""
        self.obs = torch.cat([self.obs, torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)])
        self.act = torch.cat([self.act, torch.as_tensor(act, dtype=torch.float32).reshape(1, -1)])
        self.reward = torch.cat([self.reward, torch.tensor([float(reward)])])
        self.next_obs = torch.cat([self.next_obs, torch.as_tensor(next_obs, dtype=torch.float32).reshape(1, -1)])
        self.episode = torch.cat([self.episode, torch.tensor([episode])])

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n transitions (s, a, s') drawn uniformly with replacement."""
        idx = torch.randint(len(self), (n,), generator=generator)
        return self.obs[idx], self.act[idx], self.next_obs[idx]

    def state_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    def load_state_dict(self, state: dict) -> None:
        for name in FIELDS:
            setattr(self, name, state[name].cpu())
