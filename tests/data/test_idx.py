import gzip

import numpy as np
import pytest

from ebmlab.data.idx import encode_idx, parse_idx, read_idx, write_idx
from ebmlab.errors import DataError


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_round_trip_uint8(tmp_path, suffix):
    array = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / f"images{suffix}", array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == (7, 28, 28)
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_wider_types_are_big_endian_on_disk(dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    data = encode_idx(array)
    body = np.frombuffer(data[4 + 4 * 3 :], dtype=np.dtype(dtype).newbyteorder(">"))
    np.testing.assert_array_equal(body.reshape(2, 3, 4), array)
    np.testing.assert_array_equal(parse_idx(data), array)


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(encode_idx(array)))
    np.testing.assert_array_equal(read_idx(path), array)


def _raises(data, match, name="f.idx"):
    with pytest.raises(DataError, match=match) as info:
        parse_idx(data, source=name)
    assert name in str(info.value)


def test_truncated_body():
    data = encode_idx(np.zeros((3, 4, 4), dtype=np.uint8))
    _raises(data[:-5], r"truncated: header says shape \(3, 4, 4\)")


def test_padded_body():
    data = encode_idx(np.zeros((3, 4, 4), dtype=np.uint8))
    _raises(data + b"\0", "padded with extra bytes")


def test_bad_magic():
    data = bytearray(encode_idx(np.zeros(4, dtype=np.uint8)))
    data[0] = 0x50
    _raises(bytes(data), "not an IDX file: magic number")


def test_unknown_element_type():
    data = bytearray(encode_idx(np.zeros(4, dtype=np.uint8)))
    data[2] = 0x0A
    _raises(bytes(data), "unknown IDX element type 0x0a")


def test_header_truncated_and_tiny_files():
    data = encode_idx(np.zeros((2, 2, 2), dtype=np.uint8))
    _raises(data[:9], "truncated inside its IDX header")
    _raises(b"\0\0", "too short")


def test_truncated_gzip_names_file(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.ones((50, 28, 28), dtype=np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="not a valid gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nothing.gz")
