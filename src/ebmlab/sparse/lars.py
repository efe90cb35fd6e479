"""Exact Lasso codes on the CPU by the LARS homotopy, compiled with numba.

For each row x the energy is E(z) = ½‖x − Dz‖² + λ‖z‖₁ (D n×m, G = DᵀD,
b = Dᵀx). LARS with the Lasso modification (Efron, Hastie, Johnstone &
Tibshirani, Annals of Statistics 2004; Osborne, Presnell & Turlach 2000)
follows the piecewise-linear path of the minimiser z(μ) from μ = max|b|, where
z = 0, down to μ = λ. Along the path the correlations c = b − Gz satisfy

    c_A = μ s_A on the active set A (s = signs of z_A),   |c_j| ≤ μ off A,

so on each piece z_A moves along w = G_AA⁻¹ s_A and c along −a, a = G_{:,A} w,
while μ falls at unit rate. A piece ends where an inactive atom's |c_j| reaches
μ (it joins A with the sign of c_j) or where an active coefficient reaches 0
(it leaves A); the last piece stops at μ = λ, which is the exact optimum.

Each row costs a few pieces (about the number of non-zeros at the optimum),
each O(m·|A|) for a plus O(|A|²) for the Cholesky factor of G_AA, which is
extended by one row when an atom joins and rebuilt when one leaves. The rows
are independent and are split into blocks solved in parallel threads.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ebmlab.errors import ConfigError
from ebmlab.sparse.lasso import SolverResult, check_iterations, check_problem

__all__ = ["lars"]


@njit(cache=True, inline="always", error_model="numpy")
def _cholesky_append(G, L, act, K, j):
    """Extend the Cholesky factor L of G_AA (A = act[:K]) by atom j; False if j is (numerically) in span A."""
    d2 = G[j, j]
    for r in range(K):
        s = G[act[r], j]
        for q in range(r):
            s -= L[r, q] * L[K, q]
        v = s / L[r, r]
        L[K, r] = v
        d2 -= v * v
    if d2 <= 1e-10 * G[j, j]:
        return False
    L[K, K] = np.sqrt(d2)
    return True


@njit(cache=True, error_model="numpy")
def _lars_rows(G, B, xx, lam, Z, E, max_steps, start, stop, status):
    """LARS-Lasso for rows start..stop of B (= XD); writes Z, the energies E and status[i] = pieces
    (negative: the path was not finished within max_steps)."""
    m = G.shape[0]
    c = np.empty(m)
    ab = np.empty((2, m))  # a of this piece and of the last one (c is updated lazily, in the next pass)
    in_active = np.zeros(m, np.bool_)
    barred = np.zeros(m, np.bool_)  # atoms in the span of the active set: never added
    act = np.empty(m, np.int64)
    sgn = np.empty(m)
    za = np.empty(m)
    w = np.empty(m)
    y = np.empty(m)
    L = np.zeros((m, m))
    for i in range(start, stop):
        mu = 0.0
        jmax = -1
        for j in range(m):
            c[j] = B[i, j]
            in_active[j] = False
            barred[j] = False
            if abs(c[j]) > mu:
                mu = abs(c[j])
                jmax = j
        K = 0
        steps = 0
        finished = mu <= lam
        if not finished:
            L[0, 0] = np.sqrt(G[jmax, jmax])
            act[0], sgn[0], za[0] = jmax, np.sign(c[jmax]), 0.0
            in_active[jmax] = True
            K = 1
        just_left, left_sign = -1, 0.0
        cur, gprev = 0, 0.0
        while not finished and steps < max_steps:
            steps += 1
            # w = G_AA⁻¹ s_A by the Cholesky factor
            for r in range(K):
                s = sgn[r]
                for q in range(r):
                    s -= L[r, q] * y[q]
                y[r] = s / L[r, r]
            for r in range(K - 1, -1, -1):
                s = y[r]
                for q in range(r + 1, K):
                    s -= L[q, r] * w[q]
                w[r] = s / L[r, r]
            # a = G_{:,A} w (G symmetric: rows of G, contiguous); the first pass also applies the last
            # piece's update c −= γ a
            a, a_last = ab[cur], ab[1 - cur]
            for r in range(K):
                wr, row = w[r], act[r]
                if r == 0:
                    for j in range(m):
                        a[j] = wr * G[row, j]
                        c[j] -= gprev * a_last[j]
                else:
                    for j in range(m):
                        a[j] += wr * G[row, j]
            # the length of this piece: to μ = λ, or the next join or leave event
            gamma = mu - lam
            event = 0
            ev = -1
            for j in range(m):
                if in_active[j] or barred[j]:
                    continue
                aj, cj = a[j], c[j]
                # joins at g = (μ − c_j)/(1 − a_j) (c_j reaches +μ) or (μ + c_j)/(1 + a_j) (−μ) when positive;
                # an atom that just left sits at ±μ with its old sign: only the opposite crossing counts.
                # Divide only for a new minimum.
                num, den = mu - cj, 1.0 - aj
                if den > 0.0 and 0.0 < num < gamma * den and not (j == just_left and left_sign > 0):
                    gamma, event, ev = num / den, 1, j
                num, den = mu + cj, 1.0 + aj
                if den > 0.0 and 0.0 < num < gamma * den and not (j == just_left and left_sign < 0):
                    gamma, event, ev = num / den, 1, j
            for r in range(K):
                if w[r] != 0.0:
                    g = -za[r] / w[r]
                    if 0.0 < g < gamma:
                        gamma, event, ev = g, 2, r
            for r in range(K):
                za[r] += gamma * w[r]
            mu -= gamma
            gprev = gamma
            cur = 1 - cur
            just_left = -1
            if event == 0:
                finished = True
            elif event == 1:
                if _cholesky_append(G, L, act, K, ev):
                    act[K], sgn[K], za[K] = ev, np.sign(c[ev] - gamma * a[ev]), 0.0
                    in_active[ev] = True
                    K += 1
                else:
                    barred[ev] = True
            else:
                gone = act[ev]
                in_active[gone] = False
                just_left, left_sign = gone, sgn[ev]
                for r in range(ev, K - 1):
                    act[r], sgn[r], za[r] = act[r + 1], sgn[r + 1], za[r + 1]
                K -= 1
                for r in range(K):  # rebuild the factor of the smaller G_AA
                    _cholesky_append(G, L, act, r, act[r])
        # energy ½‖x‖² − zᵀb + ½ zᵀGz + λ‖z‖₁ from the active set
        e = 0.5 * xx[i]
        for r in range(K):
            zr = za[r]
            Z[i, act[r]] = zr
            e += lam * abs(zr) - zr * B[i, act[r]]
            for q in range(K):
                e += 0.5 * zr * za[q] * G[act[r], act[q]]
        E[i] = e
        status[i] = steps if finished else -steps


@njit(parallel=True, cache=True, error_model="numpy")
def _lars_blocks(G, B, xx, lam, Z, E, max_steps, n_blocks, status):
    N = B.shape[0]
    for t in prange(n_blocks):
        _lars_rows(G, B, xx, lam, Z, E, max_steps, t * N // n_blocks, (t + 1) * N // n_blocks, status)


def lars(
    X, D, lam, max_iter: int = 1000, tol: float = 0.0, z0=None, track: bool = False, threads: int | None = None
) -> SolverResult:
    """Exact Lasso codes for the rows of X by LARS-Lasso (homotopy), on the CPU.

    Same call as :func:`ebmlab.sparse.solvers.fista`. ``max_iter`` bounds the
    pieces of each row's path (an atom joining or leaving is one piece); ``tol``
    is not used (the path ends at the exact optimum); ``z0`` is not accepted
    (the path starts from z = 0) and ``track`` gives no history. Computed in
    float64 on the CPU in ``threads`` threads (default
    ``torch.get_num_threads()``); the codes come back in X's dtype and device.
    ``n_iter`` is the largest number of pieces any row took.
    """
    X, D = check_problem(X, D, lam, z0)
    check_iterations(max_iter, tol)
    if z0 is not None:
        raise ConfigError("lars follows the path from z = 0 and takes no z0; use fista or cod for warm starts")
    lam = float(lam)
    N, m = X.shape[0], D.shape[1]
    Xc, Dc = X.detach().cpu(), D.detach().cpu()
    D64 = Dc.double()
    G = (D64.T @ D64).numpy()
    # correlations in the data's precision (one GEMM), the path in float64
    B = (Xc @ Dc).double().numpy()
    xx = (Xc.double() ** 2).sum(1).numpy()
    Z = np.zeros((N, m))
    E = np.zeros(N)
    status = np.zeros(N, np.int64)
    if N:
        import numba

        threads = torch.get_num_threads() if threads is None else int(threads)
        threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            _lars_blocks(G, B, xx, lam, Z, E, int(max_iter), min(N, 4 * threads), status)
        finally:
            numba.set_num_threads(before)
    z = torch.from_numpy(Z).to(dtype=X.dtype, device=X.device)
    n_iter = int(np.abs(status).max()) if N else 0
    return SolverResult(
        z=z, objective=float(E.mean()) if N else 0.0, n_iter=n_iter, history=[], converged=bool((status >= 0).all())
    )
