"""Known costs of the supported environments, in torch: differentiable, batched, equal to the environments' own.

Each cost is c(s, a, s') = −r(s, a, s'), the negative of the environment's
reward for the transition from observation s with action a to observation s',
on batches (…×obs_dim, …×act_dim). A planner minimises the sum of c over an
imagined trajectory; where the reward is a step (reaching a goal), ``planning``
gives a smooth cost with the same minimisers for gradients to follow.

- Pendulum-v1: c = θ² + 0.1 θ̇² + 0.001 u², θ = atan2(sin θ, cos θ) read from s,
  u clipped to [−2, 2] (the environment's own cost, before the step).
- MountainCarContinuous-v0: c = 0.1 a² − 100 · [x' ≥ 0.45 and v' ≥ 0] (the goal
  bonus, on s'); ``planning`` replaces the bonus by the mechanical energy
  deficit, so that swinging back and forth to gain height lowers the cost.
"""

from __future__ import annotations

import math

import torch

__all__ = ["COSTS", "EnvCost", "PendulumCost", "MountainCarCost", "get_cost"]


class EnvCost:
    """c(s, a, s') = −reward; :meth:`planning` is what planners minimise (the same unless overridden)."""

    action_low: float
    action_high: float

    def __call__(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def planning(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return self(obs, action, next_obs)


class PendulumCost(EnvCost):
    action_low, action_high = -2.0, 2.0

    def __call__(self, obs, action, next_obs):
        theta = torch.atan2(obs[..., 1], obs[..., 0])
        u = action[..., 0].clamp(self.action_low, self.action_high)
        return theta**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * u**2


class MountainCarCost(EnvCost):
    action_low, action_high = -1.0, 1.0
    goal_position, goal_velocity = 0.45, 0.0

    def __call__(self, obs, action, next_obs):
        reached = (next_obs[..., 0] >= self.goal_position) & (next_obs[..., 1] >= self.goal_velocity)
        return 0.1 * action[..., 0] ** 2 - 100.0 * reached.to(action.dtype)

    shaping = 10.0  # weight of the energy deficit in the planning cost, per step

    @staticmethod
    def energy(obs: torch.Tensor) -> torch.Tensor:
        """Mechanical energy per unit mass on the hill: U(x) + ½v², U(x) = 0.0025·sin(3x)/3, the potential of
        the environment's v' = v + 0.0015 a − 0.0025 cos 3x."""
        return 0.0025 / 3 * torch.sin(3 * obs[..., 0]) + 0.5 * obs[..., 1] ** 2

    def planning(self, obs, action, next_obs):
        goal = 0.0025 / 3 * math.sin(3 * self.goal_position)  # the energy needed to reach the goal
        bottom = -0.0025 / 3  # at rest in the valley
        deficit = ((goal - self.energy(next_obs)) / (goal - bottom)).clamp_min(0)  # 1 at rest below, 0 when enough
        bonus = torch.sigmoid((next_obs[..., 0] - self.goal_position) / 0.01)
        return 0.1 * action[..., 0] ** 2 + self.shaping * deficit - 100.0 * bonus


COSTS: dict[str, type[EnvCost]] = {"Pendulum-v1": PendulumCost, "MountainCarContinuous-v0": MountainCarCost}


def get_cost(env_id: str) -> EnvCost:
    from ebmlab.errors import ConfigError

    if env_id not in COSTS:
        raise ConfigError(f"no known cost for {env_id}; supported: {', '.join(COSTS)}")
    return COSTS[env_id]()
