"""Exact inference for the Lasso energy by a batched active-set method (feature-sign search).

Lee, Battle, Raina & Ng, "Efficient sparse coding algorithms", NIPS 2007, §2.
For each row x the energy is f(z) = ½‖x − Dz‖² + λ‖z‖₁ (D n×m, G = DᵀD,
b = Dᵀx). Its optimality (KKT) conditions, with correlations c = b − Gz = Dᵀ(x − Dz):

    c_j = λ sign(z_j)  if z_j ≠ 0,        |c_j| ≤ λ  if z_j = 0.             (1)

Feature-sign search keeps an active set S with signs θ_S and repeats:

1. activate: add zero coordinates that violate (1), |c_j| > λ, with θ_j = sign(c_j)
   (the paper adds the largest one; here up to ``k_add`` per round per row, the
   largest first, and falls back to one after a round that did not lower f);
2. feature-sign step: the minimiser of the sign-fixed quadratic
   f_θ(z) = ½‖x − D_S z_S‖² + λ θ_Sᵀ z_S is  z_S^new = G_SS⁻¹ (b_S − λ θ_S);
3. line search on the segment from z to z^new; f is convex and piecewise
   quadratic along it, with kinks where coordinates cross zero. We minimise f
   exactly on it (on each piece between kinks the minimiser is closed form);
   coordinates that land on zero leave S.

until (1) holds to ``tol``·λ. All rows are processed together: the active set
of each row is stored padded (indices N×K, a dummy index m for empty slots),
G_SS is gathered as an N×K×K batch and solved by batched Cholesky (float64),
so one round costs one product z·G (sparse CSR × dense) plus O(N·K³) work.
Rows that satisfy (1) drop out of the work set.
"""

from __future__ import annotations

import os
import warnings

import torch

_DEBUG = bool(os.environ.get('EBMLAB_DEBUG_AS'))

from ebmlab.sparse.solvers import SolverResult, _check, _check_iter, _finish


def _line_search(z0, d, g, q, lam):
    """Exact minimiser t ∈ [0, 1] of φ(t) = f(z0 + t d) − f(z0) per row.

    φ(t) = t g + ½ t² q + λ Σ_j (|z0_j + t d_j| − |z0_j|), with g = −cᵀd and
    q = dᵀGd ≥ 0. Kinks at t_j = −z0_j/d_j ∈ (0, 1). Returns (t, φ(t)).
    """
    N, K = z0.shape
    with torch.no_grad():
        ratio = -z0 / torch.where(d != 0, d, torch.ones_like(d))
        kink = torch.where((d != 0) & (ratio > 0) & (ratio < 1), ratio, torch.ones_like(ratio))
        bounds = torch.cat([torch.zeros_like(z0[:, :1]), kink, torch.ones_like(z0[:, :1])], 1).sort(1).values
        lo, hi = bounds[:, :-1], bounds[:, 1:]  # N×(K+1) pieces
        mid = 0.5 * (lo + hi)
        sig = torch.sign(z0[:, None, :] + mid[:, :, None] * d[:, None, :])  # N×(K+1)×K
        slope = g[:, None] + lam * (sig * d[:, None, :]).sum(2)
        qq = q.clamp(min=1e-300)[:, None]
        t = torch.minimum(torch.maximum(-slope / qq, lo), hi)
        l1 = (z0[:, None, :] + t[:, :, None] * d[:, None, :]).abs().sum(2) - z0.abs().sum(1, keepdim=True)
        phi = t * g[:, None] + 0.5 * t * t * q[:, None] + lam * l1
        best, p = phi.min(1)
        t_best = t.gather(1, p[:, None]).squeeze(1)
        return t_best, best


