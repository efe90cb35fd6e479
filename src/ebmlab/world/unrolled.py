"""The planning energy of an MLP forward model and its gradient, by a hand-written backward pass.

Gradient MPC spends its time differentiating E(a) = Σ_t c(ŝ_t, a_t, ŝ_{t+1})
through a model unrolled over 30 steps, on a batch of a few plans: hundreds of
tiny matrix products, where autograd's bookkeeping costs more than the
arithmetic. :class:`Unrolled` does the same computation with fewer, larger
operations, exactly (tested against autograd):

- the normalisation is folded into the first and last layers (s' = s + W h + b);
- the actions' part of the first layer is one product for all steps at once;
- the cost (and a terminal value of the last state) is evaluated once on the
  whole imagined trajectory, and its gradient with respect to every state and
  action taken by autograd in one call;
- the model is unrolled forward keeping its pre-activations, then the adjoint
  λ_t = ∂E/∂ŝ_t runs backward through the transposed layers (three products
  and three products with SiLU's derivative per step) and gives ∂E/∂a_t for
  all steps in one product;
- the members of an ensemble run together as a batch (``bmm``); the ensemble's
  prediction is their mean, so each member receives λ/K.

It applies to :class:`ForwardModel` (and ensembles of them) with SiLU hidden
layers and no dropout; a latent-variable model plans with z = 0, the mean
outcome, whose columns of the first layer then drop out. :func:`unrolled` says
``None`` for any other model, and planners fall back to autograd.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlab.world.costs import plan_energy
from ebmlab.world.models import Ensemble, ForwardModel

__all__ = ["Unrolled", "unrolled"]


def _plain_mlp(g: nn.Sequential) -> bool:
    kinds = [type(m) for m in g]
    return len(kinds) % 2 == 1 and all(k is nn.Linear for k in kinds[::2]) and all(k is nn.SiLU for k in kinds[1::2])


def unrolled(model) -> Unrolled | None:
    """An :class:`Unrolled` view of ``model``'s current weights, or None where the fast path does not apply."""
    members = list(model.models) if isinstance(model, Ensemble) else [model]
    if not all(type(m) is ForwardModel and _plain_mlp(m.g) and len(m.g) >= 3 for m in members):
        return None
    return Unrolled(members)


