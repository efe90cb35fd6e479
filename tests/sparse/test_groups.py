"""Tests of group sparsity: pools, the group norm and its proximal operator, group-Lasso inference."""

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.groups import Pools, block_pools, singleton_pools, torus_pools, tree_pools
from ebmlab.sparse.solvers import fista, ista, lasso_objective, soft_threshold
from sparse_problems import sparse_problem


def rand(n, m, seed=0):
    return torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def prox_optimality_gap(pools, V, U, t):
    """How much the prox objective ½‖u − v‖² + tΩ(u) can still be lowered from U by small steps
    (a check that does not use the method): along random directions on U's support, both ways, where
    Ω is smooth, and by moving U towards V, which covers pools that are zero."""
    f = lambda W: 0.5 * (W - V).pow(2).sum(1) + t * pools.value(W)  # noqa: E731
    base = f(U)
    worst = 0.0
    g = torch.Generator().manual_seed(1)
    support = (U != 0).to(U.dtype)
    for _ in range(20):
        d = torch.randn(U.shape, generator=g, dtype=U.dtype) * support
        for eps in (1e-3, -1e-3, 1e-5, -1e-5):
            worst = max(worst, float((base - f(U + eps * d)).max()))
    for eps in (1e-2, 1e-4):
        worst = max(worst, float((base - f(U + eps * (V - U))).max()))
    return worst


def test_singleton_pools_are_the_l1_norm():
    V = rand(6, 10)
    p = singleton_pools(10)
    torch.testing.assert_close(p.prox(V, 0.4), soft_threshold(V, 0.4))
    torch.testing.assert_close(p.value(V), V.abs().sum(1))
    X, D = sparse_problem(20, 8, 10, 0.3)
    a = fista(X, D, 0.1, max_iter=500, tol=1e-12)
    b = fista(X, D, 0.1, max_iter=500, tol=1e-12, pools=p)
    torch.testing.assert_close(a.z, b.z)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


def test_block_prox_closed_form():
    V = rand(5, 12)
    t = 0.7
    U = block_pools(12, 3, weight=2.0).prox(V, t)
    for g in range(4):
        v = V[:, 3 * g : 3 * g + 3]
        n = v.norm(dim=1, keepdim=True)
        want = v * (1 - 2.0 * t / n).clamp(min=0)
        torch.testing.assert_close(U[:, 3 * g : 3 * g + 3], want)
    assert bool((U.reshape(5, 4, 3).norm(dim=2) == 0).any())  # some pools are switched off whole


def test_tree_prox_is_exact_and_agrees_with_the_general_dual_method():
    pools = tree_pools(2, 4)  # 15 nodes, nested sub-tree pools
    assert pools.m == 15 and pools.levels is not None and len(pools.levels) == 4
    V = rand(8, 15, seed=2)
    exact = pools.prox(V, 0.3)
    from ebmlab.sparse.groups import _dual_prox

    iterative = _dual_prox(V, pools, 0.3, max_iter=20000, tol=1e-13)
    torch.testing.assert_close(exact, iterative, atol=1e-8, rtol=0)
    assert prox_optimality_gap(pools, V, exact, 0.3) <= 1e-12
    # a zero parent pool zeroes the whole sub-tree
    zero_root = exact.norm(dim=1) == 0
    big = pools.prox(V, 100.0)
    assert torch.count_nonzero(big) == 0 and not bool(zero_root.all())


def test_torus_pools_wrap_and_prox_is_optimal():
    pools = torus_pools(16, 3)  # 4×4 map, 3×3 neighbourhoods
    assert pools.grid == (4, 4) and pools.levels is None  # overlapping: iterative prox
    # unit (0, 0)'s pool wraps to the last row and column
    assert set(pools.index[0].tolist()) == {0, 1, 3, 4, 5, 7, 12, 13, 15}
    assert all(len(set(row.tolist())) == 9 for row in pools.index)
    # every unit lies in exactly 9 pools
    assert torch.equal(pools.membership().sum(0), torch.full((16,), 9.0, dtype=torch.float64))
    V = rand(4, 16, seed=3)
    U = pools.prox(V, 0.2, max_iter=5000, tol=1e-12)
    assert prox_optimality_gap(pools, V, U, 0.2) <= 1e-9
    clipped = torus_pools(16, 3, wrap=False)
    assert set(clipped.index[0][clipped.index[0] < 16].tolist()) == {0, 1, 4, 5}


def test_group_lasso_inference_decreases_energy_and_matches_ista():
    X, D = sparse_problem(30, 12, 24, 0.2, seed=4)
    pools = block_pools(24, 4)
    res = fista(X, D, 0.2, max_iter=3000, tol=1e-12, pools=pools, track=True)
    slow = ista(X, D, 0.2, max_iter=20000, tol=1e-13, pools=pools)
    assert res.objective == pytest.approx(slow.objective, rel=1e-8)
    assert res.objective == pytest.approx(float(lasso_objective(X, D, res.z, 0.2, pools).mean()), rel=1e-12)
    assert res.history[-1] < res.history[0]
    # whole pools are zero, not single units
    zero_units = res.z == 0
    per_pool = zero_units.reshape(30, 6, 4)
    assert bool((per_pool.all(2) | ~per_pool.any(2)).all())
    assert bool(per_pool.all(2).any())


def test_bad_pools_are_one_line_user_errors():
    with pytest.raises(ConfigError, match="do not tile 10 units"):
        block_pools(10, 3)
    with pytest.raises(ConfigError, match="not square"):
        torus_pools(24, 3)
    with pytest.raises(ConfigError, match="does not fit"):
        torus_pools(16, 5)
    with pytest.raises(ConfigError, match="pool weights"):
        Pools(torch.zeros(2, 2, dtype=torch.long), torch.tensor([1.0, -1.0]), 4)
    X, D = sparse_problem(4, 6, 8, 0.3)
    with pytest.raises(ConfigError, match="pools are over 12 units"):
        fista(X, D, 0.1, pools=block_pools(12, 3))
