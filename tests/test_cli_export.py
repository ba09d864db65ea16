"""SLEAP .slp predictions read directly by ``lp3d smooth``, ``triangulate`` and ``convert``; and
``lp3d convert --format`` exporting a smoothed store to the tools labs analyse with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lp3d_io.csv import from_pose_csv


@pytest.fixture(scope="module")
def slp_folder(synthetic, tmp_path_factory) -> Path:
    """The synthetic session's prediction CSVs as SLEAP predictions, written with sleap-io itself:
    one .slp per member and view (same names), untracked predicted instances with point scores."""
    sio = pytest.importorskip("sleap_io")
    folder = tmp_path_factory.mktemp("slp") / "synth"
    folder.mkdir()
    for csv in sorted(synthetic.folder.glob("*.csv")):
        table = from_pose_csv(csv)
        skeleton = sio.Skeleton(list(table.keypoint_names))
        video = sio.Video(filename=f"{csv.stem}.mp4", open_backend=False)
        frames = []
        for t in range(table.n_frames):
            xy, scores = table.position[t, :, 0], table.confidence[t, :, 0]
            instances = (
                []
                if np.isnan(xy).all()
                else [sio.PredictedInstance.from_numpy(xy, skeleton=skeleton, point_scores=scores, score=0.9)]
            )
            frames.append(sio.LabeledFrame(video=video, frame_idx=t, instances=instances))
        labels = sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton])
        sio.save_slp(labels, str(folder / f"{csv.stem}.slp"), verbose=False)
    return folder


def test_smooth_and_triangulate_read_slp(lp3d, synthetic, slp_folder, tmp_path):
    """The same predictions as .slp and as CSV give the same smoothed and triangulated tracks."""
    keypoints = ",".join(synthetic.keypoints[:2])
    for name, folder in (("csv", synthetic.folder), ("slp", slp_folder)):
        run = lp3d("smooth", folder, "-c", synthetic.calibration, "-k", keypoints, "--out", tmp_path / f"s-{name}")
        assert run.returncode == 0, run.stderr
        run = lp3d("triangulate", folder, "-c", synthetic.calibration, "-k", keypoints, "--out", tmp_path / f"t-{name}")
        assert run.returncode == 0, run.stderr
    for result in ("s-{}/multicam_3d_results.csv", "t-{}/triangulated_3d.csv"):
        a, b = from_pose_csv(tmp_path / result.format("csv")), from_pose_csv(tmp_path / result.format("slp"))
        assert a.n_frames == synthetic.n_frames
        np.testing.assert_array_equal(b.position, a.position)


def test_convert_reads_slp(lp3d, synthetic, slp_folder, tmp_path):
    from lp3d_io.store import read_group

    for name, folder in (("csv", synthetic.folder), ("slp", slp_folder)):
        run = lp3d("convert", folder, tmp_path / f"{name}.zarr", "-c", synthetic.calibration)
        assert run.returncode == 0, run.stderr
    a = read_group(tmp_path / "csv.zarr", "predictions/ensemble")
    b = read_group(tmp_path / "slp.zarr", "predictions/ensemble")
    assert b["member"].values.tolist() == a["member"].values.tolist()
    np.testing.assert_array_equal(b["position"].values, a["position"].values)


@pytest.fixture(scope="module")
def store(lp3d, synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoothed") / "out"
    run = lp3d("smooth", synthetic.folder, "-c", synthetic.calibration, "-k", synthetic.keypoints[0], "--out", out)
    assert run.returncode == 0, run.stderr
    return out / "synth.zarr"


@pytest.mark.parametrize(
    ("fmt", "suffix", "n_files"),
    [("deeplabcut", ".h5", 4), ("sleap", ".slp", 3), ("sleap-analysis", ".analysis.h5", 3), ("movement", ".nc", 4)],
)
def test_convert_format(lp3d, synthetic, store, tmp_path, fmt, suffix, n_files):
    if fmt == "sleap":
        pytest.importorskip("sleap_io")
    run = lp3d("convert", store, tmp_path / "x", "--group", "smoothed/eks", "--format", fmt)
    assert run.returncode == 0, run.stderr
    assert f"wrote smoothed/eks to {tmp_path / 'x'} ({n_files} {fmt} files)" in run.stderr
    names = sorted(p.name for p in (tmp_path / "x").iterdir())
    views = [f"multicam_{v}_results{suffix}" for v in synthetic.views]
    assert names == sorted(views + ([f"multicam_3d_results{suffix}"] if n_files == 4 else []))
    if n_files == 3:
        assert "multicam_3d_results (3D) not written: SLEAP files hold 2D poses" in run.stderr
    csv = from_pose_csv(store.parent / views[0].replace(suffix, ".csv"))  # the eks CSV lp3d smooth wrote
    if fmt == "movement":
        import xarray as xr

        with xr.open_dataset(tmp_path / "x" / views[0]) as ds:
            got = ds["position"].transpose("time", "keypoints", "individuals", "space").values
    else:
        from lp3d_io.readers import from_pose_file

        got = from_pose_file(tmp_path / "x" / views[0]).position
    np.testing.assert_allclose(got, csv.position, rtol=1e-6)  # the CSV holds float32 text


def test_convert_format_errors(lp3d, store, tmp_path):
    run = lp3d("convert", store, tmp_path / "x.nc", "--format", "movement")
    assert run.returncode == 2
    assert (
        run.stderr.strip()
        == f"lp3d convert: error: DST {tmp_path / 'x.nc'}: expected a folder for --format movement, but got a .nc path"
    )
    run = lp3d("convert", store, tmp_path / "x", "--format", "nwb")
    assert (
        run.returncode == 2
        and "--format: expected one of deeplabcut, sleap, sleap-analysis, movement, but got 'nwb'" in run.stderr
    )
