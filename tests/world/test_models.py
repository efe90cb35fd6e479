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
