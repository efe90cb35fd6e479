"""Exact inference for the Lasso energy by a batched active-set method (feature-sign search).

Lee, Battle, Raina & Ng, "Efficient sparse coding algorithms", NIPS 2007, §2.
For each row x the energy is f(z) = ½‖x − Dz‖² + λ‖z‖₁ (D n×m, G = DᵀD,
b = Dᵀx). Its optimality (KKT) conditions, with correlations c = b − Gz = Dᵀ(x − Dz):

    c_j = λ sign(z_j)  if z_j ≠ 0,        |c_j| ≤ λ  if z_j = 0.             (1)

Feature-sign search keeps an active set S with signs θ_S and repeats:

1. activate: add zero coordinates that violate (1), |c_j| > λ, with θ_j = sign(c_j)
   (the paper adds the largest one; here up to ``k_add`` per round per row, the
   largest first; one after a round that did not lower f, none while z is not
   yet optimal on S);
2. feature-sign step: the minimiser of the sign-fixed quadratic
   f_θ(z) = ½‖x − D_S z_S‖² + λ θ_Sᵀ z_S is  z_S^new = G_SS⁻¹ (b_S − λ θ_S);
   new atoms whose sign in z^new contradicts θ leave S at once and the step is
   redone (a shortcut: the line search below would remove them one by one);
3. if sign(z^new) = θ the step is taken; otherwise a line search on the
   segment from z to z^new: f is convex and piecewise quadratic along it, with
   kinks where coordinates cross zero; we minimise it exactly (closed form on
   each piece); coordinates that land on zero leave S; back to 2.

until (1) holds to ``tol``·λ. f decreases at every step, so the search ends.
All rows are processed together: the active set of each row is stored padded
(indices N×K, dummy index m in empty slots), G_SS is gathered as an N×K×K batch
and solved by batched Cholesky in float64. One round costs a sparse product
for the residuals x − Dz (N×n), one GEMM for c = Dᵀ(x − Dz) (N×m), and O(N·K³)
for the solves; rows that satisfy (1) leave the work set.
"""

from __future__ import annotations

import warnings

import torch

from ebmlab.sparse.lasso import SolverResult, check_iterations, check_problem, finish


def _line_search(z0, d, g, q, lam):
    """Exact minimiser t ∈ [0, 1] of φ(t) = f(z0 + t d) − f(z0) per row.

    φ(t) = t g + ½ t² q + λ Σ_j (|z0_j + t d_j| − |z0_j|), with g = −cᵀd and
    q = dᵀGd ≥ 0. Kinks at t_j = −z0_j/d_j ∈ (0, 1). Returns (t, φ(t)).
    """
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


def _solve(I, v, th, bS, G64, lam, ridge):
    """z^new = G_SS⁻¹(b_S − λθ_S) for padded index sets I (dummy slots: identity); returns (znew, G_SS, ok)."""
    m1 = G64.shape[0]
    live = I < m1 - 1
    GSS = G64.take(I[:, :, None] * m1 + I[:, None, :])
    # identity on dummy slots; a tiny ridge (1e-3 of the KKT tolerance) keeps G_SS definite when |S| > rank(D):
    # z^new is then huge along the null direction and the line search stops where an atom reaches zero
    GSS.diagonal(dim1=1, dim2=2).add_((~live).double() + ridge)
    L, info = torch.linalg.cholesky_ex(GSS)
    znew = torch.cholesky_solve((bS - lam * th)[:, :, None], L).squeeze(2)
    good = info == 0
    znew = torch.where(good[:, None] & live, znew, v)
    return znew, GSS, good


