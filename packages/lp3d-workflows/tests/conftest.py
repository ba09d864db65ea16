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
    from lp3d_io.pose_table import PoseTable

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        position = rng.uniform(0, 100, (n_frames, len(keypoints), 2))
        confidence = rng.uniform(0.5, 1.0, (n_frames, len(keypoints)))
        to_pose_csv(PoseTable.from_numpy(position, confidence, keypoint_names=keypoints), folder / name)
        paths.append(folder / name)
    return paths


@pytest.fixture
def csvs() -> Callable[..., list[Path]]:
    return write_csvs


# --- a project folder for the front-end modules (project, viewer_data, diagnostics) ----------------

VIEWER_FRAMES = 300
VIEWER_CHUNK_FRAMES = 16


def _old_layout_copy(store: Path, target: Path, time_chunk: int = 64) -> None:
    """A copy of ``store`` whose arrays with time and keypoint are chunked ``time_chunk`` frames by one
    keypoint (the layout of earlier lp3d-io versions), written with zarr."""
    import shutil

    import zarr

    shutil.copytree(store, target)
    for group in ("predictions/ensemble", "smoothed/eks"):
        for array_dir in sorted((target / group).iterdir()):
            if not (array_dir / ".zarray").is_file():
                continue
            source = zarr.open_array(store / group / array_dir.name, mode="r", zarr_format=2)
            dims = list(source.attrs["_ARRAY_DIMENSIONS"])
            if "time" not in dims or "keypoint" not in dims:
                continue
            sizes = {"keypoint": 1, "time": time_chunk}
            chunks = [sizes.get(d, n) for d, n in zip(dims, source.shape, strict=True)]
            shutil.rmtree(array_dir)
            copy = zarr.create_array(
                array_dir, shape=source.shape, chunks=chunks, dtype=source.dtype, zarr_format=2,
                fill_value=source.fill_value, chunk_key_encoding={"name": "v2", "separator": "."},
            )  # fmt: skip
            copy.attrs["_ARRAY_DIMENSIONS"] = dims
            copy[...] = source[...]
        zarr.consolidate_metadata(str(target / group), zarr_format=2)


@pytest.fixture(scope="session")
def viewer_project(tmp_path_factory) -> Path:
    """A calibrated 3-view synthetic session of 300 frames in the Lightning Pose layout (videos, 12
    labeled frames), its ensemble predictions as CSVs, and their smoothed store
    ``smoothed/synthetic/synthetic.zarr`` (written as ``lp3d smooth`` writes a long session: compressed
    chunks of whole frames, 16 frames each), plus ``old/synthetic.zarr``: the same store in the
    earlier layout (64 frames by one keypoint)."""
    import lp3d_io.store as lstore
    from lp3d_io.synthetic import SyntheticConfig
    from lp3d_workflows.testing import write_smoothed_project

    root = tmp_path_factory.mktemp("viewer-project")
    config = SyntheticConfig(n_views=3, image_size=(96, 80), n_frames=VIEWER_FRAMES, seed=5, session_name="synthetic")
    with pytest.MonkeyPatch.context() as patch:  # a long session's layout on a short one
        patch.setattr(lstore, "SMALL_VARIABLE_BYTES", 0)
        patch.setattr(lstore, "CHUNK_BYTES", 1)
        write_smoothed_project(root, config)
    out = root / "smoothed" / "synthetic"
    (root / "old").mkdir()
    _old_layout_copy(out / "synthetic.zarr", root / "old" / "synthetic.zarr")
    return root
