"""Tests of the DrSAE benchmark's baselines and the shared optimiser/schedule."""

import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.baselines import MLP, CodeClassifier, LogisticRegression, train_classifier
from ebmlab.sparse.optim import lr_factor, make_optimizer


def blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    return centres[y] + torch.randn(n, 4, generator=g), y


def test_shapes():
    x = torch.rand(5, 1, 2, 2)
    assert LogisticRegression(4, 3)(x).shape == (5, 3)
    assert MLP(4, 7, 3)(x).shape == (5, 3)
    enc = torch.nn.Linear(4, 6)
    assert CodeClassifier(enc, 6, 3)(x.reshape(5, 4)).shape == (5, 3)
    with pytest.raises(ConfigError):
        CodeClassifier(None, 6, 3)(x)


@pytest.mark.parametrize("make", [lambda: LogisticRegression(4, 3), lambda: MLP(4, 16, 3)])
def test_train_classifier_learns_separable_blobs(make):
    x, y = blobs()
    xt, yt = blobs(seed=1)
    torch.manual_seed(0)
    out = train_classifier(make(), x, y, epochs=10, batch_size=20, lr=0.05, x_test=xt, y_test=yt)
    assert out["train_accuracy"] > 0.9 and out["test_accuracy"] > 0.9


def test_code_classifier_trains_only_its_linear_layer():
    x, y = blobs()
    enc = torch.nn.Linear(4, 8)
    before = enc.weight.detach().clone()
    clf = CodeClassifier(enc, 8, 3)
    train_classifier(clf, x, y, epochs=2, batch_size=20, lr=0.05)  # no gradient reaches the encoder
    assert torch.equal(enc.weight, before)


def test_schedule_and_optimizer():
    assert lr_factor(5, 10, 100, "cosine") == 1.0
    assert lr_factor(10, 10, 100, "cosine") == 1.0
    assert math.isclose(lr_factor(55, 10, 100, "cosine"), 0.5)
    assert lr_factor(100, 10, 100, "cosine") == pytest.approx(0.0)
    assert lr_factor(70, 10, 100, "none") == 1.0
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(p, "adam", 0.1), torch.optim.Adam)
    assert isinstance(make_optimizer(p, "sgd", 0.1), torch.optim.SGD)
    with pytest.raises(ConfigError, match="optimizer"):
        make_optimizer(p, "lbfgs", 0.1)
    with pytest.raises(ConfigError, match="weight decay"):
        make_optimizer(p, "adam", 0.1, weight_decay=-1.0)


def test_weight_decay_is_decoupled_for_adam_and_l2_for_sgd():
    for name, expected in (("adam", 1 - 0.1 * 0.5), ("sgd", 1 - 0.1 * 0.5)):
        w = torch.nn.Parameter(torch.ones(3))
        opt = make_optimizer([w], name, 0.1, weight_decay=0.5)
        w.grad = torch.zeros(3)  # no loss gradient: only the decay moves w
        opt.step()
        torch.testing.assert_close(w.detach(), torch.full((3,), expected))
    assert isinstance(make_optimizer([w], "adam", 0.1, weight_decay=0.5), torch.optim.AdamW)
