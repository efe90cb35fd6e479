"""A learned terminal value: the cost still to come after the plan's last step, by value iteration through the model.

A plan of H steps sees only H steps of cost. Where an action pays off later
than that — a pendulum that must first swing away from the top to come up, a
cart that drifts towards the end of its rail — the planner is myopic, and
planning further ahead does not help a gradient planner (the gradient through
a long unrolled rollout is a poor guide). The usual remedy (Bertsekas' rollout
with a cost-to-go approximation; Lowrey et al., "Plan Online, Learn Offline",
ICLR 2019) is to end the plan's energy with a value V(ŝ_H):

    E(a) = Σ_{t<H} c(ŝ_t, a_t, ŝ_{t+1}) + V(ŝ_H).

V is fitted here by value iteration through the forward model on the replay
buffer's states (fitted value iteration): for a minibatch of states s, try
``candidates`` actions a uniformly drawn within the bounds (and the bounds
themselves), predict s' = f(s, a) with the model, and regress V(s) on

    y(s) = min_a  c(s, a, s') + γ V̄(s'),

where V̄ is a slowly-following copy of V (Polyak averaging, rate ``tau``). The
discount γ sets how far V looks (1/(1 − γ) steps). V's network reads
normalised states and predicts in units of ``scale`` — the mean one-step
cost over 1 − γ, fixed at the first fit so that warm-started refits keep their
meaning. Termination is not modelled: V suits tasks whose episodes end by a
time limit (Pendulum, MountainCar), not ones that end on failure.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ebmlab.world.models import mlp

__all__ = ["ValueFunction", "fit_value"]


class ValueFunction(nn.Module):
    """V(s) = scale · net((s − mean) / std), the discounted cost-to-go; ``target`` is its slow copy V̄."""

    def __init__(self, obs_dim: int, hidden: int = 200, layers: int = 2, discount: float = 0.99) -> None:
        super().__init__()
        if not 0 <= discount < 1:
            raise ValueError(f"the discount must be in [0, 1), got {discount}")
        self.discount = float(discount)
        self.net = mlp(obs_dim, 1, hidden, layers)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("scale", torch.zeros(()))  # 0 until the first fit sets it
        self.target = copy.deepcopy(self.net).requires_grad_(False)

    def forward(self, s: torch.Tensor, target: bool = False) -> torch.Tensor:
        net = self.target if target else self.net
        return self.scale * net((s - self.obs_mean) / self.obs_std).squeeze(-1)


def fit_value(value: ValueFunction, model, cost, states: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
              opt: torch.optim.Optimizer, steps: int, batch_size: int = 256, candidates: int = 32, tau: float = 0.05,
              generator: torch.Generator | None = None) -> dict:
    """``steps`` Adam steps of fitted value iteration on ``states`` (N×S) through the frozen ``model``.

    ``cost`` is c(s, a, s') batched; ``opt`` optimises ``value.net.parameters()`` (the target follows by averaging). Returns the last step's loss
    (in units of ``value.scale``) and the mean target.
    """
    with torch.no_grad():
        value.obs_mean.copy_(states.mean(0))
        value.obs_std.copy_(states.std(0).clamp_min(1e-6) if len(states) > 1 else torch.ones(states.shape[1]))
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    act_dim, span = len(low), high - low
    loss = target_mean = torch.zeros(())
    try:
        for _ in range(steps):
            s = states[torch.randint(len(states), (batch_size,), generator=generator)]
            a = low + span * torch.rand(batch_size, candidates, act_dim, generator=generator)
            a = torch.cat([a, low.expand(batch_size, 1, -1), high.expand(batch_size, 1, -1)], 1)
            k = a.shape[1]
            with torch.no_grad():
                s_rep = s[:, None].expand(-1, k, -1).reshape(batch_size * k, -1)
                a_flat = a.reshape(batch_size * k, act_dim)
                s_next = model(s_rep, a_flat)
                step_cost = cost(s_rep, a_flat, s_next)
                if float(value.scale) == 0:  # first fit: V's unit, the cost of ~1/(1 − γ) typical steps
                    value.scale.fill_(float(step_cost.abs().mean().clamp_min(1e-6)) / (1 - value.discount))
                y = (step_cost + value.discount * value(s_next, target=True)).reshape(batch_size, k).min(1).values
            loss = ((value(s) - y) / value.scale).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for p, q in zip(value.target.parameters(), value.net.parameters()):
                    p.lerp_(q, tau)
            target_mean = y.mean()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return {"value_loss": float(loss.detach()), "value_target": float(target_mean)}
