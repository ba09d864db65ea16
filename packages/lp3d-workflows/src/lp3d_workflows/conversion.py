"""``lp3d convert``: between prediction CSV sets, lp3d stores (zarr) and netCDF files.

The format of SRC and DST follows from the path: ``.zarr`` is a store, ``.nc`` a netCDF file,
anything else a folder of CSV files. What is converted are lp3d datasets (see
:mod:`lp3d_io.dataset`), each a *group* of a store:

- a CSV folder is read as ensemble predictions (files grouped into members and views as by
  ``lp3d smooth``) and becomes the group ``predictions/ensemble`` (plus ``calibration`` with
  ``--calibration``);
- a netCDF file holds one dataset; it becomes ``predictions/ensemble``, ``smoothed/eks``,
  ``labels/labels`` or ``calibration`` according to its kind;
- a store holds several groups; ``--group`` picks one.

With ``--format`` (:mod:`lp3d_workflows.export`), DST is a folder of DeepLabCut HDF5, SLEAP
``.slp`` / analysis HDF5 or movement netCDF files instead.

Written as CSV, predictions give one file per member and view, smoothed results the eks CSVs
(per view, and 3D for a calibrated smoother), labels one file per view; with several groups
each goes to its own sub-folder (``predictions/``, ``smoothed/``, ``labels/``). A netCDF file
takes one dataset (the calibration is not written to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lp3d_io.files import atomic_path, check_target, is_occupied, staged_directory
from lp3d_io.layout import CALIBRATION_GROUP, ENSEMBLE_GROUP, group_name
from lp3d_io.readers import POSE_SUFFIXES, pose_files
from lp3d_io.store import is_store

from lp3d_workflows.errors import UserError
from lp3d_workflows.progress import ProgressCallback, report
from lp3d_workflows.sessions import PredictionSession, load_predictions
from lp3d_workflows.smoothing import load_rig, smoothed_csv_names

if TYPE_CHECKING:
    import xarray as xr
    from lp3d_io.dataset import NumpyDataset

__all__ = ["ConversionResult", "read_source", "write_destination", "convert"]


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` wrote: the groups (dataset names), whether DST replaced an earlier one,
    and with ``format``, the files written and notes on what the format cannot hold."""

    groups: list[str]
    dst: Path
    replaced: bool
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _format(path: Path) -> str:
    if path.suffix == ".zarr" or is_store(path):
        return "zarr"
    if path.suffix == ".nc":
        return "netcdf"
    return "csv"


def read_source(
    src: Path, *, group: str | None, views: Sequence[str] | None, calibration: Path | None
) -> dict[str, NumpyDataset | xr.Dataset]:
    """The datasets of SRC by group name (loaded into memory)."""
    if not src.exists():
        raise UserError(f"SRC {src}: no such file or folder")
    kind = _format(src)
    if kind == "csv":
        if not src.is_dir():
            raise UserError(f"SRC {src}: expected a folder of CSV files, a store (.zarr) or a .nc file")
        files = tuple(pose_files(src))
        if not files:
            raise UserError(
                f"SRC {src}: expected prediction files ({', '.join(POSE_SUFFIXES)}) in the folder, but found none"
            )
        rig = load_rig(calibration, views) if calibration is not None else None
        groups = {ENSEMBLE_GROUP: load_predictions(PredictionSession(src.name, files), view_names=views, rig=rig)}
        if rig is not None:
            from lp3d_io.calibration import calibration_arrays

            groups[CALIBRATION_GROUP] = calibration_arrays(rig)
    elif kind == "netcdf":
        from lp3d_io.netcdf import from_netcdf

        ds = from_netcdf(src)
        groups = {group_name(ds.attrs["lp3d_kind"]): ds}
    else:
        from lp3d_io.store import list_groups, read_group

        groups = {name: read_group(src, name).load() for name in list_groups(src)}
    if group is not None:
        if group not in groups:
            raise UserError(f"--group: expected one of {sorted(groups)}, but got {group!r}")
        groups = {group: groups[group]}
    if not groups:
        raise UserError(f"SRC {src}: expected at least one dataset, but it holds none")
    return groups


def _write_csvs(name: str, ds: NumpyDataset | xr.Dataset, folder: Path) -> None:
    from lp3d_io.csv import to_eks_3d_csv, to_eks_csv, to_label_csvs, to_prediction_csvs

    kind = ds.attrs["lp3d_kind"]
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "predictions":
        to_prediction_csvs(ds, folder)
    elif kind == "labels":
        to_label_csvs(ds, folder)
    elif kind == "smoothed":
        for key, file_name in smoothed_csv_names(ds.attrs["smoother"], [str(v) for v in ds["view"].values]).items():
            if key == "3d":
                to_eks_3d_csv(folder / file_name, ds)
            else:
                to_eks_csv(folder / file_name, ds, key)
    else:
        raise UserError(f"group {name!r}: a {kind} dataset has no CSV form (pick another with --group)")


