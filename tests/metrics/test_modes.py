"""Mode statistics of 2-D samples against hand-computed cases."""

import math

import pytest
import torch

from ebmlab.data.mixtures import mixture
from ebmlab.errors import DataError
from ebmlab.metrics.modes import mode_stats


def test_mixtures_match_their_definitions():
    ring, grid = mixture("ring8"), mixture("grid25")
    assert ring.centers.shape == (8, 2) and ring.sigma == 0.01
    torch.testing.assert_close(ring.centers.norm(dim=1), torch.ones(8))
    assert grid.centers.shape == (25, 2) and grid.sigma == 0.05
    assert sorted(set(grid.centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x = ring.sample(4000, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2)
    assert (x.norm(dim=1) - 1).abs().max() < 0.06
    with pytest.raises(DataError, match="unknown 2-D mixture"):
        mixture("spiral")


def test_hand_computed_counts_quality_and_reverse_kl():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    samples = torch.tensor([[0.1, 0.0], [0.0, 0.2], [10.0, 0.25], [5.0, 5.0], [10.0, 0.31], [0.0, 0.0]])
    s = mode_stats(samples, centers, sigma=0.1)  # high quality: within 0.3 of the nearest mode
    assert s.counts == (3, 1, 0, 0)
    assert s.modes_captured == 2
    assert s.high_quality == pytest.approx(4 / 6)
    want = 0.75 * math.log(0.75 / 0.25) + 0.25 * math.log(0.25 / 0.25)
    assert s.reverse_kl == pytest.approx(want)


def test_a_sample_of_the_mixture_is_healthy_and_one_mode_is_collapse():
    ring = mixture("ring8")
    good = mode_stats(ring.sample(2500, torch.Generator().manual_seed(1)), ring.centers, ring.sigma)
    assert good.modes_captured == 8 and good.high_quality > 0.98 and good.reverse_kl < 0.01
    one = ring.centers[3] + 0.005 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(2))
    bad = mode_stats(one, ring.centers, ring.sigma)
    assert bad.modes_captured == 1 and bad.reverse_kl == pytest.approx(math.log(8))


def test_bad_samples():
    with pytest.raises(DataError, match="N×2"):
        mode_stats(torch.zeros(5, 3), torch.zeros(2, 2), 0.1)
