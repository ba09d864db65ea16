"""Lightning Pose / DeepLabCut CSV files: predictions, labeled frames, and eks-style outputs.

Layout (one file per view and model)::

    scorer,lp3d,lp3d,lp3d,...          scorer,lp3d,lp3d,...             (multi-animal: 4 rows)
    bodyparts,nose,nose,nose,...       individuals,mouse1,mouse1,...
    coords,x,y,likelihood,...          bodyparts,nose,nose,...
    0,12.5,40.25,0.98,...              coords,x,y,...
    1,...                              0,12.5,40.25,...

The first column holds the row labels: frame numbers for predictions, image paths for labeled
frames (DeepLabCut's newer 3-column index ``labeled-data,video,img.png`` is read too, joined with
``/``). Empty cells are NaN. Besides ``x``, ``y`` (and ``z``) and ``likelihood``, any other coords
(eks writes ``x_ens_median``, ``x_ens_var``, ``x_posterior_var``, ...) are read into
:attr:`PoseTable.extra`.

Numbers are written as pyarrow's CSV writer writes them: the shortest text that reads back to the
same value (of float32 for float32 arrays), positional for 1e-6 <= |x| < 1e10 without a trailing
``.0`` (``12``, ``0.000015``), else ``1.5e-7`` / ``1.2e+12``; NaN as an empty cell. Files up to a few
MB are parsed and formatted with numpy and the standard library (no pyarrow import: the fast path of
``lp3d smooth``); larger ones with pyarrow's multithreaded CSV engine, which gives the same results
(tested), as does every file the plain parser does not take (unusual missing-value tokens, and
malformed files, which are then diagnosed line by line). Writers replace the target atomically, so a
failed write never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lp3d_io._csv_write import SPACE_COORDS, columns_of, write_header, write_rows
from lp3d_io.dataset import NumpyDataset, as_numpy, validate
from lp3d_io.files import atomic_path
from lp3d_io.pose_table import PoseTable

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "EKS_COORDS",
    "EKS_3D_COORDS",
    "from_pose_csv",
    "to_pose_csv",
    "to_eks_csv",
    "to_eks_3d_csv",
    "to_triangulation_csv",
    "to_prediction_csvs",
    "to_label_csvs",
]

EKS_COORDS = (
    "x",
    "y",
    "likelihood",
    "x_ens_median",
    "y_ens_median",
    "x_ens_var",
    "y_ens_var",
    "x_posterior_var",
    "y_posterior_var",
    "x_predictive_var",
    "y_predictive_var",
)
"""The columns of the per-view eks-style CSVs lp3d writes: eks 4.6's, plus the predictive variance."""
EKS_3D_COORDS = ("x", "y", "z", "x_posterior_var", "y_posterior_var", "z_posterior_var")
EKS_SCORER = "ensemble-kalman_tracker"
TRIANGULATION_SCORER = "lp3d_triangulate"


