"""Every contrastive loss pushes energy down on data and up on generated samples, in value and in gradient."""

import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.gan.losses import LOSSES, get_loss, gradient_penalty, pulling_away, r1_penalty


def _grads(loss, e_real, e_fake):
    er = torch.tensor(e_real, requires_grad=True)
    ef = torch.tensor(e_fake, requires_grad=True)
    loss.critic(er, ef).backward()
    eg = torch.tensor(e_fake, requires_grad=True)
    loss.generator(eg).backward()
    return er.grad, ef.grad, eg.grad


@pytest.mark.parametrize("name", LOSSES)
def test_critic_lowers_energy_on_data_and_raises_it_on_samples_generator_lowers_it(name):
    # energies where every loss is active: F(y) = 0.2 ≥ 0 on data, F(ȳ) = 0.5 < margin on samples
    g_real, g_fake, g_gen = _grads(get_loss(name, margin=1.0), [0.2, 0.2], [0.5, 0.5])
    assert bool((g_real > 0).all()), "a critic step must lower F(y) (descent on L_d)"
    assert bool((g_fake < 0).all()), "a critic step must raise F(ȳ)"
    assert bool((g_gen > 0).all()), "a generator step must lower F(G(z))"


def test_toy_energy_moves_the_right_way_under_gradient_descent():
    # F_w(y) = w·y: one critic step must lower F on data points and raise it on samples
    real, fake = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    for name in LOSSES:
        w = torch.zeros(2, requires_grad=True)
        loss = get_loss(name)
        loss.critic(real @ w + 0.1, fake @ w + 0.1).backward()  # +0.1: F ≥ 0 for the margin loss
        with torch.no_grad():
            w2 = w - 0.1 * w.grad
        assert float(real @ w2) < 0 < float(fake @ w2), name


def test_hand_computed_values():
    er, ef = torch.tensor([0.5, 1.5]), torch.tensor([0.25, 2.0])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert get_loss("margin", margin=1.0).critic(er, ef).item() == pytest.approx(1.0 + 0.75 / 2)
    assert get_loss("margin").generator(ef).item() == pytest.approx(1.125)
    assert get_loss("logistic").critic(er, ef).item() == pytest.approx(
        (sp(0.5) + sp(1.5)) / 2 + (sp(-0.25) + sp(-2.0)) / 2, rel=1e-6
    )
    assert get_loss("logistic").generator(ef).item() == pytest.approx((sp(0.25) + sp(2.0)) / 2, rel=1e-6)
    assert get_loss("logistic", saturating=True).generator(ef).item() == pytest.approx(
        -(sp(-0.25) + sp(-2.0)) / 2, rel=1e-6
    )
    assert get_loss("least-squares").critic(er, ef).item() == pytest.approx(
        0.5 * (1.5**2 + 2.5**2) / 2 + 0.5 * (0.75**2 + 1.0**2) / 2
    )
    assert get_loss("least-squares").generator(ef).item() == pytest.approx(0.5 * (1.25**2 + 3.0**2) / 2)
    assert get_loss("wasserstein").critic(er, ef).item() == pytest.approx(1.0 - 1.125)


def test_saturating_loss_vanishes_where_the_non_saturating_does_not():
    # a confident critic: generated samples at high energy (D(ȳ) = σ(−F) ≈ 0)
    e = torch.tensor([8.0], requires_grad=True)
    get_loss("logistic", saturating=True).generator(e).backward()
    saturating = e.grad.abs().item()
    e.grad = None
    get_loss("logistic").generator(e).backward()
    assert saturating < 1e-3 < 0.99 < e.grad.abs().item()


def test_gradient_penalty_is_zero_for_a_unit_slope_and_positive_otherwise():
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    unit = torch.tensor([0.6, 0.8, 0.0])
    assert gradient_penalty(lambda y: y @ unit, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda y: 3 * y @ unit, real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_pulling_away_term():
    assert pulling_away(torch.eye(4)).item() == pytest.approx(0.0)
    assert pulling_away(torch.ones(5, 3)).item() == pytest.approx(1.0)


def test_bad_loss_choices():
    with pytest.raises(ConfigError, match="unknown loss"):
        get_loss("hinge")
    with pytest.raises(ConfigError, match="logistic loss only"):
        get_loss("wasserstein", saturating=True)


def test_r1_penalty_is_half_the_squared_slope_on_data_and_zero_where_the_energy_is_flat():
    a = torch.tensor([3.0, -4.0])
    real = torch.randn(8, 2).requires_grad_(True)
    linear = lambda y: y @ a  # noqa: E731  slope ‖a‖ = 5 everywhere
    assert r1_penalty(linear, real, linear(real)).item() == pytest.approx(12.5)
    bowl = lambda y: (y**2).sum(dim=1)  # noqa: E731  flat at the origin, slope 2‖y‖ elsewhere
    at_origin = torch.zeros(4, 2, requires_grad=True)
    assert r1_penalty(bowl, at_origin, bowl(at_origin)).item() == 0.0
    ones = torch.ones(4, 2, requires_grad=True)
    assert r1_penalty(bowl, ones, bowl(ones)).item() == pytest.approx(4.0)  # ½ · (2·√2)²
