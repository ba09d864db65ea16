"""Shared fixtures: tiny configs, a synthetic project, and the mirror-mouse example split in two views."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from lp3d_models.config import as_overrides, tiny_model

# The test models are tiny and the CPUs shared: with more than one thread, OpenMP workers spin
# waiting for each other whenever another process holds a core (10x the CPU time, measured).
torch.set_num_threads(1)

MIRROR_MOUSE = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "mirror-mouse-example"
MIRROR_SPLIT_ROW = 168  # rows 0-167: top view, 168-405: bottom view (the mirror)

# The tiny model (lp3d_models.config.TINY_MODEL) with a short warm-up and small batches.
TINY = as_overrides(tiny_model(training={"warmup_steps": 5, "batch_size": 4}))


def tiny_overrides(run_dir: Path, *extra: str) -> list[str]:
    """The tiny model and ``run_dir``, plus ``extra`` overrides."""
    return [f"run_dir={run_dir}", *TINY, *extra]


@pytest.fixture(scope="session")
def tiny():
    """``tiny(run_dir, *extra)``: config overrides for the tiny test model (see :data:`TINY`)."""
    return tiny_overrides


@pytest.fixture(scope="session")
def synthetic_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-view synthetic session (64 x 64, 40 frames, 30 labeled) in the Lightning Pose layout."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    root = tmp_path_factory.mktemp("synthetic")
    session = make_session(SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=40, seed=3))
    write_session(session, root, labeled_frames=30)
    return root


def mirror_mouse_root() -> Path:
    """The example folder, or a skip naming the missing path."""
    root = MIRROR_MOUSE.resolve()
    if not (root / "CollectedData.csv").is_file():
        pytest.skip(f"real data not found: {root} (see shared/data/README.md)")
    return root


def split_mirror_frame(image: np.ndarray) -> dict[str, np.ndarray]:
    """The ``top`` and ``bot`` views of a mirror-mouse frame ``(406, 396, ...)``."""
    return {"top": image[:MIRROR_SPLIT_ROW], "bot": image[MIRROR_SPLIT_ROW:]}


@pytest.fixture(scope="session")
def mirror_mouse_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mirror-mouse example as a two-view project (Lightning Pose multi-view layout).

    Keypoints are the union of the base names (``paw1LH_top`` -> ``paw1LH``); one a view does not
    have (``obs`` in ``bot``, ``obsHigh``/``obsLow`` in ``top``) is unlabeled there. Bottom-view
    labels move up by the split row.
    """
    from lp3d_io import from_pose_csv, to_pose_csv

    source = mirror_mouse_root()
    table = from_pose_csv(source / "CollectedData.csv")
    names = table.keypoint_names
    base = list(dict.fromkeys(n.rsplit("_", 1)[0] for n in names))
    root = tmp_path_factory.mktemp("mirror-mouse")
    for view in ("top", "bot"):
        (root / "labeled-data" / view).mkdir(parents=True)
    paths = {"top": [], "bot": []}
    for image_path in table.index:
        image = cv2.imread(str(source / image_path), cv2.IMREAD_COLOR)
        for view, part in split_mirror_frame(image).items():
            rel = f"labeled-data/{view}/{Path(str(image_path)).name}"
            cv2.imwrite(str(root / rel), part)
            paths[view].append(rel)
    for view, shift in (("top", 0.0), ("bot", float(MIRROR_SPLIT_ROW))):
        position = np.full((len(table.index), len(base), 2), np.nan)
        for k, name in enumerate(base):
            if f"{name}_{view}" in names:
                position[:, k] = table.position[:, names.index(f"{name}_{view}"), 0, :2] - [0.0, shift]
        to_pose_csv(root / f"CollectedData_{view}.csv", position, keypoint_names=base, index=paths[view])
    return root


MIRROR_VIDEO_FRAMES = 8


@pytest.fixture(scope="session")
def mirror_mouse_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The first frames of the example video cut into ``mouse_top.mp4`` and ``mouse_bot.mp4``."""
    from lp3d_io.video import VideoReader

    source = mirror_mouse_root() / "videos" / "test_vid.mp4"
    if not source.is_file():
        pytest.skip(f"real data not found: {source}")
    folder = tmp_path_factory.mktemp("mouse-videos")
    with VideoReader(source, rgb=False) as reader:
        frames = reader.read_many(range(MIRROR_VIDEO_FRAMES))
        fps = reader.fps
    paths = []
    for view in ("top", "bot"):
        parts = [split_mirror_frame(frame)[view] for frame in frames]
        path = folder / f"mouse_{view}.mp4"
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (parts[0].shape[1], parts[0].shape[0])
        )
        for part in parts:
            writer.write(np.ascontiguousarray(part))
        writer.release()
        paths.append(path)
    return paths
