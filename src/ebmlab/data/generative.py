"""Training data of the generative models (GANs, VAE): a 2-D mixture sample or an image set.

``generative_data(name, ...)`` returns the training tensor X (N×2 points, or
N×C×S×S images in [−1, 1]) with what evaluation needs: the mixture (for mode
statistics) or the image set (for classifier-feature metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ebmlab.data.images import IMAGE_SOURCES, ImageSet, load_images
from ebmlab.data.mixtures import MIXTURES, Mixture, mixture

__all__ = ["GENERATIVE_DATA", "GenerativeData", "generative_data", "is_points"]

GENERATIVE_DATA = (*MIXTURES, *IMAGE_SOURCES)


def is_points(name: str) -> bool:
    """True for the 2-D mixtures."""
    return name in MIXTURES


@dataclass(frozen=True)
class GenerativeData:
    x: torch.Tensor
    mixture: Mixture | None = None
    images: ImageSet | None = None


def generative_data(
    name: str, n_train: int = 100000, seed: int = 0, image_size: int = 0, data_dir: str | None = None, channels: int = 1
) -> GenerativeData:
    """``n_train`` points of a mixture (drawn with ``seed``), or the training split of an image set."""
    if is_points(name):
        mix = mixture(name)
        return GenerativeData(mix.sample(n_train, torch.Generator().manual_seed(seed)), mixture=mix)
    images = load_images(name, "train", image_size, data_dir, channels)
    return GenerativeData(images.images, images=images)
