"""The tabulated terminal value: LQR's cost-to-go in closed form, the chart's seam, and a swing-up it makes possible."""

import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.world.costs import PendulumCost
from ebmlab.world.models import PendulumDynamics
from ebmlab.world.planners import GradientMPC
from ebmlab.world.value import Chart, ValueTable, get_chart
from lqr_system import A, B, LinearModel, Q, R, quadratic_cost

PLANE = Chart(((-2.0, 2.0, False), (-2.0, 2.0, False)), lambda s: s, lambda q: q)


def riccati(steps: int) -> torch.Tensor:
    """P_K of V_K(s) = sᵀ P_K s, the least cost of K steps of the linear system (unbounded actions)."""
    P = torch.zeros(2, 2, dtype=torch.float64)
    A64, B64, Q64, R64 = A.double(), B.double(), Q.double(), R.double()
    for _ in range(steps):
        K = torch.linalg.solve(R64 + B64.T @ P @ B64, B64.T @ P @ A64)
        P = Q64 + A64.T @ P @ (A64 - B64 @ K)
    return P


def test_value_iteration_on_a_linear_system_gives_the_lqr_cost_to_go():
    table = ValueTable(PLANE, (161, 161))  # bilinear reads overestimate a convex value by O(spacing²): 2 % here
    info = table.fit(LinearModel(), quadratic_cost, torch.tensor([-8.0]), torch.tensor([8.0]), actions=81, sweeps=15)
    assert info["value_sweeps"] == 15
    s = torch.tensor([[0.5, 0.0], [-0.3, 0.4], [0.2, -0.5], [0.0, 0.0]])
    want = ((s.double() @ riccati(15)) * s.double()).sum(-1).float()
    assert float(want[:3].min()) > 0.3  # values worth comparing
    torch.testing.assert_close(table(s), want, atol=0.01, rtol=0.04)


def test_the_value_is_read_between_grid_points_across_the_seam_and_has_a_gradient():
    table = ValueTable(get_chart("Pendulum-v1"), (36, 17))
    q = torch.cartesian_prod(*table.points)
    table.values.copy_((torch.cos(q[:, 0]) + 0.1 * q[:, 1]).reshape(36, 17))
    chart = table.chart
    at_points = table(chart.state(q))
    torch.testing.assert_close(at_points, table.values.reshape(-1), atol=1e-5, rtol=0)  # exact on the grid
    seam = table(chart.state(torch.tensor([[math.pi - 1e-4, 0.3], [-math.pi + 1e-4, 0.3]])))
    assert abs(float(seam[0] - seam[1])) < 1e-3  # θ = ±π is one place
    s = chart.state(torch.tensor([[0.05, 1.23]])).requires_grad_(True)
    (grad,) = torch.autograd.grad(table(s).sum(), s)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0.01


def _swing(terminal, horizon: int) -> tuple[float, float]:
    """|θ| after 120 steps of gradient MPC from hanging down at rest, and the cost of those steps."""
    model, cost, low, high = PendulumDynamics(), PendulumCost(), torch.tensor([-2.0]), torch.tensor([2.0])
    mpc = GradientMPC(model, cost, low, high, horizon=horizon, terminal=terminal)
    s, total = torch.tensor([-1.0, 0.0, 0.0]), 0.0
    for _ in range(120):
        a = mpc.act(s)
        s_next = model(s[None], a[None])[0]
        total, s = total + float(cost(s, a, s_next)), s_next
    return abs(math.atan2(float(s[1]), float(s[0]))), total


def test_a_table_through_the_pendulum_lets_short_plans_swing_it_up_at_less_cost():
    table = ValueTable(get_chart("Pendulum-v1"), (120, 61))
    info = table.fit(
        PendulumDynamics(), PendulumCost(), torch.tensor([-2.0]), torch.tensor([2.0]), actions=11, sweeps=200
    )
    assert info["value_min"] < 1 and info["value_max"] > 100  # the top costs nothing more, the bottom much
    assert _swing(None, 3)[0] > 2.0  # 3 steps ahead no swing pays: it stays down
    assert _swing(table, 3)[0] < 0.1  # with the value of where the plan ends it comes up
    (_, myopic), (_, valued) = _swing(None, 10), _swing(table, 10)
    assert valued < 0.85 * myopic  # 10-step plans come up without it, but later (measured: 414 against 314)


def test_a_diverging_model_leaves_finite_values():
    class Exploding(torch.nn.Module):  # nan and inf predictions except near the top
        def forward(self, s, a, z=None):
            broken = torch.tensor([float("nan"), float("inf"), float("-inf")])
            return torch.where(s[..., :1] > 0.9, s, broken)

    table = ValueTable(get_chart("Pendulum-v1"), (24, 9))
    table.fit(Exploding(), PendulumCost(), torch.tensor([-2.0]), torch.tensor([2.0]), actions=3, sweeps=5)
    assert torch.isfinite(table.values).all()


def test_only_environments_with_a_chart_take_a_table():
    with pytest.raises(ConfigError, match="known for Pendulum-v1"):
        get_chart("MountainCarContinuous-v0")
