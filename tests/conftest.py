"""End-to-end runs of the ``lp3d`` command in subprocesses, on synthetic sessions and on the fly data.

Fixtures:
- ``lp3d``: runs ``python -m lp3d_cli ARGS`` (optional ``cwd``, extra ``env``) and returns the
  completed process (text output).
- ``synthetic``: a small calibrated session (3 cameras, 3 members, 150 frames) written as
  prediction CSVs with its calibration and truth; session-scoped, treat it as read-only.
- ``fly``, ``mirror_mouse``: the real data sets; the test is skipped (naming the path) when absent.
- ``sessions_project``: writes several synthetic labeled sessions as one Lightning Pose project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

FLY = Path("/work/shared/data/eks/fly")
MIRROR_MOUSE = Path("/work/shared/data/eks/mirror-mouse-separate")
SEED = 7


def _run(
    *args: str | os.PathLike, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "lp3d_cli", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def lp3d() -> Callable[..., subprocess.CompletedProcess]:
    """Runs the CLI in a subprocess: ``lp3d("smooth", path, "--out", out)``."""
    return _run


@dataclass(frozen=True)
class Synthetic:
    """A synthetic session on disk.

    Attributes:
        folder: the prediction CSVs (one per member and view) and ``calibration.toml``.
        calibration: the calibration file.
        views, keypoints: names.
        points3d: true 3D positions ``(time, keypoint, 3)``.
        n_frames: frames.
    """

    folder: Path
    calibration: Path
    views: list[str]
    keypoints: list[str]
    points3d: np.ndarray
    n_frames: int


def write_synthetic(
    folder: Path, *, seed: int = SEED, noise_seed: int | None = None, n_frames: int = 150, name: str = "synth"
) -> Synthetic:
    """Writes a small synthetic session (prediction CSVs and calibration) into ``folder``.

    ``seed`` fixes the rig and the motion, ``noise_seed`` (default ``seed``) the predictions.
    """
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    session = make_session(SyntheticConfig(n_views=3, n_frames=n_frames, seed=seed, session_name=name))
    predictions = make_ensemble_predictions(session, n_members=3, seed=seed if noise_seed is None else noise_seed)
    to_prediction_csvs(predictions.to_dataset(), folder)
    session.rig.to_toml(folder / "calibration.toml")
    return Synthetic(
        folder=folder,
        calibration=folder / "calibration.toml",
        views=session.view_names,
        keypoints=session.keypoint_names,
        points3d=session.motion.points3d,
        n_frames=n_frames,
    )


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "synth")


@pytest.fixture(scope="session")
def make_synthetic() -> Callable[..., Synthetic]:
    """Writes further synthetic sessions (other seeds, names, lengths)."""
    return write_synthetic


@pytest.fixture
def fly() -> Path:
    if not (FLY / "calibration.toml").is_file():
        pytest.skip(f"fly data set not found at {FLY}")
    return FLY


@pytest.fixture
def mirror_mouse() -> Path:
    if not MIRROR_MOUSE.is_dir() or not any(MIRROR_MOUSE.glob("*.csv")):
        pytest.skip(f"mirror-mouse data set not found at {MIRROR_MOUSE}")
    return MIRROR_MOUSE


def leftovers(parent: Path) -> list[str]:
    """Hidden staging folders or files left in ``parent`` (there must be none)."""
    return sorted(
        p.name for p in parent.iterdir() if p.name.startswith(".") and ("partial" in p.name or "tmp" in p.name)
    )


@pytest.fixture(scope="session")
def staging_leftovers() -> Callable[[Path], list[str]]:
    return leftovers


def write_sessions_project(
    folder: Path, sessions: dict[str, int], *, n_frames: int, labeled_frames: int, videos: bool = False
) -> dict[str, Path]:
    """One project in Lightning Pose's layout (2 views ``cam0``, ``cam1``, 64 x 64) from synthetic
    sessions ``{name: seed}`` (each its own rig): labels of every session in one CSV per view, their
    images (and ``videos/`` with ``videos``) in ``folder/project``. Returns each session's
    calibration, written to ``folder/<name>/calibration.toml`` (the project has none)."""
    import shutil

    from lp3d_io import PoseTable, from_pose_csv, to_pose_csv
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    project = folder / "project"
    tables: dict[str, list] = {"cam0": [], "cam1": []}
    rigs = {}
    for name, seed in sessions.items():
        part = folder / name
        config = SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=n_frames, seed=seed, session_name=name)
        write_session(make_session(config), part, labeled_frames=labeled_frames)
        for sub in ("labeled-data", "videos") if videos else ("labeled-data",):
            shutil.copytree(part / sub, project / sub, dirs_exist_ok=True)
        rigs[name] = part / "calibration.toml"
        for view in tables:
            tables[view].append(from_pose_csv(part / f"CollectedData_{view}.csv"))
    for view, parts in tables.items():
        position = np.concatenate([t.position for t in parts])
        index = np.concatenate([t.index for t in parts])
        table = PoseTable.from_numpy(position, keypoint_names=parts[0].keypoint_names, index=index)
        to_pose_csv(table, project / f"CollectedData_{view}.csv")
    return rigs


@pytest.fixture(scope="session")
def sessions_project() -> Callable[..., dict[str, Path]]:
    """:func:`write_sessions_project`: several synthetic sessions as one Lightning Pose project."""
    return write_sessions_project
