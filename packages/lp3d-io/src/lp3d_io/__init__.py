"""lp3d-io: multi-view pose data as labeled arrays, zarr stores, and the file formats labs use.

The dataset convention lives in :mod:`lp3d_io.dataset`; readers are ``from_*`` / ``read_*``,
writers ``to_*`` / ``write_*``. Calibration helpers need lp3d-eks (:mod:`lp3d_io.calibration`),
HDF5 readers the ``hdf5`` extra (:mod:`lp3d_io.hdf5`), video helpers OpenCV (:mod:`lp3d_io.video`).
"""

__version__ = "0.1.0"

from lp3d_io.calibration import (  # noqa: E402
    calibration_from_dataset,
    calibration_to_dataset,
    check_views,
    from_anipose_toml,
    to_anipose_toml,
)
from lp3d_io.csv import (  # noqa: E402
    PoseTable,
    from_pose_csv,
    to_eks_3d_csv,
    to_eks_csv,
    to_label_csvs,
    to_pose_csv,
    to_prediction_csvs,
)
from lp3d_io.dataset import labels_dataset, predictions_dataset, smoothed_dataset, validate  # noqa: E402
from lp3d_io.grouping import group_prediction_files, read_labels, read_predictions  # noqa: E402
from lp3d_io.netcdf import from_netcdf, to_netcdf  # noqa: E402
from lp3d_io.store import (  # noqa: E402
    Store,
    append_frames,
    list_groups,
    open_store,
    read_calibration,
    read_group,
    write_calibration,
    write_group,
)

__all__ = [
    "PoseTable",
    "Store",
    "append_frames",
    "calibration_from_dataset",
    "calibration_to_dataset",
    "check_views",
    "from_anipose_toml",
    "from_netcdf",
    "from_pose_csv",
    "group_prediction_files",
    "labels_dataset",
    "list_groups",
    "open_store",
    "predictions_dataset",
    "read_calibration",
    "read_group",
    "read_labels",
    "read_predictions",
    "smoothed_dataset",
    "to_anipose_toml",
    "to_eks_3d_csv",
    "to_eks_csv",
    "to_label_csvs",
    "to_netcdf",
    "to_pose_csv",
    "to_prediction_csvs",
    "validate",
    "write_calibration",
    "write_group",
]
