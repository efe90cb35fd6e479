"""Classification baselines for the DrSAE benchmark.

Rolfe & LeCun (ICLR 2013, arXiv:1301.3775) compare DrSAE with networks of the
same size. We train, with the same optimiser, learning-rate schedule, batch
size and number of epochs as DrSAE:

* :class:`LogisticRegression`: p(y|x) = softmax(W x + c) on the pixels;
* :class:`MLP`: one hidden layer of rectified linear units of the same width
  as the DrSAE code, softmax(W₂ max(0, W₁ x + c₁) + c₂);
* :class:`CodeClassifier`: softmax(W z + c) on fixed sparse codes z, e.g. the
  codes a trained LISTA encoder (amortised inference of the Lasso energy)
  predicts; the encoder is frozen, only W and c learn.

All take rows x (N×n) or images (N×C×H×W, flattened) and return logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.data import epoch_batches
from ebmlab.errors import ConfigError
from ebmlab.sparse.optim import lr_factor, make_optimizer

__all__ = ["LogisticRegression", "MLP", "CodeClassifier", "train_classifier"]


def _rows(x: Tensor) -> Tensor:
    return x if x.dim() == 2 else x.reshape(x.shape[0], -1)


class LogisticRegression(nn.Module):
    """Multinomial logistic regression on the input: logits = W x + c."""

    def __init__(self, n_input: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_input, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(_rows(x))


class MLP(nn.Module):
    """One hidden layer of ReLU units: logits = W₂ max(0, W₁ x + c₁) + c₂."""

    def __init__(self, n_input: int, hidden: int, n_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_input, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.hidden(_rows(x))))


class CodeClassifier(nn.Module):
    """A linear classifier on the codes of a frozen encoder: logits = W enc(x) + c.

    ``encoder`` maps rows N×n to codes N×m; it is not trained (no gradient
    flows into it). Pass pre-computed codes to :meth:`classify_codes`.
    """

    def __init__(self, encoder: Callable[[Tensor], Tensor] | None, n_codes: int, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.linear = nn.Linear(n_codes, n_classes)

    def classify_codes(self, z: Tensor) -> Tensor:
        return self.linear(z)

    def forward(self, x: Tensor) -> Tensor:
        if self.encoder is None:
            raise ConfigError("this CodeClassifier has no encoder; call classify_codes on codes")
        with torch.no_grad():
            z = self.encoder(_rows(x))
        return self.linear(z)


@torch.no_grad()
def _accuracy(forward: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, batch_size: int = 2000) -> float:
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((forward(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / max(1, x.shape[0])


def train_classifier(
    forward_module: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str = "adam",
    seed: int = 0,
    constant_epochs: int = 0,
    lr_decay: str = "cosine",
    weight_decay: float = 0.0,
    input_dropout: float = 0.0,
    forward: Callable[[Tensor], Tensor] | None = None,
    x_test: Tensor | None = None,
    y_test: Tensor | None = None,
    log: Callable[[int, dict], None] | None = None,
) -> dict[str, float]:
    """Minimise the mean logistic loss of ``forward(x)`` by mini-batch descent.

    The data order comes from :func:`ebmlab.data.epoch_batches` (seed, epoch),
    the learning rate stays constant for ``constant_epochs`` and then follows
    a cosine decay, as in the DrSAE loop. ``forward`` defaults to the module;
    for :class:`CodeClassifier` on pre-computed codes pass its
    ``classify_codes`` and give the codes as ``x``. ``weight_decay`` and
    ``input_dropout`` regularise as in DrSAE's training (see
    :func:`make_optimizer`; a fraction of the inputs dropped at each step). Returns
    ``train_accuracy`` (and ``test_accuracy`` when test data is given) plus
    the last epoch's mean ``train_loss``.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"epochs and batch_size must be ≥ 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    forward = forward or forward_module
    params = [p for p in forward_module.parameters() if p.requires_grad]
    opt = make_optimizer(params, optimizer, lr, weight_decay=weight_decay)
    n = x.shape[0]
    per_epoch = n // batch_size
    total = epochs * per_epoch
    step = 0
    last = 0.0
    for epoch in range(epochs):
        loss_sum = 0.0
        for idx in epoch_batches(n, batch_size, seed, epoch):
            for g in opt.param_groups:
                g["lr"] = lr * lr_factor(step, constant_epochs * per_epoch, total, lr_decay)
            xb = F.dropout(x[idx], input_dropout) if input_dropout > 0 else x[idx]
            loss = F.cross_entropy(forward(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
        last = loss_sum / max(1, per_epoch)
        if log is not None:
            entry = {"train_loss": last}
            if x_test is not None and y_test is not None:
                entry["test_accuracy"] = _accuracy(forward, x_test, y_test)
            log(epoch + 1, entry)
    out = {"train_loss": last, "train_accuracy": _accuracy(forward, x, y)}
    if x_test is not None and y_test is not None:
        out["test_accuracy"] = _accuracy(forward, x_test, y_test)
    return out
