"""The format-neutral contents of one pose file (CSV, HDF5, ...): :class:`PoseTable`, and
:func:`build_pose_table`, which every reader uses to assemble one from flat columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.dataset import DEFAULT_INDIVIDUAL

__all__ = ["PoseTable", "build_pose_table"]


@dataclass(frozen=True, eq=False)
class PoseTable:
    """The contents of one pose CSV file.

    Attributes:
        position: ``(time, keypoint, individual, space)`` float; NaN for empty cells.
        confidence: ``(time, keypoint, individual)`` the ``likelihood`` columns, or None if the
            file has none (labeled frames).
        keypoint_names: ``(keypoint,)`` body part names, in column order.
        individual_names: ``(individual,)``; ``["individual_0"]`` for a 3-row header.
        index: ``(time,)`` row labels: int64 frame numbers, or str (image paths).
        scorer: the scorer named in the header.
        space: the coordinate names along ``space``: ``("x", "y")`` or ``("x", "y", "z")``.
        extra: other coords (e.g. ``"x_ens_var"``), each ``(time, keypoint, individual)``.
        path: the file read, if any.
    """

    position: np.ndarray
    confidence: np.ndarray | None
    keypoint_names: list[str]
    individual_names: list[str]
    index: np.ndarray
    scorer: str
    space: tuple[str, ...] = ("x", "y")
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    @property
    def n_frames(self) -> int:
        return self.position.shape[0]


def build_pose_table(
    columns: Sequence[tuple[str, str, str]],
    column: Callable[[int], np.ndarray],
    *,
    n_rows: int,
    index: np.ndarray,
    scorer: str,
    path: Path | None,
    dtype: Any = np.float64,
) -> PoseTable:
    """Builds a :class:`PoseTable` from flat columns (shared by the CSV and HDF5 readers).

    Args:
        columns: ``(individual, bodypart, coord)`` of each data column, in file order.
        column: returns the values ``(n_rows,)`` of data column ``j``.
        n_rows, index, scorer, path, dtype: as in :class:`PoseTable`.
    """
    dtype = np.dtype(dtype)
    present = set(columns)
    for ind, bp in dict.fromkeys((ind, bp) for ind, bp, _ in columns):
        for coord in ("x", "y"):
            if (ind, bp, coord) not in present:
                name = bp if ind == DEFAULT_INDIVIDUAL else f"{ind}/{bp}"
                raise ValueError(f"{path}: keypoint {name!r}: expected a column {coord!r}, but there is none")
    keypoints = list(dict.fromkeys(bp for _, bp, _ in columns))
    individuals = list(dict.fromkeys(ind for ind, _, _ in columns))
    kp_index = {k: i for i, k in enumerate(keypoints)}
    ind_index = {k: i for i, k in enumerate(individuals)}
    coords = {c for _, _, c in columns}
    space = ("x", "y", "z") if "z" in coords else ("x", "y")
    T, K, I = n_rows, len(keypoints), len(individuals)  # noqa: E741
    position = np.full((T, K, I, len(space)), np.nan, dtype=dtype)
    confidence = np.full((T, K, I), np.nan, dtype=dtype) if "likelihood" in coords else None
    extra: dict[str, np.ndarray] = {}
    for j, (ind, bp, coord) in enumerate(columns):
        values = column(j)
        k, i = kp_index[bp], ind_index[ind]
        if coord in space:
            position[:, k, i, space.index(coord)] = values
        elif coord == "likelihood":
            confidence[:, k, i] = values
        else:
            extra.setdefault(coord, np.full((T, K, I), np.nan, dtype=dtype))[:, k, i] = values
    return PoseTable(
        position=position,
        confidence=confidence,
        keypoint_names=keypoints,
        individual_names=individuals,
        index=index,
        scorer=scorer,
        space=space,
        extra=extra,
        path=path,
    )
