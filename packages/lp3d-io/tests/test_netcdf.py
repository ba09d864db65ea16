from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from lp3d_io.dataset import smoothed_dataset
from lp3d_io.netcdf import from_netcdf, to_netcdf


def test_predictions_round_trip(tmp_path, make_predictions):
    ds = make_predictions(M=2, V=2, T=30, K=3, I=2, fps=50, session="s", source_files=["a.csv", "b.csv"])
    to_netcdf(ds, tmp_path / "p.nc")
    xr.testing.assert_identical(from_netcdf(tmp_path / "p.nc"), ds)


def test_smoothed_round_trip_lazy(tmp_path, make_result):
    ds = smoothed_dataset(make_result("calibrated"), view_names=["a", "b", "c"], keypoint_names=list("abcd"))
    to_netcdf(ds, tmp_path / "s.nc")
    lazy = from_netcdf(tmp_path / "s.nc", lazy=True)
    try:
        xr.testing.assert_identical(lazy.load(), ds)
    finally:
        lazy.close()


def test_plain_xarray_opens_it(tmp_path, make_predictions):
    """movement users open the file with xarray alone."""
    ds = make_predictions(T=10)
    to_netcdf(ds, tmp_path / "p.nc")
    with xr.open_dataset(tmp_path / "p.nc") as opened:
        np.testing.assert_array_equal(
            opened["position"].sel(keypoint="kp1").values, ds["position"].sel(keypoint="kp1").values
        )
        assert opened.attrs["lp3d_kind"] == "predictions"


def test_not_an_lp3d_file(tmp_path):
    xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match=r"other.nc: dataset attribute 'lp3d_kind'"):
        from_netcdf(tmp_path / "other.nc")


def test_failed_write_keeps_existing_file(tmp_path, make_predictions):
    path = tmp_path / "p.nc"
    good = make_predictions(T=5)
    to_netcdf(good, path)
    bad = good.assign(confidence=good["confidence"] + 5)
    with pytest.raises(ValueError, match="confidence"):
        to_netcdf(bad, path)
    xr.testing.assert_identical(from_netcdf(path), good)
    assert [p.name for p in tmp_path.iterdir()] == ["p.nc"]
