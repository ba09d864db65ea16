"""PoseTable: what every pose-file reader returns and every writer takes, checked when made."""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_io.pose_table import PoseTable

KEYPOINTS = ["nose", "ear", "tail"]


def test_from_numpy_fills_in_one_individual_names_and_frame_numbers():
    position = np.random.default_rng(0).normal(size=(5, 3, 3))
    table = PoseTable.from_numpy(position, keypoint_names=KEYPOINTS)
    assert table.position.shape == (5, 3, 1, 3) and table.space == ("x", "y", "z")
    assert table.individual_names == ["individual_0"] and table.confidence is None and table.scorer == "lp3d"
    assert table.index.tolist() == [0, 1, 2, 3, 4] and table.frame_numbers().dtype == np.int64
    assert list(table.coord_values()) == ["x", "y", "z"]
    assert np.isnan(table.confidence_or_nan()).all() and table.confidence_or_nan().shape == (5, 3, 1)


def test_coord_values_are_in_file_column_order():
    position = np.zeros((4, 3, 2, 2))
    table = PoseTable(
        position,
        np.ones((4, 3, 2)),
        keypoint_names=KEYPOINTS,
        individual_names=["a", "b"],
        index=np.arange(4),
        scorer="s",
        extra={"x_var": np.full((4, 3, 2), 2.0)},
    )
    assert list(table.coord_values()) == ["x", "y", "likelihood", "x_var"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"position": np.zeros((4, 3))}, r"position: expected shape \(time, keypoint\[, individual\], 2 or 3\)"),
        ({"position": np.zeros((6, 3, 4))}, r"position: expected shape .*, but got \(6, 3, 1, 4\)"),
        ({"position": np.full((6, 3, 2), "a")}, r"position: expected a float array, but got dtype <U1"),
        ({"keypoint_names": ["a"]}, r"keypoint_names: expected 3 names \(from position\), but got 1"),
        ({"individual_names": ["a", "b"]}, r"individual_names: expected 1 names \(from position\), but got 2"),
        ({"confidence": np.zeros((6, 2))}, r"confidence: expected shape \(6, 3, 1\) \(as position\), but got"),
        ({"index": [1, 2]}, r"index: expected 6 row labels \(one per frame\), but got shape \(2,\)"),
    ],
)
def test_a_table_that_does_not_agree_with_its_position_is_an_error(change, message):
    with pytest.raises(ValueError, match=message):
        PoseTable.from_numpy(**{"position": np.zeros((6, 3, 2)), "keypoint_names": KEYPOINTS, **change})


def test_frame_numbers_of_image_paths_is_an_error():
    table = PoseTable.from_numpy(np.zeros((2, 3, 2)), keypoint_names=KEYPOINTS, index=["img0.png", "img1.png"])
    with pytest.raises(ValueError, match=r"index: expected frame numbers, but got \['img0.png', 'img1.png'\]"):
        table.frame_numbers()
    whole = PoseTable.from_numpy(np.zeros((2, 3, 2)), keypoint_names=KEYPOINTS, index=[3.0, 4.0])
    assert whole.frame_numbers().tolist() == [3, 4]
