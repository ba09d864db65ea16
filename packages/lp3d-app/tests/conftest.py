"""A small project folder for the app's tests (session-scoped, ~10 s): a calibrated synthetic session
with videos and labels (Lightning Pose layout), its ensemble predictions as CSVs, and their smoothed
store (``smoothed/synthetic/synthetic.zarr``), as ``lp3d smooth`` writes it; and the same of two animals
(``light`` and ``dark``, fewer frames)."""

from __future__ import annotations

from pathlib import Path

import pytest

N_FRAMES = 90


def make_project(root: Path, *, n_animals: int = 1, n_frames: int = N_FRAMES) -> Path:
    from lp3d_io.synthetic import SyntheticConfig
    from lp3d_workflows.testing import write_smoothed_project

    config = SyntheticConfig(
        n_views=3, image_size=(96, 80), n_frames=n_frames, seed=3, session_name="synthetic", n_animals=n_animals
    )
    return write_smoothed_project(root, config)


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("app-project"))


@pytest.fixture(scope="session")
def two_animals_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("app-two-animals"), n_animals=2, n_frames=40)
