"""Image sets for generative models: any labelled set or an image folder, at a chosen size, in [−1, 1].

``load_images("fashion-mnist", "train", image_size=32)`` returns float32
N×C×S×S images scaled as x ↦ 2x − 1 (the range of a tanh generator) and the
labels (None for a folder of images, which has no test split: ``"test"``
returns the same images). ``image_size`` 0 keeps the set's own size (64 for a
folder); other sizes are reached by bilinear resizing with anti-aliasing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ebmlab.data.folder import load_image_folder
from ebmlab.data.registry import DATASETS, load_dataset
from ebmlab.errors import DataError

__all__ = ["IMAGE_SOURCES", "ImageSet", "load_images"]

IMAGE_SOURCES = (*DATASETS, "folder")


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor  # N×C×S×S in [−1, 1]
    labels: torch.Tensor | None
    name: str


def load_images(
    name: str, split: str = "train", image_size: int = 0, data_dir: str | None = None, channels: int = 1
) -> ImageSet:
    """One split of ``name`` (a dataset name or ``"folder"`` with ``data_dir``) in [−1, 1]; see the module doc."""
    if name == "folder":
        if not data_dir:
            raise DataError("--data folder needs --data-dir, the folder of images")
        x = load_image_folder(data_dir, image_size or 64, channels=channels)
        return ImageSet(2 * x - 1, None, f"folder:{data_dir}")
    if name not in DATASETS:
        raise DataError(f"unknown image set {name!r}; known: {', '.join(IMAGE_SOURCES)}")
    data = load_dataset(name, split, data_dir=data_dir or None)
    x = data.images.float()
    if image_size and image_size != x.shape[-1]:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return ImageSet((2 * x - 1).clamp(-1, 1), data.labels, name)
