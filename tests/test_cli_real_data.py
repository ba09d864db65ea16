"""``lp3d smooth`` on real data: the fly (3 cameras x 3 models, calibrated) against the reference eks 4.6.2
output, and the mirror mouse (top and bottom views x 5 models, no calibration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lp3d_io.csv import from_pose_csv

REFERENCE = Path(__file__).parents[1] / "bench" / "reference" / "fly_eks462" / "multicam_3d_results.csv"


def test_fly_smooths_in_3d_close_to_the_reference(lp3d, fly, tmp_path):
    out = tmp_path / "out"
    run = lp3d("smooth", fly, "--calibration", fly / "calibration.toml", "--out", out)
    assert run.returncode == 0, run.stderr
    assert "fly: calibrated 3D smoother, 500 frames, 12 keypoints, 3 view(s) x 3 member(s)" in run.stdout
    ours = from_pose_csv(out / "multicam_3d_results.csv")
    reference = from_pose_csv(REFERENCE)
    assert ours.keypoint_names == reference.keypoint_names
    a, b = ours.position[:, :, 0], reference.position[:, :, 0]
    size = np.median(np.linalg.norm(b.max(axis=1) - b.min(axis=1), axis=-1))  # bounding-box diagonal per frame
    distance = np.linalg.norm(a - b, axis=-1)
    assert np.median(distance) < 0.03 * size
    assert np.percentile(distance, 99) < 0.15 * size


def test_mirror_mouse_smooths_two_views_without_calibration(lp3d, mirror_mouse, tmp_path):
    out = tmp_path / "out"
    run = lp3d("smooth", mirror_mouse, "--views", "top,bot", "--out", out)
    assert run.returncode == 0, run.stderr
    assert "multi-view linear smoother, 501 frames, 4 keypoints, 2 view(s) x 5 member(s)" in run.stdout
    top = from_pose_csv(out / "multicam_top_results.csv")
    assert top.position.shape == (501, 4, 1, 2) and np.isfinite(top.position).all()