def write_destination(groups: dict[str, NumpyDataset | xr.Dataset], dst: Path) -> None:
    """Writes the datasets to DST (checked beforehand), atomically."""
    kind = _format(dst)
    if kind == "netcdf":
        from lp3d_io.netcdf import to_netcdf

        data = {k: v for k, v in groups.items() if k != CALIBRATION_GROUP}
        if len(data) != 1:
            raise UserError(
                f"DST {dst}: a netCDF file holds one dataset, but SRC has {sorted(data)}; expected --group NAME"
            )
        to_netcdf(next(iter(data.values())), dst)
        return
    if kind == "zarr":
        from lp3d_io.store import open_store, write_group

        sessions = {str(ds.attrs["session"]) for ds in groups.values() if "session" in ds.attrs}
        with atomic_path(dst, create=False) as tmp:
            store = open_store(tmp, session=sessions.pop() if len(sessions) == 1 else None)
            for name, ds in groups.items():
                write_group(store, name, ds)
        return
    with staged_directory(dst) as tmp:
        data = {k: v for k, v in groups.items() if k != CALIBRATION_GROUP} or groups
        for name, ds in data.items():
            _write_csvs(name, ds, tmp if len(data) == 1 else tmp / name.split("/")[0])


def convert(
    src: Path,
    dst: Path,
    *,
    group: str | None = None,
    views: Sequence[str] | None = None,
    calibration: Path | None = None,
    overwrite: bool = False,
    format: str | None = None,
    progress: ProgressCallback | None = None,
) -> ConversionResult:
    """Converts SRC to DST (``lp3d convert``): checks both, reads SRC, writes DST atomically.

    Args:
        src, dst: a CSV folder, a store (``.zarr``) or a netCDF file (``.nc``), by their paths.
        group: the one group of SRC to convert (default all).
        views, calibration: for CSV input, the view names (camera names with a calibration).
        overwrite: replace an existing DST.
        format: export the poses to a folder DST of files of another tool
            (:data:`lp3d_workflows.export.EXPORT_FORMATS`: ``deeplabcut``, ``sleap``,
            ``sleap-analysis``, ``movement``); None: DST's format follows from its path.
        progress: called as it reads and writes.
    """
    if format is not None:
        return _export(
            src, dst, format, group=group, views=views, calibration=calibration, overwrite=overwrite, progress=progress
        )
    if _format(src) == "csv" and _format(dst) == "csv":
        raise UserError(f"SRC {src} and DST {dst} are both CSV folders; expected DST ending in .zarr or .nc")
    if dst.resolve() == src.resolve():
        raise UserError(f"DST {dst}: expected a different path than SRC")
    if _format(dst) == "netcdf":
        if dst.is_dir():
            raise UserError(f"DST {dst}: expected a .nc file, but it is a folder")
        if dst.exists() and not overwrite:
            raise UserError(f"DST {dst}: already exists (pass --overwrite to replace it)")
        if not dst.parent.is_dir():
            raise UserError(f"DST {dst}: expected an existing folder {dst.parent} to write into")
    else:
        check_target(dst, overwrite, "DST")
    replaced = is_occupied(dst)
    report(progress, f"reading {src.name}")
    groups = read_source(src, group=group, views=views, calibration=calibration)
    report(progress, f"writing {dst.name}")
    write_destination(groups, dst)
    return ConversionResult(sorted(groups), dst, replaced)


def _export(
    src: Path,
    dst: Path,
    fmt: str,
    *,
    group: str | None,
    views: Sequence[str] | None,
    calibration: Path | None,
    overwrite: bool,
    progress: ProgressCallback | None,
) -> ConversionResult:
    """``convert`` with ``format``: SRC's pose tables as files of another tool in the folder DST."""
    from lp3d_workflows.export import EXPORT_FORMATS, export_datasets

    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format: expected one of {', '.join(EXPORT_FORMATS)}, but got {fmt!r}")
    if _format(dst) != "csv":
        raise UserError(f"DST {dst}: expected a folder for --format {fmt}, but got a {dst.suffix} path")
    if dst.resolve() == src.resolve():
        raise UserError(f"DST {dst}: expected a different path than SRC")
    check_target(dst, overwrite, "DST")
    replaced = is_occupied(dst)
    report(progress, f"reading {src.name}")
    groups = read_source(src, group=group, views=views, calibration=calibration)
    files, notes = export_datasets(groups, dst, fmt, progress=progress)
    return ConversionResult(sorted(groups), dst, replaced, files, notes)
