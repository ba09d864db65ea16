"""``lp3d triangulate``: per-frame DLT triangulation of the ensemble centers, no smoothing.

For comparison with ``lp3d smooth``: each frame and keypoint is triangulated on its own from the
ensemble center (median by default) of every view that has one
(:func:`lp3d_eks.triangulate_observations`), or, robustly, from the largest group of views that
agree within a pixel threshold (``robust_px``: :func:`lp3d_eks.triangulate_robust`, which drops a
view that disagrees with the others). A session's output folder holds::

    triangulated_3d.csv    per keypoint: x, y, z (world units), n_views (views used; 0 = no
                           position), reprojection_error_<view> (pixels, empty where the view
                           has no observation)

in the 3-row header layout of the eks CSVs, one row per frame: a ``triangulated`` dataset of
lp3d-io (:func:`lp3d_io.dataset.triangulated_arrays`) written by :func:`lp3d_io.csv.to_triangulation_csv`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from lp3d_io.files import staged_directory

from lp3d_workflows.errors import UserError, failure_fields
from lp3d_workflows.progress import ProgressCallback, report
from lp3d_workflows.sessions import PredictionSession, find_prediction_sessions, load_predictions
from lp3d_workflows.smoothing import load_rig, select_keypoints

if TYPE_CHECKING:
    from lp3d_eks import CameraRig
    from lp3d_io.dataset import NumpyDataset

__all__ = [
    "TRIANGULATION_CSV",
    "TriangulationSummary",
    "triangulate_dataset",
    "triangulate_session",
    "triangulate_inputs",
]

TRIANGULATION_CSV = "triangulated_3d.csv"


@dataclass(frozen=True)
class TriangulationSummary:
    """What happened to one session.

    Attributes:
        session: session name.
        out: its output folder (``TRIANGULATION_CSV`` inside).
        n_frames, n_keypoints: sizes.
        triangulated: share of (frame, keypoint, individual) entries with a 3D position.
        median_reprojection_error: over every view's observations, pixels (NaN if none).
        seconds: wall time.
        inconsistent_views: with ``robust_px``: one sentence per view that disagrees with the others
            (:func:`lp3d_eks.describe_inconsistent_views`).
        error: one-line error if the session failed (batches), else None.
        user_error: whether ``error`` is bad input rather than a bug.
        traceback: the failure's traceback.
    """

    session: str
    out: Path
    n_frames: int = 0
    n_keypoints: int = 0
    triangulated: float = 0.0
    median_reprojection_error: float = float("nan")
    seconds: float = 0.0
    inconsistent_views: list[str] = field(default_factory=list)
    error: str | None = None
    user_error: bool = True
    traceback: str | None = None


def triangulate_dataset(
    predictions: NumpyDataset, rig: CameraRig, *, center: str = "median", robust_px: float | None = None
) -> NumpyDataset:
    """Triangulates every individual of a predictions dataset (numpy form).

    Args:
        predictions: the ensemble predictions.
        rig: one camera per view, in view order.
        center: the ensemble centre, ``"median"`` or ``"mean"``.
        robust_px: triangulate from the largest group of views agreeing within this many pixels
            (None: every view that has an observation).

    Returns:
        A ``triangulated`` dataset: ``position`` ``(time, keypoint, individual, 3)``,
        ``reprojection_error`` ``(view, time, keypoint, individual)`` in pixels (of every view's
        detection, used or dropped), ``n_views`` ``(time, keypoint, individual)`` (views used).
    """
    from lp3d_eks import ensemble_statistics, triangulate_observations, triangulate_robust
    from lp3d_io.dataset import triangulated_arrays

    views = [str(v) for v in predictions["view"].values]
    if rig.names != views:
        raise UserError(f"calibration: expected cameras {views} (the views of the data), but got {rig.names}")
    if len(views) < 2:
        raise UserError(f"--views: expected at least 2 cameras to triangulate, but got {views}")
    position = predictions["position"].values  # (member, view, time, keypoint, individual, space)
    parts = []
    for i in range(predictions.sizes["individual"]):
        stats = ensemble_statistics(position[..., i, :].astype(np.float64), center=center)
        if robust_px is None:
            parts.append(triangulate_observations(stats, rig))
        else:
            robust = triangulate_robust(stats, rig, threshold_px=robust_px)
            parts.append((robust.points, robust.error, robust.n_used))
    return triangulated_arrays(
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
        **({} if robust_px is None else {"robust_threshold_px": float(robust_px)}),
    )


def _inconsistent_views(triangulated: NumpyDataset, threshold_px: float) -> list[str]:
    """Sentences naming the views that the robust triangulation dropped often (per individual)."""
    from types import SimpleNamespace

    from lp3d_eks import describe_inconsistent_views

    errors = triangulated["reprojection_error"].values  # (view, time, keypoint, individual)
    views = [str(v) for v in triangulated["view"].values]
    keypoints = [str(k) for k in triangulated["keypoint"].values]
    individuals = [str(i) for i in triangulated["individual"].values]
    sentences = []
    for i, individual in enumerate(individuals):
        with np.errstate(all="ignore"):
            finite = np.isfinite(errors[..., i])
            median = np.where(
                finite.any(axis=1), np.nanmedian(np.where(finite, errors[..., i], np.nan), axis=1), np.nan
            )
        found = SimpleNamespace(view_disagreement=median, inconsistent_views=median > threshold_px)
        prefix = f"{individual}: " if len(individuals) > 1 else ""
        sentences += [prefix + s for s in describe_inconsistent_views(found, views, keypoints)]
    return sentences


def triangulate_session(
    session: PredictionSession,
    rig: CameraRig,
    out: Path,
    *,
    views: Sequence[str] | None = None,
    keypoints: Sequence[str] | None = None,
    center: str = "median",
    robust_px: float | None = None,
) -> TriangulationSummary:
    """Triangulates one session into ``out/triangulated_3d.csv`` (``out`` appears whole or not at all)."""
    from lp3d_io.csv import to_triangulation_csv

    start = time.perf_counter()
    predictions = select_keypoints(load_predictions(session, view_names=views, rig=rig), keypoints)
    triangulated = triangulate_dataset(predictions, rig, center=center, robust_px=robust_px)
    with staged_directory(out) as tmp:
        to_triangulation_csv(tmp / TRIANGULATION_CSV, triangulated)
    points, errors, n_views = (triangulated[name].values for name in ("position", "reprojection_error", "n_views"))
    seen = np.isfinite(errors)
    return TriangulationSummary(
        inconsistent_views=_inconsistent_views(triangulated, robust_px) if robust_px is not None else [],
        session=session.name,
        out=out,
        n_frames=points.shape[0],
        n_keypoints=points.shape[1],
        triangulated=float(np.mean(n_views > 0)),
        median_reprojection_error=float(np.median(errors[seen])) if seen.any() else float("nan"),
        seconds=time.perf_counter() - start,
    )


def triangulate_inputs(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    calibration: Path,
    *,
    views: Sequence[str] | None = None,
    keypoints: Sequence[str] | None = None,
    center: str = "median",
    robust_px: float | None = None,
    overwrite: bool = False,
    on_result: Callable[[TriangulationSummary], None] | None = None,
    progress: ProgressCallback | None = None,
) -> list[TriangulationSummary]:
    """Triangulates every session of ``inputs`` (``lp3d triangulate``): a single session raises on
    error; in a batch every session runs, and a failed one has its ``error`` set.
    """
    from lp3d_workflows.batch import plan_outputs

    rig = load_rig(calibration, views)
    sessions = find_prediction_sessions(inputs)
    outs = plan_outputs(sessions, Path(out), overwrite)
    summaries = []
    for i, (session, target) in enumerate(zip(sessions, outs, strict=True)):
        report(progress, f"triangulating {session.name}", i, len(sessions) if len(sessions) > 1 else None)
        start = time.perf_counter()
        try:
            summary = triangulate_session(
                session, rig, target, views=views, keypoints=keypoints, center=center, robust_px=robust_px
            )
        except Exception as err:
            if len(sessions) == 1:
                raise
            summary = TriangulationSummary(  # one bad session must not stop the others
                session=session.name,
                out=target,
                seconds=time.perf_counter() - start,
                **failure_fields(err),
            )
        summaries.append(summary)
        if on_result is not None:
            on_result(summary)
    report(progress, "triangulated", len(sessions), len(sessions))
    return summaries
