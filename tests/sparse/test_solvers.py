"""Tests of the Lasso solvers (inference for sparse coding)."""

import numpy as np
import pytest
import torch

from ebmlab.errors import UserError
from ebmlab.sparse.solvers import SOLVERS, ista, lasso_objective, soft_threshold
from sparse_problems import sparse_problem


def problem(N=24, n=16, m=40, seed=0, dtype=torch.float64):
    return sparse_problem(N, n, m, 0.1, seed, dtype)


def lars_objective(X, D, lam):
    from sklearn.decomposition import sparse_encode

    # sparse_encode divides alpha by n_features itself, so alpha = λ gives energy (1).
    Z = sparse_encode(X.numpy(), D.T.numpy(), algorithm="lasso_lars", alpha=lam)
    return float(lasso_objective(X, D, torch.from_numpy(Z), lam).mean())


def test_soft_threshold():
    v = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    assert torch.equal(soft_threshold(v, 0.5), torch.tensor([-1.5, 0.0, 0.0, 0.0, 1.0]))


def test_ista_energy_decreases_monotonically():
    X, D = problem()
    res = ista(X, D, 0.1, max_iter=200, tol=0, track=True)
    h = np.array(res.history)
    assert len(h) == 200 and res.n_iter == 200
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[1:]))
    assert h[-1] < h[0]


@pytest.mark.parametrize("m", [24, 40])  # through the Gram matrix (m ≤ 2n), and through D (m > 2n)
def test_ista_and_fista_iterates_follow_their_definitions(m):
    from ebmlab.sparse.solvers import fista, lipschitz_constant

    X, D = problem(m=m)
    lam, k = 0.1, 7
    L = lipschitz_constant(D.T @ D)
    z = y = torch.zeros(X.shape[0], m, dtype=X.dtype)
    t = 1.0
    for _ in range(k):
        z_prev = z
        z = soft_threshold(y - (y @ D.T - X) @ D / L, lam / L)
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        y, t = z + (t - 1) / t_next * (z - z_prev), t_next
    torch.testing.assert_close(fista(X, D, lam, max_iter=k, tol=0.0).z, z, rtol=0, atol=1e-12)
    z = torch.zeros(X.shape[0], m, dtype=X.dtype)
    for _ in range(k):
        z = soft_threshold(z - (z @ D.T - X) @ D / L, lam / L)
    torch.testing.assert_close(ista(X, D, lam, max_iter=k, tol=0.0).z, z, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_solvers_reach_lars_optimum(name):
    X, D = problem()
    lam = 0.1
    ref = lars_objective(X, D, lam)
    max_iter = {"cod": 20000}.get(name, 5000)
    res = SOLVERS[name](X, D, lam, max_iter=max_iter, tol=1e-9)
    assert res.converged
    assert abs(res.objective - ref) <= 1e-7 * ref
    assert res.z.shape == (X.shape[0], D.shape[1])


def test_solvers_agree_on_codes():
    X, D = problem(seed=3)
    zs = [f(X, D, 0.2, max_iter=20000, tol=1e-11).z for f in SOLVERS.values()]
    for z in zs[1:]:
        torch.testing.assert_close(z, zs[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_orthogonal_dictionary_closed_form(name):
    # With DᵀD = I the energy separates: z* = h_λ(Dᵀx) exactly.
    g = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    X = torch.randn(10, 12, generator=g, dtype=torch.float64)
    res = SOLVERS[name](X, Q, 0.3, max_iter=500, tol=1e-12)
    torch.testing.assert_close(res.z, soft_threshold(X @ Q, 0.3), atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_large_lambda_gives_zero_code(name):
    X, D = problem()
    lam = float((X @ D).abs().max()) * 1.0001
    res = SOLVERS[name](X, D, lam, max_iter=100, tol=1e-8)
    assert torch.count_nonzero(res.z) == 0
    assert res.objective == pytest.approx(float(0.5 * (X * X).sum(1).mean()), rel=1e-12)


@pytest.mark.parametrize("name", sorted(set(SOLVERS) - {"lars"}))
def test_float32_and_warm_start(name):
    X, D = problem(dtype=torch.float32)
    res = SOLVERS[name](X, D, 0.1, max_iter=3000, tol=1e-6)
    assert res.z.dtype == torch.float32
    again = SOLVERS[name](X, D, 0.1, max_iter=3000, tol=1e-6, z0=res.z)
    assert again.n_iter <= 3 + res.n_iter // 10
    assert again.objective <= res.objective * (1 + 1e-5)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_bad_inputs_raise_user_errors(name):
    X, D = problem()
    f = SOLVERS[name]
    with pytest.raises(UserError, match="rows but X has"):
        f(X, D[:-1], 0.1)
    with pytest.raises(UserError, match="lam must be"):
        f(X, D, -0.1)
    with pytest.raises(UserError, match="2-D"):
        f(X[0], D, 0.1)
    with pytest.raises(UserError, match="z0 must be"):
        f(X, D, 0.1, z0=torch.zeros(3, 3))


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_empty_batch(name):
    X, D = problem()
    res = SOLVERS[name](X[:0], D, 0.1)
    assert res.z.shape == (0, D.shape[1]) and res.objective == 0.0


def test_lars_float32_codes_and_refuses_warm_starts():
    from ebmlab.sparse.solvers import lars

    X, D = problem(dtype=torch.float32)
    res = lars(X, D, 0.1)
    assert res.z.dtype == torch.float32 and res.converged
    assert res.objective == pytest.approx(lars_objective(X.double(), D.double(), 0.1), rel=1e-5)
    with pytest.raises(UserError, match="takes no z0"):
        lars(X, D, 0.1, z0=res.z)


def test_lars_matches_lars_path_with_drops_and_threads():
    # Strongly correlated atoms make coefficients cross zero along the path (LARS "drop" steps).
    from ebmlab.sparse.solvers import lars

    g = torch.Generator().manual_seed(5)
    base = torch.randn(10, 6, generator=g, dtype=torch.float64)
    D = torch.cat([base, base + 0.3 * torch.randn(10, 6, generator=g, dtype=torch.float64)], 1)
    D = D / D.norm(dim=0)
    X = torch.randn(300, 10, generator=g, dtype=torch.float64)
    lam = 0.05
    one = lars(X, D, lam, threads=1)
    two = lars(X, D, lam, threads=2)
    assert torch.equal(one.z, two.z)
    assert one.converged and one.objective == pytest.approx(lars_objective(X, D, lam), rel=1e-10)


def test_lars_reports_unfinished_paths():
    from ebmlab.sparse.solvers import lars

    X, D = problem()
    res = lars(X, D, 0.01, max_iter=2)
    assert not res.converged and res.n_iter == 2
