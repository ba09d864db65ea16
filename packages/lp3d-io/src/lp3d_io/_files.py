"""File helpers shared by the readers and writers: atomic replacement, lazy-read chunking."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "lazy_chunks"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; on success it replaces ``path``.

    The temporary name keeps the target's suffix (some writers, e.g. OpenCV's, choose the format
    from it). If the body raises, the temporary file is removed and an existing ``path`` is left
    untouched; a killed process leaves at most a hidden ``.<name>.*.tmp<suffix>`` file behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
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