def _solve(I, v, th, bS, G64, lam):
    """z^new = G_SS⁻¹(b_S − λθ_S) for padded index sets I (dummy slots: identity); returns (znew, G_SS, ok)."""
    m1 = G64.shape[0]
    live = I < m1 - 1
    GSS = G64.take(I[:, :, None] * m1 + I[:, None, :])
    GSS.diagonal(dim1=1, dim2=2).add_((~live).double())
    L, info = torch.linalg.cholesky_ex(GSS)
    znew = torch.cholesky_solve((bS - lam * th)[:, :, None], L).squeeze(2)
    good = info == 0
    znew = torch.where(good[:, None] & live, znew, v)
    return znew, GSS, good


def _feature_sign_steps(idx, val, theta, Bw, G64, lam, max_inner, n_buckets=3, min_rows=64):
    """Lee et al.'s steps 3–4 on the candidate sets idx (live slots first), batched; work stays N×K.

    Repeats: z_S^new = G_SS⁻¹(b_S − λθ_S); rows where sign(z^new) = θ on S
    accept it (f = f_θ on the whole segment); the others take an exact line
    search from val to z^new, drop atoms that land on zero and re-solve. The
    first solve groups rows of similar support size to pad less. Rows still
    moving once fewer than ``min_rows`` remain are left to the next round
    (they are then not optimal on S and re-solve without activating).
    Returns (val, stalled) with val = 0 where atoms were dropped.
    """
    n, K = idx.shape
    m = G64.shape[0] - 1
    dev = idx.device
    val = val.double()
    theta = theta.clone()
    idx = idx.clone()
    stalled = torch.zeros(n, dtype=torch.bool, device=dev)
    bS_all = Bw.gather(1, idx).double()
    # first solve, grouped by support size
    cnt = (idx < m).sum(1)
    groups = torch.argsort(cnt).tensor_split(n_buckets) if (n >= 1000 and K >= 6) else [torch.arange(n, device=dev)]
    znew = val.clone()
    good = torch.ones(n, dtype=torch.bool, device=dev)
    for r in groups:
        if r.numel():
            w = max(int(cnt[r].max()), 1)
            zr, _, gr = _solve(idx[r, :w], val[r, :w], theta[r, :w], bS_all[r, :w], G64, lam)
            znew[r, :w] = zr
            good[r] = gr
    work = torch.arange(n, device=dev)
    GSS = None
    for _ in range(max_inner):
        I, v, th = idx[work], val[work], theta[work]
        live = I < m
        consistent = ((torch.sign(znew) == th) | ~live).all(1) & good
        if _DEBUG:
            print("  inner", work.numel(), "K", K, "inconsistent", int((~consistent).sum()))
        # rows whose new point keeps the signs: f = f_θ on the segment, the minimiser is z^new
        val[work[consistent]] = znew[consistent]
        stalled[work[~good]] = True
        bad = ~consistent & good
        if not bool(bad.any()):
            break
        rows_b, Ib = work[bad], I[bad]
        v, d, th_b = v[bad], (znew - v)[bad], th[bad]
        G_b = GSS[bad] if GSS is not None else G64.take(Ib[:, :, None] * (m + 1) + Ib[:, None, :])
        cS = bS_all[rows_b] - torch.bmm(G_b, v[:, :, None]).squeeze(2)
        g = -(cS * d).sum(1)
        q = (d * torch.bmm(G_b, d[:, :, None]).squeeze(2)).sum(1)
        t, phi = _line_search(v, d, g, q, lam)
        moved = phi < 0
        newv = v + t[:, None] * d
        hit = (newv.abs() <= 1e-12 * (v.abs() + d.abs())) | (th_b == 0)
        newv = torch.where(hit, torch.zeros_like(newv), newv)
        newv = torch.where(moved[:, None], newv, v)
        val[rows_b] = newv
        # atoms that left S (value 0) take part no more: θ = 0 and index = dummy
        gone = newv == 0
        theta[rows_b] = torch.where(gone, torch.zeros_like(th_b), torch.sign(newv))
        idx[rows_b] = torch.where(gone, torch.full_like(Ib, m), Ib)
        stalled[rows_b[~moved]] = True
        work = rows_b[moved]
        if work.numel() < min_rows:
            break
        znew, GSS, good = _solve(idx[work], val[work], theta[work], bS_all[work], G64, lam)
    return val, stalled


