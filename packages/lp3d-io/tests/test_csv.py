from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import lp3d_io._csv_read as cread
import lp3d_io._csv_write as cwrite
import lp3d_io.csv as lcsv
import numpy as np
import pandas as pd
import pytest
from lp3d_io.csv import (
    EKS_3D_COORDS,
    EKS_COORDS,
    from_pose_csv,
    to_eks_3d_csv,
    to_eks_csv,
    to_label_csvs,
    to_pose_csv,
    to_prediction_csvs,
)
from lp3d_io.dataset import labels_dataset, smoothed_dataset
from lp3d_io.pose_table import PoseTable


def _random_pose(T, K, I, seed, dtype=np.float32, nan_fraction=0.05):  # noqa: N803, E741
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 800, size=(T, K, I, 2)).astype(dtype)
    conf = rng.uniform(0, 1, size=(T, K, I)).astype(dtype)
    pos[rng.uniform(size=(T, K, I)) < nan_fraction] = np.nan
    return pos, conf


def test_round_trip_single_animal_matches_pandas(tmp_path):
    pos, conf = _random_pose(200, 5, 1, seed=0)
    names = [f"kp{k}" for k in range(5)]
    path = tmp_path / "pred.csv"
    to_pose_csv(PoseTable.from_numpy(pos[:, :, 0], conf[:, :, 0], keypoint_names=names, scorer="heatmap_tracker"), path)
    table = from_pose_csv(path, dtype=np.float32)
    np.testing.assert_array_equal(table.position, pos)  # float32 values are written exactly
    np.testing.assert_array_equal(table.confidence, conf)
    assert table.keypoint_names == names and table.individual_names == ["individual_0"]
    assert table.scorer == "heatmap_tracker" and table.index.tolist() == list(range(200))
    # An independent reader sees the same numbers under the DLC column layout.
    df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    np.testing.assert_array_equal(df[("heatmap_tracker", "kp3", "y")].to_numpy(np.float32), pos[:, 3, 0, 1])
    np.testing.assert_array_equal(df[("heatmap_tracker", "kp1", "likelihood")].to_numpy(np.float32), conf[:, 1, 0])


def test_round_trip_multi_animal_four_row_header(tmp_path):
    pos, conf = _random_pose(30, 3, 2, seed=1)
    path = tmp_path / "ma.csv"
    to_pose_csv(
        PoseTable.from_numpy(pos, conf, keypoint_names=["nose", "ear", "tail"], individual_names=["m1", "m2"]), path
    )
    lines = path.read_text().splitlines()
    assert [line.split(",")[0] for line in lines[:4]] == ["scorer", "individuals", "bodyparts", "coords"]
    table = from_pose_csv(path, dtype=np.float32)
    assert table.individual_names == ["m1", "m2"]
    np.testing.assert_array_equal(table.position, pos)
    df = pd.read_csv(path, header=[0, 1, 2, 3], index_col=0)
    np.testing.assert_array_equal(df[("lp3d", "m2", "ear", "x")].to_numpy(np.float32), pos[:, 1, 1, 0])


def test_float64_values_round_trip_exactly(tmp_path):
    pos, conf = _random_pose(50, 2, 1, seed=2, dtype=np.float64)
    path = tmp_path / "f64.csv"
    to_pose_csv(PoseTable.from_numpy(pos, conf, keypoint_names=["a", "b"]), path)
    table = from_pose_csv(path)
    np.testing.assert_array_equal(table.position, pos)


def test_labels_with_image_paths_and_empty_cells(tmp_path):
    pos, _ = _random_pose(6, 3, 1, seed=3, nan_fraction=0.3)
    index = [f"labeled-data/vid,{i}/img{i:03d}.png" for i in range(6)]  # a comma forces quoting
    path = tmp_path / "CollectedData.csv"
    to_pose_csv(PoseTable.from_numpy(pos, keypoint_names=["a", "b", "c"], index=index), path)
    text = path.read_text()
    assert ",," in text or ",\n" in text  # NaN is an empty cell
    assert "nan" not in text.lower()
    table = from_pose_csv(path, dtype=np.float32)
    assert table.confidence is None
    assert table.index.tolist() == index
    np.testing.assert_array_equal(table.position, pos)


