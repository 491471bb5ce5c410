"""The IDX file format of MNIST, Fashion-MNIST, KMNIST and EMNIST, read into a NumPy array.

    magic = 0x00 0x00 <type> <ndim>,  then ndim big-endian uint32 sizes d_1..d_ndim,
    then d_1 * ... * d_ndim big-endian values of <type>, nothing after them.

Type bytes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. A file may be
gzipped (as the data sets are distributed): it is recognized by the gzip magic bytes 1f 8b, not by its
name. Reference: LeCun, Cortes and Burges, "The MNIST database of handwritten digits", section "File
formats for the MNIST database"; Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747) keeps the format.

Note: EMNIST stores its images transposed (column-major pixels); `read_idx` returns the array exactly as
stored and leaves any transposition to the caller.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_TYPES", "read_idx"]

#: IDX type byte -> big-endian NumPy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array of an IDX file (gzipped or raw): shape (d_1, ..., d_ndim), the type byte's dtype in native order.

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for a corrupt gzip
    stream, a wrong magic (the first two bytes must be zero), an unknown type byte, a header or data
    shorter than the header promises (bytes expected vs found) and trailing bytes after the data.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"IDX file {str(p)!r} does not exist")
    raw = p.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut stream is EOFError
            raise ValueError(f"IDX file {str(p)!r} is a corrupt gzip stream: {exc}") from None
    if len(raw) < 4:
        raise ValueError(f"IDX file {str(p)!r} is truncated: expected a 4-byte magic number, found {len(raw)} bytes")
    if raw[:2] != b"\x00\x00":
        raise ValueError(
            f"IDX file {str(p)!r} has a wrong magic number {raw[:4].hex()}: expected 0000 followed by a type "
            f"byte and the number of dimensions (e.g. 00000803 for uint8 images)"
        )
    type_byte, ndim = raw[2], raw[3]
    if type_byte not in IDX_TYPES:
        known = ", ".join(f"0x{t:02X} {d.name}" for t, d in IDX_TYPES.items())
        raise ValueError(f"IDX file {str(p)!r} has an unknown type byte 0x{type_byte:02X}: expected one of {known}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"IDX file {str(p)!r} is truncated: expected a {header}-byte header for {ndim} dimensions, "
            f"found {len(raw)} bytes"
        )
    sizes = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[type_byte]
    expected = math.prod(sizes) * dtype.itemsize  # Python ints: no overflow for absurd sizes
    found = len(raw) - header
    if found < expected:
        raise ValueError(
            f"IDX file {str(p)!r} is truncated: shape {sizes} of {dtype.name} needs {expected} bytes of data, "
            f"found {found}"
        )
    if found > expected:
        raise ValueError(
            f"IDX file {str(p)!r} has {found - expected} trailing bytes after the {expected} bytes of data "
            f"of shape {sizes}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(sizes), offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(sizes)  # native order, writable
