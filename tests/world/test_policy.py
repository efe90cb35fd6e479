"""A policy trained through a known linear model approaches the LQR law a = −K s."""

import torch

from ebmlab.world.policy import Policy, policy_loss
from lqr_system import LinearModel, infinite_horizon_gain, quadratic_cost


def test_linear_policy_trained_through_the_model_approaches_lqr():
    # the LQR gain does not depend on the start state: averaging over ±e1, ±e2 gives a deterministic gradient
    torch.manual_seed(0)
    policy = Policy(2, 1, layers=0)  # a = W s + b
    opt = torch.optim.Adam(policy.parameters(), lr=1.0, betas=(0.9, 0.99))
    start = torch.cat([torch.eye(2), -torch.eye(2)])
    losses = []
    for step in range(500):
        loss, *_ = policy_loss(policy, LinearModel(), quadratic_cost, start, horizon=60)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    K = infinite_horizon_gain()
    assert losses[-1] < 0.5 * losses[0]
    torch.testing.assert_close(policy.net[0].weight.detach(), -K, rtol=0.02, atol=0)
    assert abs(policy.net[0].bias.item()) < 1e-3


def test_bounded_policy_stays_in_its_bounds():
    policy = Policy(3, 1, torch.tensor([-2.0]), torch.tensor([2.0]))
    a = policy(100 * torch.randn(64, 3))
    assert bool(((a >= -2) & (a <= 2)).all())
