"""Pseudo-label folders: read with their weights, added to the training frames only, calibrated like the project."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from lp3d_models.config import AugmentConfig, DataConfig, GeometryConfig, load_config
from lp3d_models.data import PoseFrames, load_data, make_split, training_frames
from torch.utils.data import ConcatDataset

N_PSEUDO = 6


@pytest.fixture(scope="module")
def pseudo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``lp3d distill`` writes: the conftest project's cameras (seed 3), another stretch of
    motion, labels with NaN gaps, weights in [0, 1], and calibration.toml."""
    from lp3d_io import PoseTable, from_pose_csv, to_pose_csv
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    folder = tmp_path_factory.mktemp("pseudo")
    config = SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=12, seed=3, session_name="distilled")
    write_session(make_session(config), folder, labeled_frames=N_PSEUDO)
    rng = np.random.default_rng(0)
    for view in ("cam0", "cam1"):
        table = from_pose_csv(folder / f"CollectedData_{view}.csv")
        position = table.position[:, :, 0].copy()
        position[rng.random(position.shape[:2]) < 0.2] = np.nan
        weight = np.where(np.isfinite(position).all(-1), rng.uniform(0.1, 1.0, position.shape[:2]), 0.0)
        for name, values in (("CollectedData", position), ("weights", np.repeat(weight[..., None], 2, -1))):
            written = PoseTable.from_numpy(values, keypoint_names=table.keypoint_names, index=table.index)
            to_pose_csv(written, folder / f"{name}_{view}.csv")
    return folder


def copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "pseudo"
    shutil.copytree(folder, out)
    return out


def test_pseudo_labels_are_read_with_their_weights(synthetic_project, pseudo_folder, tmp_path):
    from lp3d_io import from_pose_csv

    data = load_data(DataConfig(root=str(synthetic_project), pseudo_labels=[str(pseudo_folder)]), tmp_path)
    assert data.n_frames == 30 and data.weights is None and len(data.pseudo) == 1
    pseudo = data.pseudo[0]
    assert pseudo.n_frames == N_PSEUDO and pseudo.root == pseudo_folder and pseudo.pseudo == ()
    assert pseudo.sessions.tolist() == ["distilled"] * N_PSEUDO and list(pseudo.rigs) == ["distilled"]
    written = from_pose_csv(pseudo_folder / "weights_cam1.csv").position[:, :, 0, 0]
    np.testing.assert_allclose(pseudo.weights[1], written, atol=1e-6)
    frames = PoseFrames(pseudo, np.arange(N_PSEUDO), (64, 64))
    for i in range(N_PSEUDO):
        item = frames[i]
        labeled = np.isfinite(item["keypoints"].numpy()).all(-1)
        np.testing.assert_allclose(item["weights"].numpy(), np.where(labeled, pseudo.weights[:, i], 0), atol=1e-6)
        assert (item["weights"].numpy()[labeled] > 0).all()


def test_pseudo_labels_join_the_training_frames_only(synthetic_project, pseudo_folder, tmp_path, tiny):
    from lp3d_models.training import _data

    config = load_config(None, tiny(tmp_path / "run", f"data.root={synthetic_project}"))
    config.data.pseudo_labels = [str(pseudo_folder)]
    data = load_data(config.data, config.run_dir)
    split = make_split(data.n_frames, 0.1, 0.1, seed=0)
    module = _data(config, data, split, seed=0)
    train_loader, val_loader = module.train_dataloader(), module.val_dataloader()
    assert isinstance(train_loader.dataset, ConcatDataset)
    assert len(train_loader.dataset) == len(split["train"]) + N_PSEUDO
    assert len(val_loader.dataset) == len(split["val"]) and val_loader.dataset.data is data
    torch.manual_seed(0)
    weights = torch.cat([batch["weights"].flatten() for batch in train_loader])
    assert ((weights > 0) & (weights < 1)).any() and (weights == 1).any()  # pseudo and hand labels together
    assert all((batch["weights"][torch.isfinite(batch["keypoints"]).all(-1)] == 1).all() for batch in val_loader)


def test_pseudo_calibration_falls_back_to_the_project(synthetic_project, pseudo_folder, tmp_path):
    folder = copy(pseudo_folder, tmp_path)
    (folder / "calibration.toml").unlink()
    data = load_data(DataConfig(root=str(synthetic_project), pseudo_labels=[str(folder)]), tmp_path)
    assert data.pseudo[0].rigs["distilled"] is not None  # the project's calibration.toml
    project = tmp_path / "project"
    shutil.copytree(synthetic_project, project)
    (project / "calibration.toml").unlink()
    data = load_data(DataConfig(root=str(project), pseudo_labels=[str(pseudo_folder)]), tmp_path)
    assert data.rigs == {} and list(data.pseudo[0].rigs) == ["distilled"]
    train = training_frames(data, np.arange(4), (64, 64), AugmentConfig(), GeometryConfig(enabled=True))
    calibrated = [bool(train[i]["calibrated"]) for i in range(len(train))]
    assert calibrated == [False] * 4 + [True] * N_PSEUDO


def _rename_keypoint(folder: Path) -> None:
    for name in ("CollectedData_cam0.csv", "CollectedData_cam1.csv"):
        path = folder / name
        path.write_text(path.read_text().replace("nose", "snout"))


def _shuffle_weight_rows(folder: Path) -> None:
    lines = (folder / "weights_cam0.csv").read_text().splitlines()
    (folder / "weights_cam0.csv").write_text("\n".join(lines[:3] + lines[3:][::-1]) + "\n")


def _weight_above_one(folder: Path) -> None:
    from lp3d_io import from_pose_csv, to_pose_csv

    table = from_pose_csv(folder / "weights_cam1.csv")
    to_pose_csv(replace(table, position=table.position * 3.0), folder / "weights_cam1.csv")


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda f: (f / "CollectedData_cam1.csv").unlink(), FileNotFoundError, "label file of view 'cam1' not found"),
        (lambda f: (f / "weights_cam0.csv").unlink(), FileNotFoundError, "weight file of view 'cam0' not found"),
        (_rename_keypoint, ValueError, r"expected the keypoints of the labels \[.*'nose'.*\], but got \[.*'snout'"),
        (_shuffle_weight_rows, ValueError, "weights_cam0.csv: expected the keypoints and rows of CollectedData_cam0"),
        (_weight_above_one, ValueError, r"weights_cam1.csv: expected a weight in \[0, 1\]"),
        (lambda f: shutil.rmtree(f), FileNotFoundError, "pseudo-label folder not found"),
    ],
    ids=["missing-view", "missing-weights", "other-keypoints", "other-rows", "weight-range", "no-folder"],
)
def test_bad_pseudo_labels_are_clear_errors(synthetic_project, pseudo_folder, tmp_path, damage, error, message):
    folder = copy(pseudo_folder, tmp_path)
    damage(folder)
    with pytest.raises(error, match=message):
        load_data(DataConfig(root=str(synthetic_project), pseudo_labels=[str(folder)]), tmp_path)
