"""What a first run on a lab's data needs from the workflows (issue #15): the pipeline's checks before
any work, sessions' calibrations from Lightning Pose's per-image ``calibrations.csv``, stages that
are safe on several ranks, and ``lp3d smooth`` with a calibration per session."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A calibrated 2-view session ``s1`` in the Lightning Pose layout: 30 frames, 10 labeled."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    root = tmp_path_factory.mktemp("checks") / "project"
    session = make_session(SyntheticConfig(n_views=2, image_size=(48, 48), n_frames=30, seed=2, session_name="s1"))
    write_session(session, root, labeled_frames=10)
    return root


def _config(folder: Path, project: Path, **sections) -> Path:
    from lp3d_models.config import tiny_model

    values = tiny_model(run_dir="run", data={"root": str(project)}, training={"max_steps": 1}, **sections)
    path = folder / "lp3d.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize(
    ("data", "part"),
    [
        ({"split": {"test": {"images": ["labeled-data/s1_cam0/img00000.png"]}}}, "test"),
        ({"test_fraction": 0.0}, "val"),  # no test frames: the validation frames are scored
        ({"test_fraction": 0.0, "val_fraction": 0.0}, ""),  # nothing to score, with a warning
    ],
)
def test_held_out_frames_are_checked_before_training(project, tmp_path, monkeypatch, caplog, data, part):
    """Held-out frames outside the predicted videos stop the pipeline before any training."""
    from lp3d_models import training
    from lp3d_workflows import pipeline
    from lp3d_workflows.errors import UserError

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the checks")

    monkeypatch.setattr(training, "train", no_training)
    other = tmp_path / "other-videos"  # another session's videos only
    other.mkdir()
    for view in ("cam0", "cam1"):
        shutil.copyfile(project / "videos" / f"s1_{view}.mp4", other / f"s9_{view}.mp4")
    config = _config(tmp_path, project, pipeline={"videos": [str(other)]})
    caplog.set_level(logging.WARNING, logger="lp3d_workflows")
    overrides = [f"data.{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in data.items()]
    if not part:
        with pytest.raises(AssertionError, match="trained before the checks"):  # nothing held out: no objection
            pipeline.run_pipeline(config, overrides)
        assert "nothing to score" in caplog.text
        return
    with pytest.raises(UserError, match=rf"data\.split: expected held-out \({part}\) labeled frames in the videos"):
        pipeline.run_pipeline(config, overrides)


def test_video_lengths_are_checked_before_training(project, tmp_path, caplog):
    import cv2
    from lp3d_io.video import VideoReader
    from lp3d_models.config import PipelineConfig
    from lp3d_workflows.errors import UserError
    from lp3d_workflows.pipeline import _check_videos

    short = tmp_path / "s1_cam1.mp4"  # cam1 started 3 frames late: 27 frames
    with VideoReader(project / "videos" / "s1_cam1.mp4", rgb=False) as reader:
        writer = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"mp4v"), reader.fps, reader.size)
        for frame in reader.read_many(range(3, 30)):
            writer.write(frame)
        writer.release()
    sessions = {"s1": {"cam0": project / "videos" / "s1_cam0.mp4", "cam1": short}}
    with pytest.raises(UserError, match=r"session s1: expected the same number of frames .* got cam0: 30, cam1: 27"):
        _check_videos(sessions, PipelineConfig(shortest=False))
    _check_videos(sessions, PipelineConfig(shortest=False, offsets={"s1": {"cam0": 3}}))  # evened out
    with caplog.at_level(logging.WARNING, logger="lp3d_workflows"):
        _check_videos(sessions, PipelineConfig())
    assert "views of unequal length (cam0: 30, cam1: 27): predicting the first 27" in caplog.text
    with pytest.raises(UserError, match=r"pipeline\.offsets: expected sessions among \['s1'\], but got \['s2'\]"):
        _check_videos(sessions, PipelineConfig(offsets={"s2": {"cam0": 1}}))


def test_lightning_pose_calibrations_csv_gives_video_sessions_their_cameras(project, tmp_path, caplog):
    """Lightning Pose lists one calibration per labeled image: a session's videos get that file (a
    session without one is smoothed without 3D, and a warning says so)."""
    from lp3d_models.config import load_config
    from lp3d_workflows.pipeline import _calibrations

    root = tmp_path / "lp"
    shutil.copytree(project, root)
    (root / "calibrations").mkdir()
    (root / "calibration.toml").rename(root / "calibrations" / "rig1.toml")
    rows = [f"labeled-data/s1/img{f:05d}.png,calibrations/rig1.toml" for f in (0, 3, 6)]
    (root / "calibrations.csv").write_text("\n".join([",file", *rows]) + "\n")
    config = load_config(_config(tmp_path, root))
    with caplog.at_level(logging.WARNING, logger="lp3d_workflows"):
        assert _calibrations(config, root, ["s1", "s2"]) == {"s1": root / "calibrations" / "rig1.toml", "s2": None}
    assert "session(s) s2: no calibration found" in caplog.text and "smoothed without 3D" in caplog.text


def test_only_rank_zero_deletes_or_writes(tmp_path, monkeypatch):
    """A second rank (unconnected: it decides from the same files) runs only the training stages and
    never deletes outputs or writes stamps."""
    from lp3d_workflows.stages import Stage, StageRunner

    out = tmp_path / "teacher"
    out.mkdir()
    (out / "work of rank 0").write_text("")
    ran = []
    stages = [
        Stage("train", lambda: ran.append("train"), [], {}, [out], all_ranks=True),
        Stage("predict", lambda: ran.append("predict"), [], {}, [tmp_path / "predictions"]),
    ]
    monkeypatch.setenv("LOCAL_RANK", "1")  # how Lightning starts the other ranks
    runner = StageRunner(tmp_path)
    for stage in stages:
        runner(stage)
    assert ran == ["train"] and (out / "work of rank 0").is_file() and not (tmp_path / "stages").exists()
    monkeypatch.setenv("LOCAL_RANK", "0")
    runner = StageRunner(tmp_path)
    for stage in stages:
        runner(stage)
    assert ran == ["train", "train", "predict"] and not (out / "work of rank 0").exists()
    assert sorted(p.name for p in (tmp_path / "stages").iterdir()) == ["predict.json", "train.json"]


def _sessions(folder: Path) -> dict[str, Path]:
    """Two sessions of prediction CSVs filmed by other rigs, ``batch/<name>/``; their rigs in ``rigs/``."""
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    rigs = {}
    for seed, name in ((3, "day1"), (4, "day2")):
        session = make_session(SyntheticConfig(n_views=3, n_frames=40, seed=seed, session_name=name))
        to_prediction_csvs(
            make_ensemble_predictions(session, n_members=2, seed=seed).to_dataset(), folder / "batch" / name
        )
        rigs[name] = folder / "rigs" / f"{name}.toml"
        rigs[name].parent.mkdir(exist_ok=True)
        session.rig.to_toml(rigs[name])
    return rigs


def test_smoothing_a_batch_with_a_calibration_per_session(tmp_path):
    from lp3d_eks import CameraRig
    from lp3d_io import read_calibration
    from lp3d_workflows.batch import session_calibrations, smooth_inputs
    from lp3d_workflows.errors import UserError
    from lp3d_workflows.smoothing import SmoothSettings

    rigs = _sessions(tmp_path)
    names = ["day1", "day2"]
    assert session_calibrations(tmp_path / "rigs", names) == rigs  # a folder of <session>.toml
    index = tmp_path / "calibrations.csv"
    index.write_text("session,file\n" + "".join(f"{n},rigs/{n}.toml\n" for n in names))
    assert session_calibrations(index, names) == rigs
    assert session_calibrations(rigs["day1"], names) == {n: rigs["day1"] for n in names}
    with pytest.raises(UserError, match=r"expected a calibration for every session .* day3 has none"):
        session_calibrations(tmp_path / "rigs", [*names, "day3"])
    summaries = smooth_inputs(
        [tmp_path / "batch"], tmp_path / "out", SmoothSettings(calibration=tmp_path / "rigs"), workers=1
    )
    assert [(s.session, s.smoother, s.error) for s in summaries] == [(n, "calibrated", None) for n in names]
    for name in names:
        used = read_calibration(tmp_path / "out" / name / f"{name}.zarr")
        expected = CameraRig.from_toml(rigs[name])
        np.testing.assert_allclose([c.tvec for c in used], [c.tvec for c in expected], atol=1e-9)
