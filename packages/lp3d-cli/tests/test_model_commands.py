"""The commands `lp3d init / train / predict / evaluate` (lp3d_cli.model_commands) over lp3d-models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lp3d_cli.model_commands import app
from lp3d_models.config import as_overrides, tiny_model
from typer.testing import CliRunner

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def synthetic_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-view synthetic session (64 x 64, 40 frames, 30 labeled) in the Lightning Pose layout."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    root = tmp_path_factory.mktemp("synthetic")
    write_session(
        make_session(SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=40, seed=3)), root, labeled_frames=30
    )
    return root


def test_init_train_predict_evaluate(synthetic_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(synthetic_project, project)
    result = _run("init", project)
    assert result.exit_code == 0, result.output
    assert "views cam0, cam1: 30 labeled frames, 11 keypoints" in result.output
    assert "model input 256 x 256" in result.output
    config = project / "lp3d.yaml"
    again = _run("init", project)
    assert isinstance(again.exception, FileExistsError)

    settings = tiny_model(
        run_dir=str(tmp_path / "run"), training={"max_steps": 4, "val_every_steps": 2, "batch_size": 4}
    )
    sets = [x for o in as_overrides(settings) for x in ("--set", o)]
    result = _run("train", config, *sets, "--seeds", "3", "--pretrained", "false", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "seed_3: best validation error" in result.output
    assert (tmp_path / "run" / "seed_3" / "checkpoints" / "last.ckpt").is_file()

    videos = sorted((project / "videos").glob("*.mp4"))
    store = tmp_path / "out.zarr"
    result = _run("predict", tmp_path / "run", *videos, "--out", store, "--batch-size", "16", "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"40 frames -> {store}/predictions/run" in result.output
    assert (tmp_path / "out_csv" / "synthetic_cam0.seed_3.csv").is_file()  # the session the videos name

    result = _run("evaluate", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "mean-pose baseline" in result.output and "| keypoint |" in result.output


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["train", "missing.yaml"], FileNotFoundError, "config file not found"),
        (["train", "{config}", "--seeds", "0,x"], ValueError, "--seeds: expected comma-separated integers"),
        (["train", "{config}", "--set", "training.nope=1"], ValueError, "training.nope: unknown key"),
        (["evaluate", "{tmp}"], FileNotFoundError, "not a training run directory"),
        (["init", "{tmp}"], FileNotFoundError, "expected label files named"),
    ],
)
def test_errors_are_one_line_exceptions(tmp_path, args, error, message):
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{root: {tmp_path}}}\n")
    result = _run(*(a.format(config=config, tmp=tmp_path) for a in args))
    assert isinstance(result.exception, error)
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_init_synthetic(tmp_path):
    from lp3d_models.config import load_config

    result = _run("init", tmp_path / "new", "--synthetic")
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "new" / "lp3d.yaml")
    assert config.data.synthetic is not None and config.data.synthetic.n_views == 4
    assert config.run_dir == str(tmp_path / "new" / "runs" / "new")
