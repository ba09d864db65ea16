"""3D augmentation of a calibrated multi-view sample: move the animal in 3D, keep the cameras.

The labels of the views are triangulated (:meth:`lp3d_eks.CameraRig.triangulate`, weighted by the
label weights; keypoints labeled in two views or more), moved by a random similarity about the
pose's centroid ``c``::

    X' = c + s R_up(theta) (X - c) + d,    theta ~ U(-rotation, rotation) degrees about the vertical,
                                           s ~ U(1 - scale, 1 + scale),
                                           d = horizontal shift, each axis ~ U(-1, 1) translation * size

(``size``: the diagonal of the pose's bounding box; the shift stays horizontal, so an animal on the
floor stays on it), and projected through the same cameras: the new labels are exact projections,
consistent with the calibration in every view, including views where a keypoint was not labeled.
A keypoint behind a camera, beyond the lens model's valid range, or outside the image is NaN;
one labeled in a single view follows that view's image warp.

Each view's image is warped by the ``2 x 3`` affine map that best carries the old positions to the
new ones (least squares over the triangulated keypoints: the label where the view has one, else the
reprojection). A 3D motion is an affine map of the image only for a flat animal seen from afar:
the parallax of the rest is the fit's residual (for the synthetic quadruped in 128 px views, a
median 1 px at 10 degrees of yaw, 3 px at 45, 11 px at 180). A draw whose residual exceeds
``max_residual`` in some view is rejected, and the next draw is made with half the largest angle
(shifts and scales are affine enough), so large turns are taken where the image can follow them;
after ``tries`` draws the sample is left as it is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from lp3d_eks import CameraRig

from lp3d_models.config import GeometryConfig

__all__ = ["Augment3D", "random_similarity", "fit_affine", "project_valid", "augment_3d"]


class Augment3D(NamedTuple):
    """What :func:`augment_3d` returns.

    Attributes:
        keypoints: ``(V, K, 2)`` new labels in original pixels, NaN where unlabeled.
        weights: ``(V, K)`` their weights (0 where NaN).
        warps: ``(V, 2, 3)`` the image warps, original pixels to original pixels.
        residual: ``(V,)`` per view, the largest distance between a warped old position and its new label.
    """

    keypoints: np.ndarray
    weights: np.ndarray
    warps: np.ndarray
    residual: np.ndarray


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def random_similarity(
    rng: np.random.Generator, points: np.ndarray, vertical: np.ndarray, config: GeometryConfig, strength: float = 1.0
) -> np.ndarray:
    """Moves ``points`` ``(K, 3)`` (finite) by a random similarity (module docstring), its angle
    times ``strength``; returns ``(K, 3)``."""
    up = np.asarray(vertical, dtype=np.float64) / np.linalg.norm(vertical)
    helper = np.eye(3)[int(np.argmin(np.abs(up)))]
    e1 = np.cross(up, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    centre = points.mean(axis=0)
    size = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    angle = strength * np.deg2rad(rng.uniform(-config.rotation, config.rotation))
    scale = rng.uniform(1.0 - config.scale, 1.0 + config.scale)
    shift = rng.uniform(-config.translation, config.translation, 2) * size
    rotation = _axis_rotation(up, angle)
    return centre + scale * (points - centre) @ rotation.T + shift[0] * e1 + shift[1] * e2


def project_valid(rig: CameraRig, points: np.ndarray) -> np.ndarray:
    """Projections ``(V, K, 2)`` of world points ``(K, 3)``, NaN behind a camera or where the lens
    model folds back (the distortion polynomial past its valid range: undistorting the pixel does not
    give the point's direction back)."""
    out = rig.project(points)
    for v, camera in enumerate(rig.cameras):
        local = points @ camera.rotation.T + camera.tvec
        with np.errstate(invalid="ignore", divide="ignore"):
            direction = local[:, :2] / local[:, 2:]
        back = camera.undistort(out[v])
        bad = ~(local[:, 2] > 0) | ~(np.linalg.norm(back - direction, axis=-1) < 1e-6 * (1 + np.abs(direction).max(-1)))
        out[v, bad] = np.nan
    return out


def fit_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """The least-squares ``2 x 3`` affine map of ``source`` ``(N, 2)`` onto ``target`` ``(N, 2)``, or
    None with fewer than three points or (nearly) collinear ones."""
    if len(source) < 3:
        return None
    centred = source - source.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular[1] < 1e-3 * max(singular[0], 1e-12):
        return None
    design = np.concatenate([source, np.ones((len(source), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution.T


def _inside(points: np.ndarray, size: np.ndarray) -> np.ndarray:
    return ((points >= -0.5) & (points <= np.asarray(size) - 0.5)).all(-1)


def augment_3d(
    keypoints: np.ndarray,
    weights: np.ndarray,
    rig: CameraRig,
    image_sizes: np.ndarray,
    rng: np.random.Generator,
    config: GeometryConfig,
    vertical: np.ndarray,
    max_residual: np.ndarray,
    tries: int = 5,
) -> Augment3D | None:
    """A random 3D move of a labeled multi-view sample (module docstring).

    Args:
        keypoints: ``(V, K, 2)`` labels in original pixels, NaN where unlabeled.
        weights: ``(V, K)`` label weights; zero drops a label.
        rig: the session's cameras, in view order.
        image_sizes: ``(V, 2)`` original ``(width, height)``.
        rng: the random source.
        config: ``rotation``, ``scale``, ``translation`` and ``min_points``.
        vertical: ``(3,)`` the world's up direction.
        max_residual: ``(V,)`` the largest accepted warp error per view, original pixels.
        tries: draws before giving up (each with half the largest angle of the one before).

    Returns:
        An :class:`Augment3D`, or None: fewer than ``config.min_points`` triangulated keypoints, or
        no draw with a good warp in every view.
    """
    labeled = np.isfinite(keypoints).all(-1) & (weights > 0)
    points3d = rig.triangulate(np.where(labeled[..., None], keypoints, np.nan), np.where(labeled, weights, 0.0))
    tri = np.isfinite(points3d).all(-1)
    if tri.sum() < max(config.min_points, 3):
        return None
    old = project_valid(rig, points3d[tri])  # (V, N, 2)
    old = np.where(labeled[:, tri, None], keypoints[:, tri], old)
    tri_weight = np.where(labeled, weights, np.inf).min(axis=0)[tri]
    V = len(rig)
    for attempt in range(tries):
        moved = project_valid(rig, random_similarity(rng, points3d[tri], vertical, config, 0.5**attempt))
        warps, residual = np.zeros((V, 2, 3)), np.zeros(V)
        for v in range(V):
            use = np.isfinite(old[v]).all(-1) & np.isfinite(moved[v]).all(-1)
            warp = fit_affine(old[v, use], moved[v, use])
            if warp is None:
                break
            error = np.linalg.norm(old[v, use] @ warp[:, :2].T + warp[:, 2] - moved[v, use], axis=-1)
            residual[v] = error.max()
            if residual[v] > max_residual[v]:
                break
            warps[v] = warp
        else:
            out = np.full_like(keypoints, np.nan, dtype=np.float64)
            out_weights = np.zeros(weights.shape)
            out[:, tri] = moved
            out_weights[:, tri] = tri_weight
            single = labeled & ~tri[None]
            for v in range(V):
                out[v, single[v]] = keypoints[v, single[v]] @ warps[v, :, :2].T + warps[v, :, 2]
                out_weights[v, single[v]] = weights[v, single[v]]
            visible = np.isfinite(out).all(-1) & _inside(out, image_sizes[:, None, :])
            out[~visible] = np.nan
            return Augment3D(out, np.where(visible, out_weights, 0.0), warps, residual)
    return None