def test_real_lightning_pose_predictions(fly_dir):
    path = next(fly_dir.glob("*Cam-A*rng=0.csv"))
    table = from_pose_csv(path)
    df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    assert table.position.shape == (len(df), 12, 1, 2)
    assert table.keypoint_names == list(dict.fromkeys(df.columns.get_level_values(1)))
    np.testing.assert_array_equal(table.position[:, 4, 0, 0], df.xs("x", axis=1, level=2).iloc[:, 4].to_numpy())
    np.testing.assert_array_equal(table.confidence[:, 7, 0], df.xs("likelihood", axis=1, level=2).iloc[:, 7].to_numpy())


def test_real_dlc_labeled_frames(collected_data):
    table = from_pose_csv(collected_data)
    df = pd.read_csv(collected_data, header=[0, 1, 2], index_col=0)
    assert table.scorer == "rick" and table.confidence is None
    assert table.index.tolist() == df.index.tolist()
    np.testing.assert_array_equal(table.position[..., 0, 1], df.xs("y", axis=1, level=2).to_numpy())
    assert np.isnan(table.position).any()


def test_dlc_three_column_index(tmp_path):
    path = tmp_path / "CollectedData_new.csv"
    path.write_text(
        "scorer,,,me,me\nbodyparts,,,nose,nose\ncoords,,,x,y\n"
        "labeled-data,vid1,img001.png,1.5,2.5\nlabeled-data,vid1,img002.png,,4\n"
    )
    table = from_pose_csv(path)
    assert table.index.tolist() == ["labeled-data/vid1/img001.png", "labeled-data/vid1/img002.png"]
    np.testing.assert_array_equal(table.position[:, 0, 0], [[1.5, 2.5], [np.nan, 4.0]])


def test_eks_reference_outputs_read(tmp_path):
    ref = pytest.importorskip("pathlib").Path(__file__).resolve().parents[3] / "bench" / "reference" / "fly_eks462"
    if not (ref / "multicam_Cam-A_results.csv").exists():
        pytest.skip(f"reference outputs not found: {ref}")
    cam = from_pose_csv(ref / "multicam_Cam-A_results.csv")
    assert tuple(["x", "y", "likelihood"] + list(cam.extra)) == EKS_COORDS[:-2]  # eks has no predictive columns
    df = pd.read_csv(ref / "multicam_Cam-A_results.csv", header=[0, 1, 2], index_col=0)
    np.testing.assert_array_equal(
        cam.extra["y_posterior_var"][:, 2, 0], df[("ensemble-kalman_tracker", "L2A", "y_posterior_var")]
    )
    three = from_pose_csv(ref / "multicam_3d_results.csv")
    assert three.space == ("x", "y", "z") and tuple(list(three.space) + list(three.extra)) == EKS_3D_COORDS


def test_eks_csv_writers(tmp_path, make_result):
    res = make_result("calibrated", V=2, T=15, K=3)
    conf = np.random.default_rng(5).uniform(size=res.inflation.shape)
    ds = smoothed_dataset(res, view_names=["A", "B"], keypoint_names=["p", "q", "r"], ensemble_confidence=conf)
    to_eks_csv(tmp_path / "B.csv", ds, "B")
    to_eks_3d_csv(tmp_path / "3d.csv", ds)
    df = pd.read_csv(tmp_path / "B.csv", header=[0, 1, 2], index_col=0)
    assert tuple(df.columns.get_level_values(2)[: len(EKS_COORDS)]) == EKS_COORDS
    assert df.columns.get_level_values(0)[0] == "ensemble-kalman_tracker"
    np.testing.assert_array_equal(df[("ensemble-kalman_tracker", "q", "x")], res.reprojection[1, :, 1, 0])
    np.testing.assert_array_equal(df[("ensemble-kalman_tracker", "q", "likelihood")], conf[1, :, 1])
    np.testing.assert_array_equal(
        df[("ensemble-kalman_tracker", "r", "y_ens_var")], res.observation_variance[1, :, 2, 1]
    )
    # The track's posterior variance, and the spread of a new detection (eks 4.6's multi-camera posterior_var).
    np.testing.assert_array_equal(
        df[("ensemble-kalman_tracker", "p", "x_posterior_var")], res.reprojection_variance[1, :, 0, 0]
    )
    np.testing.assert_array_equal(
        df[("ensemble-kalman_tracker", "p", "x_predictive_var")], res.predictive_variance[1, :, 0, 0]
    )
    d3 = pd.read_csv(tmp_path / "3d.csv", header=[0, 1, 2], index_col=0)
    assert tuple(d3.columns.get_level_values(2)[:6]) == EKS_3D_COORDS
    np.testing.assert_array_equal(d3[("ensemble-kalman_tracker", "r", "z")], res.mean[:, 2, 2])
    np.testing.assert_allclose(d3[("ensemble-kalman_tracker", "p", "y_posterior_var")], res.covariance[:, 0, 1, 1])


