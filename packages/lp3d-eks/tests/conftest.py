import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the simulate module

SHARED_DATA = HERE.parents[2] / ".." / "shared" / "data"


@pytest.fixture
def fly_dir() -> Path:
    path = (SHARED_DATA / "eks" / "fly").resolve()
    if not (path / "calibration.toml").exists():
        pytest.skip(f"real data not found: {path}")
    return path
