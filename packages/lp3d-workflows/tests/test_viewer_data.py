"""lp3d_workflows.viewer_data against the store read whole with xarray (the independent answer):
one frame's overlays, one keypoint's series (every frame, decimated, from the overview), the
overview's cache, and a store in the earlier layout (one keypoint per chunk)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from lp3d_eks import Z_95
from lp3d_io.store import read_calibration, read_group
from lp3d_workflows.errors import UserError
from lp3d_workflows.viewer_data import OVERVIEW_BLOCK, SourceReader, bucket_size, coordinate_sum, decimate_min_max

TOL = {"rtol": 1e-5, "atol": 1e-4}  # series go out as float32 (the overview computes in float32: 1e-4 px)


@pytest.fixture(scope="module")
def store(viewer_project):
    return viewer_project / "smoothed" / "synthetic" / "synthetic.zarr"


@pytest.fixture(scope="module")
def truth(store):
    """Every variable the viewer shows, read whole: ``(view, time, keypoint, ...)`` etc., individual 0."""
    sm = read_group(store, "smoothed/eks").isel(individual=0).load()
    pr = read_group(store, "predictions/ensemble").isel(individual=0).load()
    return {
        "members": pr["position"].transpose("member", "view", "time", "keypoint", "space").values,
        "center": sm["ensemble_center"].transpose("view", "time", "keypoint", "image_space").values,
        "smoothed": sm["reprojection"].transpose("view", "time", "keypoint", "image_space").values,
        "variance": sm["reprojection_variance"].transpose("view", "time", "keypoint", "image_space").values,
        "ensemble_variance": sm["ensemble_variance"].transpose("view", "time", "keypoint", "image_space").values,
        "inflation": sm["inflation"].transpose("view", "time", "keypoint").values,
        "position": sm["position"].transpose("time", "keypoint", "space").values,
        "position_variance": sm["position_variance"].transpose("time", "keypoint", "space").values,
        "s": sm["smoothing_parameter"].values,
        "members_names": [str(m) for m in pr["member"].values],
        "keypoints": [str(k) for k in sm["keypoint"].values],
        "views": [str(v) for v in sm["view"].values],
    }


def reader_of(store, tmp_path=None):
    return SourceReader(
        store, "predictions/ensemble", "smoothed/eks", True, cache=None if tmp_path is None else tmp_path / "cache"
    )


def full_series(truth, k: int, v: int) -> dict[str, np.ndarray]:
    """Every plotted series of keypoint ``k`` in view ``v`` at every frame, from the store's arrays."""
    c, t = truth["center"][v, :, k], truth["smoothed"][v, :, k]
    sd = np.sqrt(np.maximum(truth["variance"][v, :, k], 0))
    out = {
        "x_center": c[:, 0],
        "y_center": c[:, 1],
        "x_smoothed": t[:, 0],
        "y_smoothed": t[:, 1],
        "x_low": t[:, 0] - Z_95 * sd[:, 0],
        "x_high": t[:, 0] + Z_95 * sd[:, 0],
        "y_low": t[:, 1] - Z_95 * sd[:, 1],
        "y_high": t[:, 1] + Z_95 * sd[:, 1],
        "posterior_variance": truth["variance"][v, :, k].sum(axis=-1),
        "ensemble_variance": truth["ensemble_variance"][v, :, k].sum(axis=-1),
        "error": np.linalg.norm(c - t, axis=-1),
        "inflated": (truth["inflation"][v, :, k] > 1).astype(float),
    }
    for m, member in enumerate(truth["members_names"]):
        out[f"x_{member}"] = truth["members"][m, v, :, k, 0]
        out[f"y_{member}"] = truth["members"][m, v, :, k, 1]
    return out


