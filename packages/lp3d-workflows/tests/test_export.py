"""``lp3d convert --format``: predictions and smoothed results of a store, exported and read back
with lp3d's readers, xarray and the tools' own libraries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("tables")

from lp3d_workflows.conversion import convert  # noqa: E402
from lp3d_workflows.errors import UserError  # noqa: E402

SEED = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A calibrated 3-view session of 2 members, smoothed in 3D, as ``lp3d smooth`` leaves it."""
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session
    from lp3d_workflows.batch import smooth_inputs
    from lp3d_workflows.smoothing import SmoothSettings

    root = tmp_path_factory.mktemp("export")
    session = make_session(SyntheticConfig(n_views=3, n_frames=40, seed=SEED, session_name="rat"))
    predictions = make_ensemble_predictions(session, n_members=2, seed=SEED).to_dataset()
    to_prediction_csvs(predictions, root / "rat")
    session.rig.to_toml(root / "rat" / "calibration.toml")
    smooth_inputs([root / "rat"], root / "out", SmoothSettings(calibration=root / "rat" / "calibration.toml"))
    return root / "out" / "rat.zarr"


def _groups(store: Path):
    from lp3d_io.store import read_group

    return {name: read_group(store, name).load() for name in ("predictions/ensemble", "smoothed/eks")}


def _reader(fmt: str):
    if fmt == "deeplabcut":
        from lp3d_io.hdf5 import from_dlc_h5

        return from_dlc_h5
    if fmt == "sleap-analysis":
        from lp3d_io.hdf5 import from_sleap_analysis_h5

        return from_sleap_analysis_h5
    from lp3d_io.sleap import from_sleap_slp

    return from_sleap_slp


@pytest.mark.parametrize("fmt", ["deeplabcut", "sleap-analysis", "sleap"])
def test_pose_file_formats(tmp_path, store, fmt):
    if fmt == "sleap":
        pytest.importorskip("sleap_io")
    suffix = {"deeplabcut": ".h5", "sleap-analysis": ".analysis.h5", "sleap": ".slp"}[fmt]
    result = convert(store, tmp_path / "x", format=fmt)
    groups = _groups(store)
    pred, smoothed = groups["predictions/ensemble"], groups["smoothed/eks"]
    views, members = [str(v) for v in pred["view"].values], [str(m) for m in pred["member"].values]
    expected = {f"predictions/rat_{v}.{m}{suffix}" for v in views for m in members}
    expected |= {f"smoothed/multicam_{v}_results{suffix}" for v in views}
    if fmt == "deeplabcut":
        expected.add(f"smoothed/multicam_3d_results{suffix}")
    else:
        assert result.notes == ["smoothed/eks: multicam_3d_results (3D) not written: SLEAP files hold 2D poses"]
    assert {str(p.relative_to(tmp_path / "x")) for p in result.files} == expected
    assert sorted(result.groups) == ["calibration", "predictions/ensemble", "smoothed/eks"]
    read = _reader(fmt)
    time = pred["time"].values
    for v, view in enumerate(views):
        for m, member in enumerate(members):
            table = read(tmp_path / "x" / "predictions" / f"rat_{view}.{member}{suffix}")
            want = pred["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values[m, v]
            np.testing.assert_array_equal(table.position, want.astype(np.float64))
            assert table.index.tolist() == time.tolist()
        table = read(tmp_path / "x" / "smoothed" / f"multicam_{view}_results{suffix}")
        want = smoothed["reprojection"].sel(view=view).transpose("time", "keypoint", "individual", "image_space")
        np.testing.assert_array_equal(table.position, want.values)
        conf = smoothed["ensemble_confidence"].sel(view=view).transpose("time", "keypoint", "individual").values
        np.testing.assert_array_equal(table.confidence, np.where(np.isnan(want.values[..., 0]), np.nan, conf))
    if fmt == "deeplabcut":
        table = read(tmp_path / "x" / "smoothed" / "multicam_3d_results.h5")
        np.testing.assert_array_equal(
            table.position, smoothed["position"].transpose("time", "keypoint", "individual", "space").values
        )


@pytest.mark.parametrize("fps", [None, 30.0])
def test_movement(tmp_path, store, fps):
    """Smoothed results as movement datasets: time in frames, or in seconds when the data has an fps."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("movement")
    from lp3d_io.netcdf import to_netcdf
    from movement.validators.datasets import ValidPosesInputs

    smoothed = _groups(store)["smoothed/eks"]
    if fps is not None:
        smoothed.attrs["fps"] = fps
    to_netcdf(smoothed, tmp_path / "smoothed.nc")
    convert(tmp_path / "smoothed.nc", tmp_path / "m", format="movement")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == sorted([f"multicam_{v}_results.nc" for v in smoothed["view"].values] + ["multicam_3d_results.nc"])
    with xr.open_dataset(tmp_path / "m" / "multicam_3d_results.nc") as ds:
        ValidPosesInputs.validate(ds)
        want = smoothed["position"].transpose("time", "space", "keypoint", "individual").values
        np.testing.assert_array_equal(ds["position"].values, want)
        np.testing.assert_array_equal(
            ds["position_variance"].values,
            smoothed["position_variance"].transpose("time", "space", "keypoint", "individual").values,
        )
        if fps is None:
            np.testing.assert_array_equal(ds["time"].values, smoothed["time"].values)
            assert ds.attrs["time_unit"] == "frames" and "fps" not in ds.attrs
        else:
            np.testing.assert_allclose(ds["time"].values, smoothed["time"].values / fps, rtol=0, atol=1e-12)
            assert ds.attrs["fps"] == fps and ds.attrs["time_unit"] == "seconds"
    view = str(smoothed["view"].values[0])
    with xr.open_dataset(tmp_path / "m" / f"multicam_{view}_results.nc") as ds:
        ValidPosesInputs.validate(ds)
        variance = smoothed["reprojection_variance"].sel(view=view)  # the track's posterior variance
        np.testing.assert_array_equal(
            ds["position_variance"].values, variance.transpose("time", "image_space", "keypoint", "individual").values
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"format": "nwb"},
            UserError,
            r"--format: expected one of deeplabcut, sleap, sleap-analysis, movement, but got 'nwb'",
        ),
        (
            {"format": "movement", "dst": "x.nc"},
            UserError,
            r"DST .*x.nc: expected a folder for --format movement, but got a .nc path",
        ),
        (
            {"format": "sleap", "group": "calibration"},
            UserError,
            r"--format sleap: nothing to write \(SRC holds no pose data\)",
        ),
        ({"format": "deeplabcut", "dst": "exists"}, FileExistsError, r"DST .*exists: already exists and is not empty"),
    ],
)
def test_bad_exports(tmp_path, store, kwargs, error, message):
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "keep.txt").write_text("x")
    dst = tmp_path / kwargs.pop("dst", "x")
    with pytest.raises(error, match=message):
        convert(store, dst, **kwargs)
    assert (tmp_path / "exists" / "keep.txt").read_text() == "x" and not (tmp_path / "x").exists()


def test_labels_have_no_export(tmp_path):
    from lp3d_io.dataset import labels_arrays
    from lp3d_io.netcdf import to_netcdf

    to_netcdf(
        labels_arrays(np.zeros((1, 2, 1, 2)), [["a.png", "b.png"]], view_names=["v"], keypoint_names=["k"]),
        tmp_path / "l.nc",
    )
    with pytest.raises(UserError, match=r"group 'labels/labels': a labels dataset has no export"):
        convert(tmp_path / "l.nc", tmp_path / "x", format="deeplabcut")
