"""The ``lp3d`` command: options, help texts, and how errors reach the terminal.

Only the command-line surface lives here; each command's work is in its own module, imported
when the command runs, so ``lp3d --help`` and every command start fast (dask, matplotlib,
xarray and zarr are loaded only by the commands that need them).

Errors: a user error (bad input, bad option value) prints one line, ``lp3d <command>: error:
...``, and exits with code 2; an unexpected exception prints one line naming it and exits with
code 1. ``--debug`` prints the traceback as well.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from lp3d_workflows.errors import is_user_error, one_line

# typer vendors click (pinned to <0.29 in pyproject.toml): its usage errors are these types.
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.exceptions import TyperException

from lp3d_cli import __version__
from lp3d_cli.console import (
    SETTINGS,
    detail,
    failure,
    quiet_training_logs,
    show_workflow_logs,
    shows_progress_bars,
    warn,
    with_progress,
)
from lp3d_cli.console import info as say
from lp3d_cli.options import (
    BatchOut,
    Calibration,
    Center,
    ConfigOverrides,
    Debug,
    Device,
    Ensemble,
    FitFrames,
    Inputs,
    Keypoints,
    Motion,
    Overwrite,
    Quiet,
    Variance,
    Verbose,
    Views,
)
from lp3d_cli.parsing import parse_positive_numbers, parse_seeds, split_names

__all__ = ["app", "main", "EXIT_USER_ERROR", "EXIT_INTERNAL_ERROR"]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


class LP3DApp(typer.Typer):
    """A Typer app whose errors are one line (see the module docstring)."""

    def __call__(self, args: Sequence[str] | None = None) -> NoReturn:
        sys.exit(main(args))


app = LP3DApp(
    name="lp3d",
    help=(
        "lp3d: multi-view animal pose estimation. Smooth ensemble predictions from any pose tracker "
        "(Lightning Pose, DeepLabCut, ...) in 3D or 2D with the ensemble Kalman smoother, and look at the results."
        "\n\nRun [bold]lp3d demo[/bold] for a tour on synthetic data, or [bold]lp3d COMMAND --help[/bold]."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _command_path(err: BaseException) -> str:
    ctx = getattr(err, "ctx", None)
    return getattr(ctx, "command_path", None) or "lp3d"


def _active_command(args: Sequence[str]) -> str:
    """``lp3d <command>`` for error messages (the first argument that names a command)."""
    names = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for arg in args:
        if arg in names:
            return f"lp3d {arg}"
    return "lp3d"


def _click_command(args: Sequence[str]) -> Any:
    """The click command that runs ``args``: the app with only the command they name, when they name
    one (building every command's parameters costs ~30 ms, a tenth of a short ``lp3d smooth``), else
    the whole app (help, a mistyped command)."""
    import copy

    name = next((a for a in args if not a.startswith("-")), None)
    chosen = [
        c for c in app.registered_commands if (c.name or typer.main.get_command_name(c.callback.__name__)) == name
    ]
    if len(chosen) != 1:
        return typer.main.get_command(app)
    one = copy.copy(app)
    one.registered_commands = chosen
    return typer.main.get_command(one)


def main(args: Sequence[str] | None = None) -> int:
    """Runs the command line ``args`` (default ``sys.argv[1:]``); returns the exit code."""
    # Before numpy loads: lp3d's matrices are tiny (the smoother has its own threads), and idle OpenBLAS
    # threads spin on the other cores (about 10% of the CPU time of a short lp3d smooth). Also inherited
    # by local dask workers, which share the cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = list(sys.argv[1:] if args is None else args)
    command = _click_command(args)
    try:
        result = command.main(args=args, prog_name="lp3d", standalone_mode=False)
    except Exception as err:  # every failure ends here: one line, or the traceback with --debug
        if isinstance(err, NoArgsIsHelpError):  # no arguments: the help was shown
            message = err.format_message()
            if message.strip():
                print(message, file=sys.stderr)
            return EXIT_USER_ERROR
        if isinstance(err, TyperException):  # a usage error found while parsing
            path = _command_path(err)
            message = err.format_message() if isinstance(err, UsageError) else str(err)
            print(f"{path}: error: {' '.join(message.split())} (see '{path} --help')", file=sys.stderr)
            return int(getattr(err, "exit_code", EXIT_USER_ERROR))
        if SETTINGS.debug:
            traceback.print_exc()
        where = _active_command(args)
        if is_user_error(err):
            print(f"{where}: error: {one_line(err)}", file=sys.stderr)
            return EXIT_USER_ERROR
        hint = "" if SETTINGS.debug else " (run with --debug for the traceback)"
        print(f"{where}: internal error: {type(err).__name__}: {one_line(err)}{hint}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return result if isinstance(result, int) else 0


def _positive(value: float, option: str) -> float:
    """``value`` when it is a positive finite number; else a one-line usage error."""
    from lp3d_workflows.errors import UserError

    if not (0 < value < float("inf")):
        raise UserError(f"{option}: expected a positive number, but got {value}")
    return value


def _reflow(doc: str | None) -> str:
    """A docstring as help text: prose paragraphs on one line each, indented blocks (examples) kept."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(p if p.startswith(" ") else " ".join(p.split()) for p in paragraphs)


# --- options shared by every command ---------------------------------------------------------------


def _configure(quiet: Quiet = False, verbose: Verbose = False, debug: Debug = False) -> None:
    """Applies the output flags (given before or after the command name)."""
    if quiet:
        SETTINGS.verbosity = 0
    elif verbose:
        SETTINGS.verbosity = 2
    SETTINGS.debug = SETTINGS.debug or debug
    show_workflow_logs()


class _WithOutputOptions:
    """A command taking the output options as well (:func:`_configure`'s parameters, after its own),
    which are applied before it runs. Its signature, which Typer reads only for the command that
    runs, is built then (evaluating every command's annotations would slow every start)."""

    def __init__(self, func: Callable[..., None]) -> None:
        functools.update_wrapper(self, func)
        self._func = func

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        own = inspect.signature(self._func, eval_str=True)
        output = inspect.signature(_configure, eval_str=True).parameters.values()
        return own.replace(parameters=[*own.parameters.values(), *output])

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        _configure(**{name: kwargs.pop(name) for name in inspect.signature(_configure).parameters})
        self._func(*args, **kwargs)


def command(**kwargs: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``app.command`` with the help text taken from the reflowed docstring, and the output options
    (--quiet, --verbose, --debug) after the command's own."""

    def register(func: Callable[..., None]) -> Callable[..., None]:
        return app.command(help=_reflow(func.__doc__), **kwargs)(_WithOutputOptions(func))

    return register


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        parts = []
        for package in ("lp3d-eks", "lp3d-io", "lp3d-workflows", "lp3d-models", "lp3d-app"):
            try:
                parts.append(f"{package} {version(package)}")
            except PackageNotFoundError:
                parts.append(f"{package} not installed")
        print(f"lp3d {__version__} ({', '.join(parts)})")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """The options before the command name: --version, and the output options (the app's help is its own)."""


app.callback()(_WithOutputOptions(_root))


# --- smooth ----------------------------------------------------------------------------------------


@command(no_args_is_help=True)
def smooth(
    inputs: Inputs,
    out: BatchOut,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            "-c",
            help="Anipose calibration.toml: smooth in 3D with these cameras. For a batch, also a folder of "
            "<session>.toml (calibration.toml for the rest) or a CSV of session,file rows: one per session.",
        ),
    ] = None,
    views: Views = None,
    s: Annotated[
        list[str] | None,
        typer.Option(
            "--s",
            metavar="VALUE",
            help="Smoothing parameter: one value for all keypoints, or one per keypoint (repeat or comma-separate). "
            "Default: chosen per keypoint by maximum likelihood.",
        ),
    ] = None,
    s_frames: Annotated[
        str | None,
        typer.Option(
            "--s-frames",
            metavar="RANGES",
            help="Frames used to choose s, e.g. '0:2000,5000:7000' (half-open START:STOP). Default: all.",
        ),
    ] = None,
    inflate: Annotated[
        bool | None,
        typer.Option(
            "--inflate/--no-inflate",
            help="Variance inflation of observations that disagree with the other views "
            "(default: on for several views, off for one).",
            show_default=False,
        ),
    ] = None,
    motion: Annotated[
        Motion,
        typer.Option(
            "--motion",
            help="Motion prior: random-walk (the position takes independent steps), constant-velocity (the velocity "
            "does: smoother motion), or auto: per keypoint, constant velocity where it explains the data better and "
            "the residuals look like independent noise.",
        ),
    ] = Motion.auto,
    lag: Annotated[
        int | None,
        typer.Option(
            "--lag",
            min=0,
            metavar="FRAMES",
            help="Fixed-lag smoothing, exactly as a live run (lp3d live) would: frame t from frames up to t + FRAMES "
            "only (0: the filter); parameters not given are fitted on the first --fit-frames frames. "
            "Default: the offline smoother.",
        ),
    ] = None,
    fit_frames: FitFrames = 250,
    keypoints: Keypoints = None,
    ensemble: Ensemble = Center.median,
    variance: Annotated[
        Variance,
        typer.Option("--variance", help="Ensemble variance: plain, or weighted by the members' likelihoods."),
    ] = Variance.var,
    overwrite: Overwrite = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-j", help="Local worker processes for several sessions. Default: one per core."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Run on an existing dask scheduler (e.g. tcp://10.0.0.5:8786) instead of a local cluster.",
        ),
    ] = None,
) -> None:
    """Smooth ensemble predictions with the ensemble Kalman smoother.

    Files are grouped into views by the camera names in their names (from [bold]--calibration[/bold] or
    [bold]--views[/bold]) and into ensemble members by model seeds like [italic]rng=3[/italic]. With a
    calibration the smoother works in 3D; several views without one use a linear latent; one view
    is smoothed in 2D. Writes into --out: a store [italic]<session>.zarr[/italic] with the inputs used,
    the results, the inflation factors and s; per-view CSVs with the eks columns; with a
    calibration the 3D CSV. Prints a summary table. Several sessions run in parallel with dask.

    [bold]Examples[/bold]

      lp3d smooth fly/ --calibration fly/calibration.toml --out out/fly
      lp3d smooth mouse/ --views top,bot --out out/mouse
      lp3d smooth fly/*.csv -c fly/calibration.toml --s 2.5 --no-inflate --out out/fixed-s
      lp3d smooth s1.zarr -c calibration.toml --lag 5 --out out/s1-lag5    (as lp3d live would)
      lp3d smooth sessions/ -c calibration.toml --out out/ --workers 4
      lp3d smooth sessions/ -c calibrations/ --out out/          (calibrations/<session>.toml each)
      lp3d smooth sessions/ -c calibration.toml --out out/ --scheduler tcp://10.0.0.5:8786
    """
    from lp3d_workflows.batch import smooth_inputs
    from lp3d_workflows.frame_ranges import parse_frame_ranges
    from lp3d_workflows.smoothing import SmoothSettings

    from lp3d_cli.summaries import print_batch, print_session, print_tracebacks

    view_names = split_names(views)
    keypoint_names = split_names(keypoints)
    ranges = parse_frame_ranges(s_frames)
    settings = SmoothSettings(
        calibration=calibration,
        views=None if view_names is None else tuple(view_names),
        keypoints=None if keypoint_names is None else tuple(keypoint_names),
        s=parse_positive_numbers(s, "--s"),
        s_frames=None if ranges is None else tuple(ranges),
        inflate=inflate,
        motion=motion.smoother_name,
        ensemble=ensemble.value,
        variance=variance.value,
        lag=lag,
        fit_frames=fit_frames,
    )

    def failed(summary) -> None:
        if summary.error is not None:
            failure(f"{summary.session}: failed: {summary.error}")

    summaries = with_progress(
        "smoothing", smooth_inputs, inputs, out, settings, overwrite=overwrite, workers=workers, scheduler=scheduler,
        on_result=failed,
    )  # fmt: skip
    if len(summaries) == 1 and summaries[0].error is None and scheduler is None:
        print_session(summaries[0])
    else:
        print_batch(summaries)
    code = print_tracebacks(summaries)
    if code:
        raise typer.Exit(code)


