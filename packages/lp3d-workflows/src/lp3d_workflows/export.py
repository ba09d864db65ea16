"""``lp3d convert --format``: predictions and smoothed results as the files labs analyse with.

| format | file | writer |
|---|---|---|
| ``deeplabcut`` | DeepLabCut HDF5 table (``.h5``) | :func:`lp3d_io.hdf5.to_dlc_h5` |
| ``sleap`` | SLEAP labels of predicted instances (``.slp``) | :func:`lp3d_io.sleap.to_sleap_slp` |
| ``sleap-analysis`` | SLEAP analysis HDF5 (``.analysis.h5``) | :func:`lp3d_io.hdf5.to_sleap_analysis_h5` |
| ``movement`` | movement poses dataset in netCDF (``.nc``) | :func:`lp3d_io.movement.to_movement_netcdf` |

One file per pose table of each dataset, named as ``lp3d smooth`` names its CSVs:

- predictions: ``<session>_<view>.<member><ext>`` per ensemble member and view (confidence: the
  network's);
- smoothed results: ``multicam_<view>_results<ext>`` (``singlecam_...`` for one view) per view, the
  smoothed track in the view (``reprojection``; confidence: the ensemble's mean, when the store has
  it; movement's ``position_variance``: the posterior variance of the eks CSVs), and for the
  calibrated smoother ``multicam_3d_results<ext>`` with the 3D track (DeepLabCut and movement;
  SLEAP files hold 2D poses only);
- triangulations: ``triangulated_3d<ext>`` (DeepLabCut and movement).

Rows are the dataset's frame numbers (``time``); movement's time is in seconds when the dataset
has an ``fps``. Labels have no export here (they are CSV files already: convert to a CSV folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lp3d_workflows.errors import MissingExtraError, UserError
from lp3d_workflows.progress import ProgressCallback, report

if TYPE_CHECKING:
    import xarray as xr
    from lp3d_io.dataset import NumpyDataset
    from lp3d_io.pose_table import PoseTable

__all__ = ["EXPORT_FORMATS", "PoseFile", "pose_files_of", "export_datasets"]

EXPORT_FORMATS = {
    "deeplabcut": ".h5",
    "sleap": ".slp",
    "sleap-analysis": ".analysis.h5",
    "movement": ".nc",
}
_TWO_D_ONLY = ("sleap", "sleap-analysis")


@dataclass(frozen=True, eq=False)
class PoseFile:
    """One pose table of a dataset, to be written as one file.

    Attributes:
        stem: the file name without the format's suffix.
        table: the poses (rows: the dataset's frame numbers; scorer: who made them).
        variance: ``(time, keypoint, individual, 2 or 3)`` as the table's position, or None.
        fps: frames per second, or None.
    """

    stem: str
    table: PoseTable
    variance: np.ndarray | None
    fps: float | None


def _names(ds: Any, dim: str) -> list[str]:
    return [str(x) for x in ds[dim].values]


def _values(ds: Any, name: str, dims: tuple[str, ...]) -> np.ndarray:
    """``ds[name]`` with its dims in ``dims`` order (either form)."""
    var = ds[name]
    have = tuple(var.dims)
    return np.asarray(var.values).transpose([have.index(d) for d in dims])


def pose_files_of(name: str, ds: NumpyDataset | xr.Dataset) -> Iterator[PoseFile]:
    """The pose tables of one dataset (see the module docstring).

    Raises:
        UserError: a labels or calibration dataset.
    """
    from lp3d_io.pose_table import PoseTable

    from lp3d_workflows.smoothing import smoothed_csv_names

    kind = ds.attrs["lp3d_kind"]
    fps = float(ds.attrs["fps"]) if "fps" in ds.attrs else None
    session = f"{ds.attrs['session']}_" if ds.attrs.get("session") else ""
    keypoints, individuals = _names(ds, "keypoint"), _names(ds, "individual")

    def pose_file(
        stem: str, position: np.ndarray, confidence: np.ndarray | None, variance: Any, scorer: str
    ) -> PoseFile:
        table = PoseTable.from_numpy(
            position,
            confidence,
            keypoint_names=keypoints,
            individual_names=individuals,
            index=ds["time"].values,
            scorer=scorer,
        )
        return PoseFile(stem, table, variance, fps)

    if kind == "predictions":
        position = _values(ds, "position", ("member", "view", "time", "keypoint", "individual", "space"))
        confidence = _values(ds, "confidence", ("member", "view", "time", "keypoint", "individual"))
        for m, member in enumerate(_names(ds, "member")):
            for v, view in enumerate(_names(ds, "view")):
                yield pose_file(f"{session}{view}.{member}", position[m, v], confidence[m, v], None, "lp3d")
    elif kind == "smoothed":
        views = _names(ds, "view")
        reprojection = _values(ds, "reprojection", ("view", "time", "keypoint", "individual", "image_space"))
        variance = _values(ds, "reprojection_variance", ("view", "time", "keypoint", "individual", "image_space"))
        confidence = (
            _values(ds, "ensemble_confidence", ("view", "time", "keypoint", "individual"))
            if "ensemble_confidence" in ds.data_vars
            else None
        )
        names = smoothed_csv_names(ds.attrs["smoother"], views)
        for v, view in enumerate(views):
            view_confidence = None if confidence is None else confidence[v]
            yield pose_file(Path(names[view]).stem, reprojection[v], view_confidence, variance[v], "lp3d_eks")
        if "3d" in names:
            dims = ("time", "keypoint", "individual", "space")
            position, position_variance = _values(ds, "position", dims), _values(ds, "position_variance", dims)
            yield pose_file(Path(names["3d"]).stem, position, None, position_variance, "lp3d_eks")
    elif kind == "triangulated":
        dims = ("time", "keypoint", "individual", "space")
        yield pose_file("triangulated_3d", _values(ds, "position", dims), None, None, "lp3d_triangulate")
    else:
        raise UserError(
            f"group {name!r}: a {kind} dataset has no export (labels are CSV files: convert to a CSV folder instead)"
        )


def _write(fmt: str, path: Path, pose: PoseFile) -> None:
    if fmt == "deeplabcut":
        from lp3d_io.hdf5 import to_dlc_h5

        to_dlc_h5(pose.table, path)
    elif fmt == "sleap-analysis":
        from lp3d_io.hdf5 import to_sleap_analysis_h5

        to_sleap_analysis_h5(pose.table, path)
    elif fmt == "sleap":
        from lp3d_io.sleap import to_sleap_slp

        to_sleap_slp(pose.table, path)
    else:
        from lp3d_io.movement import to_movement_netcdf

        to_movement_netcdf(pose.table, path, fps=pose.fps, variance=pose.variance)


def export_datasets(
    groups: dict[str, NumpyDataset | xr.Dataset], dst: Path, fmt: str, *, progress: ProgressCallback | None = None
) -> tuple[list[Path], list[str]]:
    """Writes the datasets' pose tables in format ``fmt`` into the folder ``dst``, whole or not at all.

    Args:
        groups: datasets by group name (the calibration is left out); several go to sub-folders
            named after their kind (``predictions/``, ``smoothed/``, ...).
        dst: the folder (replaced if it exists: the caller checks beforehand).
        fmt: one of :data:`EXPORT_FORMATS`.
        progress: called per file.

    Returns:
        The files written (at their final paths) and notes on what a format cannot hold.

    Raises:
        UserError: an unknown format, a dataset without an export, or nothing to write.
        MissingExtraError: the format's optional package is missing (the message names the extra).
    """
    from lp3d_io.files import staged_directory

    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format: expected one of {', '.join(EXPORT_FORMATS)}, but got {fmt!r}")
    suffix = EXPORT_FORMATS[fmt]
    data = {k: v for k, v in groups.items() if v.attrs["lp3d_kind"] != "calibration"}
    planned: list[tuple[Path, PoseFile]] = []
    notes: list[str] = []
    for name, ds in data.items():
        folder = Path(".") if len(data) == 1 else Path(name.split("/")[0])
        for pose in pose_files_of(name, ds):
            if len(pose.table.space) == 3 and fmt in _TWO_D_ONLY:
                notes.append(f"{name}: {pose.stem} (3D) not written: SLEAP files hold 2D poses")
                continue
            planned.append((folder / f"{pose.stem}{suffix}", pose))
    if not planned:
        raise UserError(f"--format {fmt}: nothing to write ({'; '.join(notes) or 'SRC holds no pose data'})")
    written = []
    with staged_directory(dst) as tmp:
        for i, (relative, pose) in enumerate(planned):
            report(progress, f"writing {relative.name}", i, len(planned))
            (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
            try:
                _write(fmt, tmp / relative, pose)
            except ImportError as err:  # the format's optional package (sleap-io, PyTables)
                raise MissingExtraError(str(err)) from None
            written.append(dst / relative)
    return written, notes
