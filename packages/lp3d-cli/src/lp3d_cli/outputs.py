"""Output folders that appear whole or not at all.

Every command writes into a hidden temporary folder beside its target (same file system) and
renames it into place when everything is written; on any error, or Ctrl-C, the temporary folder
is removed and an existing target is left as it was. An existing target is replaced only with
``--overwrite`` (the old one is renamed aside first and deleted after the new one is in place).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lp3d_cli.errors import UserError

__all__ = ["check_target", "staged_path", "staged_directory", "is_occupied"]


def is_occupied(target: Path) -> bool:
    """Whether ``target`` exists and is not an empty folder."""
    if not target.exists() and not target.is_symlink():
        return False
    return not target.is_dir() or any(target.iterdir())


def check_target(target: Path, overwrite: bool, option: str = "--out") -> None:
    """Checks that ``target`` may be written (before any work is done).

    Raises:
        UserError: ``target`` is a file, or is an occupied folder and ``overwrite`` is off.
    """
    if target.exists() and not target.is_dir():
        raise UserError(f"{option} {target}: expected a folder, but it is a file")
    if is_occupied(target) and not overwrite:
        raise UserError(f"{option} {target}: already exists and is not empty (pass --overwrite to replace it)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{option} {target}: expected {parent} to be a folder, but it is a file")
            break


@contextlib.contextmanager
def staged_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yields a path (not yet existing) in a hidden folder beside ``target``; on success the
    caller's file or folder there replaces ``target``.

    The caller checks beforehand that ``target`` may be replaced (:func:`check_target`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    staged = holder / target.name
    try:
        yield staged
        if not staged.exists():
            raise RuntimeError(f"nothing was written for {target}")
        if target.exists() or target.is_symlink():
            old = holder / f"{target.name}.old"
            os.replace(target, old)
            try:
                os.replace(staged, target)
            except BaseException:
                os.replace(old, target)  # put the previous output back
                raise
        else:
            os.replace(staged, target)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty folder beside ``target``; on success it becomes ``target`` (see :func:`staged_path`)."""
    with staged_path(target) as staged:
        staged.mkdir(mode=0o777)  # permissions follow the umask
        yield staged
