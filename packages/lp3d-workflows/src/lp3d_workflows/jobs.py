"""Long operations as jobs in their own processes, with progress, a log, cancel and recovery.

A front end (the app) starts a job with :meth:`JobManager.start`; the job runs in a new process
(``python -m lp3d_workflows.jobs <job folder> <module>:<function>``) in its own process group, so cancelling it
(:meth:`JobManager.cancel`) kills everything it started. Each job has a folder
``<root>/.lp3d-app/jobs/<id>/`` with ``job.json`` (its record: kind, parameters, output, state,
progress, the one-line error of a failure; rewritten atomically) and ``log.txt`` (the
``lp3d_workflows`` log and anything the process prints).

States: ``running`` -> ``done`` | ``failed`` | ``cancelled`` | ``interrupted`` (the server stopped or
died while it ran: :meth:`JobManager.recover` marks those at the next start). Outputs are written
by operations that write atomically (:mod:`lp3d_io.files`), so a failed, cancelled or killed job
leaves no half-written output. Two running jobs never write the same output (refused at start).
The job process dies with the process that started it (Linux: ``PR_SET_PDEATHSIG``, which follows
the thread that started it: jobs start from one long-lived thread of the manager), and
:meth:`JobManager.shutdown` stops every job it runs.

Kinds (:class:`JobKind`) are a function ``run(params, progress) -> dict`` that the job process
imports by its module and name, with a ``check`` that validates the parameters before any process
starts (bad input is refused at once). :data:`JOB_KINDS` are the app's: ``smooth``, ``video``
(:mod:`lp3d_workflows.project_setup`), ``extract`` (:mod:`lp3d_workflows.frame_extraction`),
``train``, ``predict``, ``evaluate``, ``distill`` (:mod:`lp3d_workflows.model_runs`); a manager
can be given others (any importable function).

**Devices.** A kind may say which device a job uses (``device(params)``: ``"gpu"`` or ``"cpu"``).
One GPU job runs at a time (another is refused until it ends: it would share the GPU's memory); a
CPU job gets a share of the cores (``OMP_NUM_THREADS`` and the like: the cores divided by the CPU
jobs running with it, at least one), so that jobs side by side do not oversubscribe the machine.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lp3d_io.files import write_text_atomic

from lp3d_workflows.errors import UserError, one_line
from lp3d_workflows.progress import ProgressCallback
from lp3d_workflows.project import APP_DIR

__all__ = [
    "JOBS_DIR",
    "TERMINAL_STATES",
    "JobRecord",
    "JobKind",
    "JOB_KINDS",
    "JobManager",
    "run_job",
    "smooth_job",
    "cpu_count",
]

log = logging.getLogger(__name__)

JOBS_DIR = f"{APP_DIR}/jobs"
TERMINAL_STATES = ("done", "failed", "cancelled", "interrupted")
_RECORD = "job.json"
_LOG = "log.txt"


@dataclass
class JobRecord:
    """What a job is and how it stands (``job.json``).

    Attributes:
        id: its id (its folder's name).
        kind: a key of :data:`JOB_KINDS`.
        label: what the user sees.
        params: the kind's parameters (JSON).
        output: the folder it writes (absolute).
        state: ``running``, ``done``, ``failed``, ``cancelled`` or ``interrupted``.
        created, finished: Unix times (``finished`` None while it runs).
        pid: the job process (its process group has the same id).
        progress: ``{"description", "done", "total"}`` of the last progress report.
        error: the one-line error of a failed job.
        result: what the operation returned (JSON), when done.
    """

    id: str
    kind: str
    label: str
    params: dict[str, Any]
    output: str
    state: str = "running"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    pid: int | None = None
    progress: dict[str, Any] = field(default_factory=lambda: {"description": "starting", "done": 0.0, "total": None})
    error: str | None = None
    result: dict[str, Any] | None = None
    device: str = "cpu"
    threads: int | None = None

    def save(self, folder: Path) -> None:
        write_text_atomic(folder / _RECORD, json.dumps(asdict(self)))

    @classmethod
    def load(cls, folder: Path) -> JobRecord:
        return cls(**json.loads((folder / _RECORD).read_text()))


@dataclass(frozen=True)
class JobKind:
    """A kind of job: ``check(params)`` raises a user error before anything starts (and returns the
    output folder), ``run(params, progress)`` does the work in the job process and returns a result.
    ``run`` is a module-level function: the job process imports it (:attr:`entry`)."""

    check: Callable[[dict[str, Any]], Path]
    run: Callable[[dict[str, Any], ProgressCallback], dict[str, Any]]
    device: Callable[[dict[str, Any]], str] | None = None

    @property
    def entry(self) -> str:
        """``<module>:<function>`` of :attr:`run`, what the job process imports."""
        return f"{self.run.__module__}:{self.run.__qualname__}"


def _import_entry(entry: str) -> Callable[[dict[str, Any], ProgressCallback], dict[str, Any]]:
    module, _, name = entry.partition(":")
    value: Any = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


# --- kinds ------------------------------------------------------------------------------------------


def _smooth_settings(params: dict[str, Any]):
    from lp3d_eks import MOTIONS

    from lp3d_workflows.frame_ranges import parse_frame_ranges
    from lp3d_workflows.smoothing import SmoothSettings

    s = params.get("s")
    ranges = parse_frame_ranges(params.get("s_frames") or None, "s_frames")
    if params.get("ensemble", "median") not in ("median", "mean"):
        raise UserError(f"ensemble: expected 'median' or 'mean', but got {params.get('ensemble')!r}")
    if params.get("variance", "var") not in ("var", "confidence-weighted"):
        raise UserError(f"variance: expected 'var' or 'confidence-weighted', but got {params.get('variance')!r}")
    if s is not None and (not isinstance(s, int | float) or not s > 0):
        raise UserError(f"s: expected a positive number (or automatic), but got {s!r}")
    motions = ("auto", *MOTIONS)
    if params.get("motion", "auto") not in motions:
        raise UserError(f"motion: expected one of {', '.join(map(repr, motions))}, but got {params.get('motion')!r}")
    return SmoothSettings(
        calibration=Path(params["calibration"]) if params.get("calibration") else None,
        views=tuple(params["views"]) if params.get("views") else None,
        s=None if s is None else (float(s),),
        s_frames=None if ranges is None else tuple(ranges),
        inflate=params.get("inflate"),
        motion=params.get("motion", "auto"),
        ensemble=params.get("ensemble", "median"),
        variance=params.get("variance", "var"),
        n_threads=int(params.get("n_threads", 0)),
    )


def _check_smooth(params: dict[str, Any]) -> Path:
    from lp3d_workflows.batch import plan_outputs
    from lp3d_workflows.sessions import find_prediction_sessions

    _smooth_settings(params)
    sessions = find_prediction_sessions([Path(p) for p in params["inputs"]])
    if len(sessions) != 1:
        raise UserError(f"inputs: expected one session, but got {len(sessions)}")
    return plan_outputs(sessions, Path(params["out"]), bool(params.get("overwrite")))[0]


def smooth_job(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``smooth`` job: :func:`lp3d_workflows.batch.smooth_inputs` on one session, then its
    result prepared for the viewer (with ``params["project"]``)."""
    from lp3d_workflows.batch import smooth_inputs

    [summary] = smooth_inputs(
        [Path(p) for p in params["inputs"]],
        Path(params["out"]),
        _smooth_settings(params),
        overwrite=bool(params.get("overwrite")),
        progress=progress,
    )
    if params.get("project") and summary.error is None:
        _prepare_viewer(Path(params["project"]), Path(summary.out), progress)
    return {
        "session": summary.session,
        "smoother": summary.smoother,
        "n_frames": summary.n_frames,
        "keypoints": list(summary.keypoints),
        "s": summary.s,
        "motion": summary.motion,
        "inflated": summary.inflated,
        "seconds": summary.seconds,
    }


def _prepare_viewer(root: Path, out: Path, progress: ProgressCallback) -> None:
    """Builds the overview of the stores a job wrote (:meth:`lp3d_workflows.viewer_data.SourceReader.overview`)
    in the project's cache, so that the viewer shows a long result at once; a failure here only logs."""
    from lp3d_workflows.project import describe_project
    from lp3d_workflows.viewer_data import CACHE_DIR, SourceReader

    progress("preparing the result for the viewer", 0, None)
    try:
        project = describe_project(root)
        written = Path(os.path.realpath(out))
        for source in project.sources:
            if Path(source.store).parent == written:
                cache = project.root / CACHE_DIR / source.id
                SourceReader(
                    source.store, source.predictions, source.smoothed, source.calibrated, cache=cache
                ).overview()
    except (OSError, ValueError, KeyError) as err:
        log.warning(
            f"the viewer's overview of {out.name} was not built (it will be when the viewer needs it): {one_line(err)}"
        )


def _gpu_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _train_device(params: dict[str, Any]) -> str:
    """``gpu`` when the run trains on a GPU (its ``training.accelerator``: ``gpu`` / ``cuda``, or
    ``auto`` with one available)."""
    config = params.get("config") or {}
    accelerator = str((config.get("training") or {}).get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda"):
        return "gpu"
    return "gpu" if accelerator == "auto" and _gpu_available() else "cpu"


def _model_device(_params: dict[str, Any]) -> str:
    return "gpu" if _gpu_available() else "cpu"


def _kinds() -> dict[str, JobKind]:
    from lp3d_workflows import frame_extraction, model_runs, project_setup

    return {
        "smooth": JobKind(_check_smooth, smooth_job),
        "video": JobKind(project_setup.check_prepare_video, project_setup.run_prepare_video),
        "extract": JobKind(frame_extraction.check_extract, frame_extraction.run_extract),
        "train": JobKind(model_runs.check_train, model_runs.run_train, _train_device),
        "predict": JobKind(model_runs.check_predict, model_runs.run_predict, _model_device),
        "evaluate": JobKind(model_runs.check_evaluate, model_runs.run_evaluate, _model_device),
        "distill": JobKind(model_runs.check_distill, model_runs.run_distill),
    }


JOB_KINDS: dict[str, JobKind] = _kinds()


# --- the manager (in the server's process) ----------------------------------------------------------

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def cpu_count() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, dead but not yet reaped, do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
                    return True
    return False


def _kill_group(pid: int, timeout: float = 5.0, child: subprocess.Popen | None = None) -> None:
    """SIGTERM to the process group, then SIGKILL if it still runs after ``timeout`` seconds.
    ``child``: the group's leader when it is this process's child (reaped as soon as it ends)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if child is not None:
                child.poll()
            if not _group_alive(pid):
                return
            time.sleep(0.05)


class JobManager:
    """The jobs of a project folder (see the module docstring).

    Args:
        root: the project folder; jobs live in ``root/.lp3d-app/jobs``.
        kinds: the job kinds (default :data:`JOB_KINDS`).
    """

    def __init__(self, root: Path, kinds: dict[str, JobKind] | None = None) -> None:
        self.folder = Path(root) / JOBS_DIR
        self.kinds = JOB_KINDS if kinds is None else kinds
        self._children: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._ended = 0
        # Linux sends the parent-death signal (PR_SET_PDEATHSIG) when the *thread* that started a child
        # ends: a server's request threads come and go, so every job starts from this one long-lived thread.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="lp3d-jobs")

    def recover(self) -> list[str]:
        """Marks jobs left ``running`` by an earlier server as ``interrupted`` (stopping any survivor)."""
        marked = []
        for record in self.list():
            if record.state == "running" and record.id not in self._children:
                if record.pid and _alive(record.pid) and self._is_ours(record):
                    _kill_group(record.pid)
                record = JobRecord.load(self.folder / record.id)  # the job may have written its end
                if record.state in ("running", "interrupted"):
                    record.state, record.finished = "interrupted", time.time()
                    record.error = "the server stopped while this job ran"
                    record.save(self.folder / record.id)
                marked.append(record.id)
        return marked

    def _is_ours(self, record: JobRecord) -> bool:
        try:
            cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return str(self.folder / record.id).encode() in cmdline

    def list(self) -> list[JobRecord]:
        """Every job, newest first."""
        self._reap()
        if not self.folder.is_dir():
            return []
        records = []
        for folder in self.folder.iterdir():
            if (folder / _RECORD).is_file():
                with contextlib.suppress(ValueError, TypeError, OSError):
                    records.append(JobRecord.load(folder))
        return sorted(records, key=lambda r: r.created, reverse=True)

    def get(self, job_id: str) -> JobRecord:
        """Raises KeyError for an unknown id."""
        self._reap()
        folder = self.folder / job_id
        if "/" in job_id or job_id.startswith(".") or not (folder / _RECORD).is_file():
            raise KeyError(f"job {job_id!r}: no such job")
        return JobRecord.load(folder)

    def log(self, job_id: str, offset: int = 0, limit: int = 1 << 20) -> tuple[str, int]:
        """The job's log from byte ``offset`` (at most ``limit`` bytes), and the offset after it."""
        self.get(job_id)
        path = self.folder / job_id / _LOG
        if not path.is_file():
            return "", offset
        with open(path, "rb") as f:
            f.seek(max(offset, 0))
            data = f.read(limit)
        return data.decode("utf-8", errors="replace"), max(offset, 0) + len(data)

    def start(self, kind: str, params: dict[str, Any], label: str) -> JobRecord:
        """Checks the parameters and starts the job in a new process group.

        Raises:
            UserError: an unknown kind, bad parameters, or another running job writes the same output.
        """
        if kind not in self.kinds:
            raise UserError(f"kind: expected one of {sorted(self.kinds)}, but got {kind!r}")
        job_kind = self.kinds[kind]
        output = job_kind.check(params).absolute()
        device = job_kind.device(params) if job_kind.device is not None else "cpu"
        with self._lock:
            running = [other for other in self.list() if other.state == "running"]
            for other in running:
                if Path(other.output) == output:
                    raise UserError(
                        f"output {output.name}: job {other.id} ({other.label}) is writing it; wait for it or cancel it"
                    )
                if device == "gpu" and other.device == "gpu":
                    raise UserError(
                        f"GPU: job {other.id} ({other.label}) is using it (one GPU job at a time); "
                        "wait for it or cancel it"
                    )
            threads = None
            env = {**os.environ, "LP3D_JOB_PARENT": str(os.getpid())}
            if device == "cpu":
                threads = max(1, cpu_count() // (1 + sum(o.device == "cpu" for o in running)))
                env.update({name: str(threads) for name in _THREAD_VARIABLES})
            job_id = time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()
            folder = self.folder / job_id
            folder.mkdir(parents=True)
            record = JobRecord(job_id, kind, label, params, str(output), device=device, threads=threads)
            record.save(folder)
            with open(folder / _LOG, "ab") as out:
                child = self._spawner.submit(
                    subprocess.Popen,
                    [sys.executable, "-m", "lp3d_workflows.jobs", str(folder), job_kind.entry],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                ).result()
            self._children[job_id] = child
            current = JobRecord.load(folder)  # the child may have written already: keep its progress
            current.pid = child.pid
            current.save(folder)
        log.info(f"job {job_id} started: {label}")
        return current

    def cancel(self, job_id: str) -> JobRecord:
        """Kills the job's process group; the job ends ``cancelled``. A finished job is left as it is."""
        record = self.get(job_id)
        if record.state != "running":
            return record
        child = self._children.pop(job_id, None)
        if record.pid:
            _kill_group(record.pid, child=child if child is not None and child.pid == record.pid else None)
        if child is not None:
            child.wait()
        record = JobRecord.load(self.folder / job_id)
        if record.state in ("running", "interrupted"):
            record.state, record.finished, record.error = "cancelled", time.time(), "cancelled"
            record.save(self.folder / job_id)
        log.info(f"job {job_id} cancelled")
        return record

    def shutdown(self) -> None:
        """Stops every job this manager started (they end ``interrupted``)."""
        for job_id, child in list(self._children.items()):
            if child.poll() is None:
                _kill_group(child.pid, child=child)
            child.wait()
            self._children.pop(job_id, None)
            with contextlib.suppress(OSError, ValueError):
                record = JobRecord.load(self.folder / job_id)
                if record.state == "running":
                    record.state, record.finished = "interrupted", time.time()
                    record.error = "the server stopped while this job ran"
                    record.save(self.folder / job_id)

    def ended(self) -> int:
        """How many jobs this manager started have ended on their own so far (cheap: polls its children)."""
        self._reap()
        return self._ended

    def _reap(self) -> None:
        """Collects finished children; one that died without writing its end is ``failed``."""
        for job_id, child in list(self._children.items()):
            code = child.poll()
            if code is None:
                continue
            if self._children.pop(job_id, None) is not None:
                self._ended += 1
            with contextlib.suppress(OSError, ValueError):
                record = JobRecord.load(self.folder / job_id)
                if record.state == "running":
                    record.state, record.finished = "failed", time.time()
                    record.error = f"the job process ended with exit code {code}"
                    record.save(self.folder / job_id)


# --- the job process ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Asks Linux to send SIGTERM when the process that started this one ends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    parent = os.environ.get("LP3D_JOB_PARENT")
    if parent and not _alive(int(parent)):  # it died before the prctl
        raise SystemExit(1)


def run_job(folder: Path, entry: str | None = None) -> int:
    """Runs the job of ``folder`` in this process (the job process's main); returns the exit code.

    Args:
        folder: the job's folder (its ``job.json``).
        entry: ``<module>:<function>`` of the kind's ``run``; None: the kind's in :data:`JOB_KINDS`.
    """
    record = JobRecord.load(folder)
    record.pid = os.getpid()
    record.save(folder)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("lp3d_workflows")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def stop(signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one (the parent-death signal can
        raise KeyboardInterrupt(f"signal {signum}")  # come twice) must not cut the record's last save

    signal.signal(signal.SIGTERM, stop)
    last = [0.0]

    def progress(description: str, done: float, total: float | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and (total is None or done < total):
            return
        last[0] = now
        record.progress = {"description": description, "done": float(done), "total": total}
        record.save(folder)
        print(f"{description}: {done:g}" + (f" of {total:g}" if total is not None else ""), flush=True)

    try:
        _die_with_parent()
        run = JOB_KINDS[record.kind].run if entry is None else _import_entry(entry)
        record.result = run(record.params, progress)
        record.state = "done"
    except KeyboardInterrupt:
        record.state, record.error = "interrupted", "stopped"
    except Exception as err:  # the job's end: one line for the page, the traceback in the log
        import traceback

        traceback.print_exc()
        record.state, record.error = "failed", one_line(err)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the job has ended: its end is written whole
    print(f"job {record.state}" + (f": {record.error}" if record.error else ""), flush=True)  # the log first:
    record.finished = time.time()  # a reader that sees the job end finds its last line
    record.save(folder)
    return 0 if record.state == "done" else 1


if __name__ == "__main__":
    sys.exit(run_job(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
