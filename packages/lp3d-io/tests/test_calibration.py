from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lp3d_eks")

from lp3d_io.calibration import (  # noqa: E402
    calibration_from_dataset,
    calibration_to_dataset,
    check_views,
    from_anipose_toml,
    to_anipose_toml,
)
from lp3d_io.netcdf import from_netcdf, to_netcdf  # noqa: E402


def _same_rig(a, b) -> None:
    assert a.names == b.names
    for ca, cb in zip(a.cameras, b.cameras, strict=True):
        assert ca.size == cb.size
        for field in ("matrix", "dist", "rvec", "tvec"):
            np.testing.assert_array_equal(getattr(ca, field), getattr(cb, field))


def test_read_in_view_order(fly_dir):
    rig = from_anipose_toml(fly_dir / "calibration.toml", ["Cam-C", "Cam-A", "Cam-B"])
    assert rig.names == ["Cam-C", "Cam-A", "Cam-B"]
    full = from_anipose_toml(fly_dir / "calibration.toml")
    np.testing.assert_array_equal(rig["Cam-A"].matrix, full[0].matrix)


@pytest.mark.parametrize(
    ("views", "kwargs", "message"),
    [
        (["Cam-A", "Cam-B"], {}, r"extra cameras \['Cam-C'\]"),
        (["Cam-A", "Cam-B", "Cam-C", "Cam-D"], {}, r"missing cameras \['Cam-D'\]"),
        (["Cam-A", "Cam-B", "Cam-D"], {"allow_extra": True}, r"missing cameras \['Cam-D'\]"),
    ],
)
def test_check_views_lists_cameras(fly_dir, views, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        from_anipose_toml(fly_dir / "calibration.toml", views, **kwargs)
    assert "calibration.toml" in str(err.value)


def test_allow_extra_drops_cameras(fly_dir):
    rig = from_anipose_toml(fly_dir / "calibration.toml")
    assert check_views(rig, ["Cam-B"], allow_extra=True).names == ["Cam-B"]


def test_toml_round_trip(fly_dir, tmp_path):
    rig = from_anipose_toml(fly_dir / "calibration.toml")
    to_anipose_toml(rig, tmp_path / "calib.toml")
    _same_rig(from_anipose_toml(tmp_path / "calib.toml"), rig)


def test_dataset_round_trip_through_netcdf(fly_dir, tmp_path):
    rig = from_anipose_toml(fly_dir / "calibration.toml")
    ds = calibration_to_dataset(rig)
    assert ds["matrix"].dims == ("view", "row", "column")
    assert ds["image_size"].sel(view="Cam-B", extent="height").item() == 632
    to_netcdf(ds, tmp_path / "calib.nc")
    back = calibration_from_dataset(from_netcdf(tmp_path / "calib.nc"))
    _same_rig(back, rig)
    assert back.metadata == {"adjusted": True, "error": rig.metadata["error"]}
    # The stored rig projects like the original.
    points = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(back.project(points), rig.project(points))
