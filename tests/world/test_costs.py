"""The torch costs equal the environments' own rewards, step by step, and bad environments are clear errors."""

import numpy as np
import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.world.costs import COSTS, LearnedCost, MountainCarCost, PendulumCost, get_cost
from ebmlab.world.envs import make_env


@pytest.mark.parametrize("env_id", list(COSTS))
def test_cost_is_the_negative_reward_of_every_step(env_id):
    env = make_env(env_id, seed=0)
    cost = get_cost(env_id)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    rows = []
    for t in range(400):
        # wide actions (beyond the bounds) check the clipping; a bang-bang push on the car reaches its goal
        action = (
            np.array([1.0 if obs[1] >= 0 else -1.0], dtype=np.float32)
            if env_id.startswith("Mountain")
            else rng.uniform(-3, 3, size=1).astype(np.float32)
        )
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, next_obs, reward, terminated))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset(seed=t)
    s, a, s2, r, d = (torch.tensor(np.array(c), dtype=torch.float64) for c in zip(*rows))
    # the termination test in torch says which steps ended their episode (a terminal value is zero after them)
    assert torch.equal((cost.terminated(s2) > 0.5).double(), d)
    assert d.any() != env_id.startswith("Pendulum"), "a termination was exercised where the task has one"
    if env_id.startswith("InvertedDouble"):  # the observation clips the angular velocities the reward uses
        inside = (s2[:, 6:8].abs() < 10).all(1)
        assert inside.float().mean() > 0.5
        s, a, s2, r = s[inside], a[inside], s2[inside], r[inside]
        assert (r < 5).any() and (r > 5).any(), "both the alive bonus and the fall were exercised"
        # MuJoCo computes the tip's position (site_xpos) before the last integration sub-step of the frame, the
        # observation after it: the reward lags the observation by ~1e-5 in position
        torch.testing.assert_close(cost(s, a, s2), -r, rtol=0, atol=1e-3)
        return
    torch.testing.assert_close(cost(s, a, s2), -r, rtol=1e-5, atol=1e-5)
    if env_id.startswith("Mountain"):
        assert (r > 50).any(), "the goal bonus was never exercised"


def test_mountain_car_planning_cost_falls_as_the_car_gains_energy():
    cost = MountainCarCost()
    a = torch.zeros(3, 1)
    at_rest = torch.tensor([[-0.52, 0.0], [-0.3, 0.02], [0.2, 0.04]])  # ever more energy
    c = cost.planning(at_rest, a, at_rest)
    assert c[0] > c[1] > c[2]
    x = torch.tensor([[-0.5, 0.01]], requires_grad=True)
    cost.planning(x, a[:1], x).sum().backward()
    assert x.grad[0, 1] < 0  # more speed, less cost: a gradient planner pumps energy


@pytest.mark.parametrize(
    "name,message",
    [
        ("Pendulum-v0", "unknown environment 'Pendulum-v0'"),
        ("CartPole-v1", "Discrete action space"),
        ("Acrobot-v1", "Discrete action space"),
    ],
)
def test_environments_an_agent_cannot_use_are_one_line_errors(name, message):
    with pytest.raises(ConfigError, match=message):
        make_env(name)


def test_a_learned_cost_approaches_the_known_one():
    """LearnedCost regressed on Pendulum's rewards from random steps predicts the cost of fresh steps."""
    env = make_env("Pendulum-v1", seed=0)
    rng = np.random.default_rng(0)
    rows = []
    for episode in range(15):
        obs, _ = env.reset(seed=episode)
        for _ in range(200):
            action = rng.uniform(-2, 2, size=1).astype(np.float32)
            next_obs, reward, *_ = env.step(action)
            rows.append((obs, action, next_obs, reward))
            obs = next_obs
    s, a, s2, r = (torch.tensor(np.array(c), dtype=torch.float32) for c in zip(*rows))
    train, test = slice(0, 2400), slice(2400, None)
    torch.manual_seed(0)
    cost = LearnedCost(3, 1, hidden=64)
    cost.fit_statistics(s[train], a[train], s2[train], r[train])
    opt = torch.optim.Adam(cost.parameters(), lr=3e-3)
    for _ in range(600):
        i = torch.randint(2400, (256,))
        loss = cost.loss(s[i], a[i], s2[i], r[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        error = (cost(s[test], a[test], s2[test]) - PendulumCost()(s[test], a[test], s2[test])).pow(2).mean().sqrt()
    assert float(error) < 0.1 * float(r[test].std())
