"""``lp3d triangulate``: per-frame DLT triangulation of the ensemble centers, no smoothing.

For comparison with ``lp3d smooth``: each frame and keypoint is triangulated on its own from the
ensemble center (median by default) of every view that has one
(:func:`lp3d_eks.triangulate_observations`). A session's output folder holds::

    triangulated_3d.csv    per keypoint: x, y, z (world units), n_views (views used; 0 = no
                           position), reprojection_error_<view> (pixels, empty where the view
                           has no observation)

in the 3-row header layout of the eks CSVs, one row per frame: a ``triangulated`` dataset of
lp3d-io (:func:`lp3d_io.dataset.triangulated_spec`) written by :func:`lp3d_io.csv.to_triangulation_csv`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lp3d_cli.console import failure, info, print_table, progress
from lp3d_cli.errors import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, UserError, is_user_error, one_line
from lp3d_cli.outputs import staged_directory
from lp3d_cli.sessions import Session, find_sessions, load_predictions
from lp3d_cli.smoothing import load_rig, select_keypoints

if TYPE_CHECKING:
    from lp3d_eks import CameraRig
    from lp3d_io.dataset import DatasetSpec

__all__ = ["triangulate_dataset", "run_triangulate"]

CSV_NAME = "triangulated_3d.csv"


def triangulate_dataset(predictions: DatasetSpec, rig: CameraRig, *, center: str = "median") -> DatasetSpec:
    """Triangulates every individual of a predictions dataset (numpy form).

    Returns:
        A ``triangulated`` dataset: ``position`` ``(time, keypoint, individual, 3)``,
        ``reprojection_error`` ``(view, time, keypoint, individual)`` in pixels, ``n_views``
        ``(time, keypoint, individual)``.
    """
    from lp3d_eks import ensemble_statistics, triangulate_observations
    from lp3d_io.dataset import triangulated_spec

    views = [str(v) for v in predictions["view"].values]
    if rig.names != views:
        raise UserError(f"calibration: expected cameras {views} (the views of the data), but got {rig.names}")
    if len(views) < 2:
        raise UserError(f"--views: expected at least 2 cameras to triangulate, but got {views}")
    position = predictions["position"].values  # (member, view, time, keypoint, individual, space)
    parts = []
    for i in range(predictions.sizes["individual"]):
        stats = ensemble_statistics(position[..., i, :].astype(np.float64), center=center)
        parts.append(triangulate_observations(stats, rig))
    return triangulated_spec(
        np.stack([p[0] for p in parts], axis=2),
        np.stack([p[1] for p in parts], axis=3),
        np.stack([p[2] for p in parts], axis=2),
        view_names=views,
        keypoint_names=[str(k) for k in predictions["keypoint"].values],
        individual_names=[str(i) for i in predictions["individual"].values],
        time=predictions["time"].values,
        fps=predictions.attrs.get("fps"),
        source_files=predictions.attrs.get("source_files"),
        session=predictions.attrs.get("session"),
        center=center,
    )


def _triangulate_session(session: Session, rig: CameraRig, views, keypoints, center: str, out: Path) -> float:
    start = time.perf_counter()
    from lp3d_io.csv import to_triangulation_csv

    predictions = select_keypoints(load_predictions(session, view_names=views, rig=rig), keypoints)
    triangulated = triangulate_dataset(predictions, rig, center=center)
    with staged_directory(out) as tmp:
        to_triangulation_csv(tmp / CSV_NAME, triangulated)
    points, errors, n_views = (triangulated[name].values for name in ("position", "reprojection_error", "n_views"))
    seen = np.isfinite(errors)
    info(
        f"{session.name}: {points.shape[0]} frames, {points.shape[1]} keypoints; "
        f"{100 * np.mean(n_views > 0):.1f}% triangulated; median reprojection error "
        f"{float(np.median(errors[seen])) if seen.any() else float('nan'):.2f} px -> {out / CSV_NAME}"
    )
    return time.perf_counter() - start


def run_triangulate(
    inputs: Sequence[os.PathLike],
    out: Path,
    calibration: Path,
    *,
    views: Sequence[str] | None,
    keypoints: Sequence[str] | None,
    center: str,
    overwrite: bool,
) -> int:
    """``lp3d triangulate``: every session in turn; in a batch one failure does not stop the others.

    Returns:
        The exit code (0; for a batch with failures 2 if all were bad input, else 1).
    """
    from lp3d_cli.batch import plan_outputs

    rig = load_rig(calibration, views)
    sessions = find_sessions(inputs)
    outs = plan_outputs(sessions, out, overwrite)
    if len(sessions) == 1:
        with progress(f"triangulating {sessions[0].name}"):
            _triangulate_session(sessions[0], rig, views, keypoints, center, outs[0])
        return 0
    failed: list[tuple[str, BaseException]] = []
    with progress("sessions", total=len(sessions)) as bar:
        for session, target in zip(sessions, outs, strict=True):
            try:
                _triangulate_session(session, rig, views, keypoints, center, target)
            except Exception as err:  # one bad session must not stop the others
                failed.append((session.name, err))
                failure(f"{session.name}: failed: {one_line(err)}")
            bar.update(advance=1)
    print_table(f"{len(sessions)} sessions: {len(sessions) - len(failed)} triangulated, {len(failed)} failed")
    if not failed:
        return 0
    return EXIT_USER_ERROR if all(is_user_error(e) for _, e in failed) else EXIT_INTERNAL_ERROR
