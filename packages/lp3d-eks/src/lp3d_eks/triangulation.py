"""Per-frame triangulation without smoothing: plain DLT of every view, and robust DLT that drops
the views that disagree.

Both triangulate each frame and keypoint on its own, from undistorted normalized coordinates.

**Plain** (:func:`triangulate_observations`): DLT of every view with a finite center (the same
point as the homogeneous SVD solution for exact data); a solution behind a camera that saw it is
rejected.

**Robust** (:func:`triangulate_robust`): every pair of views is a hypothesis (DLT of the two,
in front of both cameras); its consensus is the views whose reprojection error is below
``threshold_px``. The largest consensus wins (ties: the smallest sum of squared errors over it),
the point is the DLT of its consensus, and the consensus is recomputed around the new point
until it stops changing. With all pairs as hypotheses this is exhaustive for up to 3 views and
RANSAC with every minimal sample beyond (``V (V - 1) / 2`` hypotheses: 6 for 4 views, 15 for 6).
It is the usual "drop the inconsistent views" baseline (anipose's ``ransac`` triangulation); a
view that disagrees on most frames (a wrong calibration entry, mislabeled views) shows up in
:attr:`RobustTriangulation.inconsistent_views`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lp3d_eks import _core
from lp3d_eks.camera import CameraRig
from lp3d_eks.ensemble import _nanmedian_frames
from lp3d_eks.result import EnsembleStatistics

__all__ = ["RobustTriangulation", "triangulate_observations", "triangulate_robust"]


def _centers(observations: EnsembleStatistics | np.ndarray, rig: CameraRig) -> np.ndarray:
    """``(view, time, keypoint, 2)`` float64 pixels, checked against the rig."""
    c = observations.center if isinstance(observations, EnsembleStatistics) else observations
    c = np.ascontiguousarray(c, dtype=np.float64)
    if c.ndim != 4 or c.shape[-1] != 2 or c.shape[0] != len(rig):
        raise ValueError(f"observations: expected shape ({len(rig)}, time, keypoint, 2), but got {c.shape}")
    if np.isinf(c).any():
        raise ValueError("observations: expected finite numbers (NaN for missing), but got inf")
    return c


def _in_front(X: np.ndarray, rig: CameraRig, seen: np.ndarray) -> np.ndarray:
    """``X (time, keypoint, 3)`` with NaN where it lies behind a camera that saw it."""
    for v, cam in enumerate(rig.cameras):
        depth = X @ cam.rotation[2] + cam.tvec[2]
        X[seen[v] & ~(depth > 0)] = np.nan
    return X


def _triangulate(center: np.ndarray, rig: CameraRig, n_threads: int) -> np.ndarray:
    """Plain DLT of ``center (view, time, keypoint, 2)``; NaN with < 2 views or behind a camera that saw it."""
    V, T, K, _ = center.shape
    seen = np.isfinite(center).all(axis=-1)  # (view, time, keypoint)
    X = _core.triangulate(
        np.ascontiguousarray(center.reshape(V, T * K, 2)),
        np.ascontiguousarray(seen.reshape(V, T * K).astype(np.float64)),
        *rig._arrays(),
        n_threads,
    ).reshape(T, K, 3)
    return _in_front(X, rig, seen)


def triangulate_observations(
    observations: EnsembleStatistics | np.ndarray, rig: CameraRig, *, n_threads: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame DLT triangulation of ensemble centers (or any 2D points), no smoothing.

    Plain (unweighted) DLT on undistorted normalized coordinates of every view with a finite
    center; a solution behind any camera that saw the point is rejected (NaN).

    Args:
        observations: :class:`EnsembleStatistics`, or pixels ``(view, time, keypoint, 2)``
            (NaN where missing), one view per camera of ``rig``.
        rig: the calibrated cameras.
        n_threads: threads of the C++ core (0: all cores).

    Returns:
        points ``(time, keypoint, 3)`` (NaN with fewer than two views), reprojection error
        ``(view, time, keypoint)`` in pixels (NaN where the view is missing), and the number of
        views used ``(time, keypoint)``.
    """
    c = _centers(observations, rig)
    X = _triangulate(c, rig, n_threads)
    err = np.linalg.norm(rig.project(X) - c, axis=-1)
    n_used = np.where(np.isfinite(X).all(axis=-1), np.isfinite(c).all(axis=-1).sum(axis=0), 0)
    return X, err, n_used


@dataclass(frozen=True, eq=False)
class RobustTriangulation:
    """Result of :func:`triangulate_robust`.

    Attributes:
        points: ``(time, keypoint, 3)`` world points; NaN where no two views agree within the
            threshold (or fewer than two views saw the keypoint).
        used: ``(view, time, keypoint)`` True for the views the point was triangulated from.
        error: ``(view, time, keypoint)`` pixels from each detection to the point's reprojection,
            for used and dropped views alike (a dropped view's error is its distance from what
            the other views agree on); NaN where the view is missing or there is no point.
        threshold_px: the consensus threshold that was used, pixels.
    """

    points: np.ndarray
    used: np.ndarray
    error: np.ndarray
    threshold_px: float

    @property
    def n_used(self) -> np.ndarray:
        """``(time, keypoint)`` number of views used (0 where there is no point)."""
        return self.used.sum(axis=0)

    @property
    def dropped(self) -> np.ndarray:
        """``(view, time, keypoint)`` True where a view had a detection but was left out of a point."""
        return np.isfinite(self.error) & ~self.used

    @property
    def view_disagreement(self) -> np.ndarray:
        """``(view, keypoint)`` median over frames of :attr:`error`, pixels (NaN where the view never
        had a detection with a point)."""
        return _nanmedian_frames(self.error)[:, 0]

    @property
    def inconsistent_views(self) -> np.ndarray:
        """``(view, keypoint)`` True where the view was dropped on more than half of the frames
        where it had a detection and a point exists: it disagrees with the others persistently."""
        seen = np.isfinite(self.error).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.dropped.sum(axis=1) > 0.5 * seen


def triangulate_robust(
    observations: EnsembleStatistics | np.ndarray,
    rig: CameraRig,
    *,
    threshold_px: float = 15.0,
    n_threads: int = 0,
) -> RobustTriangulation:
    """Per-frame triangulation that drops the views that disagree (see the module docstring).

    Args:
        observations: :class:`EnsembleStatistics`, or pixels ``(view, time, keypoint, 2)``
            (NaN where missing), one view per camera of ``rig``.
        rig: the calibrated cameras.
        threshold_px: a view belongs to a consensus when its reprojection error is below this,
            pixels. Set it a few times the typical labeling or detection error.
        n_threads: threads of the C++ core (0: all cores).

    Returns:
        :class:`RobustTriangulation`: points, the views used, every detection's reprojection error.
    """
    if not (threshold_px > 0 and np.isfinite(threshold_px)):
        raise ValueError(f"threshold_px: expected a positive number of pixels, but got {threshold_px}")
    c = _centers(observations, rig)
    V, T, K, _ = c.shape
    X, used, err = _core.triangulate_robust(
        np.ascontiguousarray(c.reshape(V, T * K, 2)), float(threshold_px), *rig._arrays(), n_threads
    )
    return RobustTriangulation(
        points=X.reshape(T, K, 3),
        used=used.reshape(V, T, K).astype(bool),
        error=err.reshape(V, T, K),
        threshold_px=float(threshold_px),
    )
