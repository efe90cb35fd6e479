"""ZCA whitening fitted on a sample of rows.

For rows x ∈ R^d with mean μ and covariance C = (1/N) Σ (x − μ)(x − μ)ᵀ = U Λ Uᵀ,
ZCA ("zero-phase component analysis", Bell & Sejnowski 1997) maps

    x ↦ W (x − μ),   W = U (Λ + εI)^(-1/2) Uᵀ,

the whitening transform closest to the identity, so whitened patches still
look like (edge-enhanced) patches. With ε → 0 the whitened covariance is the
identity on the span of the data; ε damps directions of variance below ε.
ε is given relative to the mean eigenvalue: ε = eps · tr(C) / d.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ebmlab.errors import DataError


@dataclass(frozen=True)
class Whitening:
    """A fitted ZCA transform: ``apply(x) = (x − mean) @ matrix`` (matrix is symmetric)."""

    mean: torch.Tensor  # d
    matrix: torch.Tensor  # d×d, W = U (Λ + εI)^(-1/2) Uᵀ
    inverse: torch.Tensor  # d×d, W⁻¹ = U (Λ + εI)^(1/2) Uᵀ, maps whitened rows back
    eps: float  # the absolute ε added to the eigenvalues

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Whiten rows x (N×d)."""
        return (x - self.mean.to(x.dtype)) @ self.matrix.to(x.dtype)

    def undo(self, y: torch.Tensor) -> torch.Tensor:
        """Map whitened rows (or dictionary atoms as rows) back to pixel space."""
        return y @ self.inverse.to(y.dtype) + self.mean.to(y.dtype)


def zca_fit(x: torch.Tensor, eps: float = 1e-2, keep_variance: float = 1.0) -> Whitening:
    """Fit ZCA whitening on rows x (N×d); ``eps`` is relative to the mean eigenvalue.

    With ``keep_variance`` < 1 only the leading principal components that hold that
    fraction of the variance are kept (the others are set to zero): a low-pass ZCA whose
    output stays in pixel space, so local structure survives (``inverse`` maps back the
    kept components only).
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataError(f"ZCA needs a matrix of at least 2 rows, got shape {tuple(x.shape)}")
    if eps <= 0:
        raise DataError(f"ZCA eps must be > 0, got {eps}")
    x64 = x.to(torch.float64)
    mean = x64.mean(0)
    centred = x64 - mean
    cov = centred.T @ centred / x64.shape[0]
    evals, evecs = torch.linalg.eigh(cov)
    evals = evals.clamp_min(0)
    eps_abs = eps * float(evals.mean())
    if eps_abs == 0:
        raise DataError("ZCA cannot be fitted on rows that are all equal")
    if not 0 < keep_variance <= 1:
        raise DataError(f"keep_variance must be in (0, 1], got {keep_variance}")
    if keep_variance < 1:  # eigh sorts ascending: drop the weakest components beyond keep_variance
        share = torch.flip(evals, [0]).cumsum(0) / evals.sum()
        k = int(torch.searchsorted(share, torch.tensor(keep_variance, dtype=share.dtype))) + 1
        evals, evecs = evals[-k:], evecs[:, -k:]
    scale = evals + eps_abs
    matrix = (evecs * scale.rsqrt()) @ evecs.T
    inverse = (evecs * scale.sqrt()) @ evecs.T
    return Whitening(mean=mean.float(), matrix=matrix.float(), inverse=inverse.float(), eps=eps_abs)


def pca_fit(x: torch.Tensor, keep_variance: float = 0.9) -> Whitening:
    """PCA whitening with dimension reduction, fitted on rows x (N×d).

    Keeps the k leading principal components that hold ``keep_variance`` of the
    variance and scales each to unit variance: ``apply`` maps rows to N×k,
    ``inverse`` (k×d) maps whitened rows or atoms back to pixel space. Dropping
    the weak (high-frequency) components is what lets sparse and topographic
    models on natural patches learn smooth Gabor-like filters (Hyvärinen et al.,
    Natural Image Statistics, 2009, ch. 5).
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataError(f"PCA needs a matrix of at least 2 rows, got shape {tuple(x.shape)}")
    if not 0 < keep_variance <= 1:
        raise DataError(f"keep_variance must be in (0, 1], got {keep_variance}")
    x64 = x.to(torch.float64)
    mean = x64.mean(0)
    centred = x64 - mean
    evals, evecs = torch.linalg.eigh(centred.T @ centred / x64.shape[0])
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    if float(evals.sum()) == 0:
        raise DataError("PCA cannot be fitted on rows that are all equal")
    k = int((evals.cumsum(0) / evals.sum() < keep_variance - 1e-12).sum()) + 1
    k = min(k, int((evals > 1e-12 * evals[0]).sum()))
    matrix = evecs[:, :k] * evals[:k].rsqrt()
    inverse = (evecs[:, :k] * evals[:k].sqrt()).T
    return Whitening(mean=mean.float(), matrix=matrix.float(), inverse=inverse.float(), eps=0.0)
