"""Fitted value iteration through a known linear model recovers the discounted LQR cost-to-go sᵀPs."""

import pytest
import torch

from ebmlab.world.value import ValueFunction, fit_value

from lqr_system import A, B, Q, R, LinearModel, quadratic_cost


def discounted_lqr_value(discount: float, iterations: int = 3000) -> torch.Tensor:
    """P of V(s) = sᵀPs = min Σ_t γᵗ (sᵀQs + aᵀRa), by the discounted Riccati recursion."""
    A64, B64, Q64, R64 = A.double(), B.double(), Q.double(), R.double()
    P = Q64.clone()
    for _ in range(iterations):
        K = torch.linalg.solve(R64 + discount * B64.T @ P @ B64, discount * B64.T @ P @ A64)
        P = Q64 + discount * A64.T @ P @ (A64 - B64 @ K)
    return P.float()


def test_fitted_value_approaches_the_discounted_lqr_value():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    discount = 0.9
    states = 2 * torch.rand(4000, 2, generator=g) - 1
    value = ValueFunction(2, hidden=64, layers=2, discount=discount)
    opt = torch.optim.Adam(value.net.parameters(), lr=3e-3)
    low, high = torch.tensor([-10.0]), torch.tensor([10.0])  # wide enough that the bounds never bind
    fit_value(value, LinearModel(), quadratic_cost, states, low, high, opt, steps=800, candidates=64, tau=0.1,
              generator=g)
    test = 1.6 * torch.rand(500, 2, generator=g) - 0.8
    want = ((test @ discounted_lqr_value(discount)) * test).sum(-1)
    with torch.no_grad():
        got = value(test)
    # V is a min over sampled actions of a fitted network: within 10 % of the exact cost-to-go on average
    assert float((got - want).abs().mean() / want.mean()) < 0.1
    # and far from the one-step cost alone, which a value that had not propagated would still be near
    assert float(want.mean()) > 1.5 * float(((test @ Q) * test).sum(-1).mean())


def test_the_discount_must_be_below_one():
    with pytest.raises(ValueError, match="discount"):
        ValueFunction(2, discount=1.0)
