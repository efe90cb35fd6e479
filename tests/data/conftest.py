"""Shared fixtures: an isolated data environment and small IDX datasets written on the fly."""

import numpy as np
import pytest

from ebmlab.data import locate
from ebmlab.data.idx import write_idx
from ebmlab.data.idx_sets import FILES


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No EBMLAB_DATA, an empty cache and system folder under tmp_path, downloads allowed."""
    monkeypatch.delenv("EBMLAB_DATA", raising=False)
    monkeypatch.delenv("EBMLAB_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(locate, "SYSTEM_DATASETS", tmp_path / "system")
    return tmp_path


def write_idx_set(folder, n_train=12, n_test=5, seed=0, gz=True, hw=(28, 28)):
    """Write the four IDX files of a tiny MNIST-like set; return {stem: array}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = FILES[split]
        arrays[images] = rng.integers(0, 256, size=(n, *hw), dtype=np.uint8)
        arrays[labels] = rng.integers(0, 10, size=n, dtype=np.uint8)
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


@pytest.fixture
def idx_set():
    """The function write_idx_set, for tests that build IDX folders."""
    return write_idx_set
