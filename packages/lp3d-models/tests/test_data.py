"""Labeled frames: the Lightning Pose layout, the split, and samples at the model size."""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_io.layout import find_label_views
from lp3d_models.config import AugmentConfig, DataConfig, SyntheticDataConfig
from lp3d_models.data import PoseFrames, load_data, load_split, make_split, read_project, save_split

TOL = 1e-4


def test_read_project(synthetic_project):
    data = read_project(synthetic_project)
    assert data.view_names == ["cam0", "cam1"] == find_label_views(synthetic_project)
    assert data.keypoints.shape == (2, 30, 11, 2) and data.image_paths.shape == (2, 30)
    truth = np.load(synthetic_project / "truth.npz")
    labeled = truth["labeled_frames"]
    labeled_points = truth["points2d"][:, labeled]
    finite = np.isfinite(data.keypoints).all(-1)
    np.testing.assert_allclose(data.keypoints[finite], labeled_points[finite], atol=1e-3)
    assert ((labeled_points[~finite] < -0.5) | (labeled_points[~finite] > 63.5)).any(-1).all()  # NaN: outside


def test_missing_project_pieces(tmp_path, synthetic_project):
    with pytest.raises(FileNotFoundError, match="project folder not found"):
        read_project(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="expected label files named CollectedData_<view>.csv"):
        read_project(tmp_path)
    with pytest.raises(FileNotFoundError, match="label file of view 'cam7' not found"):
        read_project(synthetic_project, ["cam0", "cam7"])


def test_split_is_seeded_disjoint_and_complete(synthetic_project, tmp_path):
    split = make_split(30, 0.1, 0.2, seed=4)
    assert [len(split[k]) for k in ("train", "val", "test")] == [21, 3, 6]
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(30))
    assert all(np.array_equal(split[k], make_split(30, 0.1, 0.2, seed=4)[k]) for k in split)
    assert not np.array_equal(split["test"], make_split(30, 0.1, 0.2, seed=5)["test"])
    assert len(make_split(5, 0.01, 0.0, seed=0)["val"]) == 1
    with pytest.raises(ValueError, match="expected more labeled frames"):
        make_split(2, 0.4, 0.4, seed=0)
    data = read_project(synthetic_project)
    save_split(split, data, tmp_path / "split.json")
    back = load_split(tmp_path / "split.json", data)
    assert all(np.array_equal(back[k], split[k]) for k in split)


def test_samples_at_the_model_size(synthetic_project):
    data = read_project(synthetic_project)
    frames = PoseFrames(data, np.arange(4), (32, 48))
    item = frames[1]
    assert item["images"].shape == (2, 3, 32, 48) and item["images"].dtype.is_floating_point
    assert item["image_sizes"].tolist() == [[64, 64], [64, 64]]
    # Letterboxed: the square views are halved to 32 x 32 and centred, 8 pixels from the left.
    expected = (data.keypoints[:, 1] + 0.5) * 0.5 - 0.5 + np.array([8.0, 0.0])
    np.testing.assert_allclose(item["keypoints"].numpy(), expected, atol=TOL, equal_nan=True)
    image = item["images"].numpy()
    assert (image[..., :8] == 0).all() and (image[..., 40:] == 0).all() and image[..., 8:40].max() > 0


def test_augmented_samples_keep_labels_inside_or_nan(synthetic_project):
    import torch

    torch.manual_seed(0)
    data = read_project(synthetic_project)
    frames = PoseFrames(data, np.arange(8), (64, 64), augment=AugmentConfig(rotation=40, translation=0.3))
    moved = 0
    for i in range(8):
        points = frames[i]["keypoints"].numpy()
        finite = np.isfinite(points).all(-1)
        assert ((points[finite] >= -0.5) & (points[finite] <= 63.5)).all()
        moved += int(np.abs(np.nan_to_num(points - data.keypoints[:, i])).max() > 1)
    assert moved >= 6


def test_synthetic_data_is_written_once(tmp_path):
    config = DataConfig(synthetic=SyntheticDataConfig(n_views=2, width=32, height=32, n_frames=10, labeled_frames=6))
    data = load_data(config, tmp_path)
    assert data.n_frames == 6 and data.root == tmp_path / "synthetic"
    stamp = (tmp_path / "synthetic" / "synthetic.json").stat().st_mtime_ns
    load_data(config, tmp_path)
    assert (tmp_path / "synthetic" / "synthetic.json").stat().st_mtime_ns == stamp
