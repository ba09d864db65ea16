from __future__ import annotations

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
    to_pose_csv(path, pos[:, :, 0], conf[:, :, 0], keypoint_names=names, scorer="heatmap_tracker")
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
    to_pose_csv(path, pos, conf, keypoint_names=["nose", "ear", "tail"], individual_names=["m1", "m2"])
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
    to_pose_csv(path, pos, conf, keypoint_names=["a", "b"])
    table = from_pose_csv(path)
    np.testing.assert_array_equal(table.position, pos)


def test_labels_with_image_paths_and_empty_cells(tmp_path):
    pos, _ = _random_pose(6, 3, 1, seed=3, nan_fraction=0.3)
    index = [f"labeled-data/vid,{i}/img{i:03d}.png" for i in range(6)]  # a comma forces quoting
    path = tmp_path / "CollectedData.csv"
    to_pose_csv(path, pos, keypoint_names=["a", "b", "c"], index=index)
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
    assert tuple(["x", "y", "likelihood"] + list(cam.extra)) == EKS_COORDS
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
    assert tuple(df.columns.get_level_values(2)[:9]) == EKS_COORDS
    assert df.columns.get_level_values(0)[0] == "ensemble-kalman_tracker"
    np.testing.assert_array_equal(df[("ensemble-kalman_tracker", "q", "x")], res.reprojection[1, :, 1, 0])
    np.testing.assert_array_equal(df[("ensemble-kalman_tracker", "q", "likelihood")], conf[1, :, 1])
    np.testing.assert_array_equal(
        df[("ensemble-kalman_tracker", "r", "y_ens_var")], res.observation_variance[1, :, 2, 1]
    )
    # No predictive_variance on the stand-in: the posterior columns fall back to reprojection_variance.
    np.testing.assert_array_equal(
        df[("ensemble-kalman_tracker", "p", "x_posterior_var")], res.reprojection_variance[1, :, 0, 0]
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


def test_failed_write_keeps_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    path.write_text("precious")

    def broken(table, sink, write_options=None):
        sink.write(b"0,1,2\n")  # half a body, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(lcsv.pacsv, "write_csv", broken)
    with pytest.raises(OSError, match="No space"):
        to_pose_csv(path, np.zeros((3, 1, 2)), keypoint_names=["a"])
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temp file left
