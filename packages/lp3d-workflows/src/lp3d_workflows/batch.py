"""Smoothing many sessions: where their outputs go, and running them (in parallel with dask).

:func:`smooth_inputs` is what ``lp3d smooth`` and the app run. One session runs in this process.
Several run with dask.distributed: a local cluster, or a scheduler the lab runs.

Each session is one task (:func:`lp3d_workflows.smoothing.smooth_session_safely`) that writes its
own output folder and returns a small :class:`~lp3d_workflows.smoothing.SmoothingSummary`; a failure
comes back as a summary with its error, so one bad session never stops the others. A worker that dies
(out of memory, killed) fails only the sessions it was running.

With ``--scheduler ADDRESS`` the workers must have lp3d installed and see the same file system
(input and output paths are sent as they are given, made absolute). Connecting gives up after 10 s
(dask config ``lp3d.scheduler-timeout``, e.g. ``DASK_LP3D__SCHEDULER_TIMEOUT=60s``).

Each session's calibration (:func:`session_calibrations`): ``--calibration`` is one anipose TOML for
every session, a folder of ``<session>.toml`` files (``calibration.toml`` in it for the others), or a
``session,file`` CSV (the project layout's ``calibrations.csv``, :func:`lp3d_io.layout.read_calibration_index`);
every session's file is found before any work is done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lp3d_io.files import check_target, is_occupied

from lp3d_workflows.errors import UserError, one_line
from lp3d_workflows.progress import ProgressCallback, report
from lp3d_workflows.sessions import PredictionSession, find_prediction_sessions
from lp3d_workflows.smoothing import SmoothingSummary, SmoothSettings, smooth_session, smooth_session_safely

__all__ = ["default_workers", "smooth_in_parallel", "plan_outputs", "session_calibrations", "smooth_inputs"]

log = logging.getLogger(__name__)


def default_workers(n_sessions: int) -> int:
    """One worker per session, at most one per core."""
    return max(1, min(n_sessions, os.cpu_count() or 1))


def _connect(scheduler: str | None, workers: int) -> tuple[Any, Any]:
    """A dask client, and the local cluster it runs on (None with ``scheduler``)."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        import dask

        try:
            return Client(scheduler, timeout=dask.config.get("lp3d.scheduler-timeout", "10s")), None
        except (OSError, TimeoutError, ValueError) as err:
            raise UserError(
                f"--scheduler {scheduler}: expected a reachable dask scheduler, but {one_line(err)}"
            ) from None
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def smooth_in_parallel(
    sessions: Sequence[PredictionSession],
    settings: SmoothSettings | Sequence[SmoothSettings],
    outs: Sequence[Path],
    *,
    workers: int,
    scheduler: str | None = None,
    on_result: Callable[[SmoothingSummary], None] | None = None,
) -> list[SmoothingSummary]:
    """Smooths ``sessions`` in parallel, ``sessions[i]`` into ``outs[i]``.

    Args:
        sessions: the sessions.
        settings: the settings of every session, or one per session (``n_threads`` is set per
            worker here for a local cluster).
        outs: output folders (already checked to be writable).
        workers: local worker processes (ignored with ``scheduler``).
        scheduler: address of a running dask scheduler, or None for a local cluster.
        on_result: called with each result as it arrives (progress).

    Returns:
        The summaries in the order of ``sessions``.
    """
    from dask.distributed import as_completed

    each = [settings] * len(sessions) if isinstance(settings, SmoothSettings) else list(settings)
    if scheduler is None:
        cores = os.cpu_count() or 1
        each = [replace(one, n_threads=max(1, cores // workers)) for one in each]
    each = [one if one.calibration is None else replace(one, calibration=one.calibration.absolute()) for one in each]
    sessions = [PredictionSession(s.name, tuple(p.absolute() for p in s.paths), s.batch) for s in sessions]
    client, cluster = _connect(scheduler, workers)
    try:
        futures = client.map(
            smooth_session_safely,
            sessions,
            each,
            [Path(o).absolute() for o in outs],
            key=[f"lp3d-smooth-{i}-{s.name}" for i, s in enumerate(sessions)],
            pure=False,
        )
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[SmoothingSummary | None] = [None] * len(sessions)
        for future in as_completed(futures):
            i = index[future.key]
            try:
                result = future.result()
            except Exception as err:  # the worker died: only this session fails
                result = SmoothingSummary(session=sessions[i].name, out=outs[i], error=one_line(err), user_error=False)
            results[i] = result
            if on_result is not None:
                on_result(result)
        return [r for r in results if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def plan_outputs(sessions: Sequence[PredictionSession], out: Path, overwrite: bool) -> list[Path]:
    """Output folder of each session, checked before any work is done.

    One session given directly writes into ``out``; a batch (several sessions, or a folder of
    session folders) writes each session into ``out/<session>``.

    Raises:
        UserError: an output exists and ``overwrite`` is off, or ``out`` is a file.
    """
    nested = len(sessions) > 1 or any(s.batch for s in sessions)
    outs = [out / s.name if nested else out for s in sessions]
    for target in {out, *outs}:
        if target.exists() and not target.is_dir():
            raise UserError(f"--out {target}: expected a folder, but it is a file")
    taken = [o for o in outs if is_occupied(o)]
    if taken and not overwrite:
        shown = ", ".join(str(o) for o in taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise UserError(f"--out: {shown} already exist{'s' if len(taken) == 1 else ''} (pass --overwrite to replace)")
    for o in outs:
        check_target(o, overwrite)
    return outs


def session_calibrations(calibration: Path | None, names: Sequence[str]) -> dict[str, Path | None]:
    """The calibration file of each session (see the module docstring).

    Args:
        calibration: a TOML file (every session), a folder of ``<session>.toml`` (and
            ``calibration.toml``), a ``session,file`` CSV, or None (no calibration).
        names: the session names.

    Raises:
        UserError: no such path, a CSV keyed by images rather than sessions, or a session without a file.
    """
    from lp3d_io.layout import read_calibration_index

    if calibration is None:
        return dict.fromkeys(names)
    if not calibration.exists():
        raise UserError(f"--calibration {calibration}: no such file or folder")
    if calibration.is_file() and calibration.suffix.lower() != ".csv":
        return dict.fromkeys(names, calibration)
    if calibration.is_dir():
        fallback = calibration / "calibration.toml"
        found = {n: calibration / f"{n}.toml" for n in names}
        found = {n: p if p.is_file() else fallback if fallback.is_file() else None for n, p in found.items()}
        looked = f"{calibration}/<session>.toml or {fallback.name}"
    else:
        index = read_calibration_index(calibration)
        assert index is not None
        by_session, table = index
        if not by_session:
            raise UserError(f"--calibration {calibration}: expected a header 'session,file', but it lists images")
        found = {n: table.get(n) for n in names}
        looked = f"a row of {calibration}"
    missing = [n for n, p in found.items() if p is None or not p.is_file()]
    if missing:
        raise UserError(
            f"--calibration: expected a calibration for every session ({looked}), but {', '.join(missing)} "
            f"{'has' if len(missing) == 1 else 'have'} none"
        )
    return found


def smooth_inputs(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    settings: SmoothSettings,
    *,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Callable[[SmoothingSummary], None] | None = None,
    progress: ProgressCallback | None = None,
) -> list[SmoothingSummary]:
    """Finds the sessions in ``inputs``, smooths each into its folder under ``out``, and says how it went.

    Args:
        inputs: prediction files, folders of them, folders of session folders, stores or netCDF
            files (:func:`~lp3d_workflows.sessions.find_prediction_sessions`).
        out: the output folder (one sub-folder per session for a batch: :func:`plan_outputs`).
        settings: what to smooth and how; ``settings.calibration`` may give each session its own
            file (:func:`session_calibrations`).
        overwrite: replace existing outputs.
        workers: local worker processes for several sessions (default one per core).
        scheduler: a dask scheduler's address instead of a local cluster.
        on_result: called with each session's summary as it is done.
        progress: called as sessions start and finish (:mod:`lp3d_workflows.progress`).

    Returns:
        One summary per session. A single session (without ``scheduler``) runs in this process and
        raises on error; in a batch every session runs, and a failed one has its ``error`` set.

    Raises:
        UserError / ValueError / OSError: bad inputs, settings or outputs, before any work is done
            (and, for a single session, its error).
    """
    if workers is not None and workers < 1:
        raise UserError(f"--workers: expected a positive number of worker processes, but got {workers}")
    sessions = find_prediction_sessions(inputs)
    outs = plan_outputs(sessions, Path(out), overwrite)
    files = session_calibrations(settings.calibration, [s.name for s in sessions])
    each = [replace(settings, calibration=files[s.name]) for s in sessions]
    log.debug(f"{len(sessions)} session(s): " + ", ".join(f"{s.name} ({len(s.paths)} input(s))" for s in sessions))
    log.debug(f"settings: {settings.to_json()}")
    if len(sessions) == 1 and scheduler is None:
        report(progress, f"smoothing {sessions[0].name}")
        summary = smooth_session(sessions[0], each[0], outs[0])
        report(progress, f"smoothed {sessions[0].name}", 1, 1)
        if on_result is not None:
            on_result(summary)
        return [summary]
    n_workers = workers if workers is not None else default_workers(len(sessions))
    where = f"scheduler {scheduler}" if scheduler else f"{n_workers} local worker(s)"
    log.info(f"smoothing {len(sessions)} sessions on {where}")
    report(progress, "sessions", 0, len(sessions))
    done = 0

    def finished(summary: SmoothingSummary) -> None:
        nonlocal done
        done += 1
        report(progress, "sessions", done, len(sessions))
        if on_result is not None:
            on_result(summary)

    return smooth_in_parallel(sessions, each, outs, workers=n_workers, scheduler=scheduler, on_result=finished)
