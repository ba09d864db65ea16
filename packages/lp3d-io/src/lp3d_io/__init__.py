"""lp3d-io: multi-view pose data as labeled arrays, zarr stores, and the file formats labs use.

The dataset convention lives in :mod:`lp3d_io.dataset`, the names of store groups and project files
in :mod:`lp3d_io.layout`, the pose-file readers by format in :mod:`lp3d_io.readers`, atomic outputs
in :mod:`lp3d_io.files`. Readers are ``from_*`` / ``read_*``, writers ``to_*`` / ``write_*``. Cameras
are lp3d-eks's (:mod:`lp3d_io.calibration`); HDF5 readers need the ``hdf5`` extra (:mod:`lp3d_io.hdf5`),
SLEAP ``.slp`` files the ``sleap`` extra (:mod:`lp3d_io.sleap`). Projects of Lightning Pose, DeepLabCut,
SLEAP and anipose are read by :mod:`lp3d_io.lightning_pose`, :mod:`lp3d_io.deeplabcut`, :mod:`lp3d_io.sleap`
and :mod:`lp3d_io.anipose` and written as lp3d projects by :mod:`lp3d_io.projects`.

The names below are imported on first use (PEP 562), and every module imports xarray, zarr, pandas
or pyarrow only inside the functions that need them: ``import lp3d_io.csv`` costs numpy alone.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "calibration": (
        "calibration_from_dataset",
        "calibration_arrays",
        "calibration_to_dataset",
        "check_views",
        "from_anipose_toml",
        "to_anipose_toml",
    ),
    "csv": (
        "from_pose_csv",
        "to_eks_3d_csv",
        "to_eks_csv",
        "to_label_csvs",
        "to_pose_csv",
        "to_prediction_csvs",
        "to_triangulation_csv",
    ),
    "dataset": (
        "NumpyDataset",
        "labels_dataset",
        "labels_arrays",
        "predictions_dataset",
        "predictions_arrays",
        "smoothed_dataset",
        "smoothed_arrays",
        "triangulated_arrays",
        "validate",
    ),
    "files": ("atomic_path", "check_target", "staged_directory"),
    "hdf5": ("from_pose_h5", "to_dlc_h5", "to_sleap_analysis_h5"),
    "movement": ("to_movement_netcdf",),
    "projects": ("ImportedProject", "write_project"),
    "lightning_pose": ("read_lightning_pose_project",),
    "deeplabcut": ("read_deeplabcut_project",),
    "sleap": ("from_sleap_slp", "to_sleap_slp", "read_sleap_project"),
    "anipose": ("read_anipose_project",),
    "grouping": ("group_prediction_files", "read_labels", "read_predictions", "read_predictions_arrays"),
    "netcdf": ("from_netcdf", "to_netcdf"),
    "pose_table": ("PoseTable",),
    "readers": ("from_pose_file", "pose_files"),
    "store": (
        "Store",
        "is_store",
        "append_frames",
        "list_groups",
        "open_store",
        "read_calibration",
        "read_group",
        "write_calibration",
        "write_group",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'lp3d_io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lp3d_io.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
