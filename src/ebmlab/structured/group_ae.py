"""Auto-encoder with group sparsity (Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009).

Encoder z = s ⊙ h(W x − b) with h the identity (``linear``), a rectifier
(``relu``) or the shrinkage h_b (``shrink``, then without the bias inside), and a
learned per-unit scaling s; a linear decoder D with unit-norm columns. The
energy of a signal and its code is

    E(x, z) = ½‖x − D z‖² + λ Σ_j w_j √(ε + ‖z_{P_j}‖²)

with pools P_j of units (:mod:`ebmlab.sparse.groups`); ε > 0 makes the group
norm differentiable at 0 so that the encoder can be trained by gradient
descent on E(x, F(x)). With overlapping pools on a torus this learns a
topographic map: units that share pools learn similar filters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebmlab.errors import ConfigError
from ebmlab.sparse.groups import Pools

__all__ = ["GroupSparseAE", "ENCODERS"]

ENCODERS = ("linear", "relu", "shrink")


class GroupSparseAE(nn.Module):
    """z = s ⊙ h(W x − b), x̂ = D z, energy ½‖x − x̂‖² + λ Σ_j w_j √(ε + ‖z_{P_j}‖²)."""

    def __init__(
        self,
        n_input: int,
        pools: Pools,
        encoder: str = "linear",
        eps: float = 1e-4,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if encoder not in ENCODERS:
            raise ConfigError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
        m = pools.m
        self.encoder_kind, self.eps = encoder, float(eps)
        self.W = nn.Parameter(torch.randn(m, n_input, generator=generator) / math.sqrt(n_input))
        self.b = nn.Parameter(torch.zeros(m))
        self.s = nn.Parameter(torch.ones(m))
        D = torch.randn(n_input, m, generator=generator)
        self.D = nn.Parameter(D / D.norm(dim=0))
        self.register_buffer("pool_index", pools.index.clone())
        self.register_buffer("pool_weights", pools.weights.float().clone())

    @property
    def n_units(self) -> int:
        return self.D.shape[1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(x @ self.W.T)

    def activate(self, a: torch.Tensor) -> torch.Tensor:
        """s ⊙ h(a − b) for the filter responses a = W x."""
        if self.encoder_kind == "linear":
            h = a - self.b
        elif self.encoder_kind == "relu":
            h = torch.relu(a - self.b)
        else:
            t = self.b.abs()
            h = a - torch.maximum(torch.minimum(a, t), -t)
        return self.s * h

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.D.T

    def group_norm(self, z: torch.Tensor) -> torch.Tensor:
        """Σ_j w_j √(ε + ‖z_{P_j}‖²) per row."""
        zp = torch.cat([z, z.new_zeros(z.shape[0], 1)], 1)
        return (zp.pow(2)[:, self.pool_index].sum(2) + self.eps).sqrt() @ self.pool_weights

    def energy(self, x: torch.Tensor, lam: float, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Mean reconstruction ½‖x − Dz‖², mean group norm and total energy over the rows of x."""
        z = self.encode(x) if z is None else z
        reconstruction = 0.5 * (x - self.decode(z)).pow(2).sum(1).mean()
        group = self.group_norm(z).mean()
        return {"reconstruction": reconstruction, "group": group, "total": reconstruction + lam * group}

    @torch.no_grad()
    def normalise_decoder_(self) -> None:
        """Project the decoder columns back onto the unit sphere."""
        self.D.div_(self.D.norm(dim=0).clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)
