"""The Lasso energy that every sparse-coding solver minimises, and what the solvers share.

For every row x of X (N×n) and a dictionary D (n×m, unit-norm columns = atoms)

    E(z) = ½‖x − Dz‖² + λ‖z‖₁                                           (1)

Here: the result of an inference (:class:`SolverResult`), the energy itself
(:func:`lasso_objective`, and its Gram form), the shrinkage operator, the
step's Lipschitz constant, and the checks of a problem's shapes and settings.
The solvers (:mod:`~ebmlab.sparse.solvers`, :mod:`~ebmlab.sparse.active_set`,
:mod:`~ebmlab.sparse.lars`, :mod:`~ebmlab.structured.lateral`) all build on this
module and on nothing of each other's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ebmlab.errors import ConfigError, DataError

__all__ = [
    "SolverResult",
    "lasso_objective",
    "soft_threshold",
    "lipschitz_constant",
    "check_problem",
    "check_iterations",
    "gram_objective",
    "finish",
]


@dataclass
class SolverResult:
    """Outcome of an inference.

    z: codes N×m; objective: mean over rows of E(z) in (1); n_iter: iterations
    done (for :func:`~ebmlab.sparse.solvers.cod`, coordinate updates; for :func:`~ebmlab.sparse.solvers.feature_sign`,
    active-set rounds); history: mean objective after each iteration when
    ``track=True``, else an empty list; converged: whether ``tol`` was met
    before ``max_iter``.
    """

    z: torch.Tensor
    objective: float
    n_iter: int
    history: list[float] = field(default_factory=list)
    converged: bool = False


def soft_threshold(v: torch.Tensor, t) -> torch.Tensor:
    """The shrinkage operator h_t(v) = sign(v) · max(|v| − t, 0), elementwise.

    It is the proximal operator of t‖·‖₁; ``t`` (≥ 0) is a number or a tensor
    that broadcasts against ``v``. Computed as v − clip(v, −t, t).
    """
    return v - torch.clamp(v, -t, t)


def lasso_objective(X: torch.Tensor, D: torch.Tensor, Z: torch.Tensor, lam: float, pools=None) -> torch.Tensor:
    """Per-row energy E(z) = ½‖x − Dz‖² + λ‖z‖₁ of (1); returns a tensor of length N.

    With ``pools`` (:class:`ebmlab.sparse.groups.Pools`) the penalty is the group
    norm λ Σ_j w_j ‖z_{P_j}‖₂ instead (the group Lasso energy).
    """
    X, D = check_problem(X, D, lam)
    if Z.dim() != 2 or Z.shape != (X.shape[0], D.shape[1]):
        raise DataError(
            f"codes Z must be N×m = {X.shape[0]}×{D.shape[1]}, got {tuple(Z.shape)}; pass one code row per data row"
        )
    R = X - Z.to(X.dtype) @ D.T
    penalty = Z.abs().sum(dim=1) if pools is None else pools.value(Z)
    return 0.5 * (R * R).sum(dim=1) + lam * penalty.to(X.dtype)


def lipschitz_constant(G: torch.Tensor) -> float:
    """L = largest eigenvalue of the Gram matrix G = DᵀD (Lipschitz constant of ∇½‖x − Dz‖²)."""
    return float(torch.linalg.eigvalsh(G.double()).max())


def check_problem(X, D, lam, z0=None):
    """Validate shapes and λ; return X, D as tensors of X's dtype on X's device."""
    if not isinstance(X, torch.Tensor):
        X = torch.as_tensor(X)
    if not isinstance(D, torch.Tensor):
        D = torch.as_tensor(D)
    if not X.is_floating_point():
        X = X.to(torch.get_default_dtype())
    if X.dim() != 2:
        raise DataError(f"data X must be a 2-D tensor N×n (one signal per row), got shape {tuple(X.shape)}")
    if D.dim() != 2:
        raise DataError(f"dictionary D must be a 2-D tensor n×m (atoms as columns), got shape {tuple(D.shape)}")
    if D.shape[0] != X.shape[1]:
        raise DataError(
            f"dictionary D has {D.shape[0]} rows but X has {X.shape[1]} columns; "
            "D must be n×m with n = X.shape[1] (transpose D if its atoms are rows)"
        )
    try:
        lam_f = float(lam)
    except (TypeError, ValueError):
        raise ConfigError(f"lam must be a number >= 0, got {lam!r}") from None
    if not math.isfinite(lam_f) or lam_f < 0:
        raise ConfigError(f"lam must be a finite number >= 0, got {lam!r}")
    D = D.to(dtype=X.dtype, device=X.device)
    if z0 is not None:
        if not isinstance(z0, torch.Tensor) or z0.shape != (X.shape[0], D.shape[1]):
            shape = tuple(z0.shape) if isinstance(z0, torch.Tensor) else type(z0).__name__
            raise DataError(f"z0 must be a tensor N×m = {X.shape[0]}×{D.shape[1]}, got {shape}")
    return X, D


def check_iterations(max_iter, tol):
    if int(max_iter) < 0:
        raise ConfigError(f"max_iter must be >= 0, got {max_iter}")
    if not (tol >= 0):
        raise ConfigError(f"tol must be >= 0, got {tol}")


def gram_objective(Z, B, ZG, xx, lam, pools=None) -> float:
    """Mean of E(z) from the Gram form ½‖x‖² − zᵀDᵀx + ½ zᵀGz + λ‖z‖₁ (no N×n residual)."""
    penalty = Z.abs().sum(1) if pools is None else pools.value(Z)
    per_row = 0.5 * xx - (Z * B).sum(1) + 0.5 * (Z * ZG).sum(1) + lam * penalty
    return float(per_row.mean())


def finish(X, D, Z, lam, n_iter, history, converged, pools=None) -> SolverResult:
    obj = float(lasso_objective(X, D, Z, lam, pools).mean()) if X.shape[0] else 0.0
    return SolverResult(z=Z, objective=obj, n_iter=n_iter, history=history, converged=converged)
