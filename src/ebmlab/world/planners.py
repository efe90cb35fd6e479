"""Actors that plan: model-predictive control by gradient descent on the actions, and CEM as a reference.

Planning is inference: the action sequence a_{1..H} is the latent variable of
the energy E(a) = Σ_t c(ŝ_t, a_t, ŝ_{t+1}) along the trajectory that the
forward model unrolls from the current state, ŝ_{t+1} = f(ŝ_t, a_t). Gradient
MPC minimises it by Adam steps on a (back-propagation through the unrolled
model), projects onto the action bounds after each step, executes a_1 and
plans again at the next state (receding horizon), starting from the previous
plan shifted by one step (warm start). A value V(ŝ_H) of the state the plan
ends in, tabulated through the model (:mod:`ebmlab.world.value`), can end the
energy, for costs that come after the horizon. Several plans are optimised at once, the
warm one and ``restarts`` − 1 drawn uniformly in the bounds, and the lowest
energy one is kept. The energy's gradient is taken by the hand-written backward
pass of :mod:`ebmlab.world.unrolled` where the model allows it (three times
faster than autograd, and equal), by autograd otherwise. The cross-entropy
method (CEM; Rubinstein 1999, as used by Chua et al., NeurIPS 2018) samples
action sequences from a Gaussian, keeps the ``elites`` of lowest energy and
refits the Gaussian; it needs no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ebmlab.world.costs import plan_energy
from ebmlab.world.unrolled import unrolled

__all__ = ["rollout_cost", "energy_and_grad", "GradientMPC", "CEM"]


def rollout_cost(model, cost, obs: torch.Tensor, actions: torch.Tensor, terminal=None) -> torch.Tensor:
    """E(a) (:func:`plan_energy`) for plans ``actions`` (B×H×A) from one state ``obs`` (obs_dim); shape B."""
    states, costs = [obs.expand(actions.shape[0], -1)], []
    for t in range(actions.shape[1]):
        states.append(model(states[-1], actions[:, t]))
        costs.append(cost(states[-2], actions[:, t], states[-1]))
    return plan_energy(torch.stack(costs, -1), torch.stack(states, 1), terminal)


def energy_and_grad(
    model, cost, obs: torch.Tensor, actions: torch.Tensor, terminal=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """E(a) (B) and ∂E/∂a (B×H×A) by autograd through :func:`rollout_cost`; the model's parameters untouched."""
    actions = actions.detach().requires_grad_(True)
    with torch.enable_grad():
        energy = rollout_cost(model, cost, obs, actions, terminal)
        (grad,) = torch.autograd.grad(energy.sum(), actions)
    return energy.detach(), grad


@dataclass
class GradientMPC:
    """Receding-horizon planning by gradient descent on the action sequence (see the module doc)."""

    model: torch.nn.Module
    cost: object  # c(s, a, s'), batched
    low: torch.Tensor
    high: torch.Tensor
    horizon: int = 30
    iterations: int = 5  # Adam steps per decision from a warm start
    first_iterations: int = 100  # Adam steps when there is no previous plan
    lr: float = 0.03  # in units of the action range
    restarts: int = 4
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))
    plan: torch.Tensor | None = None  # the current best plan (H×A)
    fast: bool = True  # the hand-written backward pass where the model allows it (False: always autograd)
    terminal: object = None  # a value V(ŝ_H) ending the energy (ebmlab.world.value), or None

    def reset(self) -> None:
        self.plan = None

    def _random(self, n: int) -> torch.Tensor:
        u = torch.rand(n, self.horizon, len(self.low), generator=self.generator)
        return self.low + (self.high - self.low) * u

    def optimise(self, obs: torch.Tensor, plans: torch.Tensor, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Adam on ``plans`` (B×H×A) projected onto the bounds; returns them and their final energies."""
        fast = unrolled(self.model) if self.fast else None
        scale = self.high - self.low
        u = plans / scale  # optimise in units of the range
        opt = torch.optim.Adam([u], lr=self.lr)
        for _ in range(iterations):
            _, grad = (
                fast.energy_and_grad(self.cost, obs, u * scale, self.terminal)
                if fast is not None
                else energy_and_grad(self.model, self.cost, obs, u * scale, self.terminal)
            )
            u.grad = torch.nan_to_num(grad * scale, nan=0.0, posinf=0.0, neginf=0.0)  # a model that diverges
            opt.step()
            u.copy_(torch.maximum(torch.minimum(u, self.high / scale), self.low / scale))
        plans = torch.maximum(torch.minimum(u * scale, self.high), self.low)
        with torch.no_grad():
            energy = (
                fast.energy(self.cost, obs, plans, self.terminal)
                if fast is not None
                else rollout_cost(self.model, self.cost, obs, plans, self.terminal)
            )
        return plans, torch.nan_to_num(energy, nan=float("inf"))  # a plan the model cannot score is never chosen

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """The first action of the best plan from ``obs``; the plan is kept, shifted, for the next call."""
        obs = torch.as_tensor(obs, dtype=torch.float32)
        if self.plan is None:
            plans, iterations = self._random(self.restarts), self.first_iterations
        else:
            warm = torch.cat([self.plan[1:], self.plan[-1:]])[None]
            plans, iterations = torch.cat([warm, self._random(self.restarts - 1)]), self.iterations
        self.model.requires_grad_(False)
        try:
            plans, energy = self.optimise(obs, plans, iterations)
        finally:
            self.model.requires_grad_(True)
        self.plan = plans[int(energy.argmin())]
        return self.plan[0].clone()


@dataclass
class CEM:
    """Cross-entropy method over action sequences; warm-started mean, std reset to half the range."""

    model: torch.nn.Module
    cost: object
    low: torch.Tensor
    high: torch.Tensor
    horizon: int = 30
    population: int = 400
    elites: int = 40
    iterations: int = 5
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))
    plan: torch.Tensor | None = None
    terminal: object = None  # a value V(ŝ_H) ending the energy, or None

    def reset(self) -> None:
        self.plan = None

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        obs = torch.as_tensor(obs, dtype=torch.float32)
        mid, half = (self.high + self.low) / 2, (self.high - self.low) / 2
        mean = mid.expand(self.horizon, -1).clone() if self.plan is None else torch.cat([self.plan[1:], self.plan[-1:]])
        std = half.expand(self.horizon, -1).clone()
        for _ in range(self.iterations):
            noise = torch.randn(self.population, *mean.shape, generator=self.generator)
            plans = torch.maximum(torch.minimum(mean + std * noise, self.high), self.low)
            energy = torch.nan_to_num(rollout_cost(self.model, self.cost, obs, plans, self.terminal), nan=float("inf"))
            elite = plans[energy.topk(self.elites, largest=False).indices]
            mean, std = elite.mean(0), elite.std(0) + 1e-3
        self.plan = mean
        return mean[0].clone()
