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
from typing import Any

import numpy as np

from lp3d_io.files import atomic_path
from lp3d_io.pose_table import PoseTable

__all__ = ["to_movement_netcdf", "MOVEMENT_DIMS"]

MOVEMENT_DIMS = ("time", "space", "keypoints", "individuals")
_ENGINE = "h5netcdf"


def to_movement_netcdf(
    table: PoseTable,
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    source_software: str | None = None,
    source_file: str | os.PathLike | None = None,
    variance: Any = None,
) -> None:
    """Writes a pose table as a movement poses dataset in a netCDF-4 file, atomically.

    ``time`` comes from the table's index (frame numbers), ``confidence`` from its confidence (NaN
    where it has none); its extra coords are not written.

    Args:
        table: what to write.
        path: the output file (``.nc``).
        fps: frames per second: time in seconds (``frame / fps``); None: time in frames.
        source_software: default the table's scorer.
        source_file: default the file the table was read from (none if it was not read).
        variance: ``(time, keypoint[, individual], space)`` as the table's position, written as
            ``position_variance``.
    """
    import xarray as xr

    frames = table.frame_numbers()
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: expected a positive number, but got {fps}")
    data = {
        "position": (MOVEMENT_DIMS, table.position.transpose(0, 3, 1, 2).astype(np.float64)),
        "confidence": (("time", "keypoints", "individuals"), table.confidence_or_nan()),
    }
    if variance is not None:
        var = np.asarray(variance, dtype=np.float64)
        if var.ndim == 3:
            var = var[:, :, None]
        if var.shape != table.position.shape:
            raise ValueError(
                f"variance: expected shape {table.position.shape} (as position), but got {np.shape(variance)}"
            )
        data["position_variance"] = (MOVEMENT_DIMS, var.transpose(0, 3, 1, 2))
    source_software = table.scorer if source_software is None else source_software
    source_file = table.path if source_file is None else source_file
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
    coords = {
        "time": time,
        "space": list(table.space),
        "keypoints": table.keypoint_names,
        "individuals": table.individual_names,
    }
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    encoding = {name: {"compression": "gzip", "compression_opts": 4, "shuffle": True} for name in data}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=_ENGINE, encoding=encoding)