class Unrolled:
    """Folded weights of K members (stacked on a leading axis) and the energy-and-gradient of plans."""

    @torch.no_grad()
    def __init__(self, members: list[ForwardModel]) -> None:
        obs_dim, act_dim = members[0].obs_dim, members[0].act_dim
        first_s, first_a, first_b, hidden_w, hidden_b, last_w, last_b = ([] for _ in range(7))
        for m in members:
            n, linears = m.norm, [layer for layer in m.g if isinstance(layer, nn.Linear)]
            w1, b1 = linears[0].weight, linears[0].bias
            ws, wa = w1[:, :obs_dim] / n.obs_std, w1[:, obs_dim : obs_dim + act_dim] / n.act_std  # z's columns: z = 0
            first_s.append(ws.T)
            first_a.append(wa.T)
            first_b.append(b1 - ws @ n.obs_mean - wa @ n.act_mean)
            hidden_w.append([layer.weight.T for layer in linears[1:-1]])
            hidden_b.append([layer.bias for layer in linears[1:-1]])
            last_w.append((linears[-1].weight * n.delta_std[:, None]).T)
            last_b.append(n.delta_mean + n.delta_std * linears[-1].bias)
        self.k = len(members)
        self.ws, self.wa = torch.stack(first_s), torch.stack(first_a)  # K×S×D, K×A×D
        self.b1 = torch.stack(first_b)[:, None]  # K×1×D
        self.hw = [torch.stack(ws) for ws in zip(*hidden_w)]  # each K×D×D
        self.hb = [torch.stack(bs)[:, None] for bs in zip(*hidden_b)]  # each K×1×D
        self.wo, self.bo = torch.stack(last_w), torch.stack(last_b)[:, None]  # K×D×S, K×1×S

    def _ops(self):
        """The weights without the member axis for a single model (plain matrix products), and the products."""
        if self.k > 1:
            return self.ws, self.hw, self.hb, self.wo, self.bo, torch.baddbmm, torch.bmm
        return (
            self.ws[0],
            [w[0] for w in self.hw],
            [b[0] for b in self.hb],
            self.wo[0],
            self.bo[0],
            torch.addmm,
            torch.mm,
        )

    @torch.no_grad()
    def trajectory(self, obs: torch.Tensor, actions: torch.Tensor, keep: bool = False):
        """The states ŝ_0..ŝ_H (B×(H+1)×S) the model predicts for plans ``actions`` (B×H×A) from ``obs``; with
        ``keep``, also every step's pre-activations (for :meth:`energy_and_grad`)."""
        k, (b, h, _) = self.k, actions.shape
        ws, hw, hb, wo, bo, affine, _ = self._ops()
        first = torch.matmul(actions[None], self.wa[:, None]) + self.b1[:, None]  # K×B×H×D, every step at once
        first = first[0].unbind(1) if k == 1 else first.unbind(2)  # one view per step
        s = obs.expand(b, -1)
        states, pre = [s], []
        for t in range(h):
            x = affine(first[t], s if k == 1 else s.expand(k, -1, -1), ws)
            p = [x]
            for w, bias in zip(hw, hb):
                x = affine(bias, nn.functional.silu(x), w)
                p.append(x)
            change = affine(bo, nn.functional.silu(x), wo)
            s = s + (change if k == 1 else change.mean(0))
            states.append(s)
            if keep:
                pre.append(p)
        return (torch.stack(states, 1), pre) if keep else torch.stack(states, 1)

    def energy(self, cost, obs: torch.Tensor, actions: torch.Tensor, terminal=None) -> torch.Tensor:
        """E(a) = Σ_t c(ŝ_t, a_t, ŝ_{t+1}) (+ V(ŝ_H) with a ``terminal`` value V) for plans ``actions`` (B×H×A)
        from ``obs``; shape B."""
        traj = self.trajectory(obs, actions)
        with torch.no_grad():
            return _energy(cost, terminal, traj, actions)

    def energy_and_grad(
        self, cost, obs: torch.Tensor, actions: torch.Tensor, terminal=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E(a) (B) and ∂E/∂a (B×H×A) for plans ``actions`` (B×H×A) from ``obs``."""
        k, h = self.k, actions.shape[1]
        ws, hw, _, wo, _, affine, product = self._ops()
        traj, pre = self.trajectory(obs, actions, keep=True)
        traj, acts = traj.requires_grad_(True), actions.detach().requires_grad_(True)
        with torch.enable_grad():  # the cost's (and V's) own gradient, at every state and action at once
            energy = _energy(cost, terminal, traj, acts)
            d_traj, d_act = torch.autograd.grad(energy.sum(), (traj, acts), allow_unused=True, materialize_grads=True)
        with torch.no_grad():
            depth = len(hw) + 1
            # SiLU's slopes at every step and layer: slopes[t][i], (K×)B×D
            slopes = list(zip(*(_silu_slope(torch.stack([p[i] for p in pre])).unbind(0) for i in range(depth))))
            wo_t, hw_t, ws_t = wo.transpose(-1, -2), [w.transpose(-1, -2) for w in hw], ws.transpose(-1, -2)
            d_states = d_traj.unbind(1)
            lam = d_states[h]  # the adjoint ∂E/∂ŝ_{t+1}, from the end backward
            d_first = []
            for t in range(h - 1, -1, -1):
                slope = slopes[t]
                d = product(lam if k == 1 else (lam / k).expand(k, -1, -1), wo_t) * slope[-1]
                for i in range(depth - 2, -1, -1):
                    d = product(d, hw_t[i]) * slope[i]
                d_first.append(d)  # ∂E/∂(first layer's pre-activation at step t)
                if t:
                    lam = affine(lam + d_states[t], d, ws_t) if k == 1 else lam + d_states[t] + product(d, ws_t).sum(0)
            d_first = torch.stack(d_first[::-1], -2)  # (K×)B×H×D
            wa_t = self.wa.transpose(1, 2)
            d_act = d_act + (torch.matmul(d_first, wa_t[0]) if k == 1 else torch.matmul(d_first, wa_t[:, None]).sum(0))
        return energy.detach(), d_act


def _energy(cost, terminal, traj: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return plan_energy(cost(traj[:, :-1], actions, traj[:, 1:]), traj, terminal)


def _silu_slope(x: torch.Tensor) -> torch.Tensor:
    """d silu(x)/dx = σ(x)·(1 + x·(1 − σ(x)))."""
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))
