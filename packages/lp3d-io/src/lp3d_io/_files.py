"""File helpers shared by the readers and writers: atomic replacement, lazy-read chunking."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "lazy_chunks"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; on success it replaces ``path``.

    The temporary name keeps the target's suffix (some writers, e.g. OpenCV's, choose the format
    from it). The file gets the mode a new file would (``0o666`` less the umask), not the private
    ``0o600`` of a temporary file. If the body raises, the temporary file is removed and an existing
    ``path`` is left untouched; a killed process leaves at most a hidden ``.<name>.*.tmp<suffix>``
    file behind.
    """
    path = Path(path)
    while True:
        tmp_path = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp{path.suffix}"
        try:  # created as open() creates files (mode 0o666 less the umask), unlike tempfile.mkstemp (0o600)
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def lazy_chunks() -> dict | None:
    """``chunks`` for xarray's openers: ``{}`` (dask, the file's chunks) if dask is installed, else None
    (xarray's lazily indexed arrays)."""
    return {} if importlib.util.find_spec("dask") is not None else None
