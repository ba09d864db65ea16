"""Outputs that appear whole or not at all: the one atomic-write helper every lp3d writer uses.

Every writer (CSV, netCDF, video, calibration, store groups, pipeline stamps, pseudo-label folders,
the command-line and app outputs) writes into a hidden temporary file or folder beside its
target, on the same file system, and renames it into place when everything is written. On any
error, or Ctrl-C, the temporary entry is removed and an existing target is left as it was; a
process killed midway leaves at most a hidden ``.<name>.*.partial`` entry, which readers ignore.

- :func:`atomic_path`: a file or folder written at a temporary path, then renamed over the target
  (``os.replace``; an existing folder target is first moved aside and deleted after the swap).
- :func:`staged_directory`: an empty folder that becomes the target on success.
- :func:`check_target`: the check a command makes before any work, so that no output is
  replaced without ``overwrite``.

Temporary files get the mode a new file would (``0o666`` less the umask), not the private
``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "staged_directory", "check_target", "is_occupied", "write_text_atomic", "lazy_chunks"]

PARTIAL_SUFFIX = ".partial"


def _temporary_name(target: Path) -> Path:
    """A fresh hidden name beside ``target`` that keeps its suffix (some writers, OpenCV's among them,
    choose the format from it): ``.<name>.<random>.partial<suffix>``."""
    return target.parent / f".{target.name}.{os.urandom(6).hex()}{PARTIAL_SUFFIX}{target.suffix}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, create: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside ``target``; on success what the caller wrote there replaces it.

    Args:
        target: the file (or folder) to write.
        create: create the temporary path as an empty file first (with normal permissions), for
            writers that open it for writing; False leaves it absent (the caller creates a folder,
            or a writer that refuses an existing file writes it).

    If the body raises, the temporary entry is removed and an existing ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temporary_name(target)
        if not create:
            if not tmp.exists():
                break
            continue
        try:  # created as open() creates files (mode 0o666 less the umask), unlike tempfile.mkstemp (0o600)
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written for {target}")
        if tmp.is_dir() and (target.is_dir() and not target.is_symlink()):
            old = _temporary_name(target)
            os.replace(target, old)  # a folder cannot replace a non-empty folder: move the old one aside
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # put the previous output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty folder beside ``target``; on success it becomes ``target`` (replacing it).

    The caller checks beforehand that ``target`` may be replaced (:func:`check_target`).
    """
    with atomic_path(target, create=False) as staged:
        staged.mkdir(mode=0o777)  # permissions follow the umask
        yield staged


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``target`` atomically, flushed to disk before the rename."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def is_occupied(target: str | os.PathLike) -> bool:
    """Whether ``target`` exists and is not an empty folder."""
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return False
    return not target.is_dir() or any(target.iterdir())


def check_target(target: str | os.PathLike, overwrite: bool, what: str = "--out") -> None:
    """Checks that the output folder ``target`` may be written, before any work is done.

    Args:
        target: the output folder.
        overwrite: whether an existing, non-empty ``target`` may be replaced.
        what: how the message names the target (an option, a field).

    Raises:
        FileExistsError: ``target`` is an occupied folder and ``overwrite`` is off.
        NotADirectoryError: ``target``, or the nearest existing folder above it, is a file.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{what} {target}: expected a folder, but it is a file")
    if is_occupied(target) and not overwrite:
        raise FileExistsError(f"{what} {target}: already exists and is not empty (pass --overwrite to replace it)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{what} {target}: expected {parent} to be a folder, but it is a file")
            break


def lazy_chunks() -> dict | None:
    """``chunks`` for xarray's openers: ``{}`` (dask, the file's chunks) if dask is installed, else None
    (xarray's lazily indexed arrays)."""
    return {} if importlib.util.find_spec("dask") is not None else None
