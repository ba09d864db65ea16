"""HDF5 pose files (optional ``hdf5`` extra: h5py, and PyTables for DeepLabCut).

- DeepLabCut ``.h5``: the pandas table DeepLabCut writes next to its CSV (same columns:
  ``scorer / [individuals /] bodyparts / coords``), read with ``pandas.read_hdf``.
- SLEAP analysis ``.h5`` (``File > Export Analysis HDF5``): ``tracks`` stored as
  ``(track, 2, node, frame)``, ``point_scores`` as ``(track, node, frame)``, ``node_names`` and
  ``track_names``. Frames are numbered from 0; tracks become individuals.

Both return the :class:`lp3d_io.csv.PoseTable` the CSV reader returns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.pose_table import PoseTable, build_pose_table

__all__ = ["from_pose_h5", "from_dlc_h5", "from_sleap_analysis_h5"]


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
    except (ValueError, KeyError, TypeError, OSError) as err:
        raise ValueError(f"{path}: expected a DeepLabCut pandas table, but got {err}") from None
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
