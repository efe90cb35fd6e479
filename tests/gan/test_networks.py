"""DCGAN, EBGAN and MLP networks: shapes for every supported size, initialisation, bad sizes."""

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.gan.networks import (
    ConvAutoEncoderCritic,
    DCGANCritic,
    DCGANGenerator,
    MLPAutoEncoderCritic,
    MLPCritic,
    MLPGenerator,
    image_plan,
)


@pytest.mark.parametrize("size,channels", [(8, 1), (28, 1), (32, 3), (64, 1)])
def test_dcgan_shapes(size, channels):
    G = DCGANGenerator(nz=10, ngf=4, channels=channels, image_size=size)
    x = G(torch.randn(3, 10))
    assert x.shape == (3, channels, size, size) and float(x.detach().abs().max()) <= 1.0
    for critic in (
        DCGANCritic(4, channels, size),
        DCGANCritic(4, channels, size, norm="none"),
        ConvAutoEncoderCritic(4, channels, size),
    ):
        assert critic(x).shape == (3,)
    energy, code = ConvAutoEncoderCritic(4, channels, size).forward_with_code(x)
    assert bool((energy >= 0).all()) and code.shape[0] == 3


def test_dcgan_layers_follow_the_paper():
    G, D = DCGANGenerator(100, 64, 1, 64), DCGANCritic(64, 1, 64)
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [512, 256, 128, 64, 1]
    assert isinstance(list(G.modules())[-1], torch.nn.Tanh)
    assert abs(float(convs[1].weight.detach().std()) - 0.02) < 0.002
    leaky = [m for m in D.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(leaky) == 4 and all(m.negative_slope == 0.2 for m in leaky)
    assert not isinstance(D.features[1], torch.nn.BatchNorm2d)  # none after the first convolution
    assert image_plan(28) == (7, 2) and image_plan(64) == (4, 4)


def test_bad_image_sizes_are_config_errors():
    for size in (30, 7, 4, 48):
        with pytest.raises(ConfigError, match="does not suit"):
            DCGANGenerator(image_size=size)
    with pytest.raises(ConfigError, match="critic norm"):
        DCGANCritic(norm="layer")


def test_mlps_for_points():
    G = MLPGenerator(nz=5, hidden=16, layers=2)
    y = G(torch.randn(7, 5))
    assert y.shape == (7, 2)
    assert MLPCritic(hidden=8)(y).shape == (7,)
    energy, code = MLPAutoEncoderCritic(hidden=8, code=3).forward_with_code(y)
    assert energy.shape == (7,) and code.shape == (7, 3) and bool((energy >= 0).all())


def test_packed_critic_judges_packs_of_samples():
    from ebmlab.gan.losses import gradient_penalty
    from ebmlab.gan.networks import Packed

    critic = Packed(MLPCritic(dim=4, hidden=8), 2)
    y = torch.randn(6, 2)
    assert critic(y).shape == (3,)
    inner = critic.critic(y.reshape(3, 4))
    torch.testing.assert_close(critic(y), inner)
    images = Packed(DCGANCritic(4, 2, 28), 2)(torch.randn(4, 1, 28, 28))
    assert images.shape == (2,)
    with pytest.raises(ConfigError, match="packs of 2"):
        critic(torch.randn(5, 2))
    # the penalty is taken per pack: a linear packed critic with unit slope has none
    unit = Packed(lambda y: y @ torch.tensor([0.6, 0.0, 0.0, 0.8]), 2)
    assert gradient_penalty(unit, torch.randn(8, 2), torch.randn(8, 2)).item() < 1e-10
