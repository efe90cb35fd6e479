"""Tests of the linear probe."""

import pytest
import torch

from ebmlab.errors import DataError
from ebmlab.metrics.probe import linear_probe


def test_linear_probe_separates_separable_classes_and_not_random_labels():
    g = torch.Generator().manual_seed(3)
    centres = 4 * torch.randn(3, 10, generator=g)
    y = torch.randint(3, (600,), generator=g)
    x = centres[y] + torch.randn(600, 10, generator=g)
    good = linear_probe(x[:400], y[:400], x[400:], y[400:], epochs=30, lr=1e-2)
    assert good.test_accuracy > 0.97 and good.dims == 10
    noise = linear_probe(
        torch.randn(400, 10, generator=g), y[:400], torch.randn(200, 10, generator=g), y[400:], epochs=20
    )
    assert noise.test_accuracy < 0.5
    with pytest.raises(DataError, match="differ in size"):
        linear_probe(x[:400], y[:400], x[400:, :5], y[400:])