def columns(values: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """Brute force: each column's minimum then maximum (NaN for an all-NaN column)."""
    out = []
    for a, b in edges:
        finite = values[a:b][np.isfinite(values[a:b])]
        out += [finite.min(), finite.max()] if finite.size else [np.nan, np.nan]
    return np.array(out)


def test_the_store_is_read_in_whole_frame_chunks(store):
    reader = reader_of(store)
    assert reader.smoothed.time_chunked("reprojection") and reader.smoothed.time_chunk("reprojection") == 16
    assert reader.n_frames == 300 and reader.smoother == "calibrated"


@pytest.mark.parametrize("frame", [0, 15, 16, 161, 299])
def test_one_frame_has_every_layer_of_the_store(store, truth, frame):
    o = reader_of(store).frame(frame)
    np.testing.assert_array_equal(o.members, truth["members"][:, :, frame])
    np.testing.assert_array_equal(o.center, truth["center"][:, frame])
    np.testing.assert_array_equal(o.smoothed, truth["smoothed"][:, frame])
    np.testing.assert_array_equal(o.smoothed_variance, truth["variance"][:, frame])
    np.testing.assert_array_equal(o.inflated, truth["inflation"][:, frame] > 1)
    np.testing.assert_array_equal(o.position3d, truth["position"][frame])
    np.testing.assert_array_equal(o.variance3d, truth["position_variance"][frame])
    rig = read_calibration(store)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(o.triangulated, rig.project(rig.triangulate(truth["center"][:, frame])))
    assert reader_of(store).frame(frame, members=False).members is None


def test_frames_are_read_ahead_while_playing(store, tmp_path):
    import shutil

    shutil.copytree(store, tmp_path / "s.zarr")  # a store no other test read (decoded chunks are cached per process)
    reader = reader_of(tmp_path / "s.zarr")
    group = reader.smoothed
    assert not group.cached("reprojection", 5)
    reader.frame(5 * 16 - 4)  # past the middle of chunk 4: chunk 5 is read on a thread
    deadline = time.monotonic() + 10
    while not group.cached("reprojection", 5) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert group.cached("reprojection", 5) and not group.cached("reprojection", 6)


def test_frame_and_keypoint_errors(store):
    reader = reader_of(store)
    with pytest.raises(IndexError, match="frame: expected 0..299, but got 300"):
        reader.frame(300)
    with pytest.raises(KeyError, match="keypoint 'wing'"):
        reader.series("wing")
    with pytest.raises(UserError, match="expected start < stop within 0..300, but got 200..100"):
        reader.series("nose", 200, 100)
    with pytest.raises(UserError, match="views: expected names among"):
        reader.series("nose", views=["cam9"])
    with pytest.raises(UserError, match="width: expected a positive number of columns"):
        reader.series("nose", width=0)
    with pytest.raises(UserError, match="individual: expected one of"):
        reader.frame(0, individual="nobody")


@pytest.mark.parametrize(("dims", "dtype"), [(2, np.float32), (3, np.float64)])
def test_coordinate_sum_is_numpys_sum_to_the_bit(dims, dtype):
    values = np.random.default_rng(3).normal(size=(4, 50, 7, dims)).astype(dtype) * 1e3
    values[0, 3, 2, 1] = np.nan
    values[1, 4, 0, 0] = np.inf
    expected = values.sum(axis=-1)
    got = coordinate_sum(values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("step", [2, 7, 16, 300])
def test_decimation_keeps_every_min_and_max_of_each_column(step):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 301))
    values[0, 10:40] = np.nan  # a gap (an all-NaN column for steps up to 30)
    values[1, rng.integers(0, 301, 5)] = [50, -50, 80, -80, 99]  # spikes are never lost
    got = decimate_min_max(values, step)
    edges = [(a, min(a + step, 301)) for a in range(0, 301, step)]
    for row in range(3):
        np.testing.assert_array_equal(got[row], columns(values[row], edges))
    assert np.nanmax(got[1]) == 99 and np.nanmin(got[1]) == -80
    np.testing.assert_array_equal(decimate_min_max(values, 1), values)
    assert bucket_size(300, 150) == 1 and bucket_size(301, 150) == 3 and bucket_size(100_000, 1500) == 67


def test_a_series_at_every_frame_is_the_store(store, truth):
    k = truth["keypoints"].index("nose")
    series = reader_of(store).series("nose", 20, 260, width=1000, members=True)
    assert series.step == 1 and not series.overview
    np.testing.assert_array_equal(series.time, np.arange(20, 260))
    assert series.s == pytest.approx(truth["s"][k])
    for v, view in enumerate(truth["views"]):
        want = full_series(truth, k, v)
        assert set(series.views[view]) == set(want)
        for name, values in want.items():
            np.testing.assert_allclose(series.views[view][name], values[20:260], **TOL, err_msg=name)
    np.testing.assert_allclose(series.space["x"], truth["position"][20:260, k, 0], **TOL)
    np.testing.assert_allclose(series.space["variance"], truth["position_variance"][20:260, k].sum(-1), **TOL)
    without = reader_of(store).series("nose", 20, 260, width=1000)
    assert not any(name.startswith(("x_member", "y_member")) for name in without.views["cam0"])


def test_a_decimated_series_is_each_columns_min_and_max(store, truth):
    k = truth["keypoints"].index("tail_base")
    series = reader_of(store).series("tail_base", 3, 290, width=50, views=["cam1"])
    step = series.step
    assert step == bucket_size(287, 50) == 6 and not series.overview and list(series.views) == ["cam1"]
    edges = [(a, min(a + step, 290)) for a in range(3, 290, step)]
    np.testing.assert_array_equal(series.time[0::2], [a for a, _ in edges])
    for name, values in full_series(truth, k, 1).items():
        if name.startswith(("x_member", "y_member")):
            continue
        got = series.views["cam1"][name]
        if name == "inflated":  # the share of flagged frames in the column
            np.testing.assert_allclose(got[0::2], [values[a:b].mean() for a, b in edges], **TOL)
        else:
            np.testing.assert_allclose(got, columns(values, edges), **TOL, err_msg=name)


