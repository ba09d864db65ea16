"""Simulated multi-camera ensemble predictions with known truth (numpy only), for tests and benchmarks.

Truth: independent 3D random walks per keypoint (step ``step_mm`` per coordinate per frame).
Cameras: ``n_views`` on a ring of radius ``radius_mm`` looking at the origin, mild distortion.
Ensemble members: projection of the truth + an error shared by all members (``shared_px``) +
independent member noise (``member_px``). Planted events: consistent single-view outliers (every
member shifted by the same 20-60 px offset in one view) and missing detections (isolated NaNs
and whole stretches, for all members).

``oscillation=(amplitude_mm, period_frames)`` replaces the random walk by sinusoids (a body part
that moves back and forth around a fixed place; periods jittered per keypoint and coordinate).
``smooth_velocity=frames`` replaces it by smooth motion that is not periodic: white noise filtered
with a Gaussian of that many frames (standard deviation) is the velocity, and the positions it
integrates to are scaled to a standard deviation of 20 mm.

A view that disagrees with the others on every frame (``bad_view``): its detections come from
a camera whose pose differs from the calibration by ``rotation_deg`` (about a random axis) and
``translation_mm`` (a random direction), and/or carry a constant ``offset_px`` on
``offset_keypoints``. ``stretch_view`` loses ``n_stretches`` stretches of ``stretch_frames``
frames on every keypoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from lp3d_eks import Z_95, Camera, CameraRig
from lp3d_eks.camera import matrix_to_rodrigues, rodrigues_to_matrix


@dataclass
class Simulation:
    rig: CameraRig
    truth: np.ndarray  # (time, keypoint, 3)
    predictions: np.ndarray  # (member, view, time, keypoint, 2)
    confidences: np.ndarray  # (member, view, time, keypoint)
    outliers: np.ndarray  # (view, time, keypoint) bool
    missing: np.ndarray  # (view, time, keypoint) bool
    step_mm: float
    bad: np.ndarray = field(default=None)  # (view, keypoint) bool: a view that disagrees persistently


def ring_rig(
    n_views: int = 4,
    radius_mm: float = 500.0,
    focal: float = 600.0,
    seed: int = 0,
    fisheye: bool | Sequence[bool] = False,
) -> CameraRig:
    """Cameras on a ring looking at the origin; ``fisheye`` (all, or per camera): OpenCV fisheye
    lenses (focal length halved, four random coefficients) instead of mild pinhole distortion."""
    rng = np.random.default_rng(seed)
    lens_rng = np.random.default_rng([seed, 3])
    fisheye = [bool(fisheye)] * n_views if isinstance(fisheye, bool) else list(fisheye)
    cams = []
    for v in range(n_views):
        angle = 2 * np.pi * v / n_views + rng.uniform(-0.2, 0.2)
        center = np.array([radius_mm * np.cos(angle), radius_mm * np.sin(angle), 250.0 + rng.uniform(-50, 50)])
        z = -center / np.linalg.norm(center)  # optical axis towards the origin
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        dist = [rng.uniform(-0.15, 0.05), rng.uniform(-0.02, 0.02), 0.0, 0.0, 0.0]
        f = focal
        if fisheye[v]:
            f = focal / 2
            dist = [lens_rng.uniform(-0.05, 0.1), lens_rng.uniform(-0.05, 0.05), *lens_rng.uniform(-0.01, 0.01, 2)]
        cams.append(
            Camera(
                name=f"cam{v}",
                size=(640, 480),
                matrix=[[f, 0, 320], [0, f * lens_rng.uniform(0.98, 1.02), 240], [0, 0, 1]]
                if fisheye[v]
                else [[f, 0, 320], [0, f, 240], [0, 0, 1]],
                dist=dist,
                rvec=matrix_to_rodrigues(R),
                tvec=-R @ center,
                fisheye=fisheye[v],
            )
        )
    return CameraRig(tuple(cams))


def simulate(
    n_frames: int = 300,
    n_keypoints: int = 3,
    n_views: int = 4,
    n_members: int = 5,
    step_mm: float = 2.0,
    shared_px: float = 1.5,
    member_px: float = 2.0,
    outlier_rate: float = 0.02,
    missing_rate: float = 0.03,
    n_gaps: int = 2,
    seed: int = 0,
    *,
    bad_view: int | None = None,
    rotation_deg: float = 0.0,
    translation_mm: float = 0.0,
    offset_px: float = 0.0,
    offset_keypoints: Sequence[int] = (),
    stretch_view: int | None = None,
    n_stretches: int = 3,
    stretch_frames: int = 60,
    oscillation: tuple[float, float] | None = None,
    smooth_velocity: float | None = None,
) -> Simulation:
    rng = np.random.default_rng(seed)
    rig = ring_rig(n_views, seed=seed)
    start = rng.uniform(-30, 30, size=(1, n_keypoints, 3))
    truth = start + np.cumsum(rng.normal(0, step_mm, size=(n_frames, n_keypoints, 3)), axis=0)
    if oscillation is not None:
        wave_rng = np.random.default_rng([seed, 4])
        amplitude, period = oscillation
        period = period * wave_rng.uniform(0.7, 1.3, size=(1, n_keypoints, 3))
        phase = wave_rng.uniform(0, 2 * np.pi, size=(1, n_keypoints, 3))
        truth = start + amplitude * np.sin(2 * np.pi * np.arange(n_frames)[:, None, None] / period + phase)
    if smooth_velocity is not None:
        half = int(4 * smooth_velocity)
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / smooth_velocity) ** 2)
        white = np.random.default_rng([seed, 5]).normal(size=(n_frames + 2 * half, n_keypoints * 3))
        velocity = np.stack([np.convolve(w, kernel / kernel.sum(), mode="valid") for w in white.T], axis=-1)
        path = np.cumsum(velocity, axis=0).reshape(n_frames, n_keypoints, 3)
        truth = start + 20.0 * (path - path.mean(axis=0)) / path.std()
    clean = rig.project(truth)  # (view, time, keypoint, 2)
    bad = np.zeros((n_views, n_keypoints), dtype=bool)
    if bad_view is not None:
        bad_rng = np.random.default_rng([seed, 1])
        cam = rig.cameras[bad_view]
        if rotation_deg or translation_mm:
            axis = bad_rng.normal(size=3)
            turn = rodrigues_to_matrix(np.deg2rad(rotation_deg) * axis / np.linalg.norm(axis))
            shift = bad_rng.normal(size=3)
            actual = Camera(
                cam.name,
                cam.size,
                cam.matrix,
                cam.dist,
                matrix_to_rodrigues(turn @ cam.rotation),
                turn @ cam.tvec + translation_mm * shift / np.linalg.norm(shift),
            )
            clean[bad_view] = actual.project(truth)
            bad[bad_view] = True
        if offset_px:
            angle = bad_rng.uniform(0, 2 * np.pi, size=len(offset_keypoints))
            clean[bad_view][:, list(offset_keypoints)] += offset_px * np.stack([np.cos(angle), np.sin(angle)], -1)
            bad[bad_view, list(offset_keypoints)] = True
    shared = rng.normal(0, shared_px, size=clean.shape)
    member = rng.normal(0, member_px, size=(n_members,) + clean.shape)
    pred = clean[None] + shared[None] + member
    outliers = rng.random(clean.shape[:3]) < outlier_rate
    # at most one outlier view per frame and keypoint
    first = np.argmax(outliers, axis=0)
    outliers = np.zeros_like(outliers)
    has = rng.random(clean.shape[1:3]) < outlier_rate * n_views
    t_idx, k_idx = np.nonzero(has)
    outliers[first[t_idx, k_idx] * 0 + rng.integers(0, n_views, size=len(t_idx)), t_idx, k_idx] = True
    offset = rng.uniform(20, 60, size=clean.shape[:3]) * np.sign(rng.uniform(-1, 1, size=clean.shape[:3]))
    angle = rng.uniform(0, 2 * np.pi, size=clean.shape[:3])
    shift = np.stack([offset * np.cos(angle), offset * np.sin(angle)], axis=-1)
    pred = pred + np.where(outliers[..., None], shift, 0.0)[None]
    missing = rng.random(clean.shape[:3]) < missing_rate
    for _ in range(n_gaps):
        v, k = rng.integers(0, n_views), rng.integers(0, n_keypoints)
        t0 = rng.integers(0, max(1, n_frames - 30))
        missing[v, t0 : t0 + int(rng.integers(10, 30)), k] = True
    if stretch_view is not None:
        stretch_rng = np.random.default_rng([seed, 2])
        for _ in range(n_stretches):
            t0 = int(stretch_rng.integers(0, max(1, n_frames - stretch_frames)))
            missing[stretch_view, t0 : t0 + stretch_frames] = True
    outliers &= ~missing
    pred[:, missing] = np.nan
    conf = np.where(np.isnan(pred[..., 0]), 0.0, rng.uniform(0.8, 1.0, size=pred.shape[:4]))
    return Simulation(rig, truth, pred, conf, outliers, missing, step_mm, bad)


def coverage(result_mean: np.ndarray, result_var: np.ndarray, truth: np.ndarray, z: float = Z_95) -> float:
    """Share of coordinates whose truth lies inside the central 95% posterior interval."""
    inside = np.abs(result_mean - truth) <= z * np.sqrt(result_var)
    return float(inside.mean())


# The simulated sessions of issue #12 (a camera that disagrees): a rotation and translation error
# of one camera's calibration, a constant label offset on some keypoints in one view, single-model
# input (one set of labels, 9% missing) with a wrong camera, and missing stretches in a good view
# with a wrong camera. Keyword arguments of simulate().
ROBUST_CASES = {
    "rotation 2 deg": dict(bad_view=1, rotation_deg=2.0, translation_mm=10.0),
    "label offset": dict(bad_view=2, offset_px=20.0, offset_keypoints=(0, 2, 4)),
    "single model": dict(
        n_members=1, bad_view=1, rotation_deg=2.0, translation_mm=10.0, missing_rate=0.09, outlier_rate=0.0
    ),
    "missing stretches": dict(
        bad_view=1, rotation_deg=1.5, translation_mm=5.0, stretch_view=2, n_stretches=3, stretch_frames=60
    ),
}


def without_bad_views(sim: Simulation, center: np.ndarray) -> np.ndarray:
    """``center (view, time, keypoint, 2)`` with the bad (view, keypoint) pairs set to NaN."""
    out = center.copy()
    out[np.broadcast_to(sim.bad[:, None, :], out.shape[:3])] = np.nan
    return out


def consistent_reprojection_error(X: np.ndarray, sim: Simulation) -> float:
    """Median distance (pixels) between the reprojection of ``X (time, keypoint, 3)`` and the true
    2D positions, over the consistent (view, keypoint) pairs (not ``sim.bad``) and frames with a point."""
    err = np.linalg.norm(sim.rig.project(X) - sim.rig.project(sim.truth), axis=-1)
    return float(np.nanmedian(without_bad_views(sim, err[..., None])[..., 0]))


def rmse(X: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared 3D error over the frames and keypoints with a point."""
    return float(np.sqrt(np.nanmean(np.sum((X - truth) ** 2, axis=-1))))
