"""Helpers for the tests of lp3d_workflows and of the front ends over it (lp3d-app, the CLI), like
``numpy.testing``: waiting for what a job process or a server does in its own time, and a project
folder as a lab's looks after ``lp3d smooth``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from lp3d_io.synthetic import SyntheticConfig

__all__ = ["wait_for", "write_smoothed_project"]

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 120.0, interval: float = 0.05) -> T:
    """Calls ``predicate`` every ``interval`` seconds until it returns something true, and returns that
    (``wait_for(lambda: (job := jobs.get(id)).state != "running" and job)``).

    Raises:
        AssertionError: nothing true within ``timeout`` seconds (a test failure).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: nothing true within {timeout:g} s")
        time.sleep(interval)


def write_smoothed_project(
    root: Path, config: SyntheticConfig, *, n_members: int = 3, labeled_frames: int = 12
) -> Path:
    """Writes the synthetic session ``config`` into ``root`` as a project after ``lp3d smooth``: the
    session in the Lightning Pose layout (videos, ``labeled_frames`` labeled frames), ``n_members``
    ensemble members' predictions (seeded with ``config.seed``) as CSVs in
    ``predictions/<session>/``, and their smoothed store and CSVs in ``smoothed/<session>/``.
    Returns ``root``."""
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import make_ensemble_predictions, make_session, write_session

    from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions, write_smoothed_outputs

    session = make_session(config)
    write_session(session, root, labeled_frames=labeled_frames)
    predictions = make_ensemble_predictions(session, n_members=n_members, seed=config.seed).to_dataset()
    name = config.session_name
    to_prediction_csvs(predictions, root / "predictions" / name)  # a folder per session, named after it
    _, smoothed = smooth_predictions(predictions, session.rig, SmoothSettings(n_threads=1))
    out = root / "smoothed" / name
    out.mkdir(parents=True)
    write_smoothed_outputs(out, name, predictions, smoothed, session.rig)
    return root