def test_eks_3d_needs_calibrated(tmp_path, make_result):
    ds = smoothed_dataset(make_result("linear"), view_names=["A", "B", "C"], keypoint_names=list("abcd"))
    with pytest.raises(ValueError, match="expected a calibrated"):
        to_eks_3d_csv(tmp_path / "x.csv", ds)


def test_dataset_writers_round_trip(tmp_path, make_predictions):
    from lp3d_io.grouping import read_labels, read_predictions

    ds = make_predictions(M=2, V=2, T=20, K=3, session="sess")
    files = to_prediction_csvs(ds, tmp_path / "preds")
    assert sorted(p.name for p in files.values()) == [
        "sess_cam0.rng=0.csv",
        "sess_cam0.rng=1.csv",
        "sess_cam1.rng=0.csv",
        "sess_cam1.rng=1.csv",
    ]
    back = read_predictions(tmp_path / "preds", ["cam0", "cam1"])
    np.testing.assert_array_equal(back["position"].values, ds["position"].values)
    np.testing.assert_array_equal(back["confidence"].values, ds["confidence"].values)

    rng = np.random.default_rng(6)
    paths = np.array([[f"labeled-data/{v}/img{i}.png" for i in range(4)] for v in ("top", "bot")])
    labels = labels_dataset(
        rng.normal(size=(2, 4, 3, 2)).astype(np.float32), paths, view_names=["top", "bot"], keypoint_names=list("abc")
    )
    written = to_label_csvs(labels, tmp_path / "labels")
    assert written["bot"].name == "CollectedData_bot.csv"
    again = read_labels(tmp_path / "labels", ["top", "bot"])
    np.testing.assert_array_equal(again["position"].values, labels["position"].values)
    np.testing.assert_array_equal(again["image_path"].values, paths)


@pytest.mark.parametrize("engine", ["numpy", "pyarrow"])
def test_failed_write_keeps_existing_file(tmp_path, monkeypatch, engine):
    path = tmp_path / "out.csv"
    path.write_text("precious")

    def broken(*args, **kwargs):
        raise OSError("No space left on device")  # after the header: half a file in the temp file

    if engine == "pyarrow":
        import pyarrow.csv

        monkeypatch.setattr(cwrite, "ARROW_MIN_CELLS", 0)
        monkeypatch.setattr(pyarrow.csv, "write_csv", broken)
    else:
        monkeypatch.setattr(cwrite, "_rows_text", broken)
    with pytest.raises(OSError, match="No space"):
        to_pose_csv(PoseTable.from_numpy(np.zeros((3, 1, 2)), keypoint_names=["a"]), path)
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temp file left


# --- the two engines: numpy / standard library and pyarrow ----------------------------------------


