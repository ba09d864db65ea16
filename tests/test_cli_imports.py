"""What an ``lp3d`` process loads: a session of prediction files is read, smoothed and written on numpy
alone (no xarray, pandas, zarr, pyarrow, dask, matplotlib, OpenCV, pydantic), and its files get the
usual permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

HEAVY = {
    "xarray",
    "pandas",
    "zarr",
    "numcodecs",
    "pyarrow",
    "dask",
    "distributed",
    "matplotlib",
    "cv2",
    "h5py",
    "pydantic",
}


def _imports(*args: object) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Runs ``python -X importtime -m lp3d_cli ARGS``; returns the process and the top-level modules it imported."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lp3d_cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    return run, {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines[1:]}  # [0] is the header


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("command", ["smooth", "triangulate"])
def test_a_session_of_csv_files_runs_on_numpy_alone(synthetic, tmp_path, command):
    out = tmp_path / "out"
    run, imported = _imports(command, synthetic.folder, "--calibration", synthetic.calibration, "--out", out, "-q")
    assert run.returncode == 0, run.stderr[-3000:]
    assert {"numpy", "lp3d_eks", "lp3d_io", "typer"} <= imported  # the list is real
    assert not imported & HEAVY, sorted(imported & HEAVY)
    files = [p for p in out.rglob("*") if p.is_file()]
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert files and {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o666 & ~_umask())}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {oct(0o777 & ~_umask())}


def test_help_is_light():
    run, imported = _imports("smooth", "--help")
    assert run.returncode == 0 and "--calibration" in run.stdout
    assert not imported & (HEAVY | {"numpy", "lp3d_eks", "lp3d_io"}), sorted(imported & HEAVY)
