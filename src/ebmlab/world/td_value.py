"""A terminal value for states of any size, learned by temporal differences on the agent's own transitions.

The tabulated value (:mod:`ebmlab.world.value`) is exact but needs the state as
two numbers. For a larger state a network V_ψ(s) stands in for it, fitted by
temporal differences (Sutton 1988) on the replay buffer's real transitions,

    y = c + γ (1 − d) V̄(s'),        loss = ((V_ψ(s) − y) / σ_V)²,

where c = −r is the cost the environment paid, d = 1 when the transition ended
the episode on failure or success (``terminated``; a time limit is not an end,
it bootstraps) and V̄ a target network that follows V_ψ by Polyak averaging
(τ per step), as in DQN and TD-MPC2 (Hansen, Su & Wang, ICLR 2024). V̄ is the
larger of two target heads' costs — the clipped double estimate of TD3
(Fujimoto et al., ICML 2018) read as a cost — so that the value the planner
trusts is never the more optimistic one. Targets are built from the actions the
agent took, so V estimates the cost still to come under the agent that
collected the data (the planner, mostly): fitted policy evaluation.

A terminal state has no value after it. In a plan, d is the environment's
termination written in torch (:meth:`ebmlab.world.costs.EnvCost.terminated`, soft so that a plan's
gradient feels it), and the energy is episodic
(:func:`ebmlab.world.costs.plan_energy`):

    E(a) = Σ_{t<H} alive_t c(ŝ_t, a_t, ŝ_{t+1}) + alive_H γ^H V(ŝ_H),   alive_t = Π_{k≤t} (1 − d(ŝ_k)),

so a plan that falls is scored by the cost it paid until it fell, never by the
model's predictions past the fall (which leave the data: a learned model of
InvertedDoublePendulum lifts a fallen tip to impossible heights) nor by the
value there. V also reads its input clamped to the box of the states it was
fitted on, so that it never extrapolates beyond them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ebmlab.world.models import mlp, spread

__all__ = ["lambda_returns", "td_targets", "TDValue"]


def lambda_returns(
    costs: torch.Tensor, values: torch.Tensor, going_on: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """TD(λ) targets along imagined trajectories (Sutton 1988; Dreamer, Hafner et al. 2020), costs B×H, values and
    going_on = 1 − d(ŝ_t) B×(H+1):

        R_H = V(ŝ_H),   R_t = c_t + γ (1 − d(ŝ_{t+1})) [(1 − λ) V(ŝ_{t+1}) + λ R_{t+1}];   returns R_0..R_{H−1}."""
    out, R = [], values[:, -1]
    for t in range(costs.shape[1] - 1, -1, -1):
        R = costs[:, t] + gamma * going_on[:, t + 1] * ((1 - lam) * values[:, t + 1] + lam * R)
        out.append(R)
    return torch.stack(out[::-1], 1)


def td_targets(cost: torch.Tensor, next_value: torch.Tensor, terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = c + γ (1 − d) V̄(s'): no bootstrap past a terminal transition."""
    return cost + gamma * (1.0 - terminated) * next_value


class PlanValue:
    """s ↦ γ^H V(s), the term that ends an H-step plan's energy, with the task's termination d(s) beside it."""

    def __init__(self, value: TDValue, horizon: int) -> None:
        self.value, self.weight, self.terminated = value, value.gamma**horizon, value.terminated

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        return self.weight * self.value(s)


