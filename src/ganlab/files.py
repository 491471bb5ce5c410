"""Files ganlab writes for later use and the array files users give it.

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the same folder, fsyncs it, and only
then ``os.replace``s it over ``path`` (an atomic rename on POSIX and Windows), so a crash at any moment
leaves either the old file or the new one, never a torn file (checkpoints, configs, statistics, weights).

``open_npz(path, what)`` and ``load_npy(path, what)`` read numpy files without ever unpickling, and turn a
missing, truncated or wrongly formatted file into one error that names the file and what was expected
(numpy itself reports any non-numpy file as "contains pickled (object) data").
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["atomic_write", "load_npy", "open_npz"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive with members / an empty one
_NPY_MAGIC = b"\x93NUMPY"
# what numpy and zipfile let through from a torn or garbled archive: a flipped flag bit reads as "strong
# encryption" (NotImplementedError), a garbled offset as a seek before the start (OSError EINVAL)
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)
# a garbled .npy header: numpy's parser for Python 2 headers raises tokenize's error, not a ValueError
_BAD_HEADER = (ValueError, tokenize.TokenError)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write ``path`` all-or-nothing: ``write(tmp)`` fills a temporary file beside it, which is then fsync'ed
    and renamed over ``path``; the folder is created if needed. Returns ``path`` as a Path.

    On any error (in ``write`` or after it) the temporary file is removed and the previous file at
    ``path``, if any, is left untouched. ``write`` receives the temporary path, so writers that insist on
    opening the file themselves (safetensors, numpy) fit as they are.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        _fsync(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - directories cannot be fsync'ed on some platforms
        pass
    return path


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_readable(path: str | os.PathLike, what: str, magics: tuple[bytes, ...], kind: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    with open(p, "rb") as fh:
        head = fh.read(6)
    if not any(head.startswith(m) for m in magics):
        found = "a .npy array" if head.startswith(_NPY_MAGIC) else "an .npz archive" if head[:2] == b"PK" else (
            "an empty file" if not head else f"a file starting with {head!r}")
        raise ValueError(f"{what} {str(p)!r} must be {kind}, got {found}")
    return p


@contextmanager
def open_npz(path: str | os.PathLike, what: str = "array file") -> Iterator[np.lib.npyio.NpzFile]:
    """``with open_npz(path, what) as z:``: numpy's ``NpzFile`` of ``path``, opened with ``allow_pickle=False``.

    Raises FileNotFoundError ("<what> '<path>' does not exist") or ValueError naming the file when it is not
    a zip archive (a ``.npy``, a text file, an empty file), when a member is not a ``.npy`` array of numbers
    (an object array, a pickle: refused on opening, before any member is read) or its data do not fill its
    header's shape, or when the archive or a member read inside the block is truncated or corrupt.
    """
    p = _check_readable(path, what, _ZIP_MAGIC, "an .npz archive (numpy.savez)")
    try:
        with np.load(p, allow_pickle=False) as z:
            _check_members(z, f"{what} {str(p)!r}")
            yield z
    except _CORRUPT as exc:
        raise ValueError(f"{what} {str(p)!r} is a damaged .npz archive: {exc}") from exc


def _check_members(z: np.lib.npyio.NpzFile, where: str) -> None:
    """Read the header of every member of ``z`` (no data): refuse, naming the file and the member, a member that is
    not a ``.npy`` array (numpy.savez writes nothing else; numpy would hand its raw bytes out), holds Python objects
    (only unpickling could read it), has no valid header, or whose data are shorter or longer than its header says.
    Without this numpy's own error ("Object arrays cannot be loaded when allow_pickle=False") would name neither."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    for info in z.zip.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{where} holds {info.filename!r}, which is not a .npy array: an .npz archive "
                             f"(numpy.savez) holds only .npy arrays")
        name = info.filename[: -len(".npy")]
        with z.zip.open(info) as fh:
            try:
                version = np.lib.format.read_magic(fh)
                if version not in readers:
                    raise ValueError(f".npy format version {version}, expected 1.0 or 2.0")
                shape, _, dtype = readers[version](fh)
            except _BAD_HEADER as exc:
                raise ValueError(f"{where}: array {name!r} has no valid .npy header ({exc})") from None
            if dtype.hasobject:
                raise ValueError(f"{where}: array {name!r} holds Python objects (dtype {dtype}), which only unpickling "
                                 f"could read; ganlab reads numeric arrays only and never unpickles")
            expected = fh.tell() + math.prod(shape) * dtype.itemsize
        if info.file_size != expected:
            raise ValueError(f"{where}: array {name!r} of shape {shape} needs {expected} bytes with its header, "
                             f"the archive holds {info.file_size}")


def load_npy(path: str | os.PathLike, what: str = "array file", *, mmap: bool = True) -> np.ndarray:
    """The array of a ``.npy`` file (memory-mapped by default), never unpickled; errors as ``open_npz``."""
    p = _check_readable(path, what, (_NPY_MAGIC,), "a .npy array (numpy.save)")
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except _BAD_HEADER as exc:  # a garbled header, data short, or an object array
        raise ValueError(f"{what} {str(p)!r} cannot be read as a .npy array: {exc}") from exc
