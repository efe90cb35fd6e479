"""The value learned by temporal differences: no bootstrap past a terminal step, LQR's value on a linear system,
and a fallen state worth nothing to a plan."""

import torch

from ebmlab.data.trajectories import Transitions
from ebmlab.world.costs import InvertedDoublePendulumCost, plan_energy
from ebmlab.world.policy import Policy, policy_loss
from ebmlab.world.td_value import TDValue, lambda_returns, td_targets
from lqr_system import A, B, LinearModel, Q, R, quadratic_cost


def test_a_terminal_transition_is_not_bootstrapped():
    cost, next_value = torch.tensor([1.0, 1.0]), torch.tensor([50.0, 50.0])
    y = td_targets(cost, next_value, torch.tensor([0.0, 1.0]), gamma=0.9)
    assert y.tolist() == [46.0, 1.0]


def test_the_targets_are_the_cost_alone_where_the_episode_ended():
    value = TDValue(2, hidden=8)
    with torch.no_grad():  # target heads that say every state is worth 100 and 110
        for net, worth in zip(value.target, (100.0, 110.0)):
            net[-1].weight.zero_()
            net[-1].bias.fill_(worth)
    cost, next_obs = torch.full((2,), 2.0), torch.ones(2, 2)
    y = value.targets(cost, next_obs, torch.tensor([1.0, 0.0]))
    assert torch.allclose(y, torch.tensor([2.0, 2.0 + 0.99 * 110.0]))  # the larger (pessimistic) head bootstraps


def test_lambda_returns_span_one_step_targets_to_the_discounted_sum_and_stop_at_a_termination():
    costs = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    going_on = torch.ones(1, 4)
    one_step = lambda_returns(costs, values, going_on, gamma=0.5, lam=0.0)
    assert torch.allclose(one_step, torch.tensor([[1 + 0.5 * 20, 2 + 0.5 * 30, 3 + 0.5 * 40]]))
    whole = lambda_returns(costs, values, going_on, gamma=0.5, lam=1.0)
    assert torch.allclose(whole[0, 0], torch.tensor(1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 40))
    ended = lambda_returns(costs, values, torch.tensor([[1.0, 1.0, 0.0, 1.0]]), gamma=0.5, lam=1.0)
    assert torch.allclose(ended[0, 0], torch.tensor(1 + 0.5 * 2))  # the second step ends the episode


def discounted_lqr(gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, P): the discounted LQR's gain and value V(s) = sᵀPs of Σ γ^t (sᵀQs + aᵀRa) under a = −Ks."""
    A64, B64, Q64, R64 = A.double(), B.double(), Q.double(), R.double()
    P = torch.zeros(2, 2, dtype=torch.float64)
    for _ in range(2000):
        K = gamma * torch.linalg.solve(R64 + gamma * B64.T @ P @ B64, B64.T @ P @ A64)
        closed = A64 - B64 @ K
        P = Q64 + K.T @ R64 @ K + gamma * closed.T @ P @ closed
    return K, P


def riccati_error(value: TDValue, P: torch.Tensor, g: torch.Generator) -> float:
    """Mean |V(s) − sᵀPs| over states drawn in [−1, 1]², relative to the mean of sᵀPs."""
    test = (2 * torch.rand(512, 2, generator=g) - 1).double()
    truth = ((test @ P) * test).sum(-1)
    with torch.no_grad():
        learned = value(test.float()).double()
    return float((learned - truth).abs().mean() / truth.mean())


def test_td_on_a_linear_quadratic_system_learns_riccatis_value():
    gamma = 0.9
    K, P = discounted_lqr(gamma)
    g = torch.Generator().manual_seed(0)
    s = 4 * torch.rand(4096, 2, generator=g, dtype=torch.float64) - 2
    a = -s @ K.T
    s_next = s @ A.double().T + a @ B.double().T
    data = Transitions(2, 1)
    for row in zip(s.float(), a.float(), -quadratic_cost(s.float(), a.float(), s_next.float()), s_next.float()):
        data.add(row[0], row[1], float(row[2]), row[3], episode=0)
    torch.manual_seed(0)
    value = TDValue(2, hidden=64, gamma=gamma, tau=0.05)
    opt = torch.optim.Adam(value.nets.parameters(), lr=1e-3)
    for lr in (1e-3, 3e-4, 1e-4):
        opt.param_groups[0]["lr"] = lr
        value.fit(data, opt, steps=1500, batch_size=256, generator=g)
    error = riccati_error(value, P, g)
    # the clipped double target (the larger of two heads' costs) biases the cost up: +5.6 % here, +4.2 % with the mean
    assert error < 0.07, f"mean error {error:.3f} of V's mean"


def test_a_plan_that_falls_is_scored_by_its_costs_until_the_fall():
    cost = InvertedDoublePendulumCost()
    value = TDValue(9, hidden=8, terminated=cost.terminated)
    with torch.no_grad():
        for net in value.nets:
            net[-1].bias.fill_(-5.0)
    upright = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    fallen = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # first pole horizontal: tip at y = 0.6
    terminal = value.planning(3)
    assert torch.allclose(terminal(upright[None]), 0.99**3 * value(upright[None]))
    step_costs = torch.tensor([[-9.0, -9.0, -9.0], [-9.0, 1.0, 50.0]])
    # one plan stays up; the other falls at its second step, then the model lifts the tip up again
    states = torch.stack([upright.expand(4, -1), torch.stack([upright, fallen, upright, upright])])
    energy = plan_energy(step_costs, states, terminal)
    assert torch.allclose(energy[0], -27.0 + terminal(upright[None])[0], atol=1e-2)  # d(upright) ~ 5e-5
    assert torch.allclose(energy[1], torch.tensor(-9.0), atol=1e-3)  # nothing after the fall counts
    assert torch.allclose(plan_energy(step_costs, states), step_costs.sum(-1))  # no value: the plain sum


def test_a_value_fitted_on_a_policys_imagined_trajectories_learns_riccatis_value():
    """--td-targets imagined: V regressed on TD(λ) returns of the LQR policy's rollouts through the model."""
    gamma = 0.9
    K, P = discounted_lqr(gamma)
    policy = Policy(2, 1, layers=0)  # a = W s + b
    with torch.no_grad():
        policy.net[0].weight.copy_(-K.float())
        policy.net[0].bias.zero_()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    value = TDValue(2, hidden=64, gamma=gamma, tau=0.05)
    box = 4 * torch.rand(4096, 2, generator=g) - 2
    value.fit_statistics(box, box @ A.T, quadratic_cost(box, -box @ K.float().T, None))
    opt = torch.optim.Adam(value.nets.parameters(), lr=1e-3)
    for step in range(3000):
        if step in (1500, 2500):
            opt.param_groups[0]["lr"] /= 3
        start = 4 * torch.rand(256, 2, generator=g) - 2
        _, _, (states, costs) = policy_loss(policy, LinearModel(), quadratic_cost, start, horizon=5)
        loss = value.imagined_loss(states, costs, lam=0.95)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value.update_target()
    error = riccati_error(value, P, g)
    assert error < 0.07, f"mean error {error:.3f} of V's mean"
