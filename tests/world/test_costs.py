"""The torch costs equal the environments' own rewards, step by step, and bad environments are clear errors."""

import numpy as np
import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.world.costs import COSTS, MountainCarCost, get_cost
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
        action = (np.array([1.0 if obs[1] >= 0 else -1.0], dtype=np.float32) if env_id.startswith("Mountain")
                  else rng.uniform(-3, 3, size=1).astype(np.float32))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, next_obs, reward))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset(seed=t)
    s, a, s2, r = (torch.tensor(np.array(c), dtype=torch.float64) for c in zip(*rows))
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


@pytest.mark.parametrize("name,message", [
    ("Pendulum-v0", "unknown environment 'Pendulum-v0'"),
    ("CartPole-v1", "Discrete action space"),
    ("Acrobot-v1", "Discrete action space"),
])
def test_environments_an_agent_cannot_use_are_one_line_errors(name, message):
    with pytest.raises(ConfigError, match=message):
        make_env(name)
