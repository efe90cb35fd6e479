"""Structured sparse coding by lateral inhibition (Gregor, Szlam & LeCun, NIPS 2011).

Energy of a signal x and its code z, with a dictionary D (unit-norm columns) and
a symmetric, non-negative inhibition matrix S with zero diagonal:

    E(x, z) = ½‖x − D z‖² + λ‖z‖₁ + |z|ᵀ S |z|

Units i and j that are active together pay S_ij |z_i||z_j|: with S zero along
the paths of a tree (a unit does not inhibit its ancestors and descendants) and
positive elsewhere, the active units of a code lie on one root-to-leaf path,
and learning arranges the dictionary as a tree. Inference is proximal
gradient: the coupling is linearised in |z| at the current code, which turns
the step into soft-thresholding with per-unit thresholds λ + 2 (S|z|)_i
(:func:`lateral_ista`). S can also be learned, by projected gradient *ascent*
of the energy on S within [0, s_max]: pairs that fire together come to inhibit
each other (:func:`inhibition_step`).
"""

from __future__ import annotations

import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.lasso import SolverResult, check_problem, lipschitz_constant

__all__ = [
    "tree_parents",
    "on_a_path",
    "tree_inhibition",
    "lateral_energy",
    "lateral_ista",
    "inhibition_step",
    "path_coactivity",
]


def tree_parents(branching: int, depth: int) -> list[int]:
    """Parent of each node of a complete tree in breadth-first order (−1 for the root)."""
    m = depth if branching == 1 else (branching**depth - 1) // (branching - 1)
    return [-1] + [(i - 1) // branching for i in range(1, m)]


def on_a_path(parents: list[int]) -> torch.Tensor:
    """m×m boolean: i and j lie on one root-to-leaf path (one is an ancestor of the other, or i = j)."""
    m = len(parents)
    anc = torch.eye(m, dtype=torch.bool)
    for i in range(m):
        p = parents[i]
        while p >= 0:
            anc[i, p] = True
            p = parents[p]
    return anc | anc.T


def tree_inhibition(branching: int, depth: int, strength: float = 1.0) -> torch.Tensor:
    """S with S_ij = strength unless i and j lie on one root-to-leaf path of the tree (then 0)."""
    if strength < 0:
        raise ConfigError(f"inhibition strength must be >= 0, got {strength}")
    return (~on_a_path(tree_parents(branching, depth))).float() * strength


def _check_inhibition(S: torch.Tensor, m: int) -> None:
    if S.shape != (m, m):
        raise ConfigError(f"the inhibition matrix must be {m}×{m} (one row per unit), got {tuple(S.shape)}")
    if bool((S < 0).any()) or not torch.allclose(S, S.T) or bool(S.diagonal().ne(0).any()):
        raise ConfigError("the inhibition matrix must be symmetric, non-negative, with a zero diagonal")


def lateral_energy(X, D, Z, lam: float, S) -> torch.Tensor:
    """E(x, z) per row."""
    R = X - Z @ D.T
    A = Z.abs()
    return 0.5 * (R * R).sum(1) + lam * A.sum(1) + ((A @ S.to(A)) * A).sum(1)


def lateral_ista(X, D, lam: float, S, max_iter: int = 200, tol: float = 1e-6, z0=None) -> SolverResult:
    """Codes minimising E(x, ·) by proximal gradient with the coupling linearised at the current code.

    z ← h_{θ/L}(z − (1/L) Dᵀ(Dz − x)), θ_i = λ + 2 (S|z|)_i, L = λ_max(DᵀD). With S = 0 this is ISTA.
    Stops when ‖Z_{k+1} − Z_k‖ ≤ tol ‖Z_{k+1}‖ or after ``max_iter`` iterations.
    """
    X, D = check_problem(X, D, lam, z0)
    m = D.shape[1]
    S = torch.as_tensor(S).to(X)
    _check_inhibition(S, m)
    G, B = D.T @ D, X @ D
    L = lipschitz_constant(G)
    Z = torch.zeros_like(B) if z0 is None else z0.to(B).clone()
    converged, k = False, 0
    for k in range(1, int(max_iter) + 1):
        V = Z - (Z @ G - B) / L
        thr = (lam + 2.0 * Z.abs() @ S) / L
        Z_new = V - torch.maximum(torch.minimum(V, thr), -thr)
        change = float(torch.linalg.vector_norm(Z_new - Z))
        Z = Z_new
        if tol > 0 and change <= tol * float(torch.linalg.vector_norm(Z)):
            converged = True
            break
    obj = float(lateral_energy(X, D, Z, float(lam), S).mean()) if X.shape[0] else 0.0
    return SolverResult(z=Z, objective=obj, n_iter=k, history=[], converged=converged)


def inhibition_step(S: torch.Tensor, Z: torch.Tensor, lr: float, s_max: float, mask: torch.Tensor | None = None):
    """One projected gradient-ascent step of the mean energy on S: S + lr·mean(|z||z|ᵀ), clipped to [0, s_max],
    symmetric, zero diagonal (and zero where ``mask`` is False)."""
    A = Z.abs()
    S = (S + lr * (A.T @ A) / max(1, A.shape[0])).clamp(0.0, s_max)
    S = 0.5 * (S + S.T)
    S.fill_diagonal_(0.0)
    return S if mask is None else S * mask.to(S)


def path_coactivity(Z: torch.Tensor, on_path: torch.Tensor) -> float:
    """Share of co-active pairs of units (i ≠ j, both non-zero in one code) that lie on one tree path."""
    A = (Z != 0).float()
    co = A.T @ A
    co.fill_diagonal_(0.0)
    total = float(co.sum())
    return float((co * on_path.to(co)).sum()) / total if total > 0 else float("nan")
