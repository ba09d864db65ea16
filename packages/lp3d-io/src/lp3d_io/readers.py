"""Pose-file readers by format: the one place that says which files are predictions and how to read them.

Each entry maps a file suffix to the ``from_*`` function that reads it into a
:class:`~lp3d_io.pose_table.PoseTable` (imported when a file of that kind is read). A new format
is a module with its ``from_*`` reader plus one line here; everything that finds prediction files
(:func:`pose_files`, the grouping of files into members and views, ``lp3d smooth``'s inputs)
follows from this table.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.pose_table import PoseTable

__all__ = ["POSE_READERS", "POSE_SUFFIXES", "from_pose_file", "pose_files"]

POSE_READERS: dict[str, tuple[str, str, str]] = {
    # suffix: (module, reader, what it reads)
    ".csv": ("lp3d_io.csv", "from_pose_csv", "Lightning Pose / DeepLabCut CSV"),
    ".h5": ("lp3d_io.hdf5", "from_pose_h5", "DeepLabCut or SLEAP analysis HDF5 (the hdf5 extra)"),
    ".slp": ("lp3d_io.sleap", "from_sleap_slp", "SLEAP .slp predictions (the sleap extra)"),
}
POSE_SUFFIXES = tuple(POSE_READERS)


def from_pose_file(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads a pose file with the reader of its suffix (see :data:`POSE_READERS`).

    Raises:
        ValueError: a suffix no reader takes, or the reader's one-line error about the file.
    """
    path = Path(path)
    entry = POSE_READERS.get(path.suffix.lower())
    if entry is None:
        kinds = ", ".join(f"{suffix} ({what})" for suffix, (_, _, what) in POSE_READERS.items())
        raise ValueError(f"{path}: expected a pose file ({kinds}), but got a {path.suffix or 'suffix-less'} file")
    module, reader, _ = entry
    return getattr(importlib.import_module(module), reader)(path, dtype=dtype)


def pose_files(folder: str | os.PathLike) -> list[Path]:
    """The pose files directly in ``folder`` (any suffix of :data:`POSE_SUFFIXES`), sorted; hidden ones skipped."""
    return sorted(
        p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in POSE_SUFFIXES and p.name[0] != "."
    )
