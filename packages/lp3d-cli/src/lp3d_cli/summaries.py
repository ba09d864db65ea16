"""Results of the workflows as the terminal shows them: rich tables, one function per result type.

The workflows (:mod:`lp3d_workflows`) return small result objects; the commands print them here.
Nothing here computes anything a front end other than the terminal would need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lp3d_workflows.smoothing import SMOOTHER_LABELS

from lp3d_cli.console import SETTINGS, info, print_table, stderr, warn

if TYPE_CHECKING:
    from lp3d_models.evaluation import Score
    from lp3d_workflows.demo import DemoMetrics, PipelineDemoResult, SmoothingDemoResult
    from lp3d_workflows.smoothing import SmoothingSummary
    from lp3d_workflows.store_summary import StoreSummary
    from lp3d_workflows.triangulation import TriangulationSummary

__all__ = [
    "print_session",
    "print_batch",
    "print_tracebacks",
    "print_triangulation",
    "print_store_summary",
    "print_scores",
    "print_smoothing_demo",
    "print_pipeline_demo",
]


def _fmt_s(values: Sequence[float]) -> str:
    return "—" if not values else f"{min(values):.3g}…{max(values):.3g}" if len(values) > 1 else f"{values[0]:.3g}"


def print_session(result: SmoothingSummary) -> None:
    """The summary of one smoothed session: sizes, time, and per keypoint ``s`` and inflation."""
    if SETTINGS.verbosity < 1:
        return
    from rich.table import Table

    smoother = SMOOTHER_LABELS.get(result.smoother or "", str(result.smoother))
    headline = (
        f"{result.session}: {smoother} smoother, {result.n_frames} frames, {len(result.keypoints)} keypoints, "
        f"{result.n_views} view(s) x {result.n_members} member(s), {result.seconds:.2f} s"
    )
    table = Table()
    several = len(result.individuals) > 1
    if several:
        table.add_column("individual")
    table.add_column("keypoint")
    table.add_column("motion")
    table.add_column("s", justify="right")
    table.add_column("inflated", justify="right")
    for i, individual in enumerate(result.individuals):
        motion = result.motion[i] if i < len(result.motion) else []
        for k, keypoint in enumerate(result.keypoints):
            row = [individual] if several else []
            row += [keypoint, motion[k] if k < len(motion) else ""]
            table.add_row(*row, f"{result.s[i][k]:.3g}", f"{100 * result.inflated[i][k]:.1f}%")
    print_table(headline)
    print_table(table)
    for sentence in result.inconsistent_views:
        print_table(f"view that disagrees: {sentence}")
    info(f"outputs written to {result.out}")


def print_batch(results: Sequence[SmoothingSummary]) -> None:
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
            SMOOTHER_LABELS.get(r.smoother or "", str(r.smoother)),
            str(r.n_frames),
            str(len(r.keypoints)),
            _fmt_s(s),
            f"{100 * sum(inflated) / max(len(inflated), 1):.1f}%",
            f"{r.seconds:.1f} s",
            str(r.out),
        )
    print_table(table)
    for r in results:
        for sentence in r.inconsistent_views:
            print_table(f"{r.session}: view that disagrees: {sentence}")


def print_tracebacks(summaries: Sequence[Any]) -> int:
    """With ``--debug``, the traceback of every failed session of a batch; returns the exit code
    (0 when none failed, 2 when all failures are bad input, else 1)."""
    from lp3d_cli.main import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR

    failed = [s for s in summaries if s.error is not None]
    for s in failed:
        if SETTINGS.debug and s.traceback:
            stderr().print(s.traceback, markup=False)
    if not failed:
        return 0
    return EXIT_USER_ERROR if all(s.user_error for s in failed) else EXIT_INTERNAL_ERROR


def print_triangulation(summary: TriangulationSummary) -> None:
    """One line per triangulated session (a failure of a batch in red)."""
    from lp3d_workflows.triangulation import TRIANGULATION_CSV

    from lp3d_cli.console import failure

    if summary.error is not None:
        failure(f"{summary.session}: failed: {summary.error}")
        return
    info(
        f"{summary.session}: {summary.n_frames} frames, {summary.n_keypoints} keypoints; "
        f"{100 * summary.triangulated:.1f}% triangulated; median reprojection error "
        f"{summary.median_reprojection_error:.2f} px -> {summary.out / TRIANGULATION_CSV}"
    )
    for sentence in summary.inconsistent_views:
        warn(f"{summary.session}: {sentence}")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def print_store_summary(summary: StoreSummary) -> None:
    """What a store holds: a headline, then per dataset its variables, names and attributes."""
    from rich.table import Table

    print_table(f"{summary.path}  ({_human(summary.n_bytes)})")
    if summary.format_version is not None:
        print_table(
            f"session {summary.session or '(unnamed)'}, store format {summary.format_version}, "
            f"{len(summary.datasets)} group(s)"
        )
    for ds in summary.datasets:
        sizes = ", ".join(f"{d}={n}" for d, n in ds.sizes.items())
        variables = Table(box=None, padding=(0, 2, 0, 2), show_header=True, header_style="bold")
        for column in ("variable", "dims", "dtype"):
            variables.add_column(column)
        for name, dims, dtype in ds.variables:
            variables.add_row(name, ", ".join(dims), dtype)
        facts = Table.grid(padding=(0, 2, 0, 2))
        facts.add_column(style="dim")
        facts.add_column()
        for dim, names in ds.names.items():
            facts.add_row(dim, ", ".join(names[:12]) + (f", ... ({len(names)})" if len(names) > 12 else ""))
        for key, value in ds.attrs.items():
            facts.add_row(key, value)
        if ds.source_files:
            facts.add_row("source_files", f"{len(ds.source_files)} file(s), e.g. {Path(ds.source_files[0]).name}")
        if ds.options:
            facts.add_row("options", ", ".join(f"{k}={v}" for k, v in ds.options.items()))
        for part in (f"{ds.name}  ({ds.kind}: {sizes})", variables, facts):
            print_table(part)


def print_scores(scores: Sequence[Score], title: str) -> None:
    """The pipeline's stage table."""
    from lp3d_workflows.pipeline_report import score_table
    from rich.table import Table

    header, rows = score_table(scores)
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    print_table(table)


