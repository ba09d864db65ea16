"""``lp3d convert`` (and smoothing what it wrote), ``report``, ``info`` and ``demo`` end to end."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from lp3d_io.csv import from_pose_csv


@pytest.fixture(scope="module")
def smoothed(lp3d, synthetic, tmp_path_factory):
    """A store written by ``lp3d smooth`` (three keypoints of the synthetic session)."""
    out = tmp_path_factory.mktemp("smoothed") / "out"
    keypoints = ",".join(synthetic.keypoints[:3])
    run = lp3d("smooth", synthetic.folder, "-c", synthetic.calibration, "-k", keypoints, "--out", out)
    assert run.returncode == 0, run.stderr
    return out / "synth.zarr"


def test_convert_round_trip_keeps_the_values(lp3d, synthetic, tmp_path):
    steps = [
        (synthetic.folder, tmp_path / "a.zarr", "-c", synthetic.calibration),
        (tmp_path / "a.zarr", tmp_path / "b.nc", "--group", "predictions/ensemble"),
        (tmp_path / "b.nc", tmp_path / "csv"),
    ]
    for args in steps:
        run = lp3d("convert", *args)
        assert run.returncode == 0, run.stderr
    run = lp3d(
        "smooth", tmp_path / "b.nc", "-c", synthetic.calibration, "-k", synthetic.keypoints[0], "-o", tmp_path / "s"
    )
    assert run.returncode == 0, run.stderr
    assert "b: calibrated 3D smoother, 150 frames, 1 keypoints" in run.stdout
    originals = sorted(synthetic.folder.glob("*.csv"))
    copies = sorted((tmp_path / "csv").glob("*.csv"))
    assert [p.name for p in copies] == [p.name for p in originals]  # synth_<view>.<member>.csv
    for original, copy in zip(originals, copies, strict=True):
        a, b = from_pose_csv(original), from_pose_csv(copy)
        assert a.keypoint_names == b.keypoint_names
        np.testing.assert_allclose(b.position, a.position, rtol=1e-6)  # float32 on the way
        np.testing.assert_allclose(b.confidence, a.confidence, rtol=1e-6)


def test_report_is_self_contained(lp3d, smoothed, synthetic, tmp_path):
    out = tmp_path / "report"
    run = lp3d("report", smoothed, "--out", out, "--frames", "10:120")
    assert run.returncode == 0, run.stderr
    keypoints = synthetic.keypoints[:3]
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        [f"keypoint_{k}.png" for k in keypoints] + ["reprojection_errors.png"]
    )
    page = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(keypoints) + 1
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "src=" not in re.sub(r'src="data:image/png;base64,[^"]+"', "", page)  # no external files
    for keypoint in keypoints:
        assert f"<td>{keypoint}</td>" in page
    assert "plotted and counted here: 10..119" in page


def test_info_lists_the_groups(lp3d, smoothed):
    run = lp3d("info", smoothed)
    assert run.returncode == 0, run.stderr
    for text in ("session synth", "predictions/ensemble", "smoothed/eks", "calibration", "position_covariance"):
        assert text in run.stdout


def test_demo_compares_with_the_truth(lp3d, tmp_path):
    run = lp3d("demo", "--smoothing-only", "--frames", "100", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "demo-out"
    assert (out / "report" / "report.html").is_file() and (out / "synthetic.zarr").is_dir()
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") == 4}
    rmse = [float(x) for x in rows["3D RMSE (mm)"].split("│")[2:4]]
    assert rmse[1] < rmse[0]  # the smoother beats the triangulated ensemble median
    assert "planted outliers flagged (inflated)" in rows
    assert "report: demo-out/report/report.html" in run.stderr
