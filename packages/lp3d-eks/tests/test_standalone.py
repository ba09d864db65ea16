"""lp3d-eks stands alone: numpy is its only runtime dependency."""

import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import lp3d_eks
    rng = np.random.default_rng(0)
    K = [[600, 0, 320], [0, 600, 240], [0, 0, 1]]
    rig = lp3d_eks.CameraRig((
        lp3d_eks.Camera("a", (640, 480), K, [0] * 5, [0, 0, 0], [0, 0, 500]),
        lp3d_eks.Camera("b", (640, 480), K, [0] * 5, [0, 0.6, 0], [-100, 0, 500]),
    ))
    X = np.cumsum(rng.normal(0, 1, size=(100, 2, 3)), axis=0)
    pred = rig.project(X)[None] + rng.normal(0, 1, size=(3, 2, 100, 2, 2))
    res = lp3d_eks.smooth_calibrated(pred, rig)
    assert np.isfinite(res.mean).all()
    heavy = sorted(m for m in ("torch", "xarray", "zarr", "pandas", "cv2", "scipy", "dask") if m in sys.modules)
    print("HEAVY:" + ",".join(heavy))
    """
)


def test_import_pulls_in_numpy_only():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert "HEAVY:\n" in out.stdout, out.stdout


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv(tmp_path):
    """`pip install packages/lp3d-eks` into an empty venv gives a working smoother (builds the C++)."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = "2"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(PACKAGE)],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    out = subprocess.run([str(py), "-c", SCRIPT], capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    assert "HEAVY:\n" in out.stdout, out.stdout
    listed = subprocess.run(
        [str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True, env=env
    ).stdout.lower()
    assert "numpy" in listed and "torch" not in listed and "xarray" not in listed