class TDValue(nn.Module):
    """V(s) = σ_V · mean_k net_k(norm(s)) over ``heads`` networks (norm(s) clamped to the data's box), with a
    Polyak target copy."""

    def __init__(
        self,
        obs_dim: int,
        hidden: int = 256,
        layers: int = 2,
        heads: int = 2,
        gamma: float = 0.99,
        tau: float = 0.01,
        terminated=None,
    ) -> None:
        super().__init__()
        self.gamma, self.tau = gamma, tau
        self.terminated = terminated  # d(s) in [0, 1], batched; None: episodes end only on time limits
        self.nets = nn.ModuleList(mlp(obs_dim, 1, hidden, layers) for _ in range(heads))
        self.target = copy.deepcopy(self.nets).requires_grad_(False)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("low", torch.full((obs_dim,), -1e6))  # the data's box, normalised
        self.register_buffer("high", torch.full((obs_dim,), 1e6))
        self.register_buffer("scale", torch.ones(()))  # σ_V: the size of a cost still to come

    def heads(self, s: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Each head's V_ψ(s) (K×…); the target network's with ``target``."""
        x = torch.maximum(torch.minimum((s - self.obs_mean) / self.obs_std, self.high), self.low)
        return torch.stack([net(x)[..., 0] for net in (self.target if target else self.nets)]) * self.scale

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.heads(s).mean(0)

    def planning(self, horizon: int) -> PlanValue:
        return PlanValue(self, horizon)

    @torch.no_grad()
    def fit_statistics(self, obs: torch.Tensor, next_obs: torch.Tensor, cost: torch.Tensor) -> None:
        """The states' mean and spread (over both ends of the transitions) and σ_V = (|E c| + std c) / (1 − γ)."""
        states = torch.cat([obs, next_obs])
        self.obs_mean.copy_(states.mean(0))
        self.obs_std.copy_(spread(states))
        normalised = (states - self.obs_mean) / self.obs_std
        self.low.copy_(normalised.min(0).values)
        self.high.copy_(normalised.max(0).values)
        deviation = cost.std() if len(cost) > 1 else torch.zeros(())
        self.scale.copy_(((cost.mean().abs() + deviation) / (1 - self.gamma)).clamp_min(1e-3))

    @torch.no_grad()
    def targets(self, cost: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
        """y = c + γ (1 − d) V̄(s'), V̄ the larger of the target heads' costs."""
        return td_targets(cost, self.heads(next_obs, target=True).max(0).values, terminated, self.gamma)

    def imagined_loss(self, states: torch.Tensor, costs: torch.Tensor, lam: float) -> torch.Tensor:
        """The squared error of V against the λ-returns (:func:`lambda_returns`, V̄ bootstrapping) of trajectories
        a policy imagined through the model (states B×(H+1)×D, costs B×H), in units of σ_V; the states after an
        imagined termination are left out."""
        going_on = 1.0 - self.terminated(states) if self.terminated is not None else torch.ones(states.shape[:-1])
        with torch.no_grad():
            y = lambda_returns(costs, self.heads(states, target=True).max(0).values, going_on, self.gamma, lam)
            weight = torch.cumprod(going_on, -1)[:, :-1]
        return (weight * ((self.heads(states[:, :-1]) - y) / self.scale) ** 2).mean()

    @torch.no_grad()
    def update_target(self) -> None:
        """V̄ ← (1 − τ) V̄ + τ V_ψ."""
        for target, online in zip(self.target.parameters(), self.nets.parameters()):
            target.lerp_(online, self.tau)

    def fit(
        self,
        data,
        opt: torch.optim.Optimizer,
        steps: int,
        batch_size: int,
        generator: torch.Generator,
    ) -> dict:
        """``steps`` Adam steps on minibatches of the buffer's transitions (statistics refitted first), each
        followed by a target update; the squared TD error in units of σ_V, every head against the same target.
        Returns the last loss and the value's range on the buffer's states."""
        cost = -data.reward
        self.fit_statistics(data.obs, data.next_obs, cost)
        loss = torch.zeros(())
        for _ in range(steps):
            i = torch.randint(len(data), (batch_size,), generator=generator)
            y = self.targets(cost[i], data.next_obs[i], data.terminated[i])
            loss = (((self.heads(data.obs[i]) - y) / self.scale) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.update_target()
        with torch.no_grad():
            values = self(data.obs)
        return {"td_loss": float(loss.detach()), "value_min": float(values.min()), "value_max": float(values.max())}
