"""Linear probe: how linearly separable the classes are in a feature space.

A multinomial logistic regression (one linear layer, cross-entropy, Adam with a
small weight decay) is trained on standardised features of the training set
(each dimension shifted and scaled by its training mean and standard deviation)
and scored on the test set. Features are frozen: only the linear layer learns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ebmlab.errors import DataError

__all__ = ["ProbeResult", "linear_probe"]


@dataclass(frozen=True)
class ProbeResult:
    test_accuracy: float
    train_accuracy: float
    dims: int


def _accuracy(clf: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> float:
    with torch.no_grad():
        hits = sum(int((clf(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return hits / max(1, len(x))


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    epochs: int = 15,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> ProbeResult:
    """Train a linear classifier on frozen features (N×d, any trailing shape) and score it.

    The learning rate follows a cosine decay over the epochs; mini-batch order is
    drawn from ``seed``, so equal inputs give equal results on CPU.
    """
    train_x, test_x = train_x.flatten(1).float(), test_x.flatten(1).float()
    if train_x.shape[1] != test_x.shape[1]:
        raise DataError(f"train and test features differ in size: {train_x.shape[1]} vs {test_x.shape[1]}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DataError("features and labels differ in length")
    mean, std = train_x.mean(0), train_x.std(0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    device = torch.device(device)
    xs = ((train_x - mean) / std).to(device)
    xt = ((test_x - mean) / std).to(device)
    ys, yt = train_y.long().to(device), test_y.long().to(device)
    n_classes = int(max(int(ys.max()), int(yt.max()))) + 1
    g = torch.Generator().manual_seed(seed)
    clf = torch.nn.Linear(xs.shape[1], n_classes).to(device)
    with torch.no_grad():
        clf.weight.copy_(torch.randn(clf.weight.shape, generator=g) * 0.01)
        clf.bias.zero_()
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=weight_decay)
    per_epoch = (len(xs) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * per_epoch)
    for _ in range(epochs):
        order = torch.randperm(len(xs), generator=g).to(device)
        for i in range(0, len(xs), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(clf(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return ProbeResult(test_accuracy=_accuracy(clf, xt, yt), train_accuracy=_accuracy(clf, xs, ys), dims=xs.shape[1])
