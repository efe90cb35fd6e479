"""The cost still to come after a plan's last step, tabulated by value iteration through the forward model.

A plan of H steps sees H steps of cost. Where an action pays off later than
that (a pendulum hanging down needs 43–46 steps to come up, a 30-step plan
sees 30), the planner is myopic, and planning further ahead does not help a
gradient planner: the gradient through a long unrolled swing is a poor guide.
The remedy of dynamic programming (Bertsekas' rollout with a cost-to-go; Lowrey
et al., "Plan Online, Learn Offline", ICLR 2019) ends the plan's energy with a
value of the state it reaches:

    E(a) = Σ_{t<H} c(ŝ_t, a_t, ŝ_{t+1}) + V(ŝ_H).

When the state is two numbers, V can be computed outright on a grid. A
:class:`Chart` maps observations to those numbers q (Pendulum-v1: θ and θ̇
from cos θ, sin θ, θ̇); on a grid of q × a grid of actions the forward model
predicts every transition once, and backward value iteration through them,

    V_0 = 0,    V_{k+1}(q) = min_a  c(s, a, f(s, a)) + V_k(q(f(s, a))),

with V read between grid points by bilinear interpolation, gives after
``sweeps`` sweeps the least cost of that many steps under the model. No network
is fitted: a value network regressed on such targets (tried here first) erred
by ~50 near the top, on a 0–800 range, and misled the planner; the table's only
errors are the model's and the grid's. It costs |grid| × |actions| model
evaluations per refit, so it is for low-dimensional states, and it does not
model termination (tasks whose episodes end on a time limit).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ebmlab.errors import ConfigError

__all__ = ["Chart", "CHARTS", "get_chart", "ValueTable"]

UNREACHABLE = 1e9  # the cost of a transition the model cannot predict


@dataclass(frozen=True)
class Chart:
    """Two coordinates q of the state: ``coords(s)`` (…×2) and back, ``state(q)``; per axis (low, high, periodic)."""

    axes: tuple[tuple[float, float, bool], tuple[float, float, bool]]
    coords: Callable[[torch.Tensor], torch.Tensor]
    state: Callable[[torch.Tensor], torch.Tensor]


def _pendulum_coords(s: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.atan2(s[..., 1], s[..., 0]), s[..., 2]], -1)


def _pendulum_state(q: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(q[..., 0]), torch.sin(q[..., 0]), q[..., 1]], -1)


CHARTS: dict[str, Chart] = {
    # observation (cos θ, sin θ, θ̇); θ periodic, |θ̇| ≤ 8 (the environment's clip)
    "Pendulum-v1": Chart(((-math.pi, math.pi, True), (-8.0, 8.0, False)), _pendulum_coords, _pendulum_state),
}


def get_chart(env_id: str) -> Chart:
    if env_id not in CHARTS:
        raise ConfigError(
            f"a value table needs a chart of {env_id}'s state as two numbers; known for "
            f"{', '.join(CHARTS)} (plan without --value-grid elsewhere)"
        )
    return CHARTS[env_id]


class ValueTable(nn.Module):
    """V(s) on a ``size[0]`` × ``size[1]`` grid over a :class:`Chart`, read by bilinear interpolation
    (differentiable in s); zero until :meth:`fit`."""

    def __init__(self, chart: Chart, size: tuple[int, int] = (360, 161)) -> None:
        super().__init__()
        if min(size) < 2:
            raise ValueError(f"a value grid needs at least 2 points per axis, got {size}")
        self.chart, self.size = chart, tuple(size)
        self.register_buffer("values", torch.zeros(size))
        self.points = [self._points(n, axis) for n, axis in zip(size, chart.axes)]

    @staticmethod
    def _points(n: int, axis) -> torch.Tensor:
        low, high, periodic = axis
        return low + torch.arange(n) * ((high - low) / n) if periodic else torch.linspace(low, high, n)

    def _corners(self, q: torch.Tensor):
        """Flat indices (…×4) and weights (…×4) of the grid points around each q (…×2)."""
        idx, frac = [], []
        for k, (n, (low, high, periodic)) in enumerate(zip(self.size, self.chart.axes)):
            x = q[..., k]
            if periodic:
                f = torch.remainder(x - low, high - low) / ((high - low) / n)
                i0 = f.detach().floor()
                i1 = torch.remainder(i0 + 1, n)
            else:
                f = (x.clamp(low, high) - low) / ((high - low) / (n - 1))
                i0 = f.detach().floor().clamp(0, n - 2)
                i1 = i0 + 1
            idx.append((i0.long() % n, i1.long()))
            frac.append((f - i0).clamp(0, 1))
        (a0, a1), (b0, b1), (u, v) = idx[0], idx[1], frac
        n1 = self.size[1]
        index = torch.stack([a0 * n1 + b0, a0 * n1 + b1, a1 * n1 + b0, a1 * n1 + b1], -1)
        weight = torch.stack([(1 - u) * (1 - v), (1 - u) * v, u * (1 - v), u * v], -1)
        return index, weight

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        index, weight = self._corners(self.chart.coords(s))
        return (self.values.reshape(-1)[index] * weight).sum(-1)

    @torch.no_grad()
    def fit(
        self,
        model,
        cost,
        low: torch.Tensor,
        high: torch.Tensor,
        actions: int = 21,
        sweeps: int = 200,
        tol: float = 1e-3,
        chunk: int = 1 << 16,
    ) -> dict:
        """Value iteration through ``model`` (s' = model(s, a)) with the batched cost c(s, a, s'): ``actions``
        evenly spaced values per action dimension, ``sweeps`` backups at most, fewer once no value changes by
        ``tol`` in a backup. Returns the value's range and the backups made."""
        grid = torch.cartesian_prod(*self.points)  # G×2
        states = self.chart.state(grid)
        acts = torch.cartesian_prod(*[torch.linspace(float(lo), float(hi), actions) for lo, hi in zip(low, high)])
        acts = acts.reshape(len(acts), -1)
        n_g, n_a = len(states), len(acts)
        s = states[:, None].expand(-1, n_a, -1).reshape(n_g * n_a, -1)
        a = acts[None].expand(n_g, -1, -1).reshape(n_g * n_a, -1)
        step_cost = torch.empty(n_g * n_a)
        index = torch.empty(n_g * n_a, 4, dtype=torch.long)
        weight = torch.empty(n_g * n_a, 4)
        for i in range(0, n_g * n_a, chunk):
            s_next = model(s[i : i + chunk], a[i : i + chunk])
            c = cost(s[i : i + chunk], a[i : i + chunk], s_next)
            step_cost[i : i + chunk] = torch.where(torch.isfinite(s_next).all(-1), c, UNREACHABLE)
            q = self.chart.coords(s_next)
            index[i : i + chunk], weight[i : i + chunk] = self._corners(torch.where(torch.isfinite(q), q, 0.0))
        # a model that diverges somewhere: its predictions there cost a large finite amount (an infinite one
        # would turn into nan where an interpolation weight is zero)
        step_cost = torch.nan_to_num(step_cost, nan=UNREACHABLE, posinf=UNREACHABLE).reshape(n_g, n_a)
        # the interpolation as a sparse matrix (4 entries a row): one backup is one product and a min
        with warnings.catch_warnings():  # torch calls its sparse CSR tensors a beta feature
            warnings.simplefilter("ignore", UserWarning)
            reach = torch.sparse_csr_tensor(
                torch.arange(0, 4 * n_g * n_a + 1, 4), index.reshape(-1), weight.reshape(-1), (n_g * n_a, n_g)
            )
        values, done = torch.zeros(n_g), 0
        while done < sweeps:
            new = (step_cost + (reach @ values).reshape(n_g, n_a)).min(1).values
            change, values, done = float((new - values).abs().max()), new, done + 1
            if change < tol:
                break
        values = values.clamp_max(UNREACHABLE)
        self.values.copy_(values.reshape(self.size))
        return {"value_min": float(values.min()), "value_max": float(values.max()), "value_sweeps": done}
