"""``lp3d pipeline``: train an ensemble, predict, smooth, distill, predict and smooth again, report.

The config is a training config (``lp3d init``) whose ``pipeline`` and ``distill`` sections say
what to run; ``run_dir`` is the pipeline's folder::

    teacher/                      stage train: the ensemble (a training run; its synthetic session)
    predictions/<session>.zarr    stage predict: the ensemble on every frame of the videos (+ CSVs)
    smoothed/<session>/           stage smooth: lp3d smooth's outputs (store, eks CSVs)
    student/                      stage distill: pseudo_labels/ and the student's training run
    student_predictions/, student_smoothed/   stages predict_student, smooth_student
    report/                       report.html, stages.csv, one smoothing report per session
    stages/<stage>.json           completion stamps

Sessions are the videos (``pipeline.videos``, default the data's ``videos/`` folder) grouped by
the view names that end their file names (``<session>_<view>.mp4``); a session's calibration is
``data.calibrations[session]``, ``<root>/calibrations/<session>.toml``, ``data.calibration`` or
``<root>/calibration.toml``, the first that exists (none: smoothed without 3D).

A stage is skipped when its stamp exists, records the same settings, and is newer than its inputs
(the stamps of the stages before it, and the label files, videos and calibrations it reads). A
stage that runs first deletes its stamp and its old outputs and writes the stamp last, so a stage
that was stopped midway is redone from its start, and everything after a redone stage is redone.
The report is written every time, from the stores: pixel error on the held-out labeled frames
(the teacher's test split) of a single model, the ensemble mean, the smoother, the student and
the smoothed student, and with a calibration the 3D error against the triangulated labels.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lp3d_cli.console import info, print_table, progress
from lp3d_cli.errors import UserError
from lp3d_cli.outputs import staged_directory

if TYPE_CHECKING:
    from lp3d_models.config import Config

__all__ = [
    "STAGES",
    "PipelineResult",
    "StageScore",
    "find_sessions",
    "run_pipeline",
    "score_stages",
    "write_pipeline_report",
]

STAGES = ("train", "predict", "smooth", "distill", "predict_student", "smooth_student")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
_GROUP = "predictions/model"


@dataclass(frozen=True)
class StageScore:
    """Errors of one stage on the held-out labeled frames.

    Attributes:
        name: what was scored.
        pixel_mean, pixel_median: 2D error in pixels over (frame, view, keypoint) with a label.
        n: labeled positions scored.
        world_mean: 3D error against the triangulated labels (world units; NaN without calibration).
    """

    name: str
    pixel_mean: float
    pixel_median: float
    n: int
    world_mean: float = float("nan")


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`run_pipeline` did.

    Attributes:
        root: the pipeline folder.
        ran: stages that ran (the others were up to date).
        scores: one row per scored stage.
        report: the HTML report.
        seconds: per stage that ran, its wall time.
    """

    root: Path
    ran: list[str]
    scores: list[StageScore]
    report: Path
    seconds: dict[str, float] = field(default_factory=dict)


# --- sessions -------------------------------------------------------------------------------------


def find_sessions(videos: Iterable[Path], views: Sequence[str]) -> dict[str, dict[str, Path]]:
    """Groups video files into sessions: ``<session>_<view>.<ext>`` -> ``{session: {view: path}}``.

    Args:
        videos: video files, or folders of them.
        views: the view names.

    Raises:
        UserError: no videos, a file matching no view, or a session without every view.
    """
    files: list[Path] = []
    for path in videos:
        path = Path(path)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"pipeline.videos: {path}: no such video or folder")
    if not files:
        raise UserError(f"pipeline.videos: expected videos named <session>_<view>{VIDEO_SUFFIXES[0]}, but found none")
    sessions: dict[str, dict[str, Path]] = {}
    for path in files:
        matches = [v for v in views if path.stem.endswith(f"_{v}")]
        if not matches:
            raise UserError(f"{path}: expected a video named <session>_<view> with a view among {list(views)}")
        view = max(matches, key=len)
        sessions.setdefault(path.stem[: -len(view) - 1], {})[view] = path
    for name, by_view in sessions.items():
        missing = [v for v in views if v not in by_view]
        if missing:
            raise UserError(f"session {name}: expected a video of every view {list(views)}, but {missing} have none")
    return {name: {v: sessions[name][v] for v in views} for name in sorted(sessions)}


