"""lp3d_workflows.jobs: jobs in their own process groups (progress, log, cancel, failure, recovery).

The job kinds are this folder's ``lp3d_test_jobs`` (imported by the job processes by name)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from lp3d_workflows.errors import UserError
from lp3d_workflows.jobs import JOB_KINDS, JOBS_DIR, JobManager, JobRecord
from lp3d_workflows.project import APP_DIR
from lp3d_workflows.testing import wait_for

HERE = Path(__file__).resolve().parent


@pytest.fixture
def kinds(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]))
    import lp3d_test_jobs

    return {"wait": lp3d_test_jobs.WAIT}


@pytest.fixture
def manager(tmp_path, kinds):
    jobs = JobManager(tmp_path, kinds)
    yield jobs
    jobs.shutdown()


def gone(pid: int) -> bool:
    """The process no longer runs (it does not exist, or it is a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def ended(manager: JobManager, job_id: str) -> JobRecord:
    """The job's record once it no longer runs."""
    return wait_for(lambda: (r := manager.get(job_id)).state != "running" and r)


def long_job(manager: JobManager, out: Path, **params):
    job = manager.start("wait", {"out": str(out), "steps": 600, "seconds": 120, **params}, "a long wait")
    wait_for(lambda: "step 1 of" in manager.log(job.id)[0])  # the job process is at work
    return job


def test_a_job_reports_progress_and_keeps_its_log_and_result(manager, tmp_path):
    job = manager.start("wait", {"out": str(tmp_path / "out"), "steps": 6, "seconds": 3}, "six steps")
    assert job.state == "running" and job.output == str(tmp_path / "out")
    assert (tmp_path / JOBS_DIR / job.id / "job.json").is_file() and JOBS_DIR.startswith(APP_DIR)
    seen = wait_for(lambda: (r := manager.get(job.id)).progress["description"] == "waiting" and r)
    assert seen.state == "running" and seen.progress["total"] == 6 and 0 <= seen.progress["done"] < 6
    done = ended(manager, job.id)
    assert done.state == "done" and done.result == {"steps": 6} and done.error is None
    assert done.progress == {"description": "done", "done": 6.0, "total": 6}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"part{i}.txt" for i in range(6)]
    log, end = manager.log(job.id)
    assert "step 6 of 6" in log and "job done" in log and end == len(log.encode())
    assert manager.log(job.id, offset=end) == ("", end)
    assert [r.id for r in manager.list()] == [job.id]


def test_cancel_kills_the_whole_process_group_and_leaves_no_output(manager, tmp_path):
    out = tmp_path / "out"
    job = long_job(manager, out, child=True)
    grandchild = int(wait_for(lambda: Path(f"{out}.child").is_file() and Path(f"{out}.child").read_text()))
    assert not gone(job.pid) and not gone(grandchild)
    cancelled = manager.cancel(job.id)
    assert cancelled.state == "cancelled" and cancelled.finished is not None
    assert gone(job.pid)
    wait_for(lambda: gone(grandchild), timeout=10)  # the job's own child died with its group
    assert sorted(p.name for p in tmp_path.iterdir()) == [APP_DIR, "out.child"]  # no output, no staged folder
    assert manager.cancel(job.id).state == "cancelled"  # a finished job stays as it is


def test_a_failed_job_has_a_one_line_error_and_writes_nothing(manager, tmp_path):
    job = manager.start(
        "wait", {"out": str(tmp_path / "out"), "steps": 4, "fail": "the input is bad:\n  row 3"}, "fails"
    )
    failed = ended(manager, job.id)
    assert failed.state == "failed" and failed.error == "the input is bad: row 3"
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == [APP_DIR]
    assert "Traceback" in manager.log(job.id)[0]  # the traceback is in the log, not in the error


def test_two_jobs_on_one_output_are_refused(manager, tmp_path):
    first = long_job(manager, tmp_path / "out")
    with pytest.raises(UserError, match=f"output out: job {first.id} .* is writing it"):
        manager.start("wait", {"out": str(tmp_path / "out")}, "same output")
    other = manager.start("wait", {"out": str(tmp_path / "other"), "steps": 1}, "another output")
    manager.cancel(first.id)
    second = manager.start("wait", {"out": str(tmp_path / "out"), "steps": 1}, "same output, now free")
    assert [ended(manager, job.id).state for job in (other, second)] == ["done", "done"]


