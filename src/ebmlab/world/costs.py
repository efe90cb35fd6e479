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
- InvertedDoublePendulum-v5 (MuJoCo): c = 0.01 x_tip² + (y_tip − 2)² + 0.001 ω₁²
  + 0.005 ω₂² − 10 · [y_tip > 1] on s', the tip of the second pole at
  (x + 0.6 sin θ₁ + 0.6 sin(θ₁ + θ₂), 0.6 cos θ₁ + 0.6 cos(θ₁ + θ₂)) from the
  observation's sines and cosines (the episode ends when y_tip ≤ 1); the
  observation clips the angular velocities at ±10, so the cost equals the
  environment's wherever they are within (tested, to 1e-3: MuJoCo places the
  tip for the reward before the frame's last integration sub-step, the
  observation after it). ``planning`` makes the
  alive bonus a steep sigmoid of the tip's height.

For any other environment, ``--cost learned`` fits :class:`LearnedCost`, a
network c_φ(s, a, s') regressed on the environment's −reward from the agent's
own transitions, refitted with the forward model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebmlab.world.models import Normaliser, mlp

__all__ = [
    "plan_energy",
    "COSTS",
    "EnvCost",
    "PendulumCost",
    "MountainCarCost",
    "InvertedDoublePendulumCost",
    "LearnedCost",
    "get_cost",
]


def plan_energy(costs: torch.Tensor, states: torch.Tensor, terminal=None) -> torch.Tensor:
    """E = Σ_t c_t (+ V(ŝ_H)) from the step costs c (B×H) and the imagined states ŝ_0..ŝ_H (B×(H+1)×D).

    A ``terminal`` value that knows the task's termination (a ``terminated`` attribute, d(s) ∈ [0, 1]) makes the
    plan episodic: with alive_t = Π_{k≤t} (1 − d(ŝ_k)),

        E = Σ_t alive_t · c(ŝ_t, a_t, ŝ_{t+1}) + alive_H · V(ŝ_H),

    so nothing after an imagined fall counts — neither the model's predictions past it, which leave the data,
    nor the value there."""
    if terminal is None:
        return costs.sum(-1)
    terminated = getattr(terminal, "terminated", None)
    if terminated is None:
        return costs.sum(-1) + terminal(states[:, -1])
    alive = torch.cumprod(1 - terminated(states), -1)  # B×(H+1): alive at each imagined state
    return (alive[:, :-1] * costs).sum(-1) + alive[:, -1] * terminal(states[:, -1])


class EnvCost:
    """c(s, a, s') = −reward; :meth:`planning` is what planners minimise (the same unless overridden)."""

    action_low: float
    action_high: float

    def __call__(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def planning(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return self(obs, action, next_obs)

    def terminated(self, obs: torch.Tensor) -> torch.Tensor:
        """d(s) ∈ [0, 1]: whether s ends the episode (soft where the environment's test is a threshold, so that
        a plan's gradient feels it); zero for tasks that end only on a time limit."""
        return obs.new_zeros(obs.shape[:-1])


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

    def terminated(self, obs):
        """The car at the flag (x ≥ 0.45) not rolling back (v ≥ 0)."""
        return torch.sigmoid((obs[..., 0] - self.goal_position) / 0.01) * torch.sigmoid(obs[..., 1] / 1e-3)


class InvertedDoublePendulumCost(EnvCost):
    action_low, action_high = -1.0, 1.0
    pole = 0.6  # length of each pole (the environment's model file)

    def tip(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the second pole's tip: obs = [x, sin θ₁, sin θ₂, cos θ₁, cos θ₂, ẋ, ω₁, ω₂, constraint]."""
        s1, s2, c1, c2 = obs[..., 1], obs[..., 2], obs[..., 3], obs[..., 4]
        s12, c12 = s1 * c2 + c1 * s2, c1 * c2 - s1 * s2  # sin and cos of θ₁ + θ₂
        return obs[..., 0] + self.pole * (s1 + s12), self.pole * (c1 + c12)

    def _penalties(self, next_obs):
        x, y = self.tip(next_obs)
        return 0.01 * x**2 + (y - 2) ** 2 + 1e-3 * next_obs[..., 6] ** 2 + 5e-3 * next_obs[..., 7] ** 2, y

    def __call__(self, obs, action, next_obs):
        penalty, y = self._penalties(next_obs)
        return penalty - 10.0 * (y > 1).to(penalty.dtype)

    def planning(self, obs, action, next_obs):
        penalty, y = self._penalties(next_obs)
        return penalty - 10.0 * torch.sigmoid((y - 1) / 0.02)

    def terminated(self, obs):
        """The tip at or below y = 1 (the environment's own test)."""
        return torch.sigmoid((1 - self.tip(obs)[1]) / 0.02)


class LearnedCost(nn.Module):
    """c_φ(s, a, s') = μ_c + σ_c · net(norm(s), norm(a), norm(s')), fitted to −reward (squared error)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 200, layers: int = 2) -> None:
        super().__init__()
        self.norm = Normaliser(obs_dim, act_dim)
        self.net = mlp(2 * obs_dim + act_dim, 1, hidden, layers)
        self.register_buffer("cost_mean", torch.zeros(()))
        self.register_buffer("cost_std", torch.ones(()))

    @torch.no_grad()
    def fit_statistics(
        self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor, reward: torch.Tensor
    ) -> None:
        self.norm.fit(obs, act, next_obs)
        self.cost_mean.copy_(-reward.mean())
        self.cost_std.copy_(reward.std().clamp_min(1e-6) if len(reward) > 1 else torch.ones(()))

    def forward(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        n = self.norm
        x = torch.cat([n.inputs(obs, action), (next_obs - n.obs_mean) / n.obs_std], dim=-1)
        return self.cost_mean + self.cost_std * self.net(x)[..., 0]

    def planning(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return self(obs, action, next_obs)

    def loss(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        """Squared error of the normalised cost."""
        return (((self(obs, act, next_obs) + reward) / self.cost_std) ** 2).mean()


COSTS: dict[str, type[EnvCost]] = {
    "Pendulum-v1": PendulumCost,
    "MountainCarContinuous-v0": MountainCarCost,
    "InvertedDoublePendulum-v5": InvertedDoublePendulumCost,
}


def get_cost(env_id: str) -> EnvCost:
    from ebmlab.errors import ConfigError

    if env_id not in COSTS:
        raise ConfigError(f"no known cost for {env_id}; supported: {', '.join(COSTS)}")
    return COSTS[env_id]()