def _calibrations(config: Config, root: Path, sessions: Sequence[str]) -> dict[str, Path | None]:
    """Each session's calibration file (lp3d_models.calibration's search order), or None."""
    from lp3d_models.calibration import find_calibration_files

    names = np.array(list(sessions))
    found = find_calibration_files(
        names,
        np.array([f"labeled-data/{n}" for n in names]),
        [root],
        calibration=config.data.calibration,
        calibrations=config.data.calibrations,
    )
    return {name: found.get(name) for name in sessions}


# --- stages ---------------------------------------------------------------------------------------


@dataclass
class _Stage:
    name: str
    run: Callable[[], None]
    inputs: list[Path]
    settings: dict[str, Any]
    outputs: list[Path]


class _Runner:
    """Runs stages in order, skipping those whose stamp is newer than their inputs."""

    def __init__(self, root: Path) -> None:
        self.stamps = root / "stages"
        self.ran: list[str] = []
        self.seconds: dict[str, float] = {}

    def stamp(self, name: str) -> Path:
        return self.stamps / f"{name}.json"

    def up_to_date(self, stage: _Stage) -> bool:
        stamp = self.stamp(stage.name)
        if not stamp.is_file():
            return False
        try:
            saved = json.loads(stamp.read_text())
        except ValueError:
            return False
        if saved.get("settings") != json.loads(json.dumps(stage.settings, default=str)):
            return False
        made = stamp.stat().st_mtime_ns
        return all(p.stat().st_mtime_ns <= made for p in stage.inputs if p.exists())

    def __call__(self, stage: _Stage) -> None:
        if self.up_to_date(stage):
            info(f"{stage.name}: up to date")
            return
        self.stamps.mkdir(parents=True, exist_ok=True)
        self.stamp(stage.name).unlink(missing_ok=True)
        for out in stage.outputs:
            if out.is_dir():
                shutil.rmtree(out)
        info(f"{stage.name}: running")
        start = time.perf_counter()
        stage.run()
        self.seconds[stage.name] = time.perf_counter() - start
        self.ran.append(stage.name)
        record = {"stage": stage.name, "settings": stage.settings, "seconds": self.seconds[stage.name]}
        partial = self.stamp(stage.name).with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=1, default=str))
        os.replace(partial, self.stamp(stage.name))
        info(f"{stage.name}: done in {self.seconds[stage.name]:.1f} s")


def _training_settings(config: Config) -> dict[str, Any]:
    from lp3d_models.config import config_to_dict

    values = config_to_dict(config)
    return {k: v for k, v in values.items() if k not in ("run_dir", "distill", "pipeline")}


def _predict(run_dir: Path, sessions: dict[str, dict[str, Path]], out: Path, device: str, show: bool) -> None:
    from lp3d_models.prediction import predict_videos

    for name, videos in sessions.items():
        predict_videos(run_dir, videos, out / f"{name}.zarr", group=_GROUP, device=device, progress=show)


def _smooth(
    predictions: Path, sessions: dict[str, dict[str, Path]], calibrations: dict[str, Path | None], out: Path
) -> None:
    from lp3d_io import read_group

    from lp3d_cli.smoothing import SmoothOptions, load_rig, smooth_predictions, write_outputs

    for name in sessions:
        ds = read_group(predictions / f"{name}.zarr", _GROUP).load()
        views = [str(v) for v in ds["view"].values]
        calibration = calibrations[name]
        rig = load_rig(calibration, views) if calibration is not None else None
        _, smoothed = smooth_predictions(ds, rig, SmoothOptions(calibration=calibration))
        with staged_directory(out / name) as tmp:
            write_outputs(tmp, name, ds, smoothed, rig)


