"""The hand-written backward pass through an unrolled MLP model equals autograd's."""

import pytest
import torch

from ebmlab.world.costs import MountainCarCost, PendulumCost
from ebmlab.world.models import Ensemble, ForwardModel
from ebmlab.world.planners import energy_and_grad, rollout_cost
from ebmlab.world.unrolled import unrolled
from lqr_system import LinearModel


def _fitted(model: ForwardModel) -> ForwardModel:
    """A model whose normalisation is far from the identity, so that folding it into the layers is tested."""
    g = torch.Generator().manual_seed(1)
    n = model.norm
    for buf, (lo, hi) in (
        (n.obs_mean, (-1, 1)),
        (n.obs_std, (0.3, 3)),
        (n.act_mean, (-1, 1)),
        (n.act_std, (0.3, 3)),
        (n.delta_mean, (-0.1, 0.1)),
        (n.delta_std, (0.02, 0.3)),
    ):
        buf.copy_(lo + (hi - lo) * torch.rand(buf.shape, generator=g))
    return model.eval()


def _state_only(obs, action, next_obs):  # a cost that ignores the actions (like InvertedDoublePendulum's)
    return (next_obs**2).sum(-1)


def _terminal(s):  # a value of the plan's last state, as ebmlab.world.value's
    return 0.1 * (s[..., 0] - 0.5) ** 2 + torch.sin(s[..., -1])


@pytest.mark.parametrize("terminal", [None, _terminal], ids=["no-value", "value"])
@pytest.mark.parametrize("kind", ["deterministic", "latent", "ensemble", "two-layer"])
@pytest.mark.parametrize(
    "cost", [PendulumCost().planning, MountainCarCost().planning, _state_only], ids=["pendulum", "car", "state-only"]
)
def test_energy_and_gradient_equal_autograd(kind, cost, terminal):
    torch.manual_seed(0)
    if kind == "ensemble":
        model = Ensemble([_fitted(ForwardModel(3, 1, 32, 2)) for _ in range(3)])
    else:
        model = _fitted(ForwardModel(3, 1, 32, 2 if kind == "two-layer" else 3, latent_dim=2 * (kind == "latent")))
    obs, plans = torch.tensor([0.3, -0.9, 0.5]), 2 * torch.rand(5, 12, 1) - 1
    want_energy, want_grad = energy_and_grad(model, cost, obs, plans, terminal)
    fast = unrolled(model)
    energy, grad = fast.energy_and_grad(cost, obs, plans, terminal)
    assert float(want_grad.abs().max()) > 1e-3  # a gradient worth comparing
    torch.testing.assert_close(energy, want_energy, rtol=3e-5, atol=1e-5)  # float32 sums of terms up to ~100
    torch.testing.assert_close(grad, want_grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        fast.energy(cost, obs, plans, terminal),
        rollout_cost(model, cost, obs, plans, terminal).detach(),
        rtol=3e-5,
        atol=1e-5,
    )
    if terminal is not None:  # the value counts: it changes energy and gradient
        plain, plain_grad = energy_and_grad(model, cost, obs, plans)
        assert float((want_energy - plain).abs().max()) > 1e-3 and float((want_grad - plain_grad).abs().max()) > 1e-5


def test_models_without_the_fast_path_fall_back_to_autograd():
    assert unrolled(LinearModel()) is None
    assert unrolled(ForwardModel(3, 1, 16, 2, dropout=0.1)) is None
    assert unrolled(ForwardModel(3, 1, 16, 0)) is None  # no hidden layer
