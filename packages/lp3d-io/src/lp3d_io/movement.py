"""movement's netCDF convention: pose tracks that ``movement`` (neuroinformatics-unit) opens as its own.

A movement *poses* dataset (movement 0.15; what its napari widget and ``xarray.open_dataset``
open, and what it validates with ``movement.validators.datasets.ValidPosesInputs``)::

    position    (time, space, keypoints, individuals)   space = x, y[, z]
    confidence  (time, keypoints, individuals)          NaN where unknown
    time        seconds (fps known: frame / fps, time_unit "seconds") or frame numbers ("frames")
    attrs       ds_type = "poses", source_software, fps (when known), time_unit, source_file

Note the plural ``keypoints`` / ``individuals`` and the ``space`` axis second, unlike lp3d's own
datasets (:mod:`lp3d_io.dataset`). :func:`to_movement_netcdf` may add ``position_variance`` (same
dims as ``position``), e.g. the smoother's posterior variance; movement ignores variables it does
not know.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lp3d_io.files import atomic_path

__all__ = ["to_movement_netcdf", "MOVEMENT_DIMS"]

MOVEMENT_DIMS = ("time", "space", "keypoints", "individuals")
_ENGINE = "h5netcdf"


def to_movement_netcdf(
    path: str | os.PathLike,
    position: Any,
    confidence: Any = None,
    *,
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    index: Any = None,
    fps: float | None = None,
    source_software: str = "lp3d",
    source_file: str | None = None,
    variance: Any = None,
) -> None:
    """Writes poses as a movement poses dataset in a netCDF-4 file, atomically.

    Args:
        path: the output file (``.nc``).
        position: ``(time, keypoint[, individual], 2 or 3)``; NaN where not found.
        confidence: ``(time, keypoint[, individual])`` (default NaN).
        keypoint_names: ``(keypoint,)``.
        individual_names: ``(individual,)`` (default ``individual_0, ...``).
        index: ``(time,)`` frame numbers (default ``0 .. T-1``).
        fps: frames per second: time in seconds (``frame / fps``); None: time in frames.
        source_software, source_file: attributes.
        variance: ``position``'s shape, written as ``position_variance``.
    """
    import xarray as xr

    from lp3d_io._csv_write import named_pose_values

    values, individuals = named_pose_values(position, confidence, keypoint_names, individual_names)
    space = [c for c in ("x", "y", "z") if c in values]
    T, K, I = values["x"].shape  # noqa: E741
    frames = np.arange(T) if index is None else np.asarray(index).reshape(-1)
    if frames.shape != (T,):
        raise ValueError(f"index: expected {T} frame numbers (from position), but got shape {np.shape(index)}")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: expected a positive number, but got {fps}")
    pos = np.stack([values[c] for c in space], axis=1).astype(np.float64)  # (time, space, keypoint, individual)
    conf = values["likelihood"] if "likelihood" in values else np.full((T, K, I), np.nan)
    data = {
        "position": (MOVEMENT_DIMS, pos),
        "confidence": (("time", "keypoints", "individuals"), conf.astype(np.float64)),
    }
    if variance is not None:
        var = np.asarray(variance, dtype=np.float64)
        if var.ndim == 3:
            var = var[:, :, None]
        if var.shape != (T, K, I, len(space)):
            raise ValueError(
                f"variance: expected shape {(T, K, I, len(space))} (as position), but got {np.shape(variance)}"
            )
        data["position_variance"] = (MOVEMENT_DIMS, var.transpose(0, 3, 1, 2))
    attrs: dict[str, Any] = {"ds_type": "poses", "source_software": source_software}
    if fps is not None:
        attrs["fps"] = float(fps)
        attrs["time_unit"] = "seconds"
        time = frames.astype(np.float64) / float(fps)
    else:
        attrs["time_unit"] = "frames"
        time = frames.astype(np.int64)
    if source_file is not None:
        attrs["source_file"] = str(source_file)
    ds = xr.Dataset(
        data,
        coords={
            "time": time,
            "space": space,
            "keypoints": [str(k) for k in keypoint_names],
            "individuals": individuals,
        },
        attrs=attrs,
    )
    encoding = {name: {"compression": "gzip", "compression_opts": 4, "shuffle": True} for name in data}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=_ENGINE, encoding=encoding)