def run_pipeline(
    config_path: Path, overrides: Sequence[str] = (), *, device: str = "auto", show_progress: bool | None = None
) -> PipelineResult:
    """Runs (or resumes) the pipeline of a config; see the module docstring.

    Args:
        config_path: the YAML config.
        overrides: ``section.key=value`` strings.
        device: where the models predict.
        show_progress: prediction progress bars (default: when stderr is a terminal and not ``--quiet``).

    Raises:
        FileNotFoundError, ValueError: a missing or bad config, data or videos (one-line messages).
    """
    import logging
    import warnings

    from lp3d_models.config import load_config
    from lp3d_models.data import find_views
    from lp3d_models.distill import distill
    from lp3d_models.training import train

    from lp3d_cli.console import SETTINGS, stderr

    if show_progress is None:
        show_progress = SETTINGS.verbosity >= 1 and stderr().is_terminal
    if SETTINGS.verbosity < 2:  # Lightning's banner lines (accelerators, tips) and its own deprecation notices
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)
    config = load_config(config_path, overrides)
    for path in config.pipeline.videos:
        if not Path(path).exists():
            raise UserError(f"pipeline.videos: {path}: no such video or folder")
    root = Path(config.run_dir)
    teacher, student = root / "teacher", root / "student"
    teacher_config = load_config(config_path, [*overrides, f"run_dir={teacher}"])
    data_root = Path(config.data.root) if config.data.root is not None else teacher / "synthetic"
    labels = []
    if config.data.root is not None:
        views = config.data.views or find_views(data_root, config.data.labels)
        labels = [data_root / config.data.labels.format(view=v) for v in views]
    runner = _Runner(root)
    runner(
        _Stage(
            "train",
            lambda: train(teacher_config, overwrite=True),
            labels,
            _training_settings(teacher_config),
            [teacher],
        )
    )
    views = json.loads((teacher / "run.json").read_text())["views"]
    sessions = find_sessions([Path(p) for p in config.pipeline.videos] or [data_root / "videos"], views)
    calibrations = _calibrations(config, data_root, list(sessions))
    videos = [p for by_view in sessions.values() for p in by_view.values()]
    cameras = [p for p in calibrations.values() if p is not None]
    settings = {"sessions": {k: {v: str(p) for v, p in d.items()} for k, d in sessions.items()}}
    stamp = runner.stamp
    runner(
        _Stage(
            "predict",
            lambda: _predict(teacher, sessions, root / "predictions", device, show_progress),
            [stamp("train"), *videos],
            settings,
            [root / "predictions"],
        )
    )
    smooth_settings = {**settings, "calibrations": {k: str(p) for k, p in calibrations.items()}}
    runner(
        _Stage(
            "smooth",
            lambda: _smooth(root / "predictions", sessions, calibrations, root / "smoothed"),
            [stamp("predict"), *cameras],
            smooth_settings,
            [root / "smoothed"],
        )
    )
    stores = {name: root / "smoothed" / name / f"{name}.zarr" for name in sessions}
    if config.pipeline.distill:
        dc = config.distill
        runner(
            _Stage(
                "distill",
                lambda: distill(
                    teacher,
                    list(stores.values()),
                    student,
                    n_frames=dc.n_frames,
                    variance_quantile=dc.variance_quantile,
                    seeds=dc.seeds,
                    max_steps=dc.max_steps,
                    seed=dc.seed,
                    overwrite=True,
                ),
                [stamp("smooth"), *labels],
                {"distill": dc.__dict__, "training": _training_settings(config)},
                [student],
            )
        )
        runner(
            _Stage(
                "predict_student",
                lambda: _predict(student, sessions, root / "student_predictions", device, show_progress),
                [stamp("distill"), *videos],
                settings,
                [root / "student_predictions"],
            )
        )
        runner(
            _Stage(
                "smooth_student",
                lambda: _smooth(root / "student_predictions", sessions, calibrations, root / "student_smoothed"),
                [stamp("predict_student"), *cameras],
                smooth_settings,
                [root / "student_smoothed"],
            )
        )
    with progress("scoring the stages and writing the report"):
        scores = score_stages(root, list(sessions), calibrations, distilled=config.pipeline.distill)
        report = write_pipeline_report(root, scores, list(sessions), runner.seconds, distilled=config.pipeline.distill)
    return PipelineResult(root, runner.ran, scores, report, runner.seconds)