@pytest.mark.parametrize(("start", "stop", "width"), [(0, 300, 4), (37, 299, 2), (0, 300, 18)])
def test_a_long_series_comes_from_the_overview_blocks(store, truth, tmp_path, start, stop, width):
    k = truth["keypoints"].index("nose")
    series = reader_of(store, tmp_path).series("nose", start, stop, width=width, members=True)
    assert series.overview and series.step % OVERVIEW_BLOCK == 0 and series.step >= bucket_size(stop - start, width)
    first = start // OVERVIEW_BLOCK * OVERVIEW_BLOCK  # columns are whole blocks
    edges = [(a, min(a + series.step, 300)) for a in range(first, stop, series.step)]
    np.testing.assert_array_equal(series.time[0::2], [a for a, _ in edges])
    for v, view in enumerate(truth["views"]):
        for name, values in full_series(truth, k, v).items():
            got = series.views[view][name]
            if name == "inflated":
                np.testing.assert_allclose(got[0::2], [values[a:b].mean() for a, b in edges], **TOL)
            else:
                np.testing.assert_allclose(got, columns(values, edges), **TOL, err_msg=f"{view} {name}")
    np.testing.assert_allclose(series.space["z"], columns(truth["position"][:, k, 2], edges), **TOL)


def test_the_overview_is_kept_in_the_cache_and_rebuilt_when_the_store_changes(store, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "s.zarr"
    shutil.copytree(store, copy)
    first = reader_of(copy, tmp_path).series("nose", width=2)
    meta = json.loads((tmp_path / "cache" / "overview-0" / "overview.json").read_text())
    assert meta["key"]["block"] == OVERVIEW_BLOCK and (tmp_path / "cache" / "overview-0" / "values.npy").is_file()

    def no_build(*_args):
        raise AssertionError("built again")

    with monkeypatch.context() as patch:
        patch.setattr(SourceReader, "_build_overview", no_build)
        again = reader_of(copy, tmp_path).series("nose", width=2)  # a new reader (a restarted server)
    for name, values in first.views["cam0"].items():
        np.testing.assert_array_equal(again.views["cam0"][name], values)
    # the store changes (a commit rewrites the group's consolidated metadata): the overview is built again
    metadata = copy / "smoothed" / "eks" / ".zmetadata"
    metadata.write_text(metadata.read_text() + " ")
    built = []
    real = SourceReader._build_overview
    monkeypatch.setattr(SourceReader, "_build_overview", lambda self, i: built.append(i) or real(self, i))
    reader_of(copy, tmp_path).series("nose", width=2)
    assert built == [0]


def test_without_a_writable_cache_the_overview_stays_in_memory(store, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    reader = SourceReader(store, "predictions/ensemble", "smoothed/eks", True, cache=blocked / "cache")
    assert reader.series("nose", width=2).overview


def test_a_store_in_the_earlier_layout_reads_the_same(viewer_project, store):
    old = viewer_project / "old" / "synthetic.zarr"
    new_reader, old_reader = reader_of(store), reader_of(old)
    assert not old_reader.smoothed.time_chunked("reprojection")
    for frame in (0, 100, 299):
        a, b = new_reader.frame(frame), old_reader.frame(frame)
        for name in ("members", "center", "smoothed", "smoothed_variance", "inflated", "position3d"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for width in (1000, 30, 3):
        a, b = (
            new_reader.series("nose", width=width, members=True),
            old_reader.series("nose", width=width, members=True),
        )
        assert a.step == b.step and a.overview == b.overview
        for name, values in a.views["cam2"].items():
            np.testing.assert_array_equal(b.views["cam2"][name], values)


def test_predictions_alone_give_the_members_median_as_centre(store, truth):
    reader = SourceReader(store, "predictions/ensemble", None)
    with np.errstate(all="ignore"):
        median = np.nanmedian(truth["members"][:, :, 40], axis=0)
    o = reader.frame(40)
    np.testing.assert_allclose(o.center, median)
    assert o.smoothed is None and o.inflated is None and o.triangulated is None and o.position3d is None
    assert sorted(reader.series("nose", width=1000).views["cam0"]) == ["x_center", "y_center"]
    series = reader.series("nose", width=1000, members=True)
    assert sorted(series.views["cam0"])[:2] == ["x_center", "x_member_0"] and series.s is None and series.space == {}
