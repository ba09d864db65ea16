"""``lp3d pipeline`` end to end on a tiny synthetic session: every stage, the report, resuming after
an interrupted stage, and redoing what follows a changed input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from lp3d_models.config import tiny_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

STAGES = ["train", "predict", "smooth", "distill", "predict_student", "smooth_student"]

# The tiny model, a few steps.
TINY = tiny_model(
    training={
        "seeds": [0, 1],
        "max_steps": 6,
        "batch_size": 4,
        "warmup_steps": 5,
        "val_every_steps": 6,
    },
    distill={"n_frames": 6, "seeds": [0], "max_steps": 4},
)


def write_config(folder: Path, data: dict, **sections: dict) -> Path:
    values = {"run_dir": "run", "data": {"test_fraction": 0.2, **data}, **TINY}
    for name, section in sections.items():
        values[name] = {**values.get(name, {}), **section}
    path = folder / "lp3d.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A calibrated 2-view session in the Lightning Pose layout: 60 frames, 25 labeled."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    root = tmp_path / "project"
    session = make_session(SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=60, seed=2, session_name="s1"))
    write_session(session, root, labeled_frames=25)
    return root


def table_rows(stdout: str) -> dict[str, list[str]]:
    rows = [line.split("│") for line in stdout.splitlines() if line.count("│") >= 5]
    return {cells[1].strip(): [c.strip() for c in cells[2:-1]] for cells in rows}


def independent_scores(root: Path) -> dict[str, tuple[float, float, int]]:
    """The stage table's numbers computed here from the files: the labels of the teacher's test frames
    (split.json, CollectedData_<view>.csv), the stores, and the cameras: ``{stage: (mean px, mean 3D, n)}``."""
    import re

    from lp3d_io.csv import from_pose_csv
    from lp3d_io.store import read_calibration, read_group

    data = root / "teacher" / "synthetic"
    test_images = json.loads((root / "teacher" / "split.json").read_text())["test"]["images"]
    views = json.loads((root / "teacher" / "run.json").read_text())["views"]
    tables = [from_pose_csv(data / f"CollectedData_{view}.csv") for view in views]
    rows = [list(tables[0].index).index(image) for image in test_images]
    labels = np.stack([t.position[rows, :, 0, :] for t in tables])  # (view, n, keypoint, 2)
    frames = [int(re.search(r"(\d+)\.png$", image).group(1)) for image in test_images]
    store = root / "smoothed" / "synthetic" / "synthetic.zarr"
    rig = read_calibration(store)
    truth3d = rig.triangulate(labels)  # (n, keypoint, 3)

    def score(estimate: np.ndarray, points: np.ndarray) -> tuple[float, float, int]:
        error = np.linalg.norm(estimate - labels, axis=-1)
        error3d = np.linalg.norm(points - truth3d, axis=-1)
        return float(np.nanmean(error)), float(np.nanmean(error3d)), int(np.isfinite(error).sum())

    out = {}
    model = read_group(root / "predictions" / "synthetic.zarr", "predictions/model").isel(individual=0)
    single = model["position"].sel(member="seed_0", time=frames).transpose("view", "time", "keypoint", "space").values
    out["single model (seed_0)"] = score(single, rig.triangulate(single))
    for name, folder in (("ensemble + EKS", "smoothed"), ("distilled student + EKS", "student_smoothed")):
        sm = (
            read_group(root / folder / "synthetic" / "synthetic.zarr", "smoothed/eks")
            .isel(individual=0)
            .sel(time=frames)
        )
        reprojection = sm["reprojection"].transpose("view", "time", "keypoint", "image_space").values
        out[name] = score(reprojection, sm["position"].transpose("time", "keypoint", "space").values)
    return out


def test_pipeline_runs_every_stage_then_resumes_with_nothing_to_do(lp3d, tmp_path):
    config = write_config(
        tmp_path, {"synthetic": {"n_views": 3, "width": 64, "height": 64, "n_frames": 60, "labeled_frames": 25}}
    )
    run = lp3d("pipeline", config, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    root = tmp_path / "run"
    rows = table_rows(run.stdout)
    names = ["single model (seed_0)", "ensemble mean (2 models)", "ensemble + EKS", "distilled student"]
    assert [*names, "distilled student + EKS"] == list(rows)
    for cells in rows.values():  # pixel errors, positions, 3D error (calibrated)
        assert len(cells) == 4
    expected = independent_scores(tmp_path / "run")
    for name in ("single model (seed_0)", "ensemble + EKS", "distilled student + EKS"):
        mean, _, n, world = rows[name]
        assert int(n) == expected[name][2]
        assert abs(float(mean) - expected[name][0]) <= 0.006 and abs(float(world) - expected[name][1]) <= 0.006
    report = root / "report" / "report.html"
    assert f"report: {report}" in run.stderr and report.is_file()
    assert "ensemble + EKS" in report.read_text() and (root / "report" / "synthetic" / "report.html").is_file()
    assert sorted(p.stem for p in (root / "stages").glob("*.json")) == sorted(STAGES)

    pseudo = root / "student" / "pseudo_labels"
    selection = (pseudo / "selection.csv").read_text().splitlines()[1:]
    frames = [int(line.split(",")[1]) for line in selection]
    labeled = np.load(root / "teacher" / "synthetic" / "truth.npz")["labeled_frames"]
    assert len(frames) == 6 and not set(frames) & set(labeled.tolist())
    for frame in frames:
        assert (pseudo / "labeled-data" / "synthetic_cam0" / f"img{frame:05d}.png").is_file()
    assert (pseudo / "weights_cam2.csv").is_file() and (pseudo / "calibration.toml").is_file()
    assert json.loads((root / "student" / "run.json").read_text())["members"] == ["seed_0"]

    again = lp3d("pipeline", config, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    for stage in STAGES:
        assert f"{stage}: up to date" in again.stderr
    assert table_rows(again.stdout) == rows


def touch(path: Path) -> None:
    time.sleep(0.01)
    os.utime(path)  # now: newer than every stamp


def test_an_interrupted_stage_is_redone_and_changed_inputs_redo_what_follows(project, tmp_path, monkeypatch):
    from lp3d_workflows import pipeline

    config = write_config(tmp_path, {"root": str(project)}, pipeline={"distill": False})
    real_smooth = pipeline._smooth

    def killed(predictions, sessions, calibrations, out):
        (out / "s1").mkdir(parents=True)
        (out / "s1" / "half-written").write_text("")
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_smooth", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_pipeline(config, show_progress=False)
    stamps = tmp_path / "run" / "stages"
    assert sorted(p.name for p in stamps.iterdir()) == ["predict.json", "train.json"]

    monkeypatch.setattr(pipeline, "_smooth", real_smooth)
    result = pipeline.run_pipeline(config, show_progress=False)
    assert result.ran == ["smooth"]  # train and predict were complete
    assert not (tmp_path / "run" / "smoothed" / "s1" / "half-written").exists()
    assert [s.name for s in result.scores] == ["single model (seed_0)", "ensemble mean (2 models)", "ensemble + EKS"]

    touch(project / "videos" / "s1_cam1.mp4")
    assert pipeline.run_pipeline(config, show_progress=False).ran == ["predict", "smooth"]
    touch(project / "calibration.toml")
    assert pipeline.run_pipeline(config, show_progress=False).ran == ["smooth"]
    touch(project / "CollectedData_cam0.csv")
    assert pipeline.run_pipeline(config, show_progress=False).ran == ["train", "predict", "smooth"]
    assert pipeline.run_pipeline(config, ["training.lr=0.002"], show_progress=False).ran[0] == "train"
    assert pipeline.run_pipeline(config, ["training.lr=0.002"], show_progress=False).ran == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml"], "missing.yaml: config file not found"),
        (["lp3d.yaml", "--set", "distill.n_frames=0"], "distill.n_frames: expected a positive number"),
        (["lp3d.yaml", "--set", "pipeline.videos=[nowhere/]"], "nowhere: no such video or folder"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(lp3d, project, tmp_path, args, message):
    write_config(tmp_path, {"root": str(project)}, training={"max_steps": 1, "seeds": [0]})
    run = lp3d("pipeline", *args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("lp3d pipeline: error:") and message in last


def test_two_animals_through_every_stage_scored_per_animal(lp3d, tmp_path):
    """Two animals (a light and a larger dark one): stores with both, pseudo-labels of both, and the
    stage table per animal and over both (with identity swaps), checked against the files."""
    import csv

    from lp3d_io import read_group, read_labels

    synthetic = {"n_views": 2, "width": 64, "height": 64, "n_frames": 60, "labeled_frames": 25, "n_animals": 2}
    config = write_config(tmp_path, {"synthetic": synthetic})
    run = lp3d("pipeline", config, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "identity swaps" in run.stdout
    root = tmp_path / "run"
    with open(root / "report" / "stages.csv", newline="") as f:
        table = list(csv.DictReader(f))
    stages = list(dict.fromkeys(row["stage"] for row in table))
    assert len(stages) == 5 and [row["individual"] for row in table[:3]] == ["all", "light", "dark"]
    for row in table:
        assert (row["identity swaps"] != "") == (row["individual"] == "all")

    data, views = root / "teacher" / "synthetic", ["cam0", "cam1"]
    labels_ds = read_labels({v: data / f"CollectedData_{v}.csv" for v in views}, views)
    assert list(labels_ds["individual"].values) == ["light", "dark"]
    test_images = json.loads((root / "teacher" / "split.json").read_text())["test"]["images"]
    paths = list(labels_ds["image_path"].sel(view="cam0").values)
    rows = [paths.index(image) for image in test_images]
    dims = ("view", "frame", "keypoint", "individual", "space")
    labels = labels_ds["position"].transpose(*dims).values[:, rows]  # (view, n, keypoint, individual, 2)
    frames = [int(image[-9:-4]) for image in test_images]
    model = read_group(root / "predictions" / "synthetic.zarr", "predictions/model")
    assert list(model["individual"].values) == ["light", "dark"]
    single = model["position"].sel(member="seed_0", time=frames)
    single = single.transpose("view", "time", "keypoint", "individual", "space").values
    smoothed = read_group(root / "smoothed" / "synthetic" / "synthetic.zarr", "smoothed/eks").sel(time=frames)
    eks = smoothed["reprojection"].transpose("view", "time", "keypoint", "individual", "image_space").values
    for stage, estimate in (("single model (seed_0)", single), ("ensemble + EKS", eks)):
        error = np.linalg.norm(estimate - labels, axis=-1)  # (view, n, keypoint, individual)
        got = {row["individual"]: row for row in table if row["stage"] == stage}
        for i, name in enumerate(["light", "dark"]):
            assert abs(float(got[name]["mean (px)"]) - np.nanmean(error[..., i])) <= 0.006
            assert int(got[name]["positions"]) == np.isfinite(error[..., i]).sum()
        assert abs(float(got["all"]["mean (px)"]) - np.nanmean(error)) <= 0.006

    with open(root / "student" / "pseudo_labels" / "CollectedData_cam0.csv") as f:
        header = [next(f).split(",")[:2] for _ in range(4)]
    assert header[:2] == [["scorer", "lp3d"], ["individuals", "light"]]
    assert json.loads((root / "student" / "run.json").read_text())["individuals"] == ["light", "dark"]