# --- scores ---------------------------------------------------------------------------------------


@dataclass
class _TestFrames:
    """Held-out labeled frames found in the sessions: ``rows[session] = (label rows, frames)``."""

    labels: np.ndarray  # (view, n, keypoint, 2)
    rows: dict[str, tuple[np.ndarray, np.ndarray]]


def _test_frames(teacher: Path, sessions: Sequence[str]) -> _TestFrames:
    from lp3d_models.data import load_data, load_split
    from lp3d_models.distill import frame_id
    from lp3d_models.runs import load_run

    config = load_run(teacher).config
    data = load_data(config.data, teacher)
    test = load_split(teacher / "split.json", data)["test"]
    if not test.size:
        raise UserError(f"{teacher}: no held-out frames to score (data.test_fraction is 0)")
    ids = [frame_id(str(data.image_paths[0, i]), data.view_names[0]) for i in test]
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for row, ident in enumerate(ids):
        if ident is not None and ident[0] in sessions:
            rows.setdefault(ident[0], ([], []))[0].append(row)
            rows[ident[0]][1].append(ident[1])
    return _TestFrames(
        data.keypoints[:, test].astype(np.float64),
        {s: (np.asarray(r), np.asarray(f)) for s, (r, f) in rows.items()},
    )


def _score(name: str, estimate: np.ndarray, truth: np.ndarray, points3d=None, truth3d=None) -> StageScore:
    err = np.linalg.norm(estimate - truth, axis=-1)
    err = err[np.isfinite(err)]
    world = float("nan")
    if points3d is not None and truth3d is not None:
        e3 = np.linalg.norm(points3d - truth3d, axis=-1)
        e3 = e3[np.isfinite(e3)]
        world = float(e3.mean()) if e3.size else float("nan")
    if not err.size:
        return StageScore(name, float("nan"), float("nan"), 0, world)
    return StageScore(name, float(err.mean()), float(np.median(err)), int(err.size), world)


def score_stages(
    root: Path, sessions: Sequence[str], calibrations: dict[str, Path | None], *, distilled: bool = True
) -> list[StageScore]:
    """Scores every stage on the teacher's held-out labeled frames that lie in the sessions' videos.

    Raises:
        UserError: no held-out frame is a frame of the videos.
    """
    from lp3d_io import read_group

    from lp3d_cli.smoothing import SMOOTHED_GROUP, load_rig

    tests = _test_frames(root / "teacher", sessions)
    if not tests.rows:
        raise UserError(
            f"{root / 'teacher'}: none of its held-out labeled frames is a frame of the videos of sessions "
            f"{list(sessions)} (expected labeled-data/<session>_<view>/img<frame>.png)"
        )
    estimates: dict[str, list[np.ndarray]] = {}
    estimates3d: dict[str, list[np.ndarray]] = {}
    truth, truth3d = [], []
    calibrated = all(calibrations[s] is not None for s in tests.rows)
    sources = [("teacher", root / "predictions", root / "smoothed")]
    if distilled:
        sources.append(("student", root / "student_predictions", root / "student_smoothed"))
    for session, (rows, frames) in tests.rows.items():
        labels = tests.labels[:, rows]  # (view, n, keypoint, 2)
        truth.append(labels)
        rig = None
        for who, predictions, smoothed in sources:
            ds = read_group(predictions / f"{session}.zarr", _GROUP).isel(individual=0).sel(time=frames)
            position = ds["position"].transpose("member", "view", "time", "keypoint", "space").values
            names = [str(m) for m in ds["member"].values]
            if calibrated and rig is None:
                rig = load_rig(calibrations[session], [str(v) for v in ds["view"].values])
            sm = read_group(smoothed / session / f"{session}.zarr", SMOOTHED_GROUP).isel(individual=0).sel(time=frames)
            reprojection = sm["reprojection"].transpose("view", "time", "keypoint", "image_space").values
            mean = np.nanmean(position, axis=0) if len(names) > 1 else position[0]
            if who == "teacher":
                parts = [
                    (f"single model ({names[0]})", position[0]),
                    (f"ensemble mean ({len(names)} models)", mean),
                    ("ensemble + EKS", reprojection),
                ]
            else:
                several = f" (mean of {len(names)})" if len(names) > 1 else ""
                parts = [(f"distilled student{several}", mean), ("distilled student + EKS", reprojection)]
            for i, (label, estimate) in enumerate(parts):
                estimates.setdefault(label, []).append(estimate)
                if rig is not None:
                    smoothed3d = i == len(parts) - 1
                    points = sm["position"].transpose("time", "keypoint", "space").values if smoothed3d else None
                    estimates3d.setdefault(label, []).append(points if smoothed3d else rig.triangulate(estimate))
        if rig is not None:
            truth3d.append(rig.triangulate(labels))
    all_truth = np.concatenate(truth, axis=1)
    all_truth3d = np.concatenate(truth3d, axis=0) if calibrated else None
    scores = []
    for label, parts_ in estimates.items():
        points3d = np.concatenate(estimates3d[label], axis=0) if calibrated else None
        scores.append(_score(label, np.concatenate(parts_, axis=1), all_truth, points3d, all_truth3d))
    return scores