# --- triangulate -----------------------------------------------------------------------------------


@command(no_args_is_help=True)
def triangulate(
    inputs: Inputs,
    calibration: Calibration,
    out: BatchOut,
    views: Annotated[
        list[str] | None,
        typer.Option("--views", help="Cameras to use; repeat or comma-separate. Default: all of the calibration."),
    ] = None,
    keypoints: Keypoints = None,
    ensemble: Ensemble = Center.median,
    robust: Annotated[
        bool,
        typer.Option(
            "--robust",
            help="Drop views that disagree: triangulate each point from the largest group of views that agree "
            "within --threshold-px (all pairs of views tried).",
        ),
    ] = False,
    threshold_px: Annotated[
        float,
        typer.Option("--threshold-px", help="With --robust: a view agrees when its reprojection error is below this."),
    ] = 15.0,
    overwrite: Overwrite = False,
) -> None:
    """Triangulate every frame on its own (DLT of the ensemble centers), without smoothing.

    For comparison with [bold]lp3d smooth[/bold]. Writes [italic]triangulated_3d.csv[/italic]: per keypoint x, y, z,
    the number of views used and the reprojection error in each view (pixels). With [bold]--robust[/bold], a view
    whose detection disagrees with the others is left out of that point (anipose's robust triangulation), and the
    views that disagree often are named.

    [bold]Examples[/bold]

      lp3d triangulate fly/ --calibration fly/calibration.toml --out out/fly-dlt
      lp3d triangulate fly/ -c fly/calibration.toml --views Cam-A,Cam-B --out out/fly-dlt-ab
      lp3d triangulate rig/ -c rig/calibration.toml --robust --threshold-px 10 --out out/rig-robust
    """
    from lp3d_workflows.triangulation import triangulate_inputs

    from lp3d_cli.summaries import print_tracebacks, print_triangulation

    robust_px = _positive(threshold_px, "--threshold-px") if robust else None
    summaries = with_progress(
        "triangulating", triangulate_inputs, inputs, out, calibration, views=split_names(views),
        keypoints=split_names(keypoints), center=ensemble.value, robust_px=robust_px, overwrite=overwrite,
        on_result=print_triangulation,
    )  # fmt: skip
    if len(summaries) > 1:
        failed = sum(s.error is not None for s in summaries)
        say(f"{len(summaries)} sessions: {len(summaries) - failed} triangulated, {failed} failed")
    code = print_tracebacks(summaries)
    if code:
        raise typer.Exit(code)


