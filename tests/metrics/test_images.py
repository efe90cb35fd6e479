"""Fréchet distance and precision/recall/density/coverage: hand-computed cases and sanity checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ebmlab.errors import DataError
from ebmlab.metrics.features import train_feature_net
from ebmlab.metrics.images import diversity, frechet_distance, prdc


def test_frechet_distance_of_gaussians_in_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(20000, 3, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    # N(0, I) vs N(μ, 4I): ‖μ‖² + Tr(I + 4I − 2·2I) = 1 + 3
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(DataError, match="N×d"):
        frechet_distance(a, b[:, :2])


def test_prdc_hand_computed():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    fake = torch.tensor([[0.5], [1.9], [20.0], [30.0]])
    # k = 1: real balls have radii 1, 1, 1, 8; fake balls 1.4, 1.4, 10, 10
    m = prdc(real, fake, k=1)
    assert m["precision"] == pytest.approx(2 / 4)  # 0.5 and 1.9 fall in real balls; 20 and 30 do not
    assert m["density"] == pytest.approx((2 + 2) / 4)  # 0.5 in the balls of 0 and 1; 1.9 in those of 1 and 2
    assert m["coverage"] == pytest.approx(3 / 4)  # the ball of 10 holds no generated sample
    assert m["recall"] == pytest.approx(4 / 4)  # 10 lies in the ball of 20 (radius 10)


def test_diversity_of_a_collapsed_set_is_small():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(500, 8, generator=g)
    assert diversity(real[:250], real[250:]) == pytest.approx(1.0, rel=0.1)
    assert diversity(real[:1].repeat(250, 1) + 0.01 * torch.randn(250, 8, generator=g), real) < 0.05


def test_distance_in_classifier_features_rises_with_noise_and_blur():
    from ebmlab.data.images import load_images

    extract = train_feature_net("digits", 8, progress=False)
    assert extract.accuracy > 0.8
    test = load_images("digits", "test", 8).images
    f_test = extract(test)
    g = torch.Generator().manual_seed(0)
    noisy = [
        frechet_distance(f_test, extract((test + s * torch.randn(test.shape, generator=g)).clamp(-1, 1)))
        for s in (0.2, 0.5)
    ]
    blurred = F.avg_pool2d(F.pad(test, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert frechet_distance(f_test, f_test) == pytest.approx(0.0, abs=1e-4)  # real vs real
    assert 0 < noisy[0] < noisy[1]
    assert frechet_distance(f_test, extract(blurred)) > 0.1
    assert prdc(f_test[:180], f_test[180:])["precision"] > 0.6
    assert np.isfinite(noisy[0])