def feature_sign(
    X,
    D,
    lam,
    max_iter: int = 100,
    tol: float = 1e-4,
    z0=None,
    track: bool = False,
    k_add: int = 2,
    k_first: int | None = None,
    max_inner: int = 50,
) -> SolverResult:
    """Batched feature-sign search (Lee et al., NIPS 2007): exact Lasso codes for the rows of X.

    Same call as :func:`ebmlab.sparse.solvers.fista`; ``max_iter`` counts
    activation rounds (one correlation product each), ``tol`` is the KKT
    tolerance relative to λ in (1). ``k_add`` is how many violating atoms a row
    may activate per round (``k_first`` in the first round from z = 0).
    """
    X, D = _check(X, D, lam, z0)
    _check_iter(max_iter, tol)
    lam = float(lam)
    N, m = X.shape[0], D.shape[1]
    dt, dev = X.dtype, X.device
    # Gram and correlations extended by a dummy atom m (zero row/column) used for padding.
    Gx = torch.zeros(m + 1, m + 1, dtype=dt, device=dev)
    Gx[:m, :m] = D.T @ D
    G64 = Gx.double()
    B = torch.zeros(N, m + 1, dtype=dt, device=dev)
    torch.matmul(X, D, out=B[:, :m])
    xx = (X * X).sum(1)
    dummy = torch.full((), m, dtype=torch.long, device=dev)

    rows = torch.arange(N, device=dev)
    if z0 is None:
        idx = torch.full((N, 0), m, dtype=torch.long, device=dev)
        val = torch.zeros(N, 0, dtype=dt, device=dev)
    else:
        Zx = torch.zeros(N, m + 1, dtype=dt, device=dev)
        Zx[:, :m] = z0.to(dt)
        idx, val = _compact(torch.where(Zx != 0, torch.arange(m + 1, device=dev), dummy), Zx, m)
    Bw = B
    stalled = torch.zeros(N, dtype=torch.bool, device=dev)
    n_stalls = torch.zeros(N, dtype=torch.long, device=dev)
    # KKT tolerance, not below what the working precision can resolve in c = b − Gz
    atol = max(tol * lam, 64 * torch.finfo(dt).eps * max(float(B.abs().max()) if N else 0.0, lam))
    done_rows, done_idx, done_val = [], [], []
    history: list[float] = []
    converged = N == 0
    it = 0
    for it in range(1, int(max_iter) + 1):
        n, K = idx.shape
        if _DEBUG:
            print("round", it, "rows", n, "K", K)
        # correlations c = b − G z of the working rows (sparse CSR × dense)
        if K:
            crow = torch.arange(0, n * K + 1, K, device=dev)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                zs = torch.sparse_csr_tensor(crow, idx.reshape(-1), val.reshape(-1), size=(n, m + 1), check_invariants=False)
            C = torch.addmm(Bw, zs, Gx, alpha=-1)
        else:
            C = Bw.clone()
        # KKT (1): on S, |c_j − λθ_j| ≤ tol·λ; off S, |c_j| ≤ λ(1 + tol)
        cS = C.gather(1, idx)
        live = idx < m
        on_err = torch.where(live, (cS - lam * torch.sign(val)).abs(), torch.zeros_like(cS))
        on_ok = on_err.amax(1) <= atol if K else torch.ones_like(stalled)
        V = C.abs_()
        V.scatter_(1, idx, 0.0)
        V[:, m] = 0.0
        # activate when optimal on S (after a round that did not lower f: one atom, as in Lee et al.)
        k_round = k_first if (it == 1 and z0 is None and k_first) else k_add
        kk = torch.where(on_ok, torch.where(stalled, 1, k_round), 0)
        k_max = max(int(kk.max()), 1)
        vtop, jtop = torch.topk(V, k_max, dim=1) if k_max > 1 else V.max(1, keepdim=True)
        # done: (1) holds, or three rounds in a row could not lower f (precision limit)
        ok = (on_ok & (vtop[:, 0] <= lam + atol)) | (n_stalls >= 3)
        if bool(ok.any()):
            done_rows.append(rows[ok])
            done_idx.append(idx[ok])
            done_val.append(val[ok])
            keep = ~ok
            rows, idx, val, kk, Bw = rows[keep], idx[keep], val[keep], kk[keep], Bw[keep]
            n_stalls = n_stalls[keep]
            vtop, jtop = vtop[keep], jtop[keep]
            if rows.numel() == 0:
                converged = True
                break
        # activation: θ_j = sign(c_j) (C was overwritten by |C|, so c_j is recomputed at the new atoms)
        slot = torch.arange(vtop.shape[1], device=dev)[None, :]
        add = (vtop > lam + atol) & (slot < kk[:, None])
        new_idx = torch.where(add, jtop, dummy)
        idx = torch.cat([idx, new_idx], 1)
        new_sign = torch.sign(cS_new(Bw, idx, val, new_idx, Gx, m)) * add
        theta = torch.cat([torch.sign(val), new_sign.to(dt)], 1).double()
        val = torch.cat([val, torch.zeros_like(new_idx, dtype=dt)], 1)
        order = torch.argsort((idx < m).to(torch.int8), dim=1, descending=True, stable=True)
        idx, val, theta = idx.gather(1, order), val.gather(1, order), theta.gather(1, order)
        val64, stalled = _feature_sign_steps(idx, val, theta, Bw, G64, lam, max_inner)
        n_stalls = torch.where(stalled, n_stalls + 1, 0)
        val = val64.to(dt)
        idx, val = _compact(torch.where(val != 0, idx, dummy), None, m, val)
        if track:
            history.append(_mean_energy(_assemble(N, m, dt, dev, done_rows + [rows], done_idx + [idx], done_val + [val]), B, Gx, xx, lam))
    if not converged and rows.numel() == 0:
        converged = True
    if rows.numel() and not converged:
        done_rows.append(rows)
        done_idx.append(idx)
        done_val.append(val)
    Z = _assemble(N, m, dt, dev, done_rows, done_idx, done_val)
    return _finish(X, D, Z[:, :m].contiguous(), lam, it, history, converged)


