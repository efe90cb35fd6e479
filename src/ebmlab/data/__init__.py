"""Datasets and loaders: labelled image sets, photograph patches, batch order.

    load_dataset(name, split="train", data_dir=None) -> LabelledImages
        "digits", "mnist5k" (bundled), "mnist", "fashion-mnist" (IDX files)
    load_patches(n, size, seed, ...) -> float32 tensor n×size²
    zca_fit(x, eps) -> Whitening; pca_fit(x, keep_variance) -> Whitening (reduced)
    epoch_batches(n, batch_size, seed, epoch, rank=0, world_size=1)
    dataset_names(), availability(name, data_dir=None)

Missing, corrupt or truncated data raise ebmlab.errors.DataError.
"""

from ebmlab.data.batches import epoch_batches
from ebmlab.data.idx import read_idx, write_idx
from ebmlab.data.labelled import LabelledImages
from ebmlab.data.patches import PHOTOGRAPHS, load_patches
from ebmlab.data.registry import DATASETS, availability, dataset_names, load_dataset
from ebmlab.data.whiten import Whitening, pca_fit, zca_fit

__all__ = [
    "DATASETS",
    "LabelledImages",
    "PHOTOGRAPHS",
    "Whitening",
    "availability",
    "dataset_names",
    "epoch_batches",
    "load_dataset",
    "load_patches",
    "read_idx",
    "write_idx",
    "zca_fit",
    "pca_fit",
]
