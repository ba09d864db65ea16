"""The README's quick start for a lab's own data, run as written: on a synthetic project in Lightning
Pose's layout (two calibrated sessions) and on the mirror-mouse example (crop boxes, skipped without
it). Each ``lp3d`` line of the README's blocks runs in a subprocess; ``lp3d train`` gets the tiny
test model appended (``--set``), since the README's backbone needs weights from the network and
minutes of training. Also: the offline failure of the config ``lp3d init`` writes, and training
output without noise."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from lp3d_models.config import as_overrides, tiny_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

README = Path(__file__).resolve().parents[1] / "README.md"
MIRROR = Path("/work/shared/data/mirror-mouse-example")
TRAIN = ["--set", "training.max_steps=10", "--set", "training.val_every_steps=5", "--set", "training.batch_size=4"]


def readme_block(after: str) -> list[list[str]]:
    """The ``lp3d`` commands of the first bash block after the line starting with ``after``."""
    text = README.read_text()
    start = text.index(after)
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert block is not None, f"no bash block after {after!r} in {README}"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def tiny(**model) -> list[str]:
    values = tiny_model(model=model) if model else tiny_model()
    return [arg for item in as_overrides(values) for arg in ("--set", item)] + TRAIN


def run_block(lp3d, commands: list[list[str]], cwd: Path, extra_train: list[str]) -> dict[str, object]:
    """Runs each command (``lp3d`` -> the CLI); returns the completed processes by subcommand."""
    done = {}
    for command in commands:
        assert command[0] == "lp3d", command
        args = command[1:] + (extra_train if command[1] == "train" else [])
        result = lp3d(*args, cwd=cwd, timeout=600)
        assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr[-3000:]}"
        done[command[1]] = result
    return done


@pytest.fixture(scope="module")
def mouse(tmp_path_factory: pytest.TempPathFactory, sessions_project) -> Path:
    """``mouse/``: sessions mouse1, mouse2 (other rigs), cameras cam0, cam1, 12 labeled frames each,
    videos, and calibrations/<session>.toml."""
    work = tmp_path_factory.mktemp("quick-start")
    rigs = sessions_project(work / "parts", {"mouse1": 1, "mouse2": 2}, n_frames=40, labeled_frames=12, videos=True)
    project = work / "mouse"
    (work / "parts" / "project").rename(project)
    (project / "calibrations").mkdir()
    for name, rig in rigs.items():
        shutil.copyfile(rig, project / "calibrations" / f"{name}.toml")
    return project


def test_offline_pretrained_weights_are_one_line_that_says_what_to_do(lp3d, mouse, tmp_path):
    project = tmp_path / "mouse"
    shutil.copytree(mouse, project, symlinks=True)
    assert lp3d("init", project, "--backbone", "vit_t16", cwd=tmp_path).returncode == 0
    run = lp3d("train", project / "lp3d.yaml", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 2, run.stderr[-2000:]
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("lp3d train: error: model.pretrained: expected to download the weights of vit_tiny_patch16")
    assert "--pretrained PATH" in line and "--pretrained false" in line


def test_own_data_quick_start_as_written(lp3d, mouse):
    from lp3d_models.frame_selection import read_smoothed

    work = mouse.parent
    shown = ["--set", "training.progress_bar=true"]  # as a lab sees it (the tiny model has it off)
    done = run_block(lp3d, readme_block("## Train on your own data"), work, tiny() + shown)
    run = mouse / "runs" / "mouse"
    # The chosen split: the whole of mouse2 is held out.
    test_images = json.loads((run / "split.json").read_text())["test"]["images"]
    assert len(test_images) == 12 and all("/mouse2_cam0/" in p for p in test_images)
    # Training output: progress in steps, no product tips, warnings or checkpoint chatter.
    stderr = done["train"].stderr
    assert "seed_0 steps" in stderr
    for noise in ("Tip", "Warning", "warn", "weights_only", "Epoch", "litlogger", "GPU available"):
        assert noise not in stderr, noise
    # evaluate: pixel and 3D errors printed (the calibrations read although training did not use them), overlays.
    out = done["evaluate"].stdout
    assert "mean-pose baseline" in out and re.search(r"^3D: ensemble [\d.]+", out, re.M)
    assert len(list((run / "evaluation" / "overlays").glob("*.png"))) == 12
    # predict: the store, CSVs named after the session, one labeled video per view.
    videos = sorted(p.name for p in (work / "predictions" / "mouse2-videos").iterdir())
    assert videos == ["cam0_labeled.mp4", "cam1_labeled.mp4"]
    assert (work / "predictions" / "mouse2_csv" / "mouse2_cam0.seed_0.csv").is_file()
    # smooth with the per-session calibration folder: 3D; distillation would see session mouse2.
    smoothed = work / "smoothed" / "mouse2"
    assert (smoothed / "multicam_3d_results.csv").is_file()
    assert read_smoothed(smoothed / "mouse2.zarr").name == "mouse2"


def test_mirror_quick_start_as_written(lp3d, tmp_path):
    """The mirror-mouse example as it is (its video cut to its first 16 frames to keep this short)."""
    import cv2
    from lp3d_io.video import VideoReader

    if not (MIRROR / "CollectedData.csv").is_file():
        pytest.skip(f"real data not found: {MIRROR}")
    project = tmp_path / "mirror-mouse"
    project.mkdir()
    shutil.copyfile(MIRROR / "CollectedData.csv", project / "CollectedData.csv")
    (project / "labeled-data").symlink_to(MIRROR / "labeled-data")
    (project / "videos").mkdir()
    with VideoReader(MIRROR / "videos" / "test_vid.mp4", rgb=False) as reader:
        frames = reader.read_many(range(16))
        writer = cv2.VideoWriter(
            str(project / "videos" / "test_vid.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), reader.fps, reader.size
        )
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    done = run_block(lp3d, readme_block("**A mirror rig**"), tmp_path, tiny(width=128))
    assert "views bot, top" not in done["init"].stdout and "views top, bot: 90 labeled frames" in done["init"].stdout
    assert "3D:" not in done["evaluate"].stdout  # no calibration: pixel errors only
    assert len(list((project / "runs" / "mirror-mouse" / "evaluation" / "overlays").glob("*.png"))) == 9
    labeled = tmp_path / "predictions" / "test_vid-videos" / "test_vid_labeled.mp4"
    with VideoReader(labeled) as reader:
        assert reader.frame_count == 16 and reader.size == (396, 406)  # both views drawn on the whole frame
    smoothed = tmp_path / "smoothed" / "test_vid"
    assert sorted(p.name for p in smoothed.glob("*.csv")) == ["multicam_bot_results.csv", "multicam_top_results.csv"]
