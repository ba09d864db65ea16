"""Small prediction files for the in-process tests of the workflows (seeded, a few frames)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest


def write_csvs(
    folder: Path,
    names: Sequence[str],
    *,
    n_frames: int = 20,
    keypoints: Sequence[str] = ("nose", "tail"),
    seed: int = 0,
) -> list[Path]:
    """One random prediction CSV per name in ``folder`` (created)."""
    from lp3d_io.csv import to_pose_csv

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        to_pose_csv(
            path,
            rng.uniform(0, 100, (n_frames, len(keypoints), 2)),
            rng.uniform(0.5, 1.0, (n_frames, len(keypoints))),
            keypoint_names=list(keypoints),
        )
        paths.append(path)
    return paths


@pytest.fixture
def csvs() -> Callable[..., list[Path]]:
    return write_csvs