def _awkward_values(n: int, seed: int, dtype) -> np.ndarray:
    """Values of every magnitude and sign, integers, zeros, NaN, infinities and boundary cases."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-10, 10, n) * 10.0 ** rng.integers(-12, 22, n)
    x[rng.uniform(size=n) < 0.05] = np.nan
    x[rng.uniform(size=n) < 0.03] = 0.0
    ints = rng.uniform(size=n) < 0.05
    x[ints] = np.round(rng.uniform(-1e6, 1e6, ints.sum()))
    edges = [np.inf, -np.inf, -0.0, 1e-6, 1e-4, 9.999999e-5, 1e10, 9999999999.5, 1e16, 1e15, 5e-324, 1e-7, 1e21]
    x[: len(edges)] = edges
    with np.errstate(over="ignore"):
        return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("labels", ["frames", "plain paths", "paths needing quotes"])
def test_numpy_and_pyarrow_writers_write_the_same_bytes(dtype, labels):
    T, K, I = 60, 3, 2  # noqa: E741
    values = {c: _awkward_values(T * K * I, seed, dtype).reshape(T, K, I) for seed, c in enumerate(EKS_COORDS[:4])}
    index = {
        "frames": np.arange(T) * 3 + 7,
        "plain paths": np.array([f"labeled-data/v/img{i}.0" for i in range(T)]),  # ".0" must survive
        "paths needing quotes": np.array([f'labeled-data/v,1/"img{i}".png' for i in range(T)]),
    }[labels]
    plain = index.dtype.kind in "iu" or "quotes" not in labels
    ours = cwrite._rows_text(values, index, plain).encode()
    buffer = io.BytesIO()
    cwrite._write_rows_arrow(buffer, values, index, plain)
    assert ours == buffer.getvalue()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("plain", [True, False])
def test_orjson_fast_path_writes_pyarrows_bytes(dtype, plain):
    T, K, I = 80, 4, 2  # noqa: E741
    values = {c: _awkward_values(T * K * I, seed, dtype).reshape(T, K, I) for seed, c in enumerate(EKS_COORDS[:3])}
    for arr in values.values():
        arr[~np.isfinite(arr)] = np.nan
        arr[:3, 0, 0] = [1.5e-6, -9.25e-6, 123456789012.5]
    index = np.array([f'labeled-data/v/"img{i}".0' for i in range(T)]) if not plain else np.arange(T)
    fast = cwrite._rows_text_orjson(values, index, plain)
    assert fast is not None
    buffer = io.BytesIO()
    cwrite._write_rows_arrow(buffer, values, index, plain)
    assert fast.encode() == buffer.getvalue() == cwrite._rows_text_python(values, index, plain).encode()


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_orjson_fast_path_leaves_infinities_to_the_python_path(value):
    values = {"x": np.full((2, 1, 1), 1.5), "y": np.full((2, 1, 1), value)}
    assert cwrite._rows_text_orjson(values, np.arange(2), True) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_writers_read_back_exactly_by_both_parsers(tmp_path, monkeypatch, dtype):
    position = _awkward_values(400 * 5 * 2, 9, dtype).reshape(400, 5, 2)
    position[~np.isfinite(position)] = np.nan  # the convention has no infinities
    names = [f"kp{k}" for k in range(5)]
    texts = {}
    for engine, cells in (("numpy", 10**9), ("pyarrow", 0)):
        monkeypatch.setattr(cwrite, "ARROW_MIN_CELLS", cells)
        to_pose_csv(PoseTable.from_numpy(position, keypoint_names=names), tmp_path / f"{engine}.csv")
        texts[engine] = (tmp_path / f"{engine}.csv").read_bytes()
    assert texts["numpy"] == texts["pyarrow"]
    for size in (1 << 40, 0):  # the numpy parser, then pyarrow's
        monkeypatch.setattr(cread, "ARROW_MIN_BYTES", size)
        table = from_pose_csv(tmp_path / "numpy.csv", dtype=dtype)
        np.testing.assert_array_equal(table.position[:, :, 0], position)
        assert table.index.dtype == np.int64 and table.index.tolist() == list(range(400))


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("scorer,s,s\nbodyparts,a,a\ncoords,x,y\n0,1.5,\n1,,2.25\n2,,\n\n", True),  # empty cells, a blank line
        ("scorer,s,s\r\nbodyparts,a,a\r\ncoords,x,y\r\n0,1.5,2\r\n1,3,4\r\n", True),  # Windows line ends
        ('scorer,,s,s\nbodyparts,,a,a\ncoords,,x,y\n"lab,1",img.png,1,2\nlab2,img2.png,3,\n', True),  # quoted index
        ("scorer,s,s,s\nbodyparts,a,a,a\ncoords,x,y,likelihood\nimg1.png,1,2,NaN\nimg2.png,3,4,0.5\n", True),
        ("scorer,s,s\nbodyparts,a,a\ncoords,x,y\n0,NA,1\n1,2,null\n", False),  # pyarrow's missing-value words
    ],
    ids=["empty cells", "crlf", "quoted 2-column index", "string labels", "NA words"],
)
def test_numpy_and_pyarrow_parsers_agree(tmp_path, monkeypatch, text, plain):
    """The plain parser reads what it takes exactly as pyarrow does, and hands the rest to pyarrow."""
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(cread, "ARROW_MIN_BYTES", 0)
    b = from_pose_csv(path)
    monkeypatch.setattr(cread, "ARROW_MIN_BYTES", 1 << 40)
    assert (cread._parse_plain(path, cread._read_header(path)) is not None) == plain
    a = from_pose_csv(path)
    np.testing.assert_array_equal(a.position, b.position)
    assert (a.confidence is None) == (b.confidence is None)
    if a.confidence is not None:
        np.testing.assert_array_equal(a.confidence, b.confidence)
    assert a.index.tolist() == b.index.tolist() and a.index.dtype.kind == b.index.dtype.kind


def test_reading_predictions_imports_neither_pyarrow_nor_xarray(tmp_path):
    pos, conf = _random_pose(50, 3, 1, seed=4)
    to_pose_csv(PoseTable.from_numpy(pos, conf, keypoint_names=["p", "q", "r"]), tmp_path / "a.csv")
    code = (
        "import sys; from lp3d_io.csv import from_pose_csv, to_pose_csv; "
        f"t = from_pose_csv({str(tmp_path / 'a.csv')!r}); "
        f"to_pose_csv(t, {str(tmp_path / 'b.csv')!r}); "
        "print(sorted({'pyarrow', 'xarray', 'pandas', 'zarr'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_get_the_usual_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        to_pose_csv(PoseTable.from_numpy(np.zeros((3, 1, 2)), keypoint_names=["a"]), tmp_path / "a.csv")
        from lp3d_io.calibration import to_anipose_toml
        from lp3d_io.synthetic import make_rig

        to_anipose_toml(make_rig(2), tmp_path / "calibration.toml")
    finally:
        os.umask(old)
    for name in ("a.csv", "calibration.toml"):  # not the 0o600 of a temporary file
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_triangulation_csv(tmp_path):
    from lp3d_io.dataset import triangulated_arrays

    rng = np.random.default_rng(6)
    points = rng.normal(size=(8, 2, 3))
    points[3, 1] = np.nan
    errors = rng.uniform(size=(2, 8, 2))
    errors[1, 3, 1] = np.nan
    n_views = np.full((8, 2), 2)
    n_views[3, 1] = 0
    spec = triangulated_arrays(points, errors, n_views, view_names=["top", "bot"], keypoint_names=["p", "q"])
    lcsv.to_triangulation_csv(tmp_path / "t.csv", spec.to_xarray())
    table = from_pose_csv(tmp_path / "t.csv")
    assert table.scorer == "lp3d_triangulate" and table.space == ("x", "y", "z")
    assert list(table.extra) == ["n_views", "reprojection_error_top", "reprojection_error_bot"]
    np.testing.assert_array_equal(table.position[:, :, 0], points)
    np.testing.assert_array_equal(table.extra["reprojection_error_bot"][..., 0], errors[1])
    assert (tmp_path / "t.csv").read_text().splitlines()[3 + 3].split(",")[1 + 6 + 3] == "0"  # n_views, an integer


@pytest.mark.parametrize("cell", ["true", "false", "[1]", "null", '"1.5"'])
def test_json_literals_are_not_csv_numbers(tmp_path, cell):
    path = tmp_path / "pose.csv"
    to_pose_csv(PoseTable.from_numpy(np.arange(6, dtype=float).reshape(3, 1, 2), keypoint_names=["a"]), path)
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].rsplit(",", 1)[0] + "," + cell
    path.write_text("\n".join(lines) + "\n")
    if cell in ("null", '"1.5"'):  # pandas reads these as missing and as a (quoted) number, as we do
        value = from_pose_csv(path).position[-1, 0, 0, 1]
        assert np.isnan(value) if cell == "null" else value == 1.5
        return
    with pytest.raises(ValueError, match="pose.csv"):
        from_pose_csv(path)
