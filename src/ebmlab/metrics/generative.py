"""One evaluation for every generative model: mode statistics on 2-D mixtures, feature metrics on images.

``evaluate_samples(fake, data)`` with ``data`` an :class:`ebmlab.data.generative.GenerativeData`:
- 2-D mixture: ``modes_captured``, ``high_quality``, ``reverse_kl`` (:mod:`ebmlab.metrics.modes`);
- labelled image set: ``fd``, ``precision``, ``recall``, ``density``, ``coverage``, ``diversity``
  and ``feature_classifier_accuracy`` (:mod:`ebmlab.metrics.images`);
- a folder of images (no labels, so no classifier): ``diversity`` in pixel space.
"""

from __future__ import annotations

import torch

from ebmlab.metrics.images import diversity, image_metrics
from ebmlab.metrics.modes import mode_stats

__all__ = ["evaluate_samples"]


def evaluate_samples(
    fake: torch.Tensor, data, data_dir: str | None = None, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Metrics of generated samples ``fake`` against the training data ``data`` (see the module doc)."""
    if data.mixture is not None:
        return mode_stats(fake, data.mixture.centers, data.mixture.sigma).as_metrics()
    if data.images.labels is None:
        return {"diversity": diversity(fake, data.images.images)}
    return image_metrics(fake, data.images.name, data_dir, device=device)
