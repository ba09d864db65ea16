"""Shared fixtures: tiny configs, synthetic projects (one session; two sessions with their rigs), and the
mirror-mouse example (as it is, and split by hand into two views)."""

from __future__ import annotations

import shutil
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
def mirror_mouse_source() -> Path:
    """The mirror-mouse example folder as it is (whole frames, one label file), or a skip."""
    return mirror_mouse_root()


@pytest.fixture(scope="session")
def mirror_mouse_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mirror-mouse example as a two-view project (Lightning Pose multi-view layout).

    Keypoints are the union of the base names (``paw1LH_top`` -> ``paw1LH``); one a view does not
    have (``obs`` in ``bot``, ``obsHigh``/``obsLow`` in ``top``) is unlabeled there. Bottom-view
    labels move up by the split row.
    """
    from lp3d_io import PoseTable, from_pose_csv, to_pose_csv

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
        to_pose_csv(
            PoseTable.from_numpy(position, keypoint_names=base, index=paths[view]), root / f"CollectedData_{view}.csv"
        )
    return root


MIRROR_VIDEO_FRAMES = 8


@pytest.fixture(scope="session")
def mirror_mouse_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first frames of the example video, whole, as ``clip.mp4``."""
    from lp3d_io.video import VideoReader

    source = mirror_mouse_root() / "videos" / "test_vid.mp4"
    if not source.is_file():
        pytest.skip(f"real data not found: {source}")
    path = tmp_path_factory.mktemp("mouse-video") / "clip.mp4"
    with VideoReader(source, rgb=False) as reader:
        frames = reader.read_many(range(MIRROR_VIDEO_FRAMES))
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), reader.fps, reader.size)
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path


@pytest.fixture(scope="session")
def two_sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic sessions (other rigs) in one folder: labels, images, and their rigs in rigs/."""
    from lp3d_io import PoseTable, from_pose_csv, to_pose_csv
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    base = tmp_path_factory.mktemp("two-sessions")
    tables: dict[str, list] = {"cam0": [], "cam1": []}
    (base / "rigs").mkdir()
    for name, seed in (("sessA", 1), ("sessB", 2)):
        config = SyntheticConfig(n_views=2, image_size=(48, 48), n_frames=8, seed=seed, session_name=name)
        write_session(make_session(config), base / name, labeled_frames=4)
        shutil.copytree(base / name / "labeled-data", base / "labeled-data", dirs_exist_ok=True)
        shutil.copy(base / name / "calibration.toml", base / "rigs" / f"{name}.toml")
        for view in tables:
            tables[view].append(from_pose_csv(base / name / f"CollectedData_{view}.csv"))
    (base / "labels").mkdir()
    for view, parts in tables.items():
        table = PoseTable.from_numpy(
            np.concatenate([t.position for t in parts]),
            keypoint_names=parts[0].keypoint_names,
            index=np.concatenate([t.index for t in parts]),
        )
        to_pose_csv(table, base / "labels" / f"CollectedData_{view}.csv")
    return base


def _session_project(two_sessions: Path, tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """A project folder on the two sessions' labels and images, with ``files`` {target: rig name}."""
    root = tmp_path / "project"
    root.mkdir(parents=True)
    (root / "labeled-data").symlink_to(two_sessions / "labeled-data")
    for view in ("cam0", "cam1"):
        shutil.copy(two_sessions / "labels" / f"CollectedData_{view}.csv", root)
    for target, rig in (files or {}).items():
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(two_sessions / "rigs" / f"{rig}.toml", path)
    return root


@pytest.fixture(scope="session")
def session_project():
    """``session_project(two_sessions, folder, files)``: a project folder (``folder/project``) on the
    two sessions' labels and images, with calibration ``files`` {target: rig name}."""
    return _session_project
