"""Discriminative recurrent sparse auto-encoder (DrSAE).

Rolfe & LeCun, "Discriminative Recurrent Sparse Auto-Encoders", ICLR 2013
(arXiv:1301.3775).

DrSAE is an amortised-inference encoder for a sparse-coding energy, read as an
unrolled recurrent network of rectified linear units. With an input row x
(n pixels) and m hidden units, the encoder runs T steps from z(0) = 0::

    z(t+1) = max(0, E x + S z(t) - b),        t = 0, ..., T-1

with E (m×n) the encoding matrix, S (m×m) the recurrent "explaining-away"
matrix and b (m) a positive threshold. Two linear decoders read the last
iterate z = z(T): the dictionary D (n×m, unit-norm columns) reconstructs the
input and the classifier C (classes×m) predicts the label from the
L2-normalised code. The loss of one sample is::

    L = ½‖x − D z(T)‖²  +  λ‖z(T)‖₁  +  w · logloss(C z(T)/‖z(T)‖, y)

where logloss is the multinomial logistic loss (cross-entropy of the softmax).
(Inputs may be centred, x ← x − μ with μ the mean training image; the model
keeps μ as a buffer and takes raw inputs.) The first two terms are the
regularised-latent (Lasso) energy that ISTA minimises; learning first minimises them alone (unsupervised) and then adds
the discriminative term.

Initialising at E = Dᵀ/L, S = I − DᵀD/L, b = λ/L (L the largest eigenvalue
of DᵀD) makes the encoder exactly T steps of non-negative ISTA on the energy,
the starting point the paper uses. After discriminative training the paper
finds two kinds of units (see :func:`analyse_units`):

* part-units: encoder row E_i ≈ decoder column D_i (as in ISTA), small
  self-connection S_ii; driven directly by the input; decoder columns are
  strokes/parts;
* categorical-units: a large positive self-connection S_ii, an encoder row
  unlike the decoder column, a decoder column that looks like a whole
  prototype of one class, and an activity that builds up over the iterations
  through the part-units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.errors import ConfigError, DataError

__all__ = ["DrSAE", "DrsaeLoss", "UnitAnalysis", "analyse_units", "otsu_threshold"]

_EPS = 1e-8


@dataclass
class DrsaeLoss:
    """The terms of the DrSAE loss, each a mean over the batch (scalar tensors).

    ``reconstruction`` = mean ½‖x − D z‖², ``sparsity`` = mean λ‖z‖₁,
    ``classification`` = mean logistic loss of C z/‖z‖ (zero when no labels),
    ``total`` = reconstruction + sparsity + w · classification.
    """

    reconstruction: Tensor
    sparsity: Tensor
    classification: Tensor
    total: Tensor
    logits: Tensor | None = None


def _flatten(x: Tensor, n_input: int) -> Tensor:
    """Images N×C×H×W (or rows N×n) -> rows N×n; a clear error on a mismatch."""
    if x.dim() != 2:
        x = x.reshape(x.shape[0], -1)
    if x.shape[1] != n_input:
        raise DataError(
            f"DrSAE expects inputs with {n_input} values per sample, got {x.shape[1]}; "
            "use a model built for this data (n_input) or the matching dataset"
        )
    return x


class DrSAE(nn.Module):
    """Discriminative recurrent sparse auto-encoder (Rolfe & LeCun, ICLR 2013).

    Parameters (paper notation): ``E`` m×n encoder, ``S`` m×m recurrent
    explaining-away matrix, ``b`` m thresholds, ``D`` n×m decoder (dictionary,
    unit-norm columns) and ``C`` classes×m classifier.

    Args:
        n_input: n, values per input (784 for 28×28 images).
        n_units: m, hidden units (400 in the paper).
        n_classes: number of classes of the classifier C.
        steps: T, the number of encoder iterations (11 in the paper).
        lam: λ, the weight of the L1 penalty on z(T).
        dictionary: an optional n×m initial dictionary; a random Gaussian one
            (drawn from torch's global RNG) otherwise. Columns are normalised.

    The initial encoder is T steps of non-negative ISTA on ½‖x − Dz‖² + λ‖z‖₁:
    E = Dᵀ/L, S = I − DᵀD/L, b = λ/L.
    """

    def __init__(
        self,
        n_input: int = 784,
        n_units: int = 400,
        n_classes: int = 10,
        steps: int = 11,
        lam: float = 0.3,
        dictionary: Tensor | None = None,
    ) -> None:
        super().__init__()
        if n_input < 1 or n_units < 1 or n_classes < 2:
            raise ConfigError(
                f"DrSAE needs n_input ≥ 1, n_units ≥ 1 and n_classes ≥ 2, got {n_input}, {n_units}, {n_classes}"
            )
        if steps < 0:
            raise ConfigError(f"DrSAE steps T must be ≥ 0, got {steps}")
        if lam < 0:
            raise ConfigError(f"DrSAE lam (λ) must be ≥ 0, got {lam}")
        self.n_input, self.n_units, self.n_classes = n_input, n_units, n_classes
        self.steps, self.lam = steps, float(lam)
        if dictionary is None:
            dictionary = torch.randn(n_input, n_units)
        if tuple(dictionary.shape) != (n_input, n_units):
            raise DataError(
                f"initial dictionary must be {n_input}×{n_units} (n_input×n_units), got {tuple(dictionary.shape)}"
            )
        D = dictionary.detach().to(torch.float32).clone()
        D = D / D.norm(dim=0, keepdim=True).clamp_min(_EPS)
        gram = D.T @ D
        L = float(torch.linalg.eigvalsh(gram)[-1])
        self.D = nn.Parameter(D)
        self.E = nn.Parameter(D.T.clone() / L)
        self.S = nn.Parameter(torch.eye(n_units) - gram / L)
        self.b = nn.Parameter(torch.full((n_units,), self.lam / L))
        self.C = nn.Parameter(torch.zeros(n_classes, n_units))
        # μ, subtracted from every input before inference (zero: no centring)
        self.register_buffer("input_mean", torch.zeros(n_input))

    @torch.no_grad()
    def set_input_mean(self, mean: Tensor) -> None:
        """Centre inputs: the model encodes and reconstructs x − μ (μ: n values)."""
        mean = mean.reshape(-1)
        if mean.numel() != self.n_input:
            raise DataError(f"input mean must have {self.n_input} values, got {mean.numel()}")
        self.input_mean.copy_(mean.to(self.input_mean))

    # ------------------------------------------------------------------ inference
    def encode(self, x: Tensor, steps: int | None = None, return_all: bool = False) -> Tensor:
        """Amortised inference: z(t+1) = max(0, E x + S z(t) − b), z(0) = 0.

        Args:
            x: N×n rows (or N×C×H×W images, flattened).
            steps: T (default: the model's). T = 0 gives z = 0.
            return_all: return every iterate z(0..T) as a (T+1)×N×m tensor
                instead of z(T) (N×m).
        """
        x = _flatten(x, self.n_input) - self.input_mean
        T = self.steps if steps is None else int(steps)
        if T < 0:
            raise ConfigError(f"steps must be ≥ 0, got {T}")
        drive = x @ self.E.T - self.b  # E x − b, computed once
        z = torch.zeros_like(drive)
        iterates = [z]
        for _ in range(T):
            z = torch.relu(drive + z @ self.S.T)
            if return_all:
                iterates.append(z)
        return torch.stack(iterates) if return_all else z

    def decode(self, z: Tensor) -> Tensor:
        """Reconstruction x̂ = D z + μ (N×n rows; μ = 0 unless centred)."""
        return z @ self.D.T + self.input_mean

    def classify(self, z: Tensor) -> Tensor:
        """Class logits C z/‖z‖ (N×classes); a zero code gives zero logits."""
        return normalise_code(z) @ self.C.T

    def forward(self, x: Tensor, steps: int | None = None) -> Tensor:
        """Class logits of x after T encoder steps."""
        return self.classify(self.encode(x, steps))

    # ------------------------------------------------------------------ learning
    def loss(
        self,
        x: Tensor,
        y: Tensor | None = None,
        cls_weight: float = 1.0,
        steps: int | None = None,
        input_dropout: float = 0.0,
    ) -> DrsaeLoss:
        """The DrSAE loss terms on a batch, each averaged over the batch.

        L = ½‖x − D z(T)‖² + λ‖z(T)‖₁ + w · logloss(C z(T)/‖z(T)‖, y).
        Without labels (``y=None``) the classification term is zero and C is
        not used. With labels and ``cls_weight=0`` (the unsupervised phase) the
        term is computed and added with weight 0, so C gets an exact zero
        gradient (every parameter takes part in every step, as DDP needs).
        ``input_dropout`` p > 0 encodes x with a fraction p of its centred
        pixels dropped (set to the mean image, the rest of x − mean scaled by
        1/(1 − p)) and still reconstructs the clean x: a denoising
        regulariser for training.
        """
        x = _flatten(x, self.n_input)
        x_in = x if input_dropout == 0 else self.input_mean + F.dropout(x - self.input_mean, input_dropout)
        z = self.encode(x_in, steps)
        rec = 0.5 * (x - self.decode(z)).pow(2).sum(dim=1).mean()
        sparsity = self.lam * z.abs().sum(dim=1).mean()
        total = rec + sparsity
        logits = None
        if y is None:
            cls = torch.zeros((), device=x.device, dtype=x.dtype)
        else:
            logits = self.classify(z)
            cls = F.cross_entropy(logits, y)
            total = total + cls_weight * cls
        return DrsaeLoss(rec, sparsity, cls, total, logits)

    @torch.no_grad()
    def normalise_decoder_(self) -> None:
        """Project the dictionary back onto unit-norm columns (after each step)."""
        self.D.div_(self.D.norm(dim=0, keepdim=True).clamp_min(_EPS))


def normalise_code(z: Tensor) -> Tensor:
    """z/‖z‖ row-wise (zero rows stay zero)."""
    return z / z.norm(dim=1, keepdim=True).clamp_min(_EPS)


# ---------------------------------------------------------------------- analysis
@dataclass
class UnitAnalysis:
    """Per-unit statistics of a DrSAE and its split into part/categorical units.

    Tensors have one entry per unit (length m) unless said otherwise.

    * ``self_connection``: S_ii, the recurrent self-connection.
    * ``enc_dec_cosine``: cosine between encoder row E_i and decoder column D_i
      (≈ 1 for ISTA-like part-units).
    * ``measure``: the quantity split into two groups (S_ii).
    * ``threshold``: active units with measure > threshold are categorical.
    * ``active``: units used by at least ``min_active`` of the samples at T
      (all units when no samples were given); inactive units are neither kind.
    * ``categorical`` / ``part``: bool masks (disjoint, both within ``active``).
    * ``classifier_norm``: ‖C_{:,i}‖, how much the classifier reads unit i.
    With data: ``mean_activation`` (T+1)×m mean z_i(t) over the samples;
    ``active_fraction``: share of samples with z_i(T) > 0;
    ``buildup`` = (z̄_i(T) − z̄_i(1)) / (z̄_i(T) + z̄_i(1)) in [−1, 1] from the
    mean activities: +1 when the activity builds up from nothing over the
    iterations, 0 when the first step already gives it, −1 when it dies out;
    with labels: ``preferred_class`` (class with the largest mean z_i(T)) and
    ``selectivity`` (its share of the unit's summed class-mean activations).
    """

    self_connection: Tensor
    enc_dec_cosine: Tensor
    measure: Tensor
    threshold: float
    active: Tensor
    categorical: Tensor
    part: Tensor
    classifier_norm: Tensor
    mean_activation: Tensor | None = None
    active_fraction: Tensor | None = None
    buildup: Tensor | None = None
    preferred_class: Tensor | None = None
    selectivity: Tensor | None = None

    def summary(self) -> dict[str, float]:
        """Flat numbers for metrics.json."""
        out: dict[str, float] = {
            "n_categorical_units": int(self.categorical.sum()),
            "n_part_units": int(self.part.sum()),
            "n_inactive_units": int((~self.active).sum()),
            "unit_split_threshold": float(self.threshold),
        }
        for name, mask in (("categorical", self.categorical), ("part", self.part)):
            if not mask.any():
                continue
            out[f"{name}_mean_self_connection"] = float(self.self_connection[mask].mean())
            out[f"{name}_mean_enc_dec_cosine"] = float(self.enc_dec_cosine[mask].mean())
            out[f"{name}_mean_classifier_norm"] = float(self.classifier_norm[mask].mean())
            for key in ("active_fraction", "buildup", "selectivity"):
                values = getattr(self, key)
                if values is not None:
                    out[f"{name}_mean_{key}"] = float(values[mask].mean())
        return out


def otsu_threshold(values: Tensor, bins: int = 256) -> float:
    """The threshold that maximises the between-group variance of a 1-D sample.

    Otsu's criterion on a histogram of ``values``; for a bimodal sample it
    falls between the modes (in the middle of an empty gap between them).
    Returns a value between min and max.
    """
    v = values.detach().double().flatten()
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return hi
    hist = torch.histc(v, bins=bins, min=lo, max=hi)
    centres = lo + (torch.arange(bins, dtype=torch.float64) + 0.5) * (hi - lo) / bins
    w0 = torch.cumsum(hist, 0)
    w1 = hist.sum() - w0
    s0 = torch.cumsum(hist * centres, 0)
    m0 = s0 / w0.clamp_min(1e-12)
    m1 = (s0[-1] - s0) / w1.clamp_min(1e-12)
    between = w0 * w1 * (m0 - m1) ** 2
    between[(w0 == 0) | (w1 == 0)] = -1
    # every cut inside an empty gap scores the same: take the middle of the gap
    best = torch.nonzero(between >= between.max() * (1 - 1e-9)).flatten()
    k = 0.5 * (int(best.min()) + int(best.max()))
    return lo + (k + 1) * (hi - lo) / bins  # upper edge of the last bin of group 0


@torch.no_grad()
def analyse_units(
    model: DrSAE,
    x: Tensor | None = None,
    y: Tensor | None = None,
    threshold: float | None = None,
    min_active: float = 1e-3,
    batch_size: int = 1000,
) -> UnitAnalysis:
    """Split the units of a trained DrSAE into part- and categorical-units.

    The measure is the recurrent self-connection S_ii (Rolfe & LeCun 2013,
    Sec. 3): categorical-units integrate their input over the iterations
    through a large positive S_ii, part-units behave like ISTA units
    (E_i ≈ D_iᵀ, small S_ii). Active units with S_ii > ``threshold`` are
    categorical, the other active units are part-units; by default the
    threshold is Otsu's split of the active units' S_ii.

    With samples ``x`` (and labels ``y``) it also measures the mean activity
    of every unit at every iteration (does it build up over time?), how often
    it is used (units used by fewer than ``min_active`` of the samples, and by
    none, are inactive: their decoder columns are left unlearned) and its
    class selectivity.
    """
    E, D, S, C = model.E.detach(), model.D.detach(), model.S.detach(), model.C.detach()
    m, T = model.n_units, model.steps
    self_conn = torch.diagonal(S).clone().cpu()
    cos = ((E * D.T).sum(1) / (E.norm(dim=1) * D.norm(dim=0)).clamp_min(_EPS)).cpu()
    stats: dict[str, Tensor] = {}
    active = torch.ones(m, dtype=torch.bool)
    if x is not None:
        total = torch.zeros(T + 1, m, dtype=torch.float64)
        used = torch.zeros(m, dtype=torch.float64)
        per_class = torch.zeros(model.n_classes, m, dtype=torch.float64)
        counts = torch.zeros(model.n_classes, dtype=torch.float64)
        n = x.shape[0]
        for i in range(0, n, batch_size):
            zs = model.encode(x[i : i + batch_size].to(E.device), return_all=True).double().cpu()  # (T+1)×B×m
            total += zs.sum(1)
            used += (zs[-1] > 0).sum(0)
            if y is not None:
                yb = y[i : i + batch_size].cpu()
                per_class.index_add_(0, yb, zs[-1])
                counts += torch.bincount(yb, minlength=model.n_classes).double()
        mean_act = (total / max(n, 1)).float()
        final, first = mean_act[-1], mean_act[min(1, T)]
        fraction = (used / max(n, 1)).float()
        active = (used > 0) & (fraction >= min_active)
        stats = {
            "mean_activation": mean_act,
            "active_fraction": fraction,
            "buildup": (final - first) / (final + first).clamp_min(_EPS),
        }
        if y is not None:
            class_mean = per_class / counts.clamp_min(1).unsqueeze(1)
            stats["preferred_class"] = class_mean.argmax(0)
            stats["selectivity"] = (class_mean.max(0).values / class_mean.sum(0).clamp_min(_EPS)).float()
    measure = self_conn
    if threshold is not None:
        thr = float(threshold)
    else:
        thr = otsu_threshold(measure[active]) if active.any() else float(measure.max())
    categorical = active & (measure > thr)
    return UnitAnalysis(
        self_connection=self_conn,
        enc_dec_cosine=cos,
        measure=measure,
        threshold=thr,
        active=active,
        categorical=categorical,
        part=active & ~categorical,
        classifier_norm=C.norm(dim=0).cpu(),
        **stats,
    )
