"""HDF5 pose files (optional ``hdf5`` extra: h5py, and PyTables for DeepLabCut).

- DeepLabCut ``.h5``: the pandas table DeepLabCut writes next to its CSV (same columns:
  ``scorer / [individuals /] bodyparts / coords``), read with ``pandas.read_hdf``.
- SLEAP analysis ``.h5`` (``File > Export Analysis HDF5``): ``tracks`` stored as
  ``(track, 2, node, frame)``, ``point_scores`` as ``(track, node, frame)``, ``node_names`` and
  ``track_names``. Frames are numbered from 0; tracks become individuals.

Both return the :class:`~lp3d_io.pose_table.PoseTable` the CSV reader returns, and the writers
take one (read from any format, or :meth:`~lp3d_io.pose_table.PoseTable.from_numpy`) and make the
same files: :func:`to_dlc_h5` the table DeepLabCut writes for its predictions (key
``df_with_missing``, PyTables' table format, frame numbers as the index, ``x, y[, z], likelihood``
per body part), :func:`to_sleap_analysis_h5` SLEAP's analysis layout (``tracks``, ``track_occupancy``,
``point_scores``, ``instance_scores``, ``tracking_scores``, names, edges and paths), frames
``0 .. last`` with NaN before the first row written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io._csv_write import columns_of
from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.files import atomic_path
from lp3d_io.pose_table import PoseTable, build_pose_table

__all__ = ["from_pose_h5", "from_dlc_h5", "from_sleap_analysis_h5", "to_dlc_h5", "to_sleap_analysis_h5", "DLC_KEY"]

DLC_KEY = "df_with_missing"
"""The key of DeepLabCut's tables in its HDF5 files."""


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("reading HDF5 pose files needs h5py: pip install 'lp3d-io[hdf5]'") from None
    return h5py