# --- report ---------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.2f}"


def score_table(scores: Sequence[StageScore]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the stage table (strings)."""
    header = ["stage", "mean (px)", "median (px)", "positions"]
    world = any(np.isfinite(s.world_mean) for s in scores)
    if world:
        header.append("3D mean (world)")
    rows = []
    for s in scores:
        row = [s.name, _fmt(s.pixel_mean), _fmt(s.pixel_median), str(s.n)]
        if world:
            row.append(_fmt(s.world_mean))
        rows.append(row)
    return header, rows


def print_scores(scores: Sequence[StageScore], title: str) -> None:
    """Prints the stage table (rich) to stdout."""
    from rich.table import Table

    header, rows = score_table(scores)
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    print_table(table)


def write_pipeline_report(
    root: Path,
    scores: Sequence[StageScore],
    sessions: Sequence[str],
    seconds: dict[str, float],
    *,
    distilled: bool = True,
    title: str = "lp3d pipeline",
) -> Path:
    """Writes ``report/``: ``stages.csv``, a smoothing report per session and ``report.html``."""
    import html

    from lp3d_cli.report import _CSS, _html_table, load_store, write_report

    final = root / ("student_smoothed" if distilled else "smoothed")
    header, rows = score_table(scores)
    with staged_directory(root / "report") as tmp:
        with open(tmp / "stages.csv", "w") as f:
            f.write(",".join(header) + "\n")
            f.writelines(",".join(r) + "\n" for r in rows)
        links = []
        for session in sessions:
            (tmp / session).mkdir()
            data = load_store(final / session / f"{session}.zarr")
            write_report(data, tmp / session, title=f"{title}: session {session}, final smoothed tracks")
            links.append(f"<li><a href='{html.escape(session)}/report.html'>{html.escape(session)}</a></li>")
        selection = root / "student" / "pseudo_labels" / "selection.csv"
        chosen = ""
        if distilled and selection.is_file():
            n = len(selection.read_text().splitlines()) - 1
            chosen = (
                f"<p>{n} frames pseudo-labeled (confident and diverse, see "
                f"<code>{html.escape(str(selection.parent))}</code>: images, labels, weights).</p>"
            )
        timing = [[name, f"{s:.1f}"] for name, s in seconds.items()]
        parts = [
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
            f"<p class='note'>{html.escape(str(root))}</p>",
            "<h2>Stages on the held-out labeled frames</h2>",
            "<p class='note'>Error of each stage's 2D positions against the labels of the test split, in the "
            "views' pixels; with a calibration, the 3D error against the triangulated labels. EKS: the "
            "ensemble Kalman smoother over the whole videos.</p>",
            _html_table(header, rows),
            chosen,
            "<h2>Smoothing reports</h2><ul>" + "".join(links) + "</ul>",
        ]
        if timing:
            parts += ["<h2>Stages run this time</h2>", _html_table(["stage", "seconds"], timing)]
        parts.append("</body></html>")
        (tmp / "report.html").write_text("\n".join(parts), encoding="utf-8")
    return root / "report" / "report.html"
