"""Group sparsity: pools of latent units, the penalty Ω(z) = Σ_j w_j ‖z_{P_j}‖₂ and its proximal operator.

A :class:`Pools` holds pools P_1 … P_p of the m code units (a padded index
matrix, one row per pool) and a weight w_j per pool. Three families:

- :func:`block_pools` – non-overlapping consecutive pools (the group Lasso);
- :func:`torus_pools` – a size×size neighbourhood around every unit of a
  square map, wrapping at the edges (a topographic map, Kavukcuoglu et al.,
  CVPR 2009; Hyvärinen & Hoyer 2001);
- :func:`tree_pools` – the sub-trees of a tree whose nodes are the units
  (Jenatton, Mairal, Obozinski & Bach, JMLR 2011).

The proximal operator prox_{tΩ}(v) = argmin_u ½‖u − v‖² + t Ω(u) is exact when
the pools form a laminar family (any two pools are disjoint or nested: blocks,
trees): block soft-thresholding u_P ← u_P · max(0, 1 − t w/‖u_P‖) applied to the
pools in order of height, inner pools first (Jenatton et al. 2011, Prop. 2).
Pools of equal height are disjoint, so each height is one batched step. For
overlapping pools (the torus) it is computed by accelerated projected gradient
on the dual, u = v − Σ_j P_jᵀ ξ_j with ‖ξ_j‖ ≤ t w_j, to a tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ebmlab.errors import ConfigError

__all__ = ["Pools", "block_pools", "torus_pools", "tree_pools", "singleton_pools"]


@dataclass(frozen=True)
class Pools:
    """Pools of code units: ``index`` (p×k, long; rows padded with m), ``weights`` (p), ``m`` units.

    ``kind`` names the family; ``grid`` is the map's (rows, cols) for torus pools.
    """

    index: torch.Tensor
    weights: torch.Tensor
    m: int
    kind: str = "custom"
    grid: tuple[int, int] | None = None
    levels: list[torch.Tensor] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.index.dim() != 2 or self.index.dtype != torch.long:
            raise ConfigError("pool index must be a 2-D long tensor (one row of unit indices per pool)")
        if self.index.numel() and (int(self.index.min()) < 0 or int(self.index.max()) > self.m):
            raise ConfigError(f"pool members must be unit indices in 0..{self.m - 1} (padding {self.m})")
        if self.weights.shape != (self.index.shape[0],) or bool((self.weights < 0).any()):
            raise ConfigError("pool weights must be one number >= 0 per pool")
        object.__setattr__(self, "levels", _laminar_levels(self))
        plan = []
        for rows in self.levels or []:  # per height: pool indices, weights, and each unit's pool
            index = self.index[rows.to(self.index.device)]
            unit_pool = torch.full((self.m + 1,), len(rows), dtype=torch.long, device=self.index.device)
            unit_pool[index.reshape(-1)] = torch.arange(len(rows), device=self.index.device).repeat_interleave(
                index.shape[1]
            )
            plan.append((index, self.weights[rows.to(self.weights.device)], unit_pool[: self.m]))
        object.__setattr__(self, "_plan", plan)
        # consecutive equal blocks covering all units: reshapes instead of gathers
        p, k = self.index.shape
        object.__setattr__(
            self, "_blocks", p * k == self.m and bool(torch.equal(self.index.reshape(-1).cpu(), torch.arange(self.m)))
        )

    @property
    def n_pools(self) -> int:
        return self.index.shape[0]

    def to(self, device=None, dtype=None) -> Pools:
        return Pools(self.index.to(device), self.weights.to(device=device, dtype=dtype), self.m, self.kind, self.grid)

    def membership(self) -> torch.Tensor:
        """p×m 0/1 matrix: entry (j, i) is 1 when unit i belongs to pool j."""
        M = torch.zeros(self.n_pools, self.m + 1, dtype=torch.float64, device=self.index.device)
        M.scatter_(1, self.index, 1.0)
        return M[:, : self.m]

    def norms(self, Z: torch.Tensor) -> torch.Tensor:
        """‖z_{P_j}‖₂ for every row of Z (N×m) and pool: N×p."""
        if self._blocks:
            return torch.linalg.vector_norm(Z.reshape(Z.shape[0], self.n_pools, -1), dim=2)
        Zp = torch.cat([Z, Z.new_zeros(Z.shape[0], 1)], 1)
        return Zp[:, self.index].pow(2).sum(2).sqrt()

    def value(self, Z: torch.Tensor) -> torch.Tensor:
        """Ω(z) = Σ_j w_j ‖z_{P_j}‖₂ for every row of Z: a tensor of length N."""
        return self.norms(Z) @ self.weights.to(Z)

    def prox(self, V: torch.Tensor, t: float, max_iter: int = 200, tol: float = 1e-7) -> torch.Tensor:
        """prox_{tΩ}(v) for every row of V (N×m); ``max_iter``/``tol`` only for overlapping pools."""
        if V.shape[-1] != self.m:
            raise ConfigError(f"codes have {V.shape[-1]} units but the pools are over {self.m}")
        if self._blocks:
            N, p = V.shape[0], self.n_pools
            W = V.reshape(N, p, -1)
            norms = torch.linalg.vector_norm(W, dim=2, keepdim=True)
            thr = (self.weights.to(V) * t)[None, :, None]
            return (W * (1.0 - thr / norms.clamp(min=torch.finfo(V.dtype).tiny)).clamp(min=0.0)).reshape(N, -1)
        if self.levels is not None:
            U = V
            for index, weights, unit_pool in self._plan:
                U = _block_shrink(U, index, weights.to(V) * t, unit_pool)
            return U
        return _dual_prox(V, self, t, max_iter, tol)


def _block_shrink(V, index, thr, unit_pool):
    """Block soft-thresholding on disjoint pools (rows of index, padded with m); unit_pool[i] is unit i's
    pool (a row of index), or len(index) for units in none of them, which are kept."""
    N = V.shape[0]
    Vp = torch.cat([V, V.new_zeros(N, 1)], 1)
    norms = Vp[:, index].pow(2).sum(2).sqrt()
    scale = (1.0 - thr / norms.clamp(min=torch.finfo(V.dtype).tiny)).clamp(min=0.0)
    scale = torch.cat([scale, V.new_ones(N, 1)], 1)
    return V * scale[:, unit_pool]


def _laminar_levels(pools: Pools):
    """Pool rows grouped by height if the pools form a laminar family (disjoint or nested), else None."""
    M = pools.membership()
    size = M.sum(1)
    overlap = M @ M.T
    nested_or_disjoint = (overlap == 0) | (overlap == torch.minimum(size[:, None], size[None, :]))
    if not bool(nested_or_disjoint.all()):
        return None
    # contains[i, j]: pool j ⊂ pool i (strictly, or equal with j < i so that duplicates are ordered)
    p = pools.n_pools
    order = torch.arange(p, device=M.device)
    contains = (overlap == size[None, :]) & ((size[:, None] > size[None, :]) | (order[None, :] < order[:, None]))
    contains &= overlap > 0
    height = torch.zeros(p, dtype=torch.long, device=M.device)
    for _ in range(p):  # longest chain of contained pools below each pool
        new = torch.where(contains, height[None, :] + 1, torch.zeros_like(height)[None, :]).amax(1)
        if torch.equal(new, height):
            break
        height = new
    return [(height == h).nonzero().squeeze(1).cpu() for h in range(int(height.max()) + 1 if p else 0)]


def _dual_prox(V, pools: Pools, t, max_iter, tol):
    """prox for overlapping pools: FISTA on the dual variables ξ_j (N×p×k), projected on ‖ξ_j‖ ≤ t w_j."""
    N, m = V.shape
    idx = pools.index
    p, k = idx.shape
    live = (idx < m).to(V.dtype)
    radius = (pools.weights.to(V) * t)[None, :, None]
    cover = torch.zeros(m + 1, dtype=V.dtype, device=V.device).index_add_(0, idx.reshape(-1), live.reshape(-1))[:m]
    step = 1.0 / max(float(cover.max()), 1.0)
    flat = idx.reshape(-1)

    def primal(xi):
        S = V.new_zeros(N, m + 1).index_add_(1, flat, (xi * live).reshape(N, -1))
        return V - S[:, :m]

    xi = V.new_zeros(N, p, k)
    y, s = xi, 1.0
    for _ in range(int(max_iter)):
        U_y = torch.cat([primal(y), V.new_zeros(N, 1)], 1)
        g = y + step * U_y[:, idx] * live
        n = torch.linalg.vector_norm(g, dim=2, keepdim=True)
        xi_new = g * torch.clamp(radius / n.clamp(min=torch.finfo(V.dtype).tiny), max=1.0)
        s_next = (1.0 + math.sqrt(1.0 + 4.0 * s * s)) / 2.0
        y = xi_new + ((s - 1.0) / s_next) * (xi_new - xi)
        change = float(torch.linalg.vector_norm(xi_new - xi))
        xi, s = xi_new, s_next
        if change <= tol * max(float(torch.linalg.vector_norm(xi)), 1e-30):
            break
    return primal(xi)


def _check_size(size: int, what: str) -> None:
    if size < 1:
        raise ConfigError(f"{what} must be >= 1, got {size}")


def block_pools(m: int, size: int, weight: float = 1.0) -> Pools:
    """Non-overlapping pools of ``size`` consecutive units; ``size`` must divide m."""
    _check_size(size, "pool size")
    if m % size:
        raise ConfigError(f"pools of {size} units do not tile {m} units; choose a pool size that divides {m}")
    index = torch.arange(m).reshape(m // size, size)
    return Pools(index, torch.full((m // size,), float(weight), dtype=torch.float64), m, kind="blocks")


def singleton_pools(m: int) -> Pools:
    """One pool per unit: Ω(z) = ‖z‖₁."""
    return block_pools(m, 1)


def torus_pools(m: int, size: int, wrap: bool = True, weight: float = 1.0) -> Pools:
    """A size×size neighbourhood around each unit of a square map of m units (side √m).

    With ``wrap`` the map is a torus (neighbourhoods wrap at the edges); without
    it they are clipped at the edges. The weight of each pool is ``weight``.
    """
    _check_size(size, "neighbourhood size")
    side = math.isqrt(m)
    if side * side != m:
        raise ConfigError(
            f"a topographic map of {m} units is not square; wrapping needs a square map "
            f"(use a perfect square such as {side * side} or {(side + 1) ** 2})"
        )
    if size > side:
        raise ConfigError(f"neighbourhood of {size}×{size} units does not fit in a {side}×{side} map")
    r = torch.arange(side)
    offsets = torch.arange(size) - (size - 1) // 2
    rows = r[:, None] + offsets[None, :]  # side × size
    if wrap:
        rows = rows % side
        ok = torch.ones_like(rows, dtype=torch.bool)
    else:
        ok = (rows >= 0) & (rows < side)
        rows = rows.clamp(0, side - 1)
    # pool of unit (i, j): rows[i] × rows[j]
    ri, rj = rows[:, None, :, None], rows[None, :, None, :]
    members = (ri * side + rj).expand(side, side, size, size)
    valid = (ok[:, None, :, None] & ok[None, :, None, :]).expand(side, side, size, size)
    index = torch.where(valid, members, torch.full_like(members, m)).reshape(m, size * size)
    index = index.sort(1).values
    return Pools(
        index,
        torch.full((m,), float(weight), dtype=torch.float64),
        m,
        kind="torus" if wrap else "grid",
        grid=(side, side),
    )


def tree_pools(branching: int, depth: int, weight: float = 1.0) -> Pools:
    """Units are the nodes of a complete tree (breadth-first order); one pool per node: its sub-tree.

    ``depth`` counts levels (1: the root alone); m = (b^depth − 1)/(b − 1) nodes.
    """
    if branching < 1 or depth < 1:
        raise ConfigError(f"a tree needs branching >= 1 and depth >= 1, got {branching} and {depth}")
    m = depth if branching == 1 else (branching**depth - 1) // (branching - 1)
    parent = [-1] + [(i - 1) // branching for i in range(1, m)]
    members: list[list[int]] = [[i] for i in range(m)]
    for i in range(m - 1, 0, -1):
        members[parent[i]].extend(members[i])
    k = max(len(s) for s in members)
    index = torch.full((m, k), m, dtype=torch.long)
    for i, s in enumerate(members):
        index[i, : len(s)] = torch.tensor(sorted(s))
    return Pools(index, torch.full((m,), float(weight), dtype=torch.float64), m, kind="tree")
