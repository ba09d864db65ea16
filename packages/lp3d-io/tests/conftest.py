from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lp3d_eks import SmootherResult

SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def _data_dir(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts).resolve()
    if not path.exists():
        pytest.skip(f"real data not found: {path}")
    return path


@pytest.fixture
def fly_dir() -> Path:
    """3 cameras x 3 models of eks fly predictions, plus calibration.toml."""
    return _data_dir("eks", "fly")


@pytest.fixture
def mirror_mouse_dir() -> Path:
    """Views top/bot x 5 models of mirror-mouse predictions."""
    return _data_dir("eks", "mirror-mouse-separate")


@pytest.fixture
def collected_data() -> Path:
    """A DeepLabCut labeled-frames CSV (image paths in the index, empty cells)."""
    return _data_dir("mirror-mouse-example", "CollectedData.csv")


def fake_result(kind: str, *, V: int = 3, T: int = 20, K: int = 4, seed: int = 0) -> SmootherResult:
    """A random but well-formed smoother result of the given kind (the real type, random values)."""
    rng = np.random.default_rng(seed)
    D = {"calibrated": 3, "single_view": 2, "linear": 3}[kind]
    V = 1 if kind == "single_view" else V
    L = rng.normal(size=(T, K, D, D))
    return SmootherResult(
        kind=kind,
        mean=rng.normal(size=(T, K, D)),
        covariance=L @ np.swapaxes(L, -1, -2) + 0.1 * np.eye(D),
        reprojection=rng.uniform(0, 100, size=(V, T, K, 2)),
        reprojection_variance=rng.uniform(0.1, 2, size=(V, T, K, 2)),
        observation=rng.uniform(0, 100, size=(V, T, K, 2)),
        observation_variance=rng.uniform(0.1, 2, size=(V, T, K, 2)),
        inflation=rng.choice([1.0, 10.0], size=(V, T, K)),
        s=rng.uniform(0.5, 3, size=K),
        noise_scale=np.ones(K),
        log_likelihood=rng.normal(size=K),
        iterations=rng.integers(1, 5, size=K),
        loadings=rng.normal(size=(K, 2 * V, D)) if kind == "linear" else None,
        offset=rng.normal(size=(K, 2 * V)) if kind == "linear" else None,
    )


@pytest.fixture
def make_result():
    return fake_result


@pytest.fixture
def make_predictions():
    """Factory of seeded predictions datasets."""
    from lp3d_io.dataset import predictions_dataset

    def make(M=2, V=3, T=50, K=4, I=1, seed=0, dtype=np.float32, **kwargs):  # noqa: E741
        rng = np.random.default_rng(seed)
        pos = rng.uniform(0, 500, size=(M, V, T, K, I, 2)).astype(dtype)
        conf = rng.uniform(0, 1, size=(M, V, T, K, I)).astype(dtype)
        kwargs.setdefault("view_names", [f"cam{v}" for v in range(V)])
        kwargs.setdefault("keypoint_names", [f"kp{k}" for k in range(K)])
        kwargs.setdefault("member_names", [f"rng={m}" for m in range(M)])
        if I > 1:
            kwargs.setdefault("individual_names", [f"mouse{i}" for i in range(I)])
        return predictions_dataset(pos, conf, **kwargs)

    return make