def cS_new(Bw, idx, val, new_idx, Gx, m):
    """Correlations c_j = b_j − Σ_k G_jk z_k at the newly activated atoms j (n×k_new)."""
    K = val.shape[1]
    old = idx[:, :K]
    Gsub = Gx.reshape(-1).take(new_idx[:, :, None] * (m + 1) + old[:, None, :])
    return Bw.gather(1, new_idx) - torch.bmm(Gsub, val[:, :, None]).squeeze(2)


def _assemble(N, m, dt, dev, rows_l, idx_l, val_l):
    Zx = torch.zeros(N, m + 1, dtype=dt, device=dev)
    for r, i, v in zip(rows_l, idx_l, val_l):
        if r.numel() and i.shape[1]:
            Zx[r[:, None], i] = v
    Zx[:, m] = 0.0
    return Zx


def _compact(idx, Zrows, m, val=None):
    """Live slots (idx < m) first, all-dummy columns dropped; values from val or read from Zrows."""
    live = idx < m
    K = int(live.sum(1).max()) if idx.shape[0] and idx.shape[1] else 0
    order = torch.argsort(live.to(torch.int8), dim=1, descending=True, stable=True)[:, :K]
    idx = idx.gather(1, order)
    val = Zrows.gather(1, idx) if val is None else val.gather(1, order)
    return idx, val


def _mean_energy(Zx, B, Gx, xx, lam):
    """Mean energy from the Gram form ½‖x‖² − zᵀb + ½ zᵀGz + λ‖z‖₁."""
    return float((0.5 * xx - (Zx * B).sum(1) + 0.5 * ((Zx @ Gx) * Zx).sum(1) + lam * Zx.abs().sum(1)).mean())