def test_bad_requests_are_refused_before_any_process_starts(manager, tmp_path):
    with pytest.raises(UserError, match=r"kind: expected one of \['wait'\], but got 'smooth'"):
        manager.start("smooth", {}, "not a kind of this manager")
    with pytest.raises(UserError, match="steps: expected a positive number, but got 0"):
        manager.start("wait", {"out": str(tmp_path / "out"), "steps": 0}, "bad")
    assert manager.list() == [] and not (tmp_path / JOBS_DIR).exists()
    for bad in ("nope", "../..", ".", "a/b"):
        with pytest.raises(KeyError, match="no such job"):
            manager.get(bad)


def test_the_smooth_kind_checks_its_parameters(tmp_path, csvs):
    csvs(tmp_path / "in", ["model_cam0.csv", "model_cam1.csv"])
    check = JOB_KINDS["smooth"].check
    params = {"inputs": [str(tmp_path / "in")], "out": str(tmp_path / "out")}
    assert check(params).name == "out" or check(params).parent.name == "out"
    for change, message in (({"s": -1}, "s: expected a positive number"), ({"ensemble": "mode"}, "ensemble: expected")):
        with pytest.raises(UserError, match=message):
            check({**params, **change})


def test_a_restarted_server_marks_running_jobs_interrupted_and_keeps_finished_ones(manager, tmp_path, kinds):
    finished = manager.start("wait", {"out": str(tmp_path / "done"), "steps": 1}, "quick")
    assert ended(manager, finished.id).state == "done"
    running = long_job(manager, tmp_path / "out")
    restarted = JobManager(tmp_path, kinds)  # a new server finds the job still running: it stops it
    assert restarted.recover() == [running.id]
    after = restarted.get(running.id)
    assert after.state == "interrupted" and after.error == "the server stopped while this job ran" and gone(running.pid)
    kept = restarted.get(finished.id)
    assert kept.state == "done" and kept.result == {"steps": 1} and (tmp_path / "done" / "part0.txt").is_file()
    assert restarted.recover() == []


def test_shutdown_stops_every_job(manager, tmp_path):
    jobs = [long_job(manager, tmp_path / f"out{i}") for i in range(2)]
    manager.shutdown()
    for job in jobs:
        assert gone(job.pid) and manager.get(job.id).state == "interrupted"


SERVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import lp3d_test_jobs
    from lp3d_workflows.jobs import JobManager

    manager = JobManager(Path(sys.argv[1]), {"wait": lp3d_test_jobs.WAIT})
    job = manager.start("wait", {"out": sys.argv[1] + "/out", "steps": 600, "seconds": 120}, "long")
    print(job.id, job.pid, flush=True)
    time.sleep(600)
    """
)


def test_a_job_dies_with_the_process_that_started_it(tmp_path, kinds):
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        job_id, pid = server.stdout.readline().split()
        manager = JobManager(tmp_path, kinds)
        wait_for(lambda: "step 1 of" in manager.log(job_id)[0])
        os.kill(server.pid, signal.SIGKILL)  # no shutdown: the kernel tells the job (PR_SET_PDEATHSIG)
        server.wait()
        wait_for(lambda: gone(int(pid)), timeout=20)
        assert manager.get(job_id).state == "interrupted"
        assert not (tmp_path / "out").exists()
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


def test_a_job_outlives_the_request_thread_that_started_it(manager, tmp_path):
    """A server starts jobs from request threads, which end when idle; the job must run on (the
    parent-death signal follows the thread that started a process)."""
    started = []
    thread = threading.Thread(target=lambda: started.append(long_job(manager, tmp_path / "o")))
    thread.start()
    thread.join()
    job = started[0]
    time.sleep(0.5)
    assert manager.get(job.id).state == "running" and not gone(job.pid)
