"""The container every labelled image set is returned in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ebmlab.errors import DataError


@dataclass(frozen=True)
class LabelledImages:
    """Images with class labels.

    images: float32 tensor N×1×H×W with values in [0, 1];
    labels: int64 tensor N with values in range(len(classes));
    classes: the class names, index = label;
    name, split: where the set came from (e.g. "mnist", "train").
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    split: str = "train"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """C×H×W of one image."""
        return tuple(self.images.shape[1:])

    def flat(self) -> torch.Tensor:
        """The images as rows: N×(C·H·W)."""
        return self.images.reshape(len(self), -1)


def from_uint(
    pixels: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    name: str,
    split: str,
    max_value: float,
    source: str,
) -> LabelledImages:
    """Build a LabelledImages from N×H×W integer pixels in [0, max_value].

    Scales pixels as x = p / max_value and checks that image and label counts
    agree and that every label is a valid class index.
    """
    if pixels.ndim != 3:
        raise DataError(f"{source}: expected N×H×W images, got shape {pixels.shape}")
    if labels.ndim != 1:
        raise DataError(f"{source}: expected a vector of labels, got shape {labels.shape}")
    if len(pixels) != len(labels):
        raise DataError(
            f"{source}: {len(pixels)} images but {len(labels)} labels; the image and label files do not belong together"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(
            f"{source}: labels must lie in 0..{len(classes) - 1}, found {int(labels.min())}..{int(labels.max())}"
        )
    scaled = pixels.astype(np.float32)  # a fresh, writable copy
    scaled /= np.float32(max_value)
    images = torch.from_numpy(scaled)
    return LabelledImages(
        images=images.unsqueeze(1),
        labels=torch.from_numpy(np.array(labels, dtype=np.int64)),  # a writable copy
        classes=list(classes),
        name=name,
        split=split,
    )
