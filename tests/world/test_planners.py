"""Gradient MPC and CEM on a known linear system, against the LQR optimum in closed form."""

import torch

from ebmlab.world.planners import CEM, GradientMPC, rollout_cost
from lqr_system import LinearModel, open_loop_optimum, quadratic_cost

S0 = torch.tensor([1.0, -0.5])
BOUND = torch.tensor([5.0])  # wide enough that the optimum does not touch it


def test_gradient_mpc_lowers_the_planned_cost_to_the_lqr_optimum():
    plan_star, best = open_loop_optimum(S0, 20)
    mpc = GradientMPC(LinearModel(), quadratic_cost, -BOUND, BOUND, horizon=20, lr=0.01, restarts=2)
    start = mpc._random(2)
    before = rollout_cost(mpc.model, mpc.cost, S0, start)
    plans, energy = mpc.optimise(S0, start, 300)
    assert float(before.min()) > 2 * best
    assert float(energy.min()) <= 1.01 * best
    assert float(energy.min()) >= best - 1e-4  # nothing beats the closed form
    torch.testing.assert_close(plans[energy.argmin()], plan_star, atol=0.05, rtol=0)


def test_bounds_are_respected_and_the_plan_is_warm_started():
    low, high = torch.tensor([-0.2]), torch.tensor([0.3])
    mpc = GradientMPC(LinearModel(), quadratic_cost, low, high, horizon=10, first_iterations=50, iterations=5)
    a = mpc.act(S0)
    assert mpc.plan.shape == (10, 1) and bool(((mpc.plan >= low) & (mpc.plan <= high)).all())
    assert torch.equal(a, mpc.plan[0])  # the action taken is the plan's first
    shifted = mpc.plan[1:].clone()
    mpc.iterations = 0  # no step: the kept plan is the warm start unless a random restart beats it
    mpc.restarts = 1
    mpc.act(S0)
    torch.testing.assert_close(mpc.plan[:-1], shifted)


def test_cem_plans_close_to_the_optimum_without_gradients():
    _, best = open_loop_optimum(S0, 10)
    cem = CEM(
        LinearModel(),
        quadratic_cost,
        torch.tensor([-3.0]),
        torch.tensor([3.0]),
        horizon=10,
        population=500,
        elites=50,
        iterations=8,
    )
    cem.act(S0)
    assert float(rollout_cost(cem.model, cem.cost, S0, cem.plan[None])) <= 1.05 * best


def test_a_diverging_model_still_gives_actions_within_the_bounds():
    """A model whose predictions overflow (inf, then nan through the cost) must not turn into nan actions."""

    class Exploding(torch.nn.Module):
        def forward(self, s, a, z=None):
            return s * 1e30 + a

    low, high = torch.tensor([-1.0]), torch.tensor([1.0])
    for actor in (
        GradientMPC(Exploding(), quadratic_cost, low, high, horizon=10, first_iterations=5, restarts=2),
        CEM(Exploding(), quadratic_cost, low, high, horizon=10, population=20, elites=4, iterations=2),
    ):
        a = actor.act(torch.tensor([1.0, 1.0]))
        assert torch.isfinite(a).all() and low <= a <= high
