"""Camera calibration: anipose TOML files, checks against view names, and a dataset form for stores.

The camera model and the TOML parsing are :mod:`lp3d_eks.camera`'s (:class:`lp3d_eks.CameraRig`,
cameras ordered by their ``cam_N`` number); this module adds what I/O needs around them.

Dataset form (``lp3d_kind = "calibration"``, one row per camera along ``view``)::

    matrix       (view, row, column)     intrinsic matrix K, 3 x 3
    distortion   (view, coefficient)     k1, k2, p1, p2, k3
    rotation     (view, axis)            world-to-camera Rodrigues vector
    translation  (view, axis)            world-to-camera translation
    image_size   (view, extent)          width, height in pixels
    fisheye      (view)                  1 for OpenCV's fisheye lens model (distortion then holds
                                         k1, k2, k3, k4, 0), 0 for pinhole; only when a lens is
                                         fisheye (absent: all pinhole)

with the calibration file's ``[metadata]`` table as JSON in the attribute ``metadata_json`` (so
booleans and nested tables survive netCDF and zarr).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lp3d_io.dataset import NumpyDataset, Variable, as_numpy, validate

if TYPE_CHECKING:
    import xarray as xr
    from lp3d_eks import CameraRig

__all__ = [
    "DISTORTION_COEFFICIENTS",
    "from_anipose_toml",
    "to_anipose_toml",
    "check_views",
    "calibration_arrays",
    "calibration_to_dataset",
    "calibration_from_dataset",
]

DISTORTION_COEFFICIENTS = ("k1", "k2", "p1", "p2", "k3")


def check_views(
    rig: CameraRig, view_names: Sequence[str], *, source: str = "calibration", allow_extra: bool = False
) -> CameraRig:
    """Checks that the rig has a camera for every view and returns it in view order.

    Args:
        rig: the cameras.
        view_names: the views the data has.
        source: named in errors (e.g. the calibration file).
        allow_extra: accept cameras without data (they are dropped); otherwise an error.

    Raises:
        ValueError: lists the views without a camera and the cameras without a view.
    """
    views = [str(v) for v in view_names]
    dup = sorted({v for v in views if views.count(v) > 1})
    if dup:
        raise ValueError(f"view_names: expected unique names, but {dup} appear more than once")
    missing = [v for v in views if v not in rig.names]
    extra = [c for c in rig.names if c not in views]
    if missing or (extra and not allow_extra):
        parts = []
        if missing:
            parts.append(f"missing cameras {missing}")
        if extra and not allow_extra:
            parts.append(f"extra cameras {extra}")
        raise ValueError(f"{source}: expected cameras {views}, but got {rig.names} ({'; '.join(parts)})")
    return rig.subset(views)


def from_anipose_toml(
    path: str | os.PathLike, view_names: Sequence[str] | None = None, *, allow_extra: bool = False
) -> CameraRig:
    """Reads an anipose calibration file.

    Args:
        path: the TOML file.
        view_names: if given, the rig is checked against them and returned in their order.
        allow_extra: with ``view_names``, drop cameras that have no view instead of raising.

    Raises:
        ValueError: a missing field, a bad value, duplicated camera names, or cameras that do
            not match ``view_names``; one line naming the file.
    """
    from lp3d_eks import CameraRig

    path = Path(path)
    try:
        rig = CameraRig.from_toml(path)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if str(path) in message else f"{path}: {message}") from None
    if view_names is None:
        return rig
    return check_views(rig, view_names, source=str(path), allow_extra=allow_extra)


def to_anipose_toml(rig: CameraRig, path: str | os.PathLike) -> None:
    """Writes an anipose calibration file, atomically (cameras as ``cam_0, cam_1, ...`` in order)."""
    rig.to_toml(path)


def calibration_arrays(rig: CameraRig) -> NumpyDataset:
    """The rig as a calibration dataset (see the module docstring), in numpy form."""
    cams = rig.cameras
    spec = NumpyDataset(
        {
            "matrix": Variable(("view", "row", "column"), np.stack([c.matrix for c in cams])),
            "distortion": Variable(("view", "coefficient"), np.stack([c.dist for c in cams])),
            "rotation": Variable(("view", "axis"), np.stack([c.rvec for c in cams])),
            "translation": Variable(("view", "axis"), np.stack([c.tvec for c in cams])),
            "image_size": Variable(("view", "extent"), np.array([c.size for c in cams], dtype=np.int64)),
            **(
                {"fisheye": Variable(("view",), np.array([c.fisheye for c in cams], dtype=np.int64))}
                if any(c.fisheye for c in cams)
                else {}
            ),
        },
        {
            "view": np.array(rig.names, dtype=str),
            "coefficient": np.array(DISTORTION_COEFFICIENTS, dtype=str),
            "axis": np.array(["x", "y", "z"]),
            "extent": np.array(["width", "height"]),
        },
        {"lp3d_kind": "calibration", "metadata_json": json.dumps(rig.metadata)},
    )
    validate(spec)
    return spec


def calibration_to_dataset(rig: CameraRig) -> xr.Dataset:
    """The rig as a calibration dataset (an :class:`xarray.Dataset`; see :func:`calibration_arrays`)."""
    return calibration_arrays(rig).to_xarray()


def calibration_from_dataset(ds: NumpyDataset | xr.Dataset) -> CameraRig:
    """The rig stored in a calibration dataset (inverse of :func:`calibration_to_dataset`)."""
    from lp3d_eks import Camera, CameraRig

    validate(ds)
    if ds.attrs["lp3d_kind"] != "calibration":
        raise ValueError(f"dataset: expected a calibration dataset, but got lp3d_kind={ds.attrs['lp3d_kind']!r}")
    spec = as_numpy(ds)
    cameras = tuple(
        Camera(
            name=str(view),
            size=tuple(int(x) for x in spec["image_size"].values[i]),
            matrix=spec["matrix"].values[i],
            dist=spec["distortion"].values[i],
            rvec=spec["rotation"].values[i],
            tvec=spec["translation"].values[i],
            fisheye=bool(spec["fisheye"].values[i]) if "fisheye" in spec else False,
        )
        for i, view in enumerate(spec["view"].values)
    )
    return CameraRig(cameras, json.loads(spec.attrs.get("metadata_json", "{}")))
