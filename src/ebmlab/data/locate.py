"""Where IDX datasets are looked for, in order, and what was found there.

For a dataset ``name`` (e.g. "fashion-mnist") the folders searched are:

1. the ``data_dir`` argument (``--data-dir`` on the command line): first
   ``data_dir/name``, then ``data_dir`` itself;
2. the ``EBMLAB_DATA`` environment variable, the same two ways;
3. Debian's ``/usr/share/datasets/name`` (apt package dataset-fashion-mnist);
4. the download cache ``$XDG_CACHE_HOME/ebmlab/name`` (default
   ``~/.cache/ebmlab/name``).

A folder is used for a split when it holds both files of that split, each
either gzipped (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ebmlab.errors import DataError

SYSTEM_DATASETS = Path("/usr/share/datasets")


def cache_root() -> Path:
    """The download cache: $XDG_CACHE_HOME/ebmlab, or ~/.cache/ebmlab."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ebmlab"


def search_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for dataset ``name``, in order (only data_dir must exist)."""
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"--data-dir {data_dir} is not a folder; pass the folder that holds the IDX files")
    dirs: list[Path] = []
    for root in (data_dir, os.environ.get("EBMLAB_DATA") or None):
        if root is not None:
            dirs += [Path(root) / name, Path(root)]
    dirs += [SYSTEM_DATASETS / name, cache_root() / name]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists first."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_split(stems: list[str], dirs: list[Path]) -> tuple[list[Path] | None, list[str]]:
    """Find the first folder holding every file in ``stems``.

    Returns (paths, notes): paths is None when no folder has them all; notes
    describe folders that held some but not all of the files.
    """
    notes = []
    for folder in dirs:
        found = [find_file(folder, stem) for stem in stems]
        if all(found):
            return found, notes
        have = [s for s, f in zip(stems, found) if f]
        if have:
            missing = [s for s, f in zip(stems, found) if not f]
            notes.append(f"{folder} has {', '.join(have)} but lacks {', '.join(missing)}")
    return None, notes
