"""Many sessions: a folder of session folders smoothed in parallel with dask, one of them broken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lp3d_io.store import read_group


@pytest.fixture(scope="module")
def batch(make_synthetic, tmp_path_factory) -> tuple[Path, Path]:
    """Three sessions of one rig (different noise): ``a`` and ``b`` fine, ``broken`` with a short file.

    Returns the folder of sessions and the shared calibration file.
    """
    root = tmp_path_factory.mktemp("batch") / "sessions"
    sessions = [make_synthetic(root / name, noise_seed=10 + i, n_frames=100, name=name) for i, name in enumerate("ab")]
    make_synthetic(root / "broken", noise_seed=12, n_frames=100, name="broken")
    victim = sorted((root / "broken").glob("*.csv"))[2]
    victim.write_text("".join(victim.read_text().splitlines(keepends=True)[:-5]))
    return root, sessions[0].calibration


def _check_batch(run: subprocess.CompletedProcess, out: Path) -> None:
    assert run.returncode == 2, run.stderr  # the broken session is bad input
    assert "3 sessions: 2 smoothed, 1 failed" in run.stdout
    assert "broken: failed: " in run.stderr and "expected 100 rows" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    for name in ("a", "b"):
        smoothed = read_group(out / name / f"{name}.zarr", "smoothed/eks")
        assert smoothed.attrs["session"] == name and smoothed.sizes["time"] == 100


def test_local_cluster_runs_every_session_and_reports_the_bad_one(lp3d, batch, tmp_path):
    root, calibration = batch
    out = tmp_path / "out"
    run = lp3d("smooth", root, "-c", calibration, "--out", out, "--workers", "2", "-k", "back,nose")
    _check_batch(run, out)


def test_existing_scheduler(lp3d, batch, tmp_path):
    root, calibration = batch
    script = (
        "import sys\n"
        "from dask.distributed import LocalCluster\n"
        'cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",\n'
        '                       host="127.0.0.1", dashboard_address=None)\n'
        "print(cluster.scheduler_address, flush=True)\n"
        "sys.stdin.read()\n"
        "cluster.close()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as scheduler:
        try:
            address = scheduler.stdout.readline().strip()
            assert address.startswith("tcp://"), address
            out = tmp_path / "out"
            run = lp3d("smooth", root, "-c", calibration, "--out", out, "--scheduler", address, "-k", "back")
            _check_batch(run, out)
            assert f"on scheduler {address}" in run.stderr
        finally:
            scheduler.stdin.close()
            scheduler.wait(timeout=60)


def test_unreachable_scheduler_is_a_user_error(lp3d, batch, tmp_path):
    root, calibration = batch
    env = {"DASK_LP3D__SCHEDULER_TIMEOUT": "1s"}
    run = lp3d(
        "smooth", root, "-c", calibration, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9", env=env
    )
    assert run.returncode == 2
    assert "--scheduler tcp://127.0.0.1:9: expected a reachable dask scheduler" in run.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