def _fmt(value: float, kind: str) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{100 * value:.1f}%" if kind == "%" else f"{value:.2f}"


def _demo_table(before: DemoMetrics, after: DemoMetrics, n_entries: int, n_observations: int) -> None:
    from rich.table import Table

    table = Table(title_justify="left")
    table.add_column("vs the simulated truth")
    table.add_column("ensemble median + triangulation", justify="right")
    table.add_column("lp3d smoother", justify="right")
    rows = (
        ("3D RMSE (mm)", "rmse", ""),
        ("3D error, 99th percentile (mm)", "p99", ""),
        ("truth inside the 95% posterior intervals (x, y, z)", "interval95", "%"),
        ("truth inside the 95% posterior ellipsoid (3D)", "coverage95", "%"),
        ("frames x keypoints without a 3D position", "missing", "%"),
        ("planted outliers flagged (inflated)", "outliers_flagged", "%"),
        ("false alarms (other observations inflated)", "false_alarms", "%"),
    )
    for label, name, kind in rows:
        table.add_row(label, _fmt(getattr(before, name), kind), _fmt(getattr(after, name), kind))
    print_table(
        f"Before / after on {n_entries} frame x keypoint positions and {n_observations} 2D observations "
        "(errors over the positions both methods have):"
    )
    print_table(table)


def print_smoothing_demo(result: SmoothingDemoResult) -> None:
    """The smoothing demo: the session, the before/after table, where the outputs are."""
    info(
        f"synthetic session: {result.n_cameras} cameras, {result.n_frames} frames, {result.n_keypoints} keypoints, "
        f"{result.n_members} ensemble members, {result.n_outliers} planted outliers, "
        f"{result.n_missing} missing detections"
    )
    _demo_table(result.before, result.after, result.n_entries, result.n_observations)
    info(f"report: {result.report}")
    out = result.out
    info(
        f"outputs in {out}/ ({result.seconds:.1f} s). Try: lp3d smooth {out / 'predictions'} "
        f"--calibration {out / 'calibration.toml'} --out {out / 'again'}"
    )


def print_pipeline_demo(result: PipelineDemoResult) -> None:
    """The full demo: the stage table, and what to try next."""
    print_scores(
        result.pipeline.scores,
        f"Held-out labeled frames ({result.pipeline.scores[0].n} positions, never trained on); 3D error in mm "
        "against the triangulated labels:",
    )
    info(
        "The student continues from a teacher member: its gain includes those extra steps (on this session "
        "with exact labels, as many steps on the labels alone do as well; see bench/RESULTS.md)."
    )
    info(f"report: {result.pipeline.report}")
    info(
        f"outputs in {result.out}/ ({result.seconds:.0f} s). Try: lp3d pipeline {result.config} "
        "--set distill.n_frames=120"
    )
