"""A policy network trained by back-propagation through the forward model: amortised planning.

Instead of minimising the trajectory energy E(a) = Σ_t c(ŝ_t, a_t, ŝ_{t+1}) for
each state (:mod:`ebmlab.world.planners`), a network π learns to output the
minimiser: a_t = π(ŝ_t), and its parameters minimise the same energy averaged
over start states drawn from the replay buffer, through the model unrolled
``horizon`` steps (Henaff, Canziani & LeCun, ICLR 2019; the course's "policy
trained through the model"). The uncertainty penalty of PPUU adds
λ · [Var(ŝ) − τ]⁺, the spread of the next-state predictions of the ensemble
members (or of dropout masks), hinged at τ, so that the policy stays where the
model has seen data.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlab.world.costs import plan_energy
from ebmlab.world.models import mlp

__all__ = ["Policy", "policy_loss"]


class Policy(nn.Module):
    """a = mid + half · tanh(net(norm(s))) within [low, high]; ``hidden_layers`` 0 and no bounds: a = W s + b."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        low: torch.Tensor | None = None,
        high: torch.Tensor | None = None,
        hidden: int = 64,
        layers: int = 2,
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, act_dim, hidden, layers)
        self.bounded = low is not None
        if self.bounded:
            self.register_buffer("a_mid", (high + low) / 2)
            self.register_buffer("a_half", (high - low) / 2)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.net((obs - self.obs_mean) / self.obs_std)
        return self.a_mid + self.a_half * torch.tanh(out) if self.bounded else out

    @torch.no_grad()
    def act(self, obs) -> torch.Tensor:
        return self(torch.as_tensor(obs, dtype=torch.float32)[None])[0]

    def reset(self) -> None:  # a policy keeps no plan between steps
        pass


def policy_loss(
    policy: Policy,
    model: nn.Module,
    cost,
    start: torch.Tensor,
    horizon: int,
    uncertainty_weight: float = 0.0,
    uncertainty_threshold: float = 0.0,
    terminal=None,
) -> tuple[torch.Tensor, dict]:
    """Mean over ``start`` states (N×obs_dim) of Σ_t c(ŝ_t, π(ŝ_t), ŝ_{t+1}) (+ V(ŝ_H) with a ``terminal`` value,
    + the hinged uncertainty penalty); returns it, its parts, and the imagined (states N×(H+1)×D, costs N×H),
    detached."""
    states, costs = [start], []
    spread = start.new_zeros(len(start))
    for _ in range(horizon):
        s = states[-1]
        a = policy(s)
        if uncertainty_weight > 0 and hasattr(model, "members"):
            members = model.members(s, a)  # K×N×obs_dim
            s_next = members.mean(0)
            var = ((members - s_next) / model.models[0].norm.delta_std).pow(2).mean(0).sum(-1)
            spread = spread + (var - uncertainty_threshold).clamp_min(0)
        else:
            s_next = model(s, a)
        costs.append(cost(s, a, s_next))
        states.append(s_next)
    costs, states = torch.stack(costs, -1), torch.stack(states, 1)
    energy = plan_energy(costs, states, terminal)
    total = energy.mean() + uncertainty_weight * spread.mean()
    info = {"planned_cost": energy.mean().detach(), "uncertainty": spread.mean().detach()}
    return total, info, (states.detach(), costs.detach())
