"""Sample quality of image generators in a feature space: Fréchet distance, precision/recall/density/coverage.

- Fréchet distance (Heusel et al., 2017) between Gaussians fitted to real and
  generated features: ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r^{1/2} Σ_g Σ_r^{1/2})^{1/2}).
  Computed in the evaluation classifier's features (:mod:`ebmlab.metrics.features`),
  not Inception's, so its values are comparable only within one dataset and size.
- Precision, recall, density and coverage (Naeem, Oh, Uh, Choi & Yoo, ICML 2020)
  with k-nearest-neighbour balls (k = 5): precision is the share of generated
  samples inside some real sample's ball; recall the share of real samples inside
  some generated sample's ball; density counts, per generated sample, the real
  balls holding it, divided by k; coverage is the share of real balls holding at
  least one generated sample.
- Diversity: mean pairwise distance among generated features over the same
  among real ones (:func:`ebmlab.gan.diagnostics`' mode-collapse signal).
"""

from __future__ import annotations

import numpy as np
import torch

from ebmlab.errors import DataError

__all__ = ["frechet_distance", "prdc", "diversity", "image_metrics"]


def _stats(f: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    x = f.detach().double().cpu().numpy()
    return x.mean(0), np.cov(x, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N×d, M×d)."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise DataError(f"feature sets must be N×d and M×d, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if len(real) < 2 or len(fake) < 2:
        raise DataError("the Fréchet distance needs at least 2 samples per set")
    mu_r, cov_r = _stats(real)
    mu_g, cov_g = _stats(fake)
    root = _sqrt_psd(cov_r)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cov_g @ root), 0, None)).sum()
    return float(((mu_r - mu_g) ** 2).sum() + np.trace(cov_r) + np.trace(cov_g) - 2 * cross)


def _kth_distance(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance of every row of x to its k-th nearest other row."""
    out = []
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i : i + chunk], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the row itself (distance 0)
    return torch.cat(out)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5, chunk: int = 2048) -> dict[str, float]:
    """Precision, recall, density and coverage with k-NN balls (see the module doc)."""
    real, fake = real.detach().double().cpu(), fake.detach().double().cpu()
    if len(real) <= k or len(fake) <= k:
        raise DataError(f"precision/recall need more than k = {k} samples per set")
    r_radius, f_radius = _kth_distance(real, k, chunk), _kth_distance(fake, k, chunk)
    inside_count = torch.zeros(len(fake))  # per fake: real balls holding it
    covered = torch.zeros(len(real), dtype=torch.bool)
    for i in range(0, len(fake), chunk):
        d = torch.cdist(fake[i : i + chunk], real)  # fake × real
        inside = d <= r_radius[None, :]
        inside_count[i : i + chunk] = inside.sum(1).double()
        covered |= (d < r_radius[None, :]).any(0)
    recall_hits = torch.zeros(len(real), dtype=torch.bool)
    for i in range(0, len(real), chunk):
        d = torch.cdist(real[i : i + chunk], fake)  # real × fake
        recall_hits[i : i + chunk] = (d <= f_radius[None, :]).any(1)
    return {
        "precision": float((inside_count > 0).double().mean()),
        "recall": float(recall_hits.double().mean()),
        "density": float(inside_count.mean() / k),
        "coverage": float(covered.double().mean()),
    }


def diversity(fake: torch.Tensor, real: torch.Tensor, n: int = 2000) -> float:
    """Mean pairwise distance among (up to n) generated features over the same among real features."""

    def spread(f: torch.Tensor) -> float:
        f = f[:n].flatten(1).double()
        m = len(f)
        return float(torch.cdist(f, f).sum() / max(m * (m - 1), 1))

    return spread(fake) / max(spread(real), 1e-12)


def image_metrics(
    fake: torch.Tensor, dataset: str, data_dir: str | None = None, k: int = 5, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """fd, precision, recall, density, coverage and diversity of generated images (N×C×S×S in [−1, 1])
    against as many test images of ``dataset``, in its evaluation classifier's features."""
    from ebmlab.data.images import load_images
    from ebmlab.metrics.features import feature_extractor

    if fake.ndim != 4:
        raise DataError(f"generated images must be N×C×H×W, got shape {tuple(fake.shape)}")
    size = fake.shape[-1]
    extract = feature_extractor(dataset, size, data_dir, device)
    real = load_images(dataset, "test", size, data_dir).images[: len(fake)]
    f_real, f_fake = extract(real), extract(fake.clamp(-1, 1))
    return {
        "fd": frechet_distance(f_real, f_fake),
        **prdc(f_real, f_fake, k),
        "diversity": diversity(f_fake, f_real),
        "feature_classifier_accuracy": extract.accuracy,
    }
