"""All-or-nothing file writes: every file ganlab writes for later use (checkpoints, configs, statistics, weights).

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the same folder, fsyncs it, and only
then ``os.replace``s it over ``path`` (an atomic rename on POSIX and Windows), so a crash at any moment
leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write"]


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
