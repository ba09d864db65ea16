"""``lp3d live`` end to end (issue #18): a synthetic session's videos replayed through a tiny run give the
same 3D as ``lp3d predict`` followed by ``lp3d smooth --lag L`` on the same frames; its errors are one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from lp3d_io.store import read_group

LAG, FIT = 3, 30


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, lp3d):
    """A tiny run of two members (``lp3d train``) on a calibrated 3-view synthetic session (48 x 48, 50 frames;
    the run writes it into its folder: ``data.synthetic``), and the session's videos and calibration."""
    from lp3d_io.layout import SYNTHETIC_DIR
    from lp3d_models.config import tiny_model

    root = tmp_path_factory.mktemp("cli-live")
    values = tiny_model(
        run_dir=str(root / "run"),
        data={"synthetic": {"n_views": 3, "width": 48, "height": 48, "n_frames": 50, "labeled_frames": 20, "seed": 8}},
        training={"max_steps": 4, "val_every_steps": 4, "batch_size": 4},
    )
    config = root / "lp3d.yaml"
    config.write_text(yaml.safe_dump(values))
    one_thread = {"OMP_NUM_THREADS": "1"}  # the tiny model on shared cores
    run = lp3d("train", config, "--seeds", "0,1", "--pretrained", "false", "--no-progress", env=one_thread)
    assert run.returncode == 0, run.stderr
    session = root / "run" / SYNTHETIC_DIR
    return {
        "run": root / "run",
        "videos": sorted((session / "videos").glob("*.mp4")),
        "calibration": session / "calibration.toml",
    }


@pytest.mark.slow
def test_live_replay_equals_predict_then_smooth_with_the_lag(lp3d, trained, tmp_path):
    calibration = trained["calibration"]
    env = {"OMP_NUM_THREADS": "1"}
    live = lp3d(
        "live", trained["run"], *trained["videos"], "-c", calibration, "--out", tmp_path / "live",
        "--lag", LAG, "--fit-frames", FIT, "--no-realtime", "--json", env=env,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    records = [json.loads(line) for line in live.stdout.splitlines()]
    assert [r["frame"] for r in records] == list(range(50))
    assert "synthetic: 50 frames (0 dropped)" in live.stderr and "end_to_end" in live.stderr

    store = tmp_path / "predicted.zarr"  # one frame per batch, as the live loop runs the model
    run = lp3d(
        "predict", trained["run"], *trained["videos"], "--out", store, "--batch-size", "1", "--no-progress", env=env
    )
    assert run.returncode == 0, run.stderr
    run = lp3d("smooth", store, "-c", calibration, "--lag", LAG, "--fit-frames", FIT, "--out", tmp_path / "smoothed")
    assert run.returncode == 0, run.stderr

    offline_lag = read_group(tmp_path / "smoothed" / "predicted.zarr", "smoothed/eks").load()
    replayed = read_group(tmp_path / "live" / "synthetic.zarr", "smoothed/eks").load()
    for name in ("position", "position_covariance", "reprojection", "inflation", "smoothing_parameter"):
        np.testing.assert_array_equal(replayed[name].values, offline_lag[name].values, err_msg=name)
    assert json.loads(offline_lag.attrs["lp3d_options"])["lag"] == LAG
    keypoints = [str(k) for k in offline_lag["keypoint"].values]
    xyz = np.array([[r["points"]["individual_0"][k]["xyz"] for k in keypoints] for r in records], dtype=float)
    np.testing.assert_allclose(xyz, offline_lag["position"].values[:, :, 0], atol=1e-5)

    offline = lp3d("smooth", store, "-c", calibration, "--out", tmp_path / "offline")  # the offline smoother
    assert offline.returncode == 0, offline.stderr
    full = read_group(tmp_path / "offline" / "predicted.zarr", "smoothed/eks")["position"].values
    assert not np.array_equal(full, offline_lag["position"].values)  # a different (causal) answer


def test_live_errors_are_one_line(lp3d, trained, synthetic, tmp_path):
    calibration = trained["calibration"]
    run = lp3d("live", trained["run"], tmp_path / "nope_cam0.mp4", "-c", calibration, "--out", tmp_path / "o")
    assert run.returncode == 2 and "nope_cam0.mp4: no such video" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    run = lp3d("live", trained["run"], *trained["videos"], "-c", calibration, "--out", tmp_path / "o", "--lag", "-1")
    assert run.returncode == 2 and "--lag" in run.stderr
    options = ("--lag", "2", "--s-frames", "0:10", "--out", tmp_path / "s")
    run = lp3d("smooth", synthetic.folder, "-c", synthetic.calibration, *options)
    assert run.returncode == 2 and "--s-frames: expected none with --lag" in run.stderr
