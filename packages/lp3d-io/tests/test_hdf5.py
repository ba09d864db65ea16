from __future__ import annotations

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from lp3d_io.grouping import read_predictions  # noqa: E402
from lp3d_io.hdf5 import from_dlc_h5, from_pose_h5, from_sleap_analysis_h5  # noqa: E402


def _write_sleap(path, frames_nodes_tracks_xy: np.ndarray, scores: np.ndarray, nodes, tracks) -> None:
    """Writes a file laid out as SLEAP's analysis export: tracks (track, 2, node, frame)."""
    with h5py.File(path, "w") as f:
        f["tracks"] = frames_nodes_tracks_xy.transpose(2, 3, 1, 0)
        f["point_scores"] = scores.transpose(2, 1, 0)
        f["node_names"] = np.array([n.encode() for n in nodes])
        f["track_names"] = np.array([t.encode() for t in tracks])


def test_sleap_analysis(tmp_path):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(12, 3, 2, 2))  # frame, node, track, xy
    xy[4, 1, 0] = np.nan
    scores = rng.uniform(size=(12, 3, 2))
    _write_sleap(tmp_path / "a.analysis.h5", xy, scores, ["head", "thorax", "abdomen"], ["fly1", "fly2"])
    table = from_pose_h5(tmp_path / "a.analysis.h5")
    assert table.keypoint_names == ["head", "thorax", "abdomen"] and table.individual_names == ["fly1", "fly2"]
    np.testing.assert_array_equal(table.position, xy)
    np.testing.assert_array_equal(table.confidence, scores)
    assert table.scorer == "SLEAP" and table.index.tolist() == list(range(12))


def test_sleap_without_track_names(tmp_path):
    rng = np.random.default_rng(1)
    _write_sleap(tmp_path / "b.h5", rng.normal(size=(5, 2, 1, 2)), rng.uniform(size=(5, 2, 1)), ["a", "b"], [])
    assert from_sleap_analysis_h5(tmp_path / "b.h5").individual_names == ["individual_0"]


def test_dlc_h5_and_read_predictions(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("tables")
    rng = np.random.default_rng(2)
    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50_x"], ["nose", "tail"], ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    frames = {}
    for view in ("left", "right"):
        values = rng.uniform(size=(8, 6))
        frames[view] = values
        pd.DataFrame(values, columns=cols).to_hdf(tmp_path / f"vid_{view}DLC_resnet50.h5", key="df_with_missing")
    table = from_dlc_h5(tmp_path / "vid_leftDLC_resnet50.h5")
    np.testing.assert_array_equal(table.position[:, 1, 0, 1], frames["left"][:, 4])
    np.testing.assert_array_equal(table.confidence[:, 0, 0], frames["left"][:, 2])
    ds = read_predictions(tmp_path, ["left", "right"])
    assert ds.attrs["source_software"] == "DeepLabCut"
    np.testing.assert_array_equal(
        ds["position"].sel(view="right", keypoint="tail").values[0, :, 0, 0], frames["right"][:, 3].astype(np.float32)
    )


def test_not_hdf5(tmp_path):
    (tmp_path / "x.h5").write_text("hello")
    with pytest.raises(ValueError, match="x.h5: expected an HDF5 file"):
        from_pose_h5(tmp_path / "x.h5")
