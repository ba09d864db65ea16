"""``lp3d smooth`` end to end: outputs, their agreement with each other and with the truth."""

from __future__ import annotations

import numpy as np
from lp3d_io.csv import EKS_COORDS, from_pose_csv
from lp3d_io.store import list_groups, read_group


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    return float(np.sqrt(np.mean(np.sum((a - b)[ok] ** 2, axis=-1))))


def test_calibrated_outputs_agree_and_beat_triangulation(lp3d, synthetic, tmp_path):
    out = tmp_path / "out"
    run = lp3d("smooth", synthetic.folder, "--calibration", synthetic.calibration, "--out", out)
    assert run.returncode == 0, run.stderr
    assert "calibrated 3D smoother, 150 frames, 11 keypoints, 3 view(s) x 3 member(s)" in run.stdout
    for keypoint in synthetic.keypoints:
        assert keypoint in run.stdout
    names = {p.name for p in out.iterdir()}
    assert names == {"synth.zarr", "multicam_3d_results.csv"} | {f"multicam_{v}_results.csv" for v in synthetic.views}

    store = out / "synth.zarr"
    assert list_groups(store) == ["predictions/ensemble", "smoothed/eks", "calibration"]
    smoothed = read_group(store, "smoothed/eks").load()
    inputs = read_group(store, "predictions/ensemble")
    assert inputs.sizes == {"member": 3, "view": 3, "time": 150, "keypoint": 11, "individual": 1, "space": 2}
    assert smoothed.attrs["smoother"] == "calibrated"
    assert np.all(smoothed["smoothing_parameter"].values > 0)
    assert (smoothed["inflation"].values > 1).any()  # the synthetic data has planted outliers

    table3d = from_pose_csv(out / "multicam_3d_results.csv")
    assert table3d.keypoint_names == synthetic.keypoints
    np.testing.assert_allclose(table3d.position[:, :, 0], smoothed["position"].values[:, :, 0], rtol=1e-6)
    np.testing.assert_allclose(
        table3d.extra["x_posterior_var"][:, :, 0], smoothed["position_variance"].values[:, :, 0, 0], rtol=1e-6
    )
    view = synthetic.views[1]
    table2d = from_pose_csv(out / f"multicam_{view}_results.csv")
    assert set(table2d.extra) == set(EKS_COORDS) - {"x", "y", "likelihood"}
    np.testing.assert_allclose(
        table2d.position[:, :, 0], smoothed["reprojection"].sel(view=view).values[:, :, 0], rtol=1e-6
    )

    dlt = tmp_path / "dlt"
    run = lp3d("triangulate", synthetic.folder, "--calibration", synthetic.calibration, "--out", dlt)
    assert run.returncode == 0, run.stderr
    triangulated = from_pose_csv(dlt / "triangulated_3d.csv").position[:, :, 0]
    smoothed_error = _rmse(table3d.position[:, :, 0], synthetic.points3d)
    assert smoothed_error < 0.6 * _rmse(triangulated, synthetic.points3d)


def test_options_reach_the_smoother(lp3d, synthetic, tmp_path):
    out = tmp_path / "out"
    keypoints = synthetic.keypoints[:2]
    run = lp3d(
        "smooth", synthetic.folder, "-c", synthetic.calibration, "--out", out,
        "--keypoints", ",".join(keypoints), "--s", "2.5", "--s", "4", "--no-inflate", "--ensemble", "mean", "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # --quiet
    smoothed = read_group(out / "synth.zarr", "smoothed/eks").load()
    assert list(smoothed["keypoint"].values) == keypoints
    np.testing.assert_allclose(smoothed["smoothing_parameter"].values[:, 0], [2.5, 4.0])
    assert np.all(smoothed["inflation"].values == 1.0)
    assert list(smoothed["motion_model"].values[:, 0]) == [1, 1]  # a fixed s is a random walk's


def test_motion_option_reaches_the_store_summary_and_report(lp3d, synthetic, tmp_path):
    from lp3d_io.dataset import motion_name

    out = tmp_path / "out"
    run = lp3d("smooth", synthetic.folder, "-c", synthetic.calibration, "--out", out, "--motion", "constant-velocity")
    assert run.returncode == 0, run.stderr
    assert "motion" in run.stdout and run.stdout.count("constant velocity") == len(synthetic.keypoints)
    smoothed = read_group(out / "synth.zarr", "smoothed/eks").load()
    assert {motion_name(smoothed, k, 0) for k in range(len(synthetic.keypoints))} == {"constant velocity"}
    report = lp3d("report", out / "synth.zarr", "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr
    assert "<th>motion</th>" in (tmp_path / "report" / "report.html").read_text()
    lagged = lp3d(
        "smooth", synthetic.folder, "-c", synthetic.calibration, "--out", tmp_path / "lag",
        "--motion", "constant-velocity", "--lag", "3", "--fit-frames", "100",
    )  # fmt: skip
    assert lagged.returncode == 0, lagged.stderr
    stored = read_group(tmp_path / "lag" / "synth.zarr", "smoothed/eks").load()
    assert set(stored["motion_model"].values[:, 0].tolist()) == {2}  # what the fixed-lag smoother used


def test_views_without_calibration_and_a_single_view(lp3d, synthetic, tmp_path):
    views = synthetic.views[:2]
    run = lp3d("smooth", synthetic.folder, "--views", *views[:1], "--views", views[1], "--out", tmp_path / "two")
    assert run.returncode == 0, run.stderr
    assert "multi-view linear smoother" in run.stdout
    assert {p.name for p in (tmp_path / "two").glob("*.csv")} == {f"multicam_{v}_results.csv" for v in views}

    single = [p for p in synthetic.folder.glob(f"*{views[0]}*.csv")]
    run = lp3d("smooth", *single, "--out", tmp_path / "one")
    assert run.returncode == 0, run.stderr
    assert "single view smoother" in run.stdout
    smoothed = read_group(tmp_path / "one" / "synth.zarr", "smoothed/eks")
    assert smoothed.attrs["smoother"] == "single_view"


def test_refuses_to_overwrite_then_replaces(lp3d, synthetic, tmp_path, staging_leftovers):
    out = tmp_path / "out"
    args = (
        "smooth",
        synthetic.folder,
        "-c",
        synthetic.calibration,
        "--keypoints",
        synthetic.keypoints[0],
        "--out",
        out,
    )
    assert lp3d(*args).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    run = lp3d(*args)
    assert run.returncode == 2
    assert "already exists" in run.stderr and "--overwrite" in run.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    run = lp3d(*args, "--overwrite", "--keypoints", synthetic.keypoints[1])
    assert run.returncode == 0, run.stderr
    assert list(read_group(out / "synth.zarr", "smoothed/eks")["keypoint"].values) == synthetic.keypoints[:2]
    assert staging_leftovers(tmp_path) == []
