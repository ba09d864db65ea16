"""A camera that disagrees with the others (a constant label offset on some keypoints): ``lp3d smooth``
names it in its summary and stores how far each view disagrees, ``lp3d report`` says so, and
``lp3d triangulate --robust`` drops it where plain DLT is dragged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

OFFSET_PX = 25.0
BAD, N_OFF = 2, 4  # the 3rd camera, on the first 4 keypoints


@pytest.fixture(scope="module")
def rig_with_a_bad_camera(tmp_path_factory) -> tuple[Path, Path, list[str], list[str], np.ndarray]:
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    folder = tmp_path_factory.mktemp("bad_camera") / "session"
    session = make_session(SyntheticConfig(n_views=4, n_frames=200, seed=11, session_name="offset"))
    simulated = make_ensemble_predictions(session, n_members=3, seed=11, outlier_rate=0.0)
    predictions = simulated.to_dataset()
    position = predictions["position"].values.copy()  # (member, view, time, keypoint, individual, space)
    position[:, BAD, :, :N_OFF, :, 0] += OFFSET_PX  # that camera's labels sit 25 px to the right
    predictions["position"].values[...] = position
    to_prediction_csvs(predictions, folder)
    session.rig.to_toml(folder / "calibration.toml")
    return folder, folder / "calibration.toml", session.view_names, session.keypoint_names, session.motion.points3d


def test_smooth_names_the_camera_and_stores_the_view_scales(lp3d, rig_with_a_bad_camera, tmp_path):
    from lp3d_io.store import read_group

    folder, calibration, views, keypoints, truth = rig_with_a_bad_camera
    run = lp3d("smooth", folder, "--calibration", calibration, "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if "view that disagrees" in line]
    assert len(lines) == 1 and f"{views[BAD]}:" in lines[0] and "check its calibration or labels" in lines[0]
    named = [k for k in keypoints if k in lines[0]]
    assert set(named) <= set(keypoints[:N_OFF]) and named  # only keypoints that are off
    smoothed = read_group(tmp_path / "out" / "session.zarr", "smoothed/eks")
    scale = smoothed["view_scale"].sel(individual=smoothed["individual"].values[0]).values  # (view, keypoint)
    assert (scale[BAD, :N_OFF] > 1).all() and (np.delete(scale, BAD, axis=0)[:, :N_OFF] == 1).all()
    disagreement = smoothed["view_disagreement"].values[..., 0]
    assert (disagreement[BAD, :N_OFF] > 0.5 * OFFSET_PX).all()

    report = lp3d("report", tmp_path / "out" / "session.zarr", "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Views that disagree with the others" in page and f"{views[BAD]}: median" in page


def test_robust_triangulation_drops_the_camera(lp3d, rig_with_a_bad_camera, tmp_path):
    from lp3d_io.csv import from_pose_csv

    folder, calibration, views, keypoints, truth = rig_with_a_bad_camera
    errors = {}
    for name, extra in (("plain", []), ("robust", ["--robust", "--threshold-px", "10"])):
        run = lp3d("triangulate", folder, "--calibration", calibration, "--out", tmp_path / name, *extra)
        assert run.returncode == 0, run.stderr
        table = from_pose_csv(tmp_path / name / "triangulated_3d.csv")
        errors[name] = np.nanmean(np.linalg.norm(table.position[:, :N_OFF, 0, :] - truth[:, :N_OFF], axis=-1))
        if name == "robust":
            assert f"{views[BAD]}: median" in run.stderr  # the warning names the camera
            used = table.extra["n_views"][:, :N_OFF, 0]
            assert np.median(used) == len(views) - 1
    assert errors["robust"] < 0.5 * errors["plain"]