def _feature_sign_steps(idx, val, theta, bS, G64, lam, max_inner, ridge, n_buckets=3, min_rows=64):
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
    bS_all = bS.double()
    # first solve, grouped by support size
    cnt = (idx < m).sum(1)
    groups = torch.argsort(cnt).tensor_split(n_buckets) if (n >= 1000 and K >= 6) else [torch.arange(n, device=dev)]
    znew = val.clone()
    good = torch.ones(n, dtype=torch.bool, device=dev)
    for r in groups:
        if r.numel():
            w = max(int(cnt[r].max()), 1)
            zr, _, gr = _solve(idx[r, :w], val[r, :w], theta[r, :w], bS_all[r, :w], G64, lam, ridge)
            znew[r, :w] = zr
            good[r] = gr
    work = torch.arange(n, device=dev)
    GSS = None
    # newly activated atoms whose solved sign contradicts their activation sign leave S at once
    wrong = (idx < m) & (val == 0) & (torch.sign(znew) != theta)
    redo = wrong.any(1)
    if bool(redo.any()):
        r = redo.nonzero().squeeze(1)
        idx[r] = torch.where(wrong[r], m, idx[r])
        theta[r] = torch.where(wrong[r], 0.0, theta[r])
        zr, _, gr = _solve(idx[r], val[r], theta[r], bS_all[r], G64, lam, ridge)
        znew[r] = zr
        good[r] = gr
    for _ in range(max_inner):
        I, v, th = idx[work], val[work], theta[work]
        live = I < m
        consistent = ((torch.sign(znew) == th) | ~live).all(1) & good
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
        moved = phi < -1e-12 * (g.abs() + q + lam * d.abs().sum(1))  # a real decrease, not rounding
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
        znew, GSS, good = _solve(idx[work], val[work], theta[work], bS_all[work], G64, lam, ridge)
    return val, stalled


def feature_sign(
    X,
    D,
    lam,
    max_iter: int = 100,
    tol: float = 1e-4,
    z0=None,
    track: bool = False,
    k_add: int = 3,
    max_inner: int = 50,
) -> SolverResult:
    """Batched feature-sign search (Lee et al., NIPS 2007): exact Lasso codes for the rows of X.

    Same call as :func:`ebmlab.sparse.solvers.fista`; ``max_iter`` counts
    activation rounds (one correlation product each), ``tol`` is the KKT
    tolerance relative to λ in (1). ``k_add`` is how many violating atoms a row
    may activate per round.

    Batched over rows in torch, it runs on the GPU too; on the CPU,
    :func:`ebmlab.sparse.lars.lars` is faster.
    """
    X, D = check_problem(X, D, lam, z0)
    check_iterations(max_iter, tol)
    lam = float(lam)
    N = X.shape[0]
    if N == 0:
        return finish(X, D, torch.zeros(0, D.shape[1], dtype=X.dtype, device=X.device), lam, 0, [], True)
    Z, it, history, converged = _feature_sign_rows(
        X,
        D,
        lam,
        max_iter=int(max_iter),
        tol=float(tol),
        z0=z0,
        track=track,
        k_add=int(k_add),
        max_inner=int(max_inner),
    )
    return finish(X, D, Z, lam, it, history, converged)


