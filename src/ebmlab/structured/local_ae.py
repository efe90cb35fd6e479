"""Locally connected group-sparse auto-encoder over whole images (no weight sharing).

Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009, image-level training: the
units form an M×M map laid over an L×L image; unit u at map position (i, j)
sees only the f×f window R_u whose corner is at (p(i), p(j)) in the image,
p(i) = round(i (L − f) / (M − 1)), so neighbours on the map have neighbouring,
overlapping windows. Every unit has its own encoder filter W_u and decoder
filter D_u (‖D_u‖ = 1):

    z_u = s_u h(⟨W_u, x_{R_u}⟩ − b_u),      x̂ = Σ_u z_u P_u D_u

with P_u placing an f×f filter at R_u. The energy is that of
:class:`~ebmlab.structured.group_ae.GroupSparseAE`, ½‖x − x̂‖² + λ Σ_j √(ε + ‖z_{P_j}‖²),
with overlapping pool×pool neighbourhoods of the map as pools. Position is
laid out by construction; what the pools organise is the rest of the filter
(orientation, frequency, phase), which forms pinwheels around the map.
"""

from __future__ import annotations

import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.groups import Pools
from ebmlab.structured.group_ae import GroupSparseAE

__all__ = ["LocallyConnectedAE", "window_corners"]


def window_corners(image_side: int, field: int, map_side: int) -> torch.Tensor:
    """Corner p(i) = round(i (L − f) / (M − 1)) of the window of map row (or column) i: M integers."""
    if field > image_side:
        raise ConfigError(
            f"windows of {field} pixels do not fit images of {image_side}; choose --field <= --image-size"
        )
    if map_side < 2:
        return torch.zeros(max(map_side, 0), dtype=torch.long)
    return torch.round(torch.arange(map_side, dtype=torch.float64) * (image_side - field) / (map_side - 1)).long()


class LocallyConnectedAE(GroupSparseAE):
    """z_u = s_u h(⟨W_u, x_{R_u}⟩ − b_u), x̂ = Σ_u z_u P_u D_u over an M×M map of units on an L×L image."""

    def __init__(
        self,
        image_side: int,
        field: int,
        map_side: int,
        pools: Pools,
        encoder: str = "linear",
        eps: float = 1e-4,
        generator: torch.Generator | None = None,
    ):
        if pools.m != map_side * map_side:
            raise ConfigError(f"pools cover {pools.m} units but the map has {map_side}² = {map_side * map_side}")
        super().__init__(field * field, pools, encoder=encoder, eps=eps, generator=generator)
        self.image_side, self.field, self.map_side = image_side, field, map_side
        corners = window_corners(image_side, field, map_side)
        r0 = corners.repeat_interleave(map_side)  # unit u = i·M + j has its corner at (p(i), p(j))
        c0 = corners.repeat(map_side)
        dr, dc = torch.meshgrid(torch.arange(field), torch.arange(field), indexing="ij")
        pixels = (r0[:, None] + dr.reshape(1, -1)) * image_side + (c0[:, None] + dc.reshape(1, -1))
        self.register_buffer("pixels", pixels)  # m × f²: the image pixels each unit sees

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """x_{R_u} for every unit: N×L² → N×m×f²."""
        if x.shape[1] != self.image_side**2:
            raise ConfigError(f"images must have {self.image_side}² = {self.image_side**2} pixels, got {x.shape[1]}")
        return x[:, self.pixels]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        a = (self.windows(x) * self.W).sum(-1)
        return self.activate(a)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        parts = (z[:, :, None] * self.D.T[None]).reshape(z.shape[0], -1)
        out = z.new_zeros(z.shape[0], self.image_side**2)
        return out.index_add(1, self.pixels.reshape(-1), parts)
