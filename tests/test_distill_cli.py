"""``lp3d distill`` on a trained teacher and its smoothed stores: the pseudo-label folder, the student,
and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from lp3d_models.config import tiny_model

pytestmark = pytest.mark.slow

# The tiny model, a few steps.
CONFIG = tiny_model(
    run_dir="run",
    data={"test_fraction": 0.2},
    training={"seeds": [0, 1], "max_steps": 4, "batch_size": 4, "warmup_steps": 2},
    pipeline={"distill": False},
)


@pytest.fixture(scope="module")
def teacher(lp3d, tmp_path_factory) -> Path:
    """A 2-view calibrated project (60 frames, 25 labeled), its teacher, predictions and smoothed store."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    folder = tmp_path_factory.mktemp("distill")
    session = make_session(SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=60, seed=4, session_name="s1"))
    write_session(session, folder / "project", labeled_frames=25)
    (folder / "lp3d.yaml").write_text(yaml.safe_dump({**CONFIG, "data": {**CONFIG["data"], "root": "project"}}))
    run = lp3d("pipeline", folder / "lp3d.yaml", cwd=folder)
    assert run.returncode == 0, run.stderr[-3000:]
    return folder


def test_distill_writes_pseudo_labels_and_trains_a_student(lp3d, teacher, tmp_path):
    store = teacher / "run" / "smoothed" / "s1" / "s1.zarr"
    out = tmp_path / "student"
    args = ["distill", teacher / "run" / "teacher", store, "--n-frames", "5", "--out", out]
    run = lp3d(*args, "--seeds", "3", "--max-steps", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "pseudo-labeled frames (s1: 5)" in run.stderr
    pseudo = out / "pseudo_labels"
    frames = [int(line.split(",")[1]) for line in (pseudo / "selection.csv").read_text().splitlines()[1:]]
    labeled = np.load(teacher / "project" / "truth.npz")["labeled_frames"].tolist()
    assert len(frames) == 5 and not set(frames) & set(labeled)
    from lp3d_io import from_pose_csv

    for view in ("cam0", "cam1"):
        labels = from_pose_csv(pseudo / f"CollectedData_{view}.csv")
        weights = from_pose_csv(pseudo / f"weights_{view}.csv").position[..., 0]
        assert [f"labeled-data/s1_{view}/img{f:05d}.png" for f in frames] == list(labels.index)
        assert all((pseudo / p).is_file() for p in labels.index)
        assert ((weights >= 0) & (weights <= 1)).all() and weights.max() > 0
    assert json.loads((out / "run.json").read_text())["members"] == ["seed_3"]
    assert (out / "seed_3" / "checkpoints" / "last.ckpt").is_file()
    assert (out / "split.json").read_text() == (teacher / "run" / "teacher" / "split.json").read_text()

    again = lp3d(*args, "--labels-only")
    assert again.returncode == 2 and "already exists and is not empty" in again.stderr
    replaced = lp3d(*args, "--labels-only", "--overwrite", "--n-frames", "3")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert len((pseudo / "selection.csv").read_text().splitlines()) == 4 and not (out / "seed_3").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run/teacher", "run/predictions/s1.zarr"], "expected smoothed results (run lp3d smooth"),
        (["run/teacher", "nowhere.zarr"], "nowhere.zarr: no store there"),
        (["run", "run/smoothed/s1/s1.zarr"], "not a training run directory"),
        (["run/teacher", "run/smoothed/s1/s1.zarr", "--seeds", "a,b"], "--seeds: expected comma-separated integers"),
        (["run/teacher", "run/smoothed/s1/s1.zarr", "--n-frames", "0"], "n_frames: expected a positive number"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(lp3d, teacher, tmp_path, args, message):
    run = lp3d("distill", *args, "--out", tmp_path / "student", cwd=teacher)
    assert run.returncode == 2, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lp3d distill: error:") and message in lines[0]