# --- convert ---------------------------------------------------------------------------------------


@command(no_args_is_help=True)
def convert(
    src: Annotated[
        Path,
        typer.Argument(help="A folder of prediction CSVs, a store (.zarr) or a netCDF file (.nc).", show_default=False),
    ],
    dst: Annotated[
        Path,
        typer.Argument(
            help="Where to write: a store (.zarr), a netCDF file (.nc) or a CSV folder.", show_default=False
        ),
    ],
    group: Annotated[
        str | None,
        typer.Option("--group", "-g", help="The group of a store to convert, e.g. smoothed/eks. Default: all."),
    ] = None,
    views: Views = None,
    calibration: Annotated[
        Path | None,
        typer.Option("--calibration", "-c", help="For CSV input: camera names (views), stored with the predictions."),
    ] = None,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="Export to a folder DST of another tool's files: deeplabcut (.h5), sleap (.slp), "
            "sleap-analysis (.analysis.h5) or movement (netCDF .nc). Default: DST's format from its path.",
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Convert between prediction CSV folders, stores (.zarr) and netCDF (.nc), or export to other tools.

    The format follows from the path: [italic].zarr[/italic] is a store, [italic].nc[/italic] a netCDF file
    (one dataset: pick it with --group), anything else a folder of CSV files (predictions: one file per
    member and view; smoothed results: the eks CSVs). SRC may also be a folder of DeepLabCut / SLEAP
    prediction files (.h5, .slp). With [bold]--format[/bold], DST is a folder of DeepLabCut HDF5, SLEAP
    .slp or analysis HDF5, or movement netCDF files, one per member and view (predictions) or per view
    and 3D (smoothed results).

    [bold]Examples[/bold]

      lp3d convert fly/ fly.zarr --calibration fly/calibration.toml
      lp3d convert out/fly/fly.zarr fly-smoothed.nc --group smoothed/eks
      lp3d convert fly-smoothed.nc csv-again/
      lp3d convert session.nc session.zarr
      lp3d convert out/fly/fly.zarr fly-dlc/ --group smoothed/eks --format deeplabcut
      lp3d convert out/fly/fly.zarr fly-movement/ --format movement
    """
    from lp3d_workflows.conversion import convert as run_convert

    result = with_progress(
        f"converting {src.name}", run_convert, src, dst, group=group, views=split_names(views),
        calibration=calibration, overwrite=overwrite, format=format_,
    )  # fmt: skip
    for note in result.notes:
        warn(note)
    files = f" ({len(result.files)} {format_} files)" if format_ else ""
    say(f"wrote {', '.join(result.groups)} to {result.dst}{files}" + (" (replaced)" if result.replaced else ""))


# --- import ----------------------------------------------------------------------------------------


@command(name="import", no_args_is_help=True)
def import_(
    source: Annotated[
        Path,
        typer.Argument(
            help="A Lightning Pose, DeepLabCut or anipose project folder, a SLEAP .slp file, a folder of them, "
            "or sleap-anipose sessions (<session>/<view>/*.slp).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The lp3d project folder to write (outside SOURCE).")],
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="KIND", help="lightning-pose, deeplabcut, sleap or anipose. Default: detected."),
    ] = None,
    views: Annotated[
        list[str] | None,
        typer.Option(
            "--views",
            help="DeepLabCut projects of several cameras: the camera names in the video names "
            "(repeat or comma-separate). Default: one view.",
        ),
    ] = None,
    predicted: Annotated[
        bool, typer.Option("--predicted", help="SLEAP: import predicted instances too, not only user labels.")
    ] = False,
    link_videos: Annotated[
        bool, typer.Option("--link-videos", help="Link the videos into the project instead of copying them.")
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """Bring a project of another tool over: labels, frames, videos and calibrations as an lp3d project.

    Reads Lightning Pose (config, CollectedData*.csv, labeled-data, videos, calibrations), DeepLabCut
    (config.yaml, labeled-data/<video>/CollectedData_<scorer>.h5, videos; multi-animal projects keep
    their individuals), SLEAP (.slp user labels, read with sleap-io; sleap-anipose sessions with their
    calibration.toml) and anipose projects (config.toml, the calibration, the DeepLabCut project's
    labels). Writes CollectedData_<view>.csv, labeled-data/<session>_<view>/, videos/<session>_<view>,
    the calibration(s) and import.json, and prints what it found and what it skipped, and why. The
    source is never modified. Next: [bold]lp3d init OUT[/bold].

    [bold]Examples[/bold]

      lp3d import ~/lp-projects/mouse --out mouse-lp3d
      lp3d import ~/dlc/reach-Ann-2024-01-01 --out reach --views camA,camB
      lp3d import labels.v001.slp --out fly-lp3d
      lp3d import ~/sleap-anipose/session_0 --out session0
      lp3d import ~/anipose/hand --out hand
    """
    from lp3d_workflows.project_import import import_project

    result = with_progress(
        f"importing {source.name}", import_project, source, out, kind=from_, views=split_names(views),
        predicted=predicted, link_videos=link_videos, overwrite=overwrite,
    )  # fmt: skip
    if SETTINGS.verbosity >= 1:
        typer.echo(f"{result.kind} project {result.source}:")
        for line in result.found:
            typer.echo(f"  found: {line}")
        shown = result.skipped if SETTINGS.verbosity >= 2 else result.skipped[:20]
        for what, why in shown:
            typer.echo(f"  skipped: {what}: {why}")
        if len(shown) < len(result.skipped):
            typer.echo(
                f"  ... and {len(result.skipped) - len(shown)} more skipped (all in {result.out / 'import.json'})"
            )
        typer.echo(f"wrote {result.out}" + (" (replaced)" if result.replaced else ""))
        for step in result.next_steps:
            typer.echo(f"next: {step}")
    detail(f"sessions: {', '.join(result.sessions)}")


# --- report ----------------------------------------------------------------------------------------


@command(no_args_is_help=True)
def report(
    store: Annotated[Path, typer.Argument(help="A store written by lp3d smooth (<session>.zarr).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the PNGs and report.html.")],
    frames: Annotated[
        str | None,
        typer.Option(
            "--frames",
            metavar="START:STOP",
            help="Frames to plot and count (half-open). Default: the first 3000.",
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Diagnostic plots of a smoothed session, and one self-contained HTML page.

    Per keypoint: the ensemble members, the smoothed track with its 95% posterior band and the
    inflated (outlier) observations in every view, and the 3D track with a calibration;
    per view: histograms of the distance between ensemble center and smoothed track; a table of
    s, inflation and errors per keypoint. [italic]report.html[/italic] embeds every image.

    [bold]Examples[/bold]

      lp3d report out/fly/fly.zarr --out out/fly/report
      lp3d report out/fly/fly.zarr --out report-late --frames 20000:23000 --overwrite
    """
    from lp3d_workflows.report import write_smoothing_report

    page = with_progress("plotting", write_smoothing_report, store, out, overwrite=overwrite, frames=frames)
    say(f"report written to {page}")


# --- info ------------------------------------------------------------------------------------------


@command(no_args_is_help=True)
def info(
    store: Annotated[Path, typer.Argument(help="A store (.zarr folder) or a netCDF file (.nc).", show_default=False)],
) -> None:
    """Show what a store holds: its groups, their sizes, variables and attributes (no arrays are read).

    [bold]Examples[/bold]

      lp3d info out/fly/fly.zarr
      lp3d info predictions.nc
    """
    from lp3d_workflows.store_summary import summarize_store

    from lp3d_cli.summaries import print_store_summary

    print_store_summary(summarize_store(store))


# --- distill ---------------------------------------------------------------------------------------


@command(no_args_is_help=True)
def distill(
    run_dir: Annotated[Path, typer.Argument(help="The teacher: a training run (lp3d train).", show_default=False)],
    stores: Annotated[
        list[Path],
        typer.Argument(
            metavar="STORE",
            help="Smoothed stores of its predictions on unlabeled videos (lp3d predict, then lp3d smooth).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The student's run directory (pseudo_labels/ inside).")],
    n_frames: Annotated[
        int | None, typer.Option("--n-frames", "-n", help="Frames to pseudo-label. Default: distill.n_frames.")
    ] = None,
    variance_quantile: Annotated[
        float | None,
        typer.Option(
            "--variance-quantile",
            help="Candidates: frame variance at most this quantile of their session's. "
            "Default: distill.variance_quantile.",
        ),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Student members, e.g. 0,1. Default: distill.seeds.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Student optimizer steps. Default: distill.max_steps.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the frame selection.")] = None,
    labels_only: Annotated[
        bool, typer.Option("--labels-only", help="Write the pseudo-labels without training the student.")
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """Train a student on the labeled frames plus confident, diverse pseudo-labeled frames.

    Candidates are frames where the smoother is confident (low posterior variance, no inflated
    observation) and not labeled; k-means on their normalized poses picks diverse ones, spread over
    the sessions. Their smoothed 2D positions (reprojections of the 3D track with a calibration) are
    written with a weight per keypoint from the posterior variance, with the frames extracted from the
    videos, to [italic]OUT/pseudo_labels[/italic] (the usual project layout, to inspect); then the student
    trains there on labels + pseudo-labels.

    [bold]Examples[/bold]

      lp3d distill runs/mouse smoothed/s1/s1.zarr smoothed/s2/s2.zarr --n-frames 200 --out runs/mouse-student
      lp3d distill runs/mouse smoothed/*/*.zarr --out runs/student --seeds 0,1,2 --max-steps 3000
    """
    from lp3d_workflows.errors import require_models

    seed_list = parse_seeds(seeds)
    require_models()
    from lp3d_models.distill import distill as run_distill

    result = run_distill(
        run_dir,
        stores,
        out,
        n_frames=n_frames,
        variance_quantile=variance_quantile,
        seeds=seed_list,
        max_steps=max_steps,
        seed=seed,
        train_student=not labels_only,
        overwrite=overwrite,
    )
    chosen = ", ".join(f"{name}: {len(frames)}" for name, frames in result.frames.items())
    say(f"pseudo-labeled frames ({chosen}) in {result.pseudo_labels}")
    for i, error in enumerate(result.best_val_error):
        say(f"student member {i}: best validation error {error:.2f} px")
    say(f"student: {result.run_dir}")


# --- pipeline --------------------------------------------------------------------------------------


@command(no_args_is_help=True)
def pipeline(
    config: Annotated[Path, typer.Argument(help="The YAML config (lp3d init), run_dir is the pipeline's folder.")],
    set_: ConfigOverrides = None,
    device: Device = "auto",
) -> None:
    """Train an ensemble, predict the videos, smooth, distill, predict and smooth again, and report.

    Each stage is skipped when its output is complete and newer than its inputs, so an interrupted
    run continues where it stopped, and changing an input (labels, videos, calibration, settings)
    redoes the stages after it. Ends with a table of the pixel error of each stage on the held-out
    labeled frames (and the 3D error with a calibration) and an HTML report.

    [bold]Examples[/bold]

      lp3d init project/ && lp3d pipeline project/lp3d.yaml
      lp3d pipeline project/lp3d.yaml --set distill.n_frames=300 --set pipeline.videos=[new-videos/]
    """
    from lp3d_workflows.errors import require_models
    from lp3d_workflows.pipeline import run_pipeline

    from lp3d_cli.summaries import print_scores

    require_models()
    from lp3d_models.distributed import is_rank_zero

    if not is_rank_zero():  # another rank of a training on several devices: rank 0 speaks
        SETTINGS.verbosity = 0
    quiet_training_logs()
    result = with_progress(
        "pipeline", run_pipeline, config, list(set_ or []), device=device, show_progress=shows_progress_bars()
    )
    if result.rank != 0:  # another rank of a training on several devices: rank 0 prints
        return
    if result.scores:
        which = "Held-out" if result.held_out == "test" else "Validation (no test frames; they chose the checkpoints)"
        print_scores(result.scores, f"{which} labeled frames, {result.scores[0].n} labeled positions:")
    else:
        say("nothing scored: the split holds out no labeled frame (data.test_fraction, data.split)")
    say(f"report: {result.report}")


# --- demo ------------------------------------------------------------------------------------------


@command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Demo output folder (an earlier demo there is replaced or resumed).")
    ] = Path("demo-out"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the simulated session.")] = 0,
    frames: Annotated[
        int | None,
        typer.Option("--frames", help="Number of simulated frames. Default: 300 (600 with --smoothing-only)."),
    ] = None,
    smoothing_only: Annotated[
        bool,
        typer.Option("--smoothing-only", help="Only the smoother, on simulated ensemble predictions (seconds)."),
    ] = False,
    animals: Annotated[
        int,
        typer.Option(
            "--animals",
            help="Animals in the arena: 1, or 2 (a light and a larger dark one, told apart by appearance; "
            "the stage table per animal, with identity swaps).",
        ),
    ] = 1,
) -> None:
    """Run every part of lp3d on a synthetic calibrated session (about 2.5 minutes on 2 CPU cores).

    Simulates a ring of calibrated cameras filming an animal, then runs [bold]lp3d pipeline[/bold]: trains
    an ensemble of tiny models on the labeled frames, predicts every frame, smooths in 3D with the
    ensemble Kalman smoother, pseudo-labels confident and diverse frames, trains a student on labels and
    pseudo-labels, predicts and smooths again. Prints the error of each stage on held-out labeled frames
    and writes an HTML report.

    With [bold]--smoothing-only[/bold]: simulates an ensemble of pose networks with noise, planted outliers
    and missing detections, smooths them as [bold]lp3d smooth[/bold] does, and compares the ensemble median
    triangulation and the smoother with the simulated truth.

    [bold]Examples[/bold]

      lp3d demo
      lp3d demo --animals 2 --out demo-two
      lp3d demo --smoothing-only --out /tmp/demo --seed 3 --frames 1200
    """
    from lp3d_workflows.demo import pipeline_demo, smoothing_demo

    from lp3d_cli.summaries import print_pipeline_demo, print_smoothing_demo

    if smoothing_only:
        if animals != 1:
            from lp3d_workflows.errors import UserError

            raise UserError(f"--animals: expected 1 with --smoothing-only (one animal is smoothed), but got {animals}")
        n_frames = 600 if frames is None else frames
        print_smoothing_demo(with_progress("demo", smoothing_demo, out, seed=seed, n_frames=n_frames))
    else:
        quiet_training_logs()
        result = with_progress(
            "demo", pipeline_demo, out, seed=seed, n_frames=frames, animals=animals, show_progress=shows_progress_bars()
        )
        print_pipeline_demo(result)


def _mount_model_commands() -> None:
    """``lp3d train / predict / evaluate / init`` (:mod:`lp3d_cli.model_commands`): always listed; they
    need the ``models`` extra (lp3d-models and torch), and say so in one line when it is missing."""
    from lp3d_cli import model_commands

    for info in model_commands.app.registered_commands:  # as :func:`command` registers them
        info.help = info.help or _reflow(info.callback.__doc__)
        info.callback = _WithOutputOptions(info.callback)
    app.registered_commands.extend(model_commands.app.registered_commands)


_mount_model_commands()


def _mount_app_command() -> None:
    """``lp3d app`` (:mod:`lp3d_cli.app_command`): always listed; it needs the ``app`` extra (lp3d-app)."""
    from lp3d_cli.app_command import app as app_command

    command()(app_command)


_mount_app_command()


def _mount_live_command() -> None:
    """``lp3d live`` (:mod:`lp3d_cli.live_command`): always listed; it needs the ``models`` extra."""
    from lp3d_cli.live_command import live

    command(no_args_is_help=True)(live)


_mount_live_command()

if __name__ == "__main__":
    app()
