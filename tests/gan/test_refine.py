"""Rejection by the critic's energy turns generator samples into data samples when the critic is optimal;
descent on the latent energy follows its gradient."""

import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.gan.refine import descend_latent, log_density_ratio, rejection_sample


def test_density_ratio_of_each_loss():
    e = torch.tensor([0.0, 0.5, -0.5])
    torch.testing.assert_close(log_density_ratio(e, "logistic"), -e)
    torch.testing.assert_close(
        log_density_ratio(e, "least-squares"), torch.tensor([0.0, math.log(0.5 / 1.5), math.log(1.5 / 0.5)])
    )
    with pytest.raises(ConfigError, match="logistic or least-squares"):
        log_density_ratio(e, "wasserstein")


def test_rejection_with_the_optimal_critic_recovers_the_data_distribution():
    # p_G = N(0, 1) (G is the identity on 1-D noise), p_data = N(0, 0.5²):
    # log r(y) = log 2 − 1.5 y², so the optimal logistic energy is F(y) = −log r(y)
    G = torch.nn.Identity()
    critic = lambda y: (1.5 * y.pow(2) - math.log(2.0)).flatten()  # noqa: E731
    samples, rate = rejection_sample(
        G, critic, "logistic", 20000, 1, torch.Generator().manual_seed(0), chunk=5000, burn_in=20000
    )
    assert samples.shape == (20000, 1)
    assert float(samples.std()) == pytest.approx(0.5, rel=0.03)
    assert float(samples.mean()) == pytest.approx(0.0, abs=0.02)
    assert rate == pytest.approx(0.5, abs=0.02)  # E_G[r]/max r = 1/2; M, the 99th percentile, is near max r


def test_a_critic_that_rejects_everything_is_a_clear_error():
    # 2 % of the samples (y > 2.05) hold a huge ratio: M, the 99th percentile, is theirs; the rest is rejected
    critic = lambda y: torch.where(y.flatten() > 2.05, -50.0, 0.0)  # noqa: E731
    with pytest.raises(ConfigError, match="accepted only"):
        rejection_sample(
            torch.nn.Identity(),
            critic,
            "logistic",
            1000,
            1,
            torch.Generator().manual_seed(0),
            chunk=1000,
            burn_in=1000,
            max_candidates=5000,
        )


def test_descent_follows_the_gradient_of_the_latent_energy():
    # G the identity, F(y) = 1.5 y² − log 2 (logistic): E(z) = ½z² + 1.5z² + const = 2z² + const, so each
    # step z ← z − ½η·4z scales z by (1 − 2η); the same noise stream gives the starting z
    critic = lambda y: (1.5 * y.pow(2) - math.log(2.0)).flatten()  # noqa: E731
    out = descend_latent(
        torch.nn.Identity(),
        critic,
        "logistic",
        300,
        1,
        torch.Generator().manual_seed(0),
        steps=10,
        step_size=0.1,
        chunk=128,
    )
    z0 = torch.cat([torch.randn(k, 1, generator=g) for g in [torch.Generator().manual_seed(0)] for k in (128, 128, 44)])
    torch.testing.assert_close(out, z0 * 0.8**10)
    with pytest.raises(ConfigError, match="logistic or least-squares"):
        descend_latent(torch.nn.Identity(), critic, "margin", 10, 1, torch.Generator())
