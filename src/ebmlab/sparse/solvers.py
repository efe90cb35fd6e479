"""Inference for sparse coding: batched solvers of the Lasso energy.

For every row x of X (N×n) and a dictionary D (n×m, unit-norm columns = atoms)
the solvers minimise the energy

    E(z) = ½‖x − Dz‖² + λ‖z‖₁                                           (1)

over the code z (a row of Z, N×m). All rows are solved at once: with the Gram
matrix G = DᵀD (m×m) and the correlations B = XD (N×m, row i = Dᵀxᵢ) the
gradient of the smooth part for all rows is Z G − B, one N×m×m matmul.

Solvers (same signature ``f(X, D, lam, max_iter=..., tol=..., z0=None,
track=False) -> SolverResult``):

- :func:`ista`  – iterative shrinkage-thresholding (Daubechies, Defrise & De Mol,
  2004), step 1/L with L the largest eigenvalue of DᵀD.
- :func:`fista` – its accelerated version (Beck & Teboulle, SIAM J. Imaging
  Sciences 2009).
- :func:`cod`   – coordinate descent as in Gregor & LeCun, "Learning fast
  approximations of sparse coding", ICML 2010, Algorithm 2.
- :func:`feature_sign` – an exact active-set solver (feature-sign search, Lee,
  Battle, Raina & Ng, NIPS 2007), batched; see :mod:`ebmlab.sparse.active_set`.
- :func:`lars` – the exact LARS-Lasso homotopy (Efron et al., 2004), one row at a
  time in compiled CPU code (numba), rows in parallel threads; the fastest on
  the CPU. See :mod:`ebmlab.sparse.lars`.

Tensors keep the dtype and device of X (float32 or float64, CPU or GPU).
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
    "ista",
    "fista",
    "cod",
    "feature_sign",
    "lars",
    "SOLVERS",
    "get_solver",
]


@dataclass
class SolverResult:
    """Outcome of an inference.

    z: codes N×m; objective: mean over rows of E(z) in (1); n_iter: iterations
    done (for :func:`cod`, coordinate updates; for :func:`feature_sign`,
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
    X, D = _check(X, D, lam)
    if Z.dim() != 2 or Z.shape != (X.shape[0], D.shape[1]):
        raise DataError(
            f"codes Z must be N×m = {X.shape[0]}×{D.shape[1]}, got {tuple(Z.shape)}; "
            "pass one code row per data row"
        )
    R = X - Z.to(X.dtype) @ D.T
    penalty = Z.abs().sum(dim=1) if pools is None else pools.value(Z)
    return 0.5 * (R * R).sum(dim=1) + lam * penalty.to(X.dtype)


def lipschitz_constant(G: torch.Tensor) -> float:
    """L = largest eigenvalue of the Gram matrix G = DᵀD (Lipschitz constant of ∇½‖x − Dz‖²)."""
    return float(torch.linalg.eigvalsh(G.double()).max())


def _check(X, D, lam, z0=None):
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


def _check_iter(max_iter, tol):
    if int(max_iter) < 0:
        raise ConfigError(f"max_iter must be >= 0, got {max_iter}")
    if not (tol >= 0):
        raise ConfigError(f"tol must be >= 0, got {tol}")


def _gram_objective(Z, B, ZG, xx, lam, pools=None) -> float:
    """Mean of E(z) from the Gram form ½‖x‖² − zᵀDᵀx + ½ zᵀGz + λ‖z‖₁ (no N×n residual)."""
    penalty = Z.abs().sum(1) if pools is None else pools.value(Z)
    per_row = 0.5 * xx - (Z * B).sum(1) + 0.5 * (Z * ZG).sum(1) + lam * penalty
    return float(per_row.mean())


def _finish(X, D, Z, lam, n_iter, history, converged, pools=None) -> SolverResult:
    obj = float(lasso_objective(X, D, Z, lam, pools).mean()) if X.shape[0] else 0.0
    return SolverResult(z=Z, objective=obj, n_iter=n_iter, history=history, converged=converged)


def _prox_gradient(X, D, lam, max_iter, tol, z0, track, accelerated, pools=None):
    X, D = _check(X, D, lam, z0)
    if pools is not None:
        if pools.m != D.shape[1]:
            raise ConfigError(f"the pools are over {pools.m} units but the dictionary has {D.shape[1]} atoms")
        pools = pools.to(X.device)
    _check_iter(max_iter, tol)
    lam = float(lam)
    G = D.T @ D
    B = X @ D
    L = lipschitz_constant(G)
    if L <= 0:  # all-zero dictionary: z = 0 is optimal
        return _finish(X, D, torch.zeros_like(B), lam, 0, [], True)
    xx = (X * X).sum(1)
    # one iteration: V = Y − (1/L)(Y G − B), Z = h_{λ/L}(V). Through the Gram matrix,
    # V = Y (I − G/L) + B/L costs m² per row; through D, V = Y + (X − Y Dᵀ) D / L costs
    # 2nm, cheaper for dictionaries more than twice overcomplete (m > 2n).
    factored = 2 * D.shape[0] < D.shape[1]
    if factored:
        Dt = D.T.contiguous()
    else:
        M = torch.eye(G.shape[0], dtype=G.dtype, device=G.device) - G / L
        BL = B / L
    thr = lam / L
    Z = torch.zeros_like(B) if z0 is None else z0.to(B).clone()
    Y, t = Z, 1.0
    history: list[float] = []
    converged = False
    k = 0
    for k in range(1, int(max_iter) + 1):
        Z_prev = Z
        V = torch.addmm(Y, torch.addmm(X, Y, Dt, alpha=-1.0), D, alpha=1.0 / L) if factored else torch.addmm(BL, Y, M)
        Z = V.sub_(V.clamp(-thr, thr)) if pools is None else pools.prox(V, thr)
        if accelerated:  # Beck & Teboulle (2009), FISTA with constant step
            t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            Y = torch.lerp(Z_prev, Z, 1.0 + (t - 1.0) / t_next)  # Z + ((t − 1)/t_next)(Z − Z_prev)
            t = t_next
        else:
            Y = Z
        if track:
            history.append(_gram_objective(Z, B, Z @ G, xx, lam, pools))
        if tol > 0:
            change = torch.linalg.vector_norm(Z - Z_prev)
            if float(change) <= tol * float(torch.linalg.vector_norm(Z)):
                converged = True
                break
    return _finish(X, D, Z, lam, k, history, converged, pools)


def ista(X, D, lam, max_iter: int = 1000, tol: float = 1e-6, z0=None, track: bool = False, pools=None) -> SolverResult:
    """ISTA: z_{k+1} = h_{λ/L}(z_k − (1/L) Dᵀ(D z_k − x)), L = λ_max(DᵀD).

    Daubechies, Defrise & De Mol (2004); the form used in Gregor & LeCun (2010),
    Alg. 1, with W_e = Dᵀ/L and S = I − DᵀD/L. The energy decreases at every
    iteration. Stops when ‖Z_{k+1} − Z_k‖_F ≤ tol · ‖Z_{k+1}‖_F or after
    ``max_iter`` iterations. With ``pools`` the penalty is the group norm
    λ Σ_j w_j ‖z_{P_j}‖₂ and h is its proximal operator (see
    :mod:`ebmlab.sparse.groups`).
    """
    return _prox_gradient(X, D, lam, max_iter, tol, z0, track, accelerated=False, pools=pools)


def fista(X, D, lam, max_iter: int = 1000, tol: float = 1e-6, z0=None, track: bool = False, pools=None) -> SolverResult:
    """FISTA (Beck & Teboulle, SIAM J. Imaging Sci. 2009, constant step 1/L):

        z_k     = h_{λ/L}(y_k − (1/L) Dᵀ(D y_k − x))
        t_{k+1} = (1 + √(1 + 4 t_k²)) / 2
        y_{k+1} = z_k + ((t_k − 1)/t_{k+1}) (z_k − z_{k−1}),   y_1 = z_0, t_1 = 1.

    E(z_k) − E* ≤ 2L‖z_0 − z*‖² / (k+1)². Same stopping rule and ``pools``
    (group sparsity) as :func:`ista`.
    """
    return _prox_gradient(X, D, lam, max_iter, tol, z0, track, accelerated=True, pools=pools)


def cod(X, D, lam, max_iter: int = 10000, tol: float = 1e-6, z0=None, track: bool = False) -> SolverResult:
    """Coordinate descent, Gregor & LeCun (ICML 2010), Algorithm 2, batched over rows.

    With S = I − DᵀD and B = Dᵀx (for z0 ≠ 0: B = Dᵀx + S z0):

        repeat:  z̄ = h_λ(B);  k = argmax_j |z_j − z̄_j|;
                 B ← B + S_{:k} (z̄_k − z_k);  z_k ← z̄_k.

    Each row picks its own coordinate; one iteration updates one coordinate per
    row. For atoms that are not unit-norm, S = diag(DᵀD) − DᵀD and
    z̄ = h_λ(B)/diag(DᵀD) (exact minimisation along coordinate j). Stops when
    max_rows |z̄_k − z_k| ≤ tol · max|z| (no coordinate moves), or after
    ``max_iter`` updates. Returns the coordinate-descent iterate z (the paper's
    final z = h_α(B) equals it at convergence).
    """
    X, D = _check(X, D, lam, z0)
    _check_iter(max_iter, tol)
    lam = float(lam)
    G = D.T @ D
    diag = torch.diagonal(G).clone()
    safe = torch.where(diag > 0, diag, torch.ones_like(diag))
    S = torch.diag(diag) - G
    Bx = X @ D
    Z = torch.zeros_like(Bx) if z0 is None else z0.to(Bx).clone()
    C = Bx + Z @ S
    xx = (X * X).sum(1)
    rows = torch.arange(X.shape[0], device=X.device)
    history: list[float] = []
    converged = X.shape[0] == 0 or D.shape[1] == 0
    k = 0
    if not converged:
        for k in range(1, int(max_iter) + 1):
            Zbar = torch.where(diag > 0, soft_threshold(C, lam) / safe, torch.zeros_like(C))
            delta = Zbar - Z
            j = delta.abs().argmax(dim=1)
            d = delta[rows, j]
            if float(d.abs().max()) <= tol * max(float(Z.abs().max()), 1e-30) or not bool((d != 0).any()):
                k -= 1
                converged = True
                break
            C += d[:, None] * S[j]  # S symmetric: row j = column j
            Z[rows, j] = Zbar[rows, j]
            if track:
                history.append(_gram_objective(Z, Bx, Z @ G, xx, lam))
    return _finish(X, D, Z, lam, max(k, 0), history, converged)


def feature_sign(
    X, D, lam, max_iter: int = 100, tol: float = 1e-4, z0=None, track: bool = False
) -> SolverResult:
    """Exact batched active-set solver (feature-sign search, Lee et al., NIPS 2007).

    ``max_iter`` counts activation rounds; ``tol`` is the tolerance on the
    optimality conditions relative to λ. Batched in torch (CPU or GPU); on
    the CPU :func:`lars` is faster. See :mod:`ebmlab.sparse.active_set`.
    """
    from ebmlab.sparse.active_set import feature_sign as _feature_sign

    return _feature_sign(X, D, lam, max_iter=max_iter, tol=tol, z0=z0, track=track)


def lars(X, D, lam, max_iter: int = 1000, tol: float = 0.0, z0=None, track: bool = False,
         threads: int | None = None) -> SolverResult:
    """Exact codes by the LARS-Lasso homotopy, compiled for the CPU (the fastest solver there).

    ``max_iter`` bounds the pieces of each row's path; ``tol`` is unused and
    ``z0`` is refused (the path starts from z = 0). See :mod:`ebmlab.sparse.lars`.
    """
    from ebmlab.sparse.lars import lars as _lars

    return _lars(X, D, lam, max_iter=max_iter, tol=tol, z0=z0, track=track, threads=threads)


SOLVERS = {"ista": ista, "fista": fista, "cod": cod, "feature_sign": feature_sign, "lars": lars}


def get_solver(name: str):
    """Look up a solver by name (``ista``, ``fista``, ``cod``, ``feature_sign``, ``lars``)."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise ConfigError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}") from None
