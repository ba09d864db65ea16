"""``lp3d live``: live multi-camera 3D tracking (:mod:`lp3d_workflows.live`), mounted into ``lp3d`` by
:mod:`lp3d_cli.main`. It needs the ``models`` extra (lp3d-models and torch) and says so in one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lp3d_cli.console import SETTINGS, stderr, stdout, with_progress
from lp3d_cli.options import Calibration, Checkpoint, Device, FitFrames, Overwrite, RunDir


def live(
    run_dir: RunDir,
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help="One video per view (file names containing the view names), replayed at its frame rate as a "
            "stand-in camera; or camera device indices (0 1 2 ...) in the run's view order.",
            show_default=False,
        ),
    ],
    calibration: Calibration,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder: <session>.zarr, frames.csv (per frame), live.json.")
    ],
    lag: Annotated[
        int,
        typer.Option(
            "--lag",
            min=0,
            metavar="FRAMES",
            help="Frame t's 3D comes once frame t + FRAMES is in (0: the filter, the freshest; more: smoother).",
        ),
    ] = 5,
    fit_frames: FitFrames = 250,
    parameters: Annotated[
        Path | None,
        typer.Option(
            "--parameters",
            metavar="STORE",
            help="Take the parameters from an earlier session's smoothed store (lp3d smooth's <session>.zarr) "
            "instead of fitting them.",
        ),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime/--no-realtime",
            help="Replay videos at their frame rate, dropping whole frame sets the model cannot keep up with; "
            "--no-realtime processes every frame as fast as it can (nothing dropped).",
        ),
    ] = True,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", min=1, help="Stop after this many frames (cameras: else Ctrl-C).")
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON line per frame on stdout (the summary then goes to stderr).")
    ] = False,
    socket_path: Annotated[
        Path | None,
        typer.Option("--socket", metavar="PATH", help="Also stream the JSON lines to clients of this Unix socket."),
    ] = None,
    window_passes: Annotated[
        int, typer.Option("--window-passes", min=0, help="Relinearization passes over the smoother's window per frame.")
    ] = 0,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="Torch threads for a model on the CPU. Default: all cores but one."),
    ] = None,
    checkpoint: Checkpoint = "best",
    device: Device = "auto",
    overwrite: Overwrite = False,
) -> None:
    """Track live: synchronized cameras (or videos standing in for them) -> the multi-view model -> the
    fixed-lag 3D smoother -> one JSON line per frame (frame, capture time, 3D and variance per keypoint,
    cameras found inconsistent), for a closed-loop rig.

    Frames are appended to a store in lp3d smooth's layout; per-stage latency (capture -> model -> smoother
    -> output) is printed at the end and saved. When the model cannot keep up, whole frame sets are dropped
    and marked. The result equals lp3d smooth STORE --lag FRAMES --fit-frames N on the stored predictions.

    [bold]Examples[/bold]

      lp3d live runs/mouse videos/s1_top.mp4 videos/s1_bot.mp4 -c calibration.toml --out live/s1 --json
      lp3d live runs/mouse 0 1 -c calibration.toml --out live/today --lag 3 --socket /tmp/lp3d.sock
      lp3d live runs/mouse 0 1 -c calibration.toml --out live/today --parameters out/s1/s1.zarr
    """
    from lp3d_workflows.errors import require_models

    require_models()
    from lp3d_workflows.live import LineServer, LiveSettings, run_live

    settings = LiveSettings(
        calibration=calibration,
        lag=lag,
        fit_frames=fit_frames,
        parameters=parameters,
        realtime=realtime,
        max_frames=max_frames,
        device=device,
        checkpoint=checkpoint,
        window_passes=window_passes,
        threads=threads,
    )
    server = LineServer(socket_path) if socket_path is not None else None

    def on_line(line: str) -> None:
        if json_lines:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if server is not None:
            server.send(line)

    try:
        result = with_progress("live", run_live, run_dir, sources, out, settings, on_line=on_line, overwrite=overwrite)
    finally:
        if server is not None:
            server.close()
    if SETTINGS.verbosity >= 1:
        _print_summary(result, to_stderr=json_lines)


def _print_summary(result, *, to_stderr: bool) -> None:
    from rich.table import Table

    console = stderr() if to_stderr else stdout()
    console.print(
        f"{result.session}: {result.n_frames} frames ({result.n_dropped} dropped) in {result.seconds:.1f} s, "
        f"{result.processed_fps:.1f} frames/s through the model (source {result.source_fps:.1f} frames/s), "
        f"lag {result.lag} frames, model on {result.device}",
        markup=False,
        soft_wrap=True,
    )
    table = Table(title="latency (ms)")
    for name in ("stage", "frames", "mean", "p50", "p95", "p99", "max"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for stage in result.latency.values():
        table.add_row(
            stage.stage,
            str(stage.n),
            *(f"{getattr(stage, f):.1f}" for f in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")),
        )
    console.print(table)
    console.print(f"outputs written to {result.out}", markup=False, soft_wrap=True)
