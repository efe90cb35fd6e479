"""The forward model's normalisation: statistics that keep a rollout in range."""

import torch

from ebmlab.world.models import ForwardModel


def test_a_feature_seen_only_in_next_states_gets_a_real_spread():
    # InvertedDoublePendulum's constraint force is zero except in the states that end an episode: as inputs
    # it appeared constant, was divided by a spread of 1e-6, and a rollout fed one predicted value back in
    # and blew up. The states' statistics now cover both ends of the transitions.
    torch.manual_seed(0)
    obs, act = torch.randn(200, 3), torch.randn(200, 1)
    obs[:, 2] = 0.0
    next_obs = obs + 0.1 * torch.randn(200, 3)
    next_obs[:150, 2] = 0.0  # the last 50 transitions end with a non-zero constraint force
    model = ForwardModel(3, 1, hidden=16, layers=2)
    model.norm.fit(obs, act, next_obs)
    assert model.norm.obs_std[2] > 0.01
    states = torch.cat([obs, next_obs])
    torch.testing.assert_close(model.norm.obs_mean, states.mean(0))
    torch.testing.assert_close(model.norm.obs_std, states.std(0))
    with torch.no_grad():
        s = obs[:4]
        for _ in range(30):  # an untrained model's rollout stays finite and moderate
            s = model(s, torch.zeros(4, 1))
    assert torch.isfinite(s).all() and s.abs().max() < 1e3


def test_the_pendulum_dynamics_are_the_environments_own():
    import gymnasium as gym
    import numpy as np

    from ebmlab.world.models import PendulumDynamics

    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=3)
    rng, model, steps = np.random.default_rng(0), PendulumDynamics(), 0
    for _ in range(200):
        action = rng.uniform(-2.5, 2.5, size=1).astype(np.float32)  # beyond the bounds too: clipped alike
        predicted = model(torch.as_tensor(obs)[None], torch.as_tensor(action)[None])[0]
        obs, _, _, truncated, _ = env.step(action)
        torch.testing.assert_close(predicted, torch.as_tensor(obs), atol=1e-4, rtol=0)
        steps += 1
        if truncated:
            break
    env.close()
    assert steps == 200
