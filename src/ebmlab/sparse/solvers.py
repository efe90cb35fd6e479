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

import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.active_set import feature_sign
from ebmlab.sparse.lasso import (
    SolverResult,
    check_iterations,
    check_problem,
    finish,
    gram_objective,
    lasso_objective,
    lipschitz_constant,
    soft_threshold,
)

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


def _prox_gradient(X, D, lam, max_iter, tol, z0, track, accelerated, pools=None):
    X, D = check_problem(X, D, lam, z0)
    if pools is not None:
        if pools.m != D.shape[1]:
            raise ConfigError(f"the pools are over {pools.m} units but the dictionary has {D.shape[1]} atoms")
        pools = pools.to(X.device)
    check_iterations(max_iter, tol)
    lam = float(lam)
    G = D.T @ D
    B = X @ D
    L = lipschitz_constant(G)
    if L <= 0:  # all-zero dictionary: z = 0 is optimal
        return finish(X, D, torch.zeros_like(B), lam, 0, [], True)
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
            history.append(gram_objective(Z, B, Z @ G, xx, lam, pools))
        if tol > 0:
            change = torch.linalg.vector_norm(Z - Z_prev)
            if float(change) <= tol * float(torch.linalg.vector_norm(Z)):
                converged = True
                break
    return finish(X, D, Z, lam, k, history, converged, pools)


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
    X, D = check_problem(X, D, lam, z0)
    check_iterations(max_iter, tol)
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
                history.append(gram_objective(Z, Bx, Z @ G, xx, lam))
    return finish(X, D, Z, lam, max(k, 0), history, converged)


def lars(
    X, D, lam, max_iter: int = 1000, tol: float = 0.0, z0=None, track: bool = False, threads: int | None = None
) -> SolverResult:
    """Exact codes by the LARS-Lasso homotopy, compiled for the CPU (the fastest solver there).

    ``max_iter`` bounds the pieces of each row's path; ``tol`` is unused and
    ``z0`` is refused (the path starts from z = 0). See :mod:`ebmlab.sparse.lars`.
    """
    from ebmlab.sparse.lars import lars as _lars  # here, not above: numba's import is slow and CPU-only

    return _lars(X, D, lam, max_iter=max_iter, tol=tol, z0=z0, track=track, threads=threads)


SOLVERS = {"ista": ista, "fista": fista, "cod": cod, "feature_sign": feature_sign, "lars": lars}


def get_solver(name: str):
    """Look up a solver by name (``ista``, ``fista``, ``cod``, ``feature_sign``, ``lars``)."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise ConfigError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}") from None