def from_pose_h5(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads a SLEAP analysis file (it has a ``tracks`` dataset) or else a DeepLabCut table."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            is_sleap = "tracks" in f
    except OSError as err:
        raise ValueError(f"{path}: expected an HDF5 file, but h5py cannot open it ({err})") from None
    return from_sleap_analysis_h5(path, dtype=dtype) if is_sleap else from_dlc_h5(path, dtype=dtype)


def _names(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


def from_sleap_analysis_h5(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads a SLEAP analysis HDF5 file (see the module docstring)."""
    path = Path(path)
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        for name in ("tracks", "node_names"):
            if name not in f:
                raise ValueError(f"{path}: expected a SLEAP analysis file with dataset {name!r}, but it has none")
        tracks = np.asarray(f["tracks"][()], dtype=dtype)
        if tracks.ndim != 4 or tracks.shape[1] != 2:
            raise ValueError(f"{path}: tracks: expected shape (track, 2, node, frame), but got {tracks.shape}")
        scores = np.asarray(f["point_scores"][()], dtype=dtype) if "point_scores" in f else None
        nodes = _names(f["node_names"][()])
        track_names = _names(f["track_names"][()]) if "track_names" in f else []
    n_tracks, _, n_nodes, n_frames = tracks.shape
    if len(nodes) != n_nodes:
        raise ValueError(f"{path}: node_names: expected {n_nodes} names (from tracks), but got {len(nodes)}")
    if len(track_names) != n_tracks:
        track_names = [DEFAULT_INDIVIDUAL] if n_tracks == 1 else [f"track_{i}" for i in range(n_tracks)]
    position = tracks.transpose(3, 2, 0, 1)  # (frame, node, track, 2)
    columns = [(ind, kp, c) for ind in track_names for kp in nodes for c in ("x", "y", "likelihood")]
    if scores is not None and scores.shape != (n_tracks, n_nodes, n_frames):
        raise ValueError(
            f"{path}: point_scores: expected shape {(n_tracks, n_nodes, n_frames)}, but got {scores.shape}"
        )
    conf = None if scores is None else scores.transpose(2, 1, 0)  # (frame, node, track)

    def column(j: int) -> np.ndarray:
        i, rest = divmod(j, 3 * n_nodes)
        k, c = divmod(rest, 3)
        if c < 2:
            return position[:, k, i, c]
        return np.full(n_frames, np.nan) if conf is None else conf[:, k, i]

    return build_pose_table(
        columns, column, n_rows=n_frames, index=np.arange(n_frames), scorer="SLEAP", path=path, dtype=dtype
    )


def from_dlc_h5(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads a DeepLabCut HDF5 table (the pandas frame DeepLabCut writes; needs PyTables)."""
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_hdf(path)
    except ImportError:
        raise ImportError("reading DeepLabCut HDF5 files needs PyTables: pip install 'lp3d-io[hdf5]'") from None
    except (ValueError, KeyError, TypeError, OSError, RuntimeError) as err:  # PyTables' HDF5ExtError is a RuntimeError
        problem = " ".join(str(err).split()[-12:]) if len(str(err)) > 200 else str(err)
        raise ValueError(f"{path}: expected a DeepLabCut pandas table, but got {problem}") from None
    levels = list(df.columns.names)
    if levels not in (["scorer", "bodyparts", "coords"], ["scorer", "individuals", "bodyparts", "coords"]):
        raise ValueError(
            f"{path}: expected column levels scorer/[individuals/]bodyparts/coords, "
            f"but got {'/'.join(map(str, levels))}"
        )
    multi = len(levels) == 4
    columns = [(str(c[1]) if multi else DEFAULT_INDIVIDUAL, str(c[-2]), str(c[-1])) for c in df.columns.to_flat_index()]
    values = df.to_numpy(dtype=np.float64)
    index = df.index
    if index.nlevels > 1:
        labels = np.array(["/".join(map(str, row)) for row in index])
    elif pd.api.types.is_integer_dtype(index.dtype):
        labels = index.to_numpy().astype(np.int64)
    else:
        labels = index.to_numpy().astype(str)
    return build_pose_table(
        columns,
        lambda j: values[:, j],
        n_rows=len(df),
        index=labels,
        scorer=str(df.columns[0][0]) if len(df.columns) else "",
        path=path,
        dtype=dtype,
    )


def to_dlc_h5(table: PoseTable, path: str | os.PathLike) -> None:
    """Writes a pose table as a DeepLabCut HDF5 table, atomically (needs pandas and PyTables: the ``hdf5`` extra).

    The columns are the CSV's (:func:`lp3d_io.csv.to_pose_csv`): ``x, y[, z]``, ``likelihood`` when
    the table has confidence, then its extra coords, under ``scorer / bodyparts / coords``
    (``scorer / individuals / bodyparts / coords`` for more than one individual); the rows are
    ``table.index``.

    Args:
        table: what to write.
        path: the output file (``.h5``).
    """
    import pandas as pd

    values = table.coord_values()
    columns = columns_of(table.keypoint_names, table.individual_names, list(values))
    multi = len(table.individual_names) > 1
    names = ["scorer", "individuals", "bodyparts", "coords"] if multi else ["scorer", "bodyparts", "coords"]
    header = [(table.scorer, *c) if multi else (table.scorer, c[1], c[2]) for c in columns]
    _, K, I = table.position.shape[:3]  # noqa: E741
    data = np.stack([values[c][:, k, i] for i in range(I) for k in range(K) for c in values], axis=1).astype(
        np.float64
    )  # the order of columns_of: individual, keypoint, coord
    frame = pd.DataFrame(data, columns=pd.MultiIndex.from_tuples(header, names=names), index=pd.Index(table.index))
    try:
        with atomic_path(path) as tmp:
            frame.to_hdf(tmp, key=DLC_KEY, format="table", mode="w")
    except ImportError:
        raise ImportError("writing DeepLabCut HDF5 files needs PyTables: pip install 'lp3d-io[hdf5]'") from None


def to_sleap_analysis_h5(
    table: PoseTable,
    path: str | os.PathLike,
    *,
    video_path: str = "",
    edges: Sequence[tuple[str, str]] = (),
) -> None:
    """Writes a table of 2D poses in SLEAP's analysis HDF5 layout, atomically (needs h5py: the ``hdf5`` extra).

    The keypoints are the nodes, the individuals the tracks, the confidence the point scores (NaN
    where the table has none), ``table.index`` the frame numbers: the file holds frames
    ``0 .. max(index)``. A track is occupied in a frame where any of its points is found; its
    instance score is the mean of its point scores there.

    Args:
        table: what to write (``x, y`` only).
        path: the output file (``.h5``; SLEAP names them ``*.analysis.h5``).
        video_path: the video the poses are of.
        edges: the skeleton's edges, as pairs of node names.
    """
    h5py = _h5py()
    if len(table.space) != 2:
        raise ValueError("position: expected 2D poses (x, y) for a SLEAP analysis file, but got 3D")
    T, K, I = table.position.shape[:3]  # noqa: E741
    frames = table.frame_numbers()
    if (T and frames.min() < 0) or np.unique(frames).size != T:
        raise ValueError(f"index: expected {T} distinct frame numbers >= 0 (from position), but got {frames.tolist()}")
    n_frames = int(frames.max()) + 1 if T else 0
    xy = np.full((n_frames, K, I, 2), np.nan)
    xy[frames] = table.position
    scores = np.full((n_frames, K, I), np.nan)
    scores[frames] = table.confidence_or_nan()
    occupied = ~np.isnan(xy).all(axis=(1, 3))  # (frame, track)
    counts = (~np.isnan(scores)).sum(axis=1)
    instance = np.where(occupied & (counts > 0), np.nansum(scores, axis=1) / np.maximum(counts, 1), np.nan)
    node_index = {k: i for i, k in enumerate(table.keypoint_names)}
    edge_pairs = [(str(a), str(b)) for a, b in edges]
    for a, b in edge_pairs:
        if a not in node_index or b not in node_index:
            raise ValueError(f"edges: expected pairs of keypoint names, but got ({a!r}, {b!r})")

    def text(items: Sequence[str]) -> np.ndarray:
        return np.array([s.encode("utf-8") for s in items], dtype="S") if items else np.array([], dtype="S1")

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        options = {"compression": "gzip", "compression_opts": 4}
        f.create_dataset("tracks", data=xy.transpose(2, 3, 1, 0), **options)  # (track, 2, node, frame)
        f.create_dataset("track_occupancy", data=occupied.astype(np.uint8), **options)  # (frame, track)
        f.create_dataset("point_scores", data=scores.transpose(2, 1, 0), **options)  # (track, node, frame)
        f.create_dataset("instance_scores", data=instance.T, **options)  # (track, frame)
        f.create_dataset("tracking_scores", data=np.full((I, n_frames), np.nan), **options)
        f.create_dataset("track_names", data=text(table.individual_names))
        f.create_dataset("node_names", data=text(table.keypoint_names))
        edge_names = np.array([[a.encode(), b.encode()] for a, b in edge_pairs], dtype="S").reshape(-1, 2)
        f.create_dataset("edge_names", data=edge_names if edge_pairs else np.zeros((0, 2), dtype="S1"))
        edge_inds = np.array([[node_index[a], node_index[b]] for a, b in edge_pairs], dtype=np.int64)
        f.create_dataset("edge_inds", data=edge_inds.reshape(-1, 2))
        f.create_dataset("video_path", data=str(video_path))
        f.create_dataset("video_ind", data=0)
        f.create_dataset("labels_path", data="")
        f.create_dataset("provenance", data=json.dumps({"software": "lp3d"}))
