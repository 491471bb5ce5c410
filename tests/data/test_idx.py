"""read_idx: MNIST's IDX format, raw or gzipped, against files written here by an independent writer."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from ganlab.data.idx import read_idx

FASHION = Path("/usr/share/datasets/fashion-mnist")
# type byte -> the big-endian format of one value, written out by hand (not taken from ganlab.data.idx)
_FORMATS = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def idx_bytes(values: list, shape: tuple[int, ...], type_byte: int = 0x08) -> bytes:
    """The IDX encoding of `values` (row-major) of `shape`: 0 0 type ndim, big-endian uint32 sizes, big-endian data."""
    head = bytes([0, 0, type_byte, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return head + struct.pack(f">{len(values)}{_FORMATS[type_byte]}", *values)


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_uint8_images_round_trip_raw_and_gzipped(tmp_path, gz):
    values = [(7 * i) % 256 for i in range(2 * 3 * 4)]
    p = write(tmp_path / "images-idx3-ubyte", idx_bytes(values, (2, 3, 4)), gz=gz)
    a = read_idx(p)
    assert a.dtype == np.uint8 and a.shape == (2, 3, 4) and a.flags.writeable
    np.testing.assert_array_equal(a, np.array(values, dtype=np.uint8).reshape(2, 3, 4))
    assert a[1, 2, 3] == (7 * 23) % 256 == 161  # row-major: the last value is index 23


@pytest.mark.parametrize("type_byte, values, dtype", [
    (0x09, [-128, -1, 0, 127], np.int8),
    (0x0B, [-32768, -2, 300, 32767], np.int16),
    (0x0C, [-(2**31), -5, 70_000, 2**31 - 1], np.int32),
    (0x0D, [-1.5, 0.0, 0.25, 3.0e38], np.float32),
    (0x0E, [-1e-300, 0.1, 2.0, 1e300], np.float64),
])
def test_other_types_are_big_endian_and_come_back_in_native_order(tmp_path, type_byte, values, dtype):
    p = write(tmp_path / "data.gz", idx_bytes(values, (2, 2), type_byte), gz=True)
    a = read_idx(p)
    assert a.dtype == np.dtype(dtype) and a.dtype.isnative and a.shape == (2, 2)
    np.testing.assert_array_equal(a, np.array(values, dtype=dtype).reshape(2, 2))


def test_gzip_is_recognized_by_its_magic_bytes_not_by_the_name(tmp_path):
    values = [1, 2, 3]
    plain_named_gz = write(tmp_path / "labels.gz", idx_bytes(values, (3,)))
    gz_named_plain = write(tmp_path / "labels-idx1-ubyte", idx_bytes(values, (3,)), gz=True)
    for p in (plain_named_gz, gz_named_plain):
        np.testing.assert_array_equal(read_idx(p), np.array(values, dtype=np.uint8))


@pytest.mark.parametrize("data, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", r"wrong magic number 01000801: expected 0000"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", r"unknown type byte 0x0A: expected one of 0x08 uint8"),
    (b"\x00\x00\x08", r"truncated: expected a 4-byte magic number, found 3 bytes"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", r"truncated: expected a 16-byte header for 3 dimensions, found 10"),
    (idx_bytes(list(range(12)), (3, 4))[:-1], r"truncated: shape \(3, 4\) of uint8 needs 12 bytes of data, found 11"),
    (idx_bytes([1, 2], (2,), 0x0B)[:-3], r"shape \(2,\) of int16 needs 4 bytes of data, found 1"),
    (idx_bytes(list(range(12)), (3, 4)) + b"\x00\x07", r"2 trailing bytes after the 12 bytes of data"),
])
def test_bad_files_are_refused_with_the_file_named(tmp_path, data, message):
    p = write(tmp_path / "bad-idx", data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_a_corrupt_or_cut_gzip_stream_is_refused(tmp_path):
    good = gzip.compress(idx_bytes(list(range(200)), (200,)))
    for name, data in [("garbage.gz", b"\x1f\x8b" + b"not a deflate stream"), ("cut.gz", good[: len(good) // 2])]:
        p = write(tmp_path / name, data)
        with pytest.raises(ValueError, match="corrupt gzip stream") as info:
            read_idx(p)
        assert str(p) in str(info.value)


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file .*nothing-here.* does not exist"):
        read_idx(tmp_path / "nothing-here")


def test_fashion_mnist_labels_when_installed():
    p = FASHION / "t10k-labels-idx1-ubyte.gz"
    if not p.is_file():
        pytest.skip(f"{p} absent: apt-get install dataset-fashion-mnist")
    y = read_idx(p)
    # the published test labels begin 9 (ankle boot), 2 (pullover), 1 (trouser); 1 000 of each class
    assert y.shape == (10_000,) and y.dtype == np.uint8 and y[:3].tolist() == [9, 2, 1]
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))
