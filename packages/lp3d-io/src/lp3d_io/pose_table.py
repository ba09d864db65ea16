"""The format-neutral contents of one pose file (CSV, HDF5, .slp, ...): :class:`PoseTable`, what every
pose-file reader returns and every pose-file writer takes (so a table read from one format can be
written to any other), and :func:`build_pose_table`, which the readers use to assemble one from
flat columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.dataset import DEFAULT_INDIVIDUAL, SPACE_3D

__all__ = ["PoseTable", "build_pose_table"]


@dataclass(frozen=True, eq=False)
class PoseTable:
    """The contents of one pose file. Build one from arrays with :meth:`from_numpy`; every table is
    checked when made (shapes and names agree with ``position``).

    Attributes:
        position: ``(time, keypoint, individual, space)`` float; NaN for empty cells.
        confidence: ``(time, keypoint, individual)`` the ``likelihood`` columns, or None if the
            file has none (labeled frames).
        keypoint_names: ``(keypoint,)`` body part names, in column order.
        individual_names: ``(individual,)``; ``["individual_0"]`` for a 3-row header.
        index: ``(time,)`` row labels: int64 frame numbers, or str (image paths).
        scorer: the scorer named in the header.
        extra: other coords (e.g. ``"x_ens_var"``), each ``(time, keypoint, individual)``.
        path: the file read, if any.
    """

    position: np.ndarray
    confidence: np.ndarray | None
    keypoint_names: list[str]
    individual_names: list[str]
    index: np.ndarray
    scorer: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        pos = self.position
        if pos.dtype.kind not in "fiu":
            raise ValueError(f"position: expected a float array, but got dtype {pos.dtype}")
        if pos.ndim != 4 or pos.shape[-1] not in (2, 3):
            raise ValueError(f"position: expected shape (time, keypoint[, individual], 2 or 3), but got {pos.shape}")
        T, K, I = pos.shape[:3]  # noqa: E741
        if len(self.keypoint_names) != K:
            raise ValueError(f"keypoint_names: expected {K} names (from position), but got {len(self.keypoint_names)}")
        if len(self.individual_names) != I:
            raise ValueError(
                f"individual_names: expected {I} names (from position), but got {len(self.individual_names)}"
            )
        if self.index.shape != (T,):
            raise ValueError(f"index: expected {T} row labels (one per frame), but got shape {self.index.shape}")
        per_point = {"confidence": self.confidence, **{f"extra[{k!r}]": v for k, v in self.extra.items()}}
        for name, values in per_point.items():
            if values is not None and values.shape != (T, K, I):
                raise ValueError(f"{name}: expected shape {(T, K, I)} (as position), but got {values.shape}")

    @classmethod
    def from_numpy(
        cls,
        position: Any,
        confidence: Any = None,
        *,
        keypoint_names: Sequence[str],
        individual_names: Sequence[str] | None = None,
        index: Any = None,
        scorer: str = "lp3d",
    ) -> PoseTable:
        """A table of poses given as arrays (what the writers write).

        Args:
            position: ``(time, keypoint, 2 or 3)`` (one individual) or
                ``(time, keypoint, individual, 2 or 3)``; NaN where not found.
            confidence: ``(time, keypoint[, individual])``, the ``likelihood`` columns; None: none.
            keypoint_names: ``(keypoint,)``.
            individual_names: ``(individual,)``; default ``individual_0, ...``.
            index: ``(time,)`` row labels (frame numbers or image paths); default ``0 .. T-1``.
            scorer: who made the poses.

        Raises:
            ValueError: shapes or names that do not agree with ``position``.
        """
        pos = np.asarray(position)
        if pos.ndim == 3:
            pos = pos[:, :, None, :]
        conf = None if confidence is None else np.asarray(confidence)
        if conf is not None and conf.ndim == 2:
            conf = conf[:, :, None]
        if individual_names is None:
            individual_names = [f"individual_{i}" for i in range(pos.shape[2] if pos.ndim == 4 else 1)]
        return cls(
            position=pos,
            confidence=conf,
            keypoint_names=[str(k) for k in keypoint_names],
            individual_names=[str(i) for i in individual_names],
            index=np.arange(pos.shape[0] if pos.ndim else 0) if index is None else np.asarray(index),
            scorer=scorer,
        )

    @property
    def n_frames(self) -> int:
        return self.position.shape[0]

    @property
    def space(self) -> tuple[str, ...]:
        """The coordinate names along ``space``: ``("x", "y")`` or ``("x", "y", "z")``."""
        return SPACE_3D[: self.position.shape[-1]]

    def coord_values(self) -> dict[str, np.ndarray]:
        """Every coord's ``(time, keypoint, individual)`` values, in the column order of a pose file
        per keypoint: ``x, y[, z]``, ``likelihood`` (when there is confidence), then :attr:`extra`."""
        values = {coord: self.position[..., s] for s, coord in enumerate(self.space)}
        if self.confidence is not None:
            values["likelihood"] = self.confidence
        return {**values, **self.extra}

    def confidence_or_nan(self) -> np.ndarray:
        """``(time, keypoint, individual)`` float64 confidence, NaN where the table has none."""
        if self.confidence is None:
            return np.full(self.position.shape[:3], np.nan)
        return self.confidence.astype(np.float64)

    def frame_numbers(self) -> np.ndarray:
        """``index`` as ``(time,)`` int64 frame numbers, for formats whose rows are video frames.

        Raises:
            ValueError: row labels that are not whole numbers (e.g. image paths).
        """
        index = self.index
        whole = index.dtype.kind in "iu" or (
            index.dtype.kind == "f" and bool(np.all(np.isfinite(index) & (index == np.round(index))))
        )
        if not whole:
            raise ValueError(f"index: expected frame numbers, but got {index[:3].tolist()}")
        return index.astype(np.int64)


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
    space = SPACE_3D if "z" in coords else SPACE_3D[:2]
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
        extra=extra,
        path=path,
    )
