"""A small project folder for the app's tests (session-scoped, ~10 s): a calibrated synthetic session
with videos and labels (Lightning Pose layout), its ensemble predictions as CSVs, and their smoothed
store (``smoothed/synthetic/synthetic.zarr``), as ``lp3d smooth`` writes it; and the same of two animals
(``light`` and ``dark``, fewer frames)."""

from __future__ import annotations

from pathlib import Path

import pytest

N_FRAMES = 90


def make_project(root: Path, *, n_animals: int = 1, n_frames: int = N_FRAMES) -> Path:
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session, write_session
    from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions, write_smoothed_outputs

    session = make_session(
        SyntheticConfig(
            n_views=3, image_size=(96, 80), n_frames=n_frames, seed=3, session_name="synthetic", n_animals=n_animals
        )
    )
    write_session(session, root, labeled_frames=12)
    predictions = make_ensemble_predictions(session, n_members=3, seed=3).to_dataset()
    to_prediction_csvs(predictions, root / "predictions" / "synthetic")  # a folder per session, named after it
    _, smoothed = smooth_predictions(predictions, session.rig, SmoothSettings(n_threads=1))
    out = root / "smoothed" / "synthetic"
    out.mkdir(parents=True)
    write_smoothed_outputs(out, "synthetic", predictions, smoothed, session.rig)
    return root


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("app-project"))


@pytest.fixture(scope="session")
def two_animals_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("app-two-animals"), n_animals=2, n_frames=40)
