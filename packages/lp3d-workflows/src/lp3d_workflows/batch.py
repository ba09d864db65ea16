"""``lp3d smooth`` over sessions: where outputs go, running them (in parallel with dask), the summary.

One session runs in this process. Several run with dask.distributed: a local cluster, or a
scheduler the lab runs.

Each session is one task (:func:`lp3d_cli.smoothing.smooth_session_safely`) that writes its own
output folder and returns a small :class:`~lp3d_cli.smoothing.SessionResult`; a failure comes
back as a result with its error, so one bad session never stops the others. A worker that dies
(out of memory, killed) fails only the sessions it was running.

With ``--scheduler ADDRESS`` the workers must have lp3d installed and see the same file system
(input and output paths are sent as they are given, made absolute). Connecting gives up after 10 s
(dask config ``lp3d.scheduler-timeout``, e.g. ``DASK_LP3D__SCHEDULER_TIMEOUT=60s``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lp3d_cli.console import SETTINGS, detail, failure, info, print_table, progress, stderr
from lp3d_cli.errors import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, UserError, one_line
from lp3d_cli.outputs import check_target, is_occupied
from lp3d_cli.sessions import Session, find_sessions
from lp3d_cli.smoothing import SMOOTHER_NAMES, SessionResult, SmoothOptions, smooth_session, smooth_session_safely

__all__ = ["default_workers", "run_sessions", "plan_outputs", "run_smooth", "print_session", "print_batch"]


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


def run_sessions(
    sessions: Sequence[Session],
    options: SmoothOptions,
    outs: Sequence[Path],
    *,
    workers: int,
    scheduler: str | None = None,
    on_result: Callable[[SessionResult], None] | None = None,
) -> list[SessionResult]:
    """Smooths ``sessions`` in parallel, ``sessions[i]`` into ``outs[i]``.

    Args:
        sessions: the sessions.
        options: the same options for every session (``n_threads`` is set per worker here for
            a local cluster).
        outs: output folders (already checked to be writable).
        workers: local worker processes (ignored with ``scheduler``).
        scheduler: address of a running dask scheduler, or None for a local cluster.
        on_result: called with each result as it arrives (progress).

    Returns:
        The results in the order of ``sessions``.
    """
    from dask.distributed import as_completed

    if scheduler is None:
        cores = os.cpu_count() or 1
        options = replace(options, n_threads=max(1, cores // workers))
    if options.calibration is not None:
        options = replace(options, calibration=options.calibration.absolute())
    sessions = [Session(s.name, tuple(p.absolute() for p in s.paths), s.batch) for s in sessions]
    client, cluster = _connect(scheduler, workers)
    try:
        futures = client.map(
            smooth_session_safely,
            sessions,
            [options] * len(sessions),
            [Path(o).absolute() for o in outs],
            key=[f"lp3d-smooth-{i}-{s.name}" for i, s in enumerate(sessions)],
            pure=False,
        )
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[SessionResult | None] = [None] * len(sessions)
        for future in as_completed(futures):
            i = index[future.key]
            try:
                result = future.result()
            except Exception as err:  # the worker died: only this session fails
                result = SessionResult(session=sessions[i].name, out=outs[i], error=one_line(err), user_error=False)
            results[i] = result
            if on_result is not None:
                on_result(result)
        return [r for r in results if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def plan_outputs(sessions: Sequence[Session], out: Path, overwrite: bool) -> list[Path]:
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


def run_smooth(
    inputs: Sequence[Path],
    out: Path,
    options: SmoothOptions,
    *,
    overwrite: bool,
    workers: int | None,
    scheduler: str | None,
) -> int:
    """``lp3d smooth``: finds the sessions, smooths them, prints the summary; returns the exit code.

    A single session (without ``--scheduler``) runs here and raises on error; in a batch every
    session runs and the failures are listed (exit code 2 if they are all bad input, else 1).
    """
    if workers is not None and workers < 1:
        raise UserError(f"--workers: expected a positive number of worker processes, but got {workers}")
    sessions = find_sessions(inputs)
    outs = plan_outputs(sessions, out, overwrite)
    detail(f"{len(sessions)} session(s): " + ", ".join(f"{s.name} ({len(s.paths)} input(s))" for s in sessions))
    detail(f"options: {options.to_json()}")
    if len(sessions) == 1 and scheduler is None:
        with progress(f"smoothing {sessions[0].name}"):
            result = smooth_session(sessions[0], options, outs[0])
        print_session(result)
        return 0
    n_workers = workers if workers is not None else default_workers(len(sessions))
    where = f"scheduler {scheduler}" if scheduler else f"{n_workers} local worker(s)"
    info(f"smoothing {len(sessions)} sessions on {where}")
    with progress("sessions", total=len(sessions)) as bar:

        def advance(result: SessionResult) -> None:
            bar.update(advance=1)
            if result.error is not None:
                failure(f"{result.session}: failed: {result.error}")

        results = run_sessions(sessions, options, outs, workers=n_workers, scheduler=scheduler, on_result=advance)
    print_batch(results)
    failed = [r for r in results if r.error is not None]
    for r in failed:
        if SETTINGS.debug and r.traceback:
            stderr().print(r.traceback, markup=False)
    if not failed:
        return 0
    return EXIT_USER_ERROR if all(r.user_error for r in failed) else EXIT_INTERNAL_ERROR


def _fmt_s(values: Sequence[float]) -> str:
    return "—" if not values else f"{min(values):.3g}…{max(values):.3g}" if len(values) > 1 else f"{values[0]:.3g}"


def print_session(result: SessionResult) -> None:
    """The summary of one smoothed session: sizes, time, and per keypoint ``s`` and inflation."""
    if SETTINGS.verbosity < 1:
        return
    from rich.table import Table

    smoother = SMOOTHER_NAMES.get(result.smoother or "", str(result.smoother))
    headline = (
        f"{result.session}: {smoother} smoother, {result.n_frames} frames, {len(result.keypoints)} keypoints, "
        f"{result.n_views} view(s) x {result.n_members} member(s), {result.seconds:.2f} s"
    )
    table = Table()
    several = len(result.individuals) > 1
    if several:
        table.add_column("individual")
    table.add_column("keypoint")
    table.add_column("s", justify="right")
    table.add_column("inflated", justify="right")
    for i, individual in enumerate(result.individuals):
        for k, keypoint in enumerate(result.keypoints):
            row = [individual] if several else []
            table.add_row(*row, keypoint, f"{result.s[i][k]:.3g}", f"{100 * result.inflated[i][k]:.1f}%")
    print_table(headline)
    print_table(table)
    info(f"outputs written to {result.out}")


def print_batch(results: Sequence[SessionResult]) -> None:
    """One row per session: what was done, or why it failed."""
    if SETTINGS.verbosity < 1:
        return
    from rich.table import Table

    ok = sum(r.error is None for r in results)
    print_table(f"{len(results)} sessions: {ok} smoothed, {len(results) - ok} failed")
    table = Table()
    for name, justify in (
        ("session", "left"),
        ("status", "left"),
        ("smoother", "left"),
        ("frames", "right"),
        ("keypoints", "right"),
        ("s (min…max)", "right"),
        ("inflated", "right"),
        ("time", "right"),
        ("output / error", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in results:
        if r.error is not None:
            table.add_row(r.session, "[red]failed[/red]", "", "", "", "", "", f"{r.seconds:.1f} s", r.error)
            continue
        s = [v for row in r.s for v in row]
        inflated = [v for row in r.inflated for v in row]
        table.add_row(
            r.session,
            "[green]ok[/green]",
            SMOOTHER_NAMES.get(r.smoother or "", str(r.smoother)),
            str(r.n_frames),
            str(len(r.keypoints)),
            _fmt_s(s),
            f"{100 * sum(inflated) / max(len(inflated), 1):.1f}%",
            f"{r.seconds:.1f} s",
            str(r.out),
        )
    print_table(table)