def _feature_sign_rows(X, D, lam, max_iter, tol, z0, track, k_add, max_inner):
    """The solver on one block of rows; returns (Z, rounds, history, converged)."""
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
    Xw = X
    DxT = torch.zeros(m + 1, X.shape[1], dtype=dt, device=dev)
    DxT[:m] = D.T
    Bflat = B.reshape(-1)
    stalled = torch.zeros(N, dtype=torch.bool, device=dev)
    n_stalls = torch.zeros(N, dtype=torch.long, device=dev)
    # KKT tolerance, not below what the working precision can resolve in c = b − Gz
    atol = max(tol * lam, 64 * torch.finfo(dt).eps * max(float(B.abs().max()) if N else 0.0, lam))
    done_rows, done_idx, done_val = [], [], []
    history: list[float] = []
    converged = N == 0
    gave_up = False
    it = 0
    for it in range(1, int(max_iter) + 1):
        n, K = idx.shape
        # correlations c = Dᵀ(x − Dz) of the working rows: residual by a sparse CSR product, then one GEMM
        if K:
            crow = torch.arange(0, n * K + 1, K, device=dev)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                zs = torch.sparse_csr_tensor(
                    crow, idx.reshape(-1), val.reshape(-1), size=(n, m + 1), check_invariants=False
                )
            R = torch.addmm(Xw, zs, DxT, alpha=-1)
        else:
            R = Xw
        C = R @ D
        # KKT (1): on S, |c_j − λθ_j| ≤ atol; off S, |c_j| ≤ λ + atol
        live = idx < m
        cS = torch.where(live, C.gather(1, idx.clamp(max=m - 1)), torch.zeros((), dtype=dt, device=dev))
        on_err = torch.where(live, (cS - lam * torch.sign(val)).abs(), torch.zeros_like(cS))
        on_ok = on_err.amax(1) <= atol if K else torch.ones_like(stalled)
        # activate when optimal on S (after a round that did not lower f: one atom, as in Lee et al.)
        kk = torch.where(on_ok, torch.where(stalled, 1, k_add), 0)
        k_max = max(int(kk.max()), 1)
        # the k_max largest |c_j|, by repeated max; atoms of S (|c_j| ≤ λ + atol when on_ok) never pass the test below
        V = C.abs()
        vs, js = [], []
        for r in range(k_max):
            v, j_ = V.max(1)
            vs.append(v)
            js.append(j_)
            if r + 1 < k_max:
                V.scatter_(1, j_[:, None], 0.0)
        vtop, jtop = torch.stack(vs, 1), torch.stack(js, 1)
        # done: (1) holds, or three rounds in a row could not lower f (then not counted as converged)
        kkt = on_ok & (vtop[:, 0] <= lam + atol)
        ok = kkt | (n_stalls >= 3)
        gave_up = gave_up or bool((ok & ~kkt).any())
        if bool(ok.any()):
            done_rows.append(rows[ok])
            done_idx.append(idx[ok])
            done_val.append(val[ok])
            keep = ~ok
            rows, idx, val, kk, Xw, C = rows[keep], idx[keep], val[keep], kk[keep], Xw[keep], C[keep]
            n_stalls = n_stalls[keep]
            vtop, jtop = vtop[keep], jtop[keep]
            if rows.numel() == 0:
                converged = True
                break
        # activation: θ_j = sign(c_j), new atoms start at 0
        slot = torch.arange(vtop.shape[1], device=dev)[None, :]
        add = (vtop > lam + atol) & (slot < kk[:, None])
        new_idx = torch.where(add, jtop, dummy)
        idx = torch.cat([idx, new_idx], 1)
        new_sign = torch.sign(C.gather(1, jtop)) * add
        theta = torch.cat([torch.sign(val), new_sign.to(dt)], 1).double()
        val = torch.cat([val, torch.zeros_like(new_idx, dtype=dt)], 1)
        order = torch.argsort((idx < m).to(torch.int8), dim=1, descending=True, stable=True)
        idx, val, theta = idx.gather(1, order), val.gather(1, order), theta.gather(1, order)
        bS = Bflat.take(rows[:, None] * (m + 1) + idx)
        val64, stalled = _feature_sign_steps(idx, val, theta, bS, G64, lam, max_inner, 1e-3 * atol)
        n_stalls = torch.where(stalled, n_stalls + 1, 0)
        val = val64.to(dt)
        idx, val = _compact(torch.where(val != 0, idx, dummy), None, m, val)
        if track:
            history.append(
                _mean_energy(
                    _assemble(N, m, dt, dev, done_rows + [rows], done_idx + [idx], done_val + [val]), B, Gx, xx, lam
                )
            )
    if not converged and rows.numel() == 0:
        converged = True
    if rows.numel() and not converged:
        done_rows.append(rows)
        done_idx.append(idx)
        done_val.append(val)
    Z = _assemble(N, m, dt, dev, done_rows, done_idx, done_val)
    return Z[:, :m].contiguous(), it, history, converged and not gave_up


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