def from_pose_csv(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads a Lightning Pose / DeepLabCut CSV (3-row or 4-row multi-animal header).

    Args:
        path: the CSV file.
        dtype: float dtype of the returned arrays (float32 halves memory).

    Returns:
        A :class:`PoseTable`. Keypoints and individuals are in column order; an
        (individual, keypoint) pair without columns (e.g. DeepLabCut's unique body parts) is NaN.

    Raises:
        ValueError: one line naming the file, the line and column, and what was expected.
    """
    from lp3d_io._csv_read import read_pose_csv

    return read_pose_csv(Path(path), dtype)


def to_pose_csv(table: PoseTable, path: str | os.PathLike) -> None:
    """Writes a pose table as a Lightning Pose / DeepLabCut CSV, atomically (temp file, then rename).

    Columns per keypoint: ``x, y[, z]``, ``likelihood`` when the table has confidence (labeled
    frames have none), then the table's :attr:`~PoseTable.extra` coords; more than one individual
    writes the 4-row multi-animal header. Rows are labeled with ``table.index`` (frame numbers or
    image paths), the header's scorer is ``table.scorer``; NaN is written as an empty cell.

    Args:
        table: what to write (e.g. :meth:`PoseTable.from_numpy`, or a table read from any format).
        path: the output file.
    """
    values = table.coord_values()
    columns = columns_of(table.keypoint_names, table.individual_names, list(values))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write_header(f, table.scorer, columns, len(table.individual_names) > 1)
        write_rows(f, values, table.index)


# --- datasets to files ----------------------------------------------------------------------------


def _check_kind(ds: NumpyDataset | xr.Dataset, kind: str) -> None:
    validate(ds, check_values=False)
    if ds.attrs["lp3d_kind"] != kind:
        raise ValueError(f"dataset: expected a {kind} dataset, but got lp3d_kind={ds.attrs['lp3d_kind']!r}")


def _checked(ds: NumpyDataset | xr.Dataset, kind: str) -> NumpyDataset:
    """``ds`` validated, of ``kind``, in numpy form (lazy arrays read)."""
    _check_kind(ds, kind)
    return as_numpy(ds)


def _xyz(values: np.ndarray, suffix: str) -> dict[str, np.ndarray]:
    """``{x<suffix>: ..., y<suffix>: ..., z<suffix>: ...}`` from the last axis of ``values``."""
    return {f"{axis}{suffix}": values[..., a] for a, axis in enumerate(SPACE_COORDS)}


def _write_frames(
    path: str | os.PathLike,
    spec: NumpyDataset,
    position: np.ndarray,
    confidence: np.ndarray | None,
    extra: dict[str, np.ndarray],
    scorer: str,
) -> None:
    """Writes the pose table of a dataset, one row per frame (its ``time``): ``position (time,
    keypoint, individual, space)``, ``confidence (time, keypoint, individual)`` and ``extra`` coords."""
    table = PoseTable(
        position=position,
        confidence=confidence,
        keypoint_names=_names_of(spec, "keypoint"),
        individual_names=_names_of(spec, "individual"),
        index=spec["time"].values,
        scorer=scorer,
        extra=extra,
    )
    to_pose_csv(table, path)


def _names_of(spec: NumpyDataset, dim: str) -> list[str]:
    return [str(x) for x in spec[dim].values]


def to_eks_csv(
    path: str | os.PathLike,
    smoothed: NumpyDataset | xr.Dataset,
    view: str,
    *,
    scorer: str = EKS_SCORER,
) -> None:
    """Writes one view of a smoothed dataset in the eks per-camera CSV layout.

    Columns per keypoint (:data:`EKS_COORDS`), all in the view's pixels:

    - ``x, y``: the smoothed track in the view (``reprojection``);
    - ``likelihood``: the ensemble's mean confidence (``ensemble_confidence``; empty if absent);
    - ``x_ens_median, y_ens_median, x_ens_var, y_ens_var``: the ensemble's centre and variance;
    - ``x_posterior_var, y_posterior_var``: the posterior variance of the smoothed track
      (``reprojection_variance``): its error bar;
    - ``x_predictive_var, y_predictive_var``: that plus the observation noise the smoother used
      (``predictive_variance``): the spread to expect of a new detection around the track (what
      eks 4.6's multi-camera CSVs call ``posterior_var``); empty if the dataset has none.

    Args:
        path: the output file.
        smoothed: a smoothed dataset (either form).
        view: which view to write.
        scorer: the header's scorer (eks writes ``ensemble-kalman_tracker``).
    """
    spec = _checked(smoothed, "smoothed")
    views = _names_of(spec, "view")
    if view not in views:
        raise ValueError(f"view: expected one of {views}, but got {view!r}")
    v = views.index(view)

    def of_view(name: str) -> np.ndarray:  # (time, keypoint, individual[, image_space = x, y])
        return spec[name].values[v]

    reprojection = of_view("reprojection")
    empty = np.full(reprojection.shape[:-1], np.nan, dtype=reprojection.dtype)
    confidence = of_view("ensemble_confidence") if "ensemble_confidence" in spec else empty
    extra: dict[str, np.ndarray] = {}
    for name, var in (
        ("ens_median", "ensemble_center"),
        ("ens_var", "ensemble_variance"),
        ("posterior_var", "reprojection_variance"),
        ("predictive_var", "predictive_variance"),  # the only one a smoothed dataset may lack
    ):
        for a, axis in enumerate(("x", "y")):
            extra[f"{axis}_{name}"] = of_view(var)[..., a] if var in spec else empty
    _write_frames(path, spec, reprojection, confidence, extra, scorer)


def to_eks_3d_csv(path: str | os.PathLike, smoothed: NumpyDataset | xr.Dataset, *, scorer: str = EKS_SCORER) -> None:
    """Writes the 3D result of a calibrated smoother in the eks layout.

    Columns per keypoint: ``x, y, z, x_posterior_var, y_posterior_var, z_posterior_var`` (see
    :data:`EKS_3D_COORDS`): ``position`` and ``position_variance`` in world units.
    """
    spec = _checked(smoothed, "smoothed")
    if spec.attrs["smoother"] != "calibrated":
        raise ValueError(f"smoothed: expected a calibrated (3D) result, but got smoother={spec.attrs['smoother']!r}")
    position, variance = spec["position"].values, spec["position_variance"].values  # (time, keypoint, individual, 3)
    _write_frames(path, spec, position, None, _xyz(variance, "_posterior_var"), scorer)


def to_triangulation_csv(
    path: str | os.PathLike, triangulated: NumpyDataset | xr.Dataset, *, scorer: str = TRIANGULATION_SCORER
) -> None:
    """Writes a triangulated dataset in the layout of the eks 3D CSV.

    Columns per keypoint: ``x, y, z`` (world units, empty where too few views saw it), ``n_views``
    (views used) and ``reprojection_error_<view>`` per view (pixels, empty where the view has no
    observation).
    """
    spec = _checked(triangulated, "triangulated")
    position = spec["position"].values  # (time, keypoint, individual, 3)
    extra = {"n_views": spec["n_views"].values.astype(np.float64)}  # written as integers
    for v, view in enumerate(_names_of(spec, "view")):
        extra[f"reprojection_error_{view}"] = spec["reprojection_error"].values[v]
    _write_frames(path, spec, position, None, extra, scorer)


def to_prediction_csvs(
    predictions: NumpyDataset | xr.Dataset,
    directory: str | os.PathLike,
    *,
    template: str = "{session}{view}.{member}.csv",
    scorer: str = "lp3d",
) -> dict[tuple[str, str], Path]:
    """Writes a predictions dataset as one CSV per (member, view).

    All files are written together, one block of frames at a time (the dataset's chunks along
    ``time`` when it is lazy), so a store is read once and never whole; each file appears
    atomically when complete.

    Args:
        predictions: a predictions dataset (numpy form, or xarray in memory or lazy).
        directory: output folder (created if missing).
        template: file name; ``{session}`` is the session name followed by ``_`` (empty if
            none), ``{view}`` and ``{member}`` the names. The default names read back with
            :func:`lp3d_io.grouping.read_predictions`.
        scorer: the header's scorer.

    Returns:
        ``{(member, view): path}`` of the files written.
    """
    _check_kind(predictions, "predictions")
    if isinstance(predictions, NumpyDataset):
        predictions = predictions.to_xarray()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    session = f"{predictions.attrs['session']}_" if "session" in predictions.attrs else ""
    members = [str(m) for m in predictions["member"].values]
    views = [str(v) for v in predictions["view"].values]
    individuals = [str(i) for i in predictions["individual"].values]
    columns = columns_of([str(k) for k in predictions["keypoint"].values], individuals, ("x", "y", "likelihood"))
    T = predictions.sizes["time"]
    # a block of frames per chunk of the largest array (each array has its own chunks: lp3d_io.store.storage)
    step = max((predictions[name].chunksizes.get("time") or (T,))[0] for name in ("position", "confidence")) or 1
    paths = {(m, v): directory / template.format(session=session, view=v, member=m) for m in members for v in views}
    with contextlib.ExitStack() as stack:
        files = {}
        for key, path in paths.items():
            files[key] = stack.enter_context(open(stack.enter_context(atomic_path(path)), "wb"))
            write_header(files[key], scorer, columns, len(individuals) > 1)
        for start in range(0, T, step):
            block = predictions.isel(time=slice(start, start + step))
            pos = block["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values
            conf = block["confidence"].transpose("member", "view", "time", "keypoint", "individual").values
            index = block["time"].values
            for (m, v), f in files.items():
                mi, vi = members.index(m), views.index(v)
                values = {"x": pos[mi, vi, ..., 0], "y": pos[mi, vi, ..., 1], "likelihood": conf[mi, vi]}
                write_rows(f, values, index, total_cells=len(files) * T * len(columns))
    return paths


def to_label_csvs(
    labels: NumpyDataset | xr.Dataset,
    directory: str | os.PathLike,
    *,
    template: str = "CollectedData_{view}.csv",
    scorer: str = "lp3d",
) -> dict[str, Path]:
    """Writes a labels dataset in the Lightning Pose multi-view layout: one CSV per view.

    Each file has ``x, y`` columns per keypoint and the image paths as row labels.

    Returns:
        ``{view: path}`` of the files written.
    """
    _check_kind(labels, "labels")
    if isinstance(labels, NumpyDataset):
        labels = labels.to_xarray()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for view in labels["view"].values:
        one = labels.sel(view=view)
        path = directory / template.format(view=view)
        table = PoseTable.from_numpy(
            one["position"].transpose("frame", "keypoint", "individual", "space").values,
            keypoint_names=labels["keypoint"].values,
            individual_names=labels["individual"].values,
            index=one["image_path"].values,
            scorer=scorer,
        )
        to_pose_csv(table, path)
        written[str(view)] = path
    return written
