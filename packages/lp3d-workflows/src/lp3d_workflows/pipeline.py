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
the view names that end their file names (``<session>_<view>.mp4``; with ``data.crops``, one
video ``<session>.mp4`` per session holds every view: :func:`lp3d_io.layout.find_video_sessions`).
A session's calibration is found as for labeled frames (:func:`lp3d_io.layout.find_calibration_files`,
including Lightning Pose's ``calibrations.csv`` with a row per labeled image); a session without one
is smoothed without 3D, with a warning when other sessions have one or ``geometry.enabled`` is set.
Views of unequal length are evened out by ``pipeline.offsets`` (the frame of each view's video that
is the session's frame 0) and, with ``pipeline.shortest`` (default), end with the shortest view.

Before any work, the pipeline checks what it can: the videos (found, equal lengths or
``shortest``), and that the labeled frames it will hold out (the split the teacher will have:
``data.split``, ``test_fraction``) lie in the videos it will predict, since those are the frames
it scores. The held-out frames are the test frames; with none (``data.test_fraction: 0`` and no
``data.split.test``) the validation frames, which chose the checkpoints (the table says so: their
errors flatter the model); with neither, nothing is scored, and the report says so.

Stages are resumable (:mod:`lp3d_workflows.stages`): one is skipped when its stamp records the
same settings and is newer than its inputs (the stamps of the stages before it, and the label
files, videos and calibrations it reads). The report is written every time, from the stores:
pixel error on the held-out labeled frames of a single model, the ensemble mean, the smoother,
the student and the smoothed student, and with a calibration the 3D error against the
triangulated labels (:mod:`lp3d_models.evaluation`'s scores). With several animals (label files
with the 4-row multi-animal header) every stage has a row over all of them, with the share of
scored frames and views where the stage swapped identities, and a row per animal.

Training on several devices (``training.devices``) runs the pipeline on several ranks
(:mod:`lp3d_models.distributed`): every rank trains (the train and distill stages), rank 0 alone
predicts, smooths, writes stamps and the report, and deletes old outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lp3d_io.files import staged_directory
from lp3d_io.layout import LABELED_DATA, MODEL_GROUP, SMOOTHED_GROUP, VIDEOS, find_video_sessions, labels_file

from lp3d_workflows.errors import UserError, require_models
from lp3d_workflows.pipeline_report import write_pipeline_report
from lp3d_workflows.progress import ProgressCallback, report
from lp3d_workflows.smoothing import SmoothSettings, load_rig, smooth_predictions, write_smoothed_outputs
from lp3d_workflows.stages import Stage, StageRunner

if TYPE_CHECKING:
    from lp3d_models.config import Config
    from lp3d_models.evaluation import Score

__all__ = ["STAGES", "TEACHER_DIR", "STUDENT_DIR", "PipelineResult", "run_pipeline", "score_stages"]

log = logging.getLogger(__name__)

STAGES = ("train", "predict", "smooth", "distill", "predict_student", "smooth_student")
TEACHER_DIR = "teacher"
"""The ensemble's training run in a pipeline folder."""
STUDENT_DIR = "student"
"""The student's training run (its pseudo-labels inside) in a pipeline folder."""


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`run_pipeline` did.

    Attributes:
        root: the pipeline folder.
        ran: stages that ran (the others were up to date).
        scores: one row per scored stage (:class:`lp3d_models.evaluation.Score`).
        report: the HTML report (None on ranks other than 0).
        seconds: per stage that ran, its wall time.
        held_out: the frames scored: ``"test"``, ``"val"`` (no test frames) or ``""`` (none).
        rank: the process's rank (0 unless training on several devices).
    """

    root: Path
    ran: list[str]
    scores: list[Score]
    report: Path | None
    seconds: dict[str, float] = field(default_factory=dict)
    held_out: str = "test"
    rank: int = 0


def _calibrations(config: Config, root: Path, sessions: Sequence[str]) -> dict[str, Path | None]:
    """Each session's calibration file (the project layout's search order), or None; a warning names
    the sessions without one when others have one or ``geometry.enabled`` asks for cameras."""
    from lp3d_io.layout import find_calibration_files

    names = np.array(list(sessions))
    found = find_calibration_files(
        names,
        np.array([f"{LABELED_DATA}/{n}" for n in names]),
        [root],
        calibration=config.data.calibration,
        calibrations=config.data.calibrations,
    )
    out = {name: found.get(name) for name in sessions}
    missing = [name for name, path in out.items() if path is None]
    if missing and (len(missing) < len(out) or config.geometry.enabled):
        log.warning(
            f"session(s) {', '.join(missing)}: no calibration found (data.calibrations, {root}/calibrations.csv, "
            f"calibrations/<session>.toml, data.calibration, calibration.toml): smoothed without 3D"
        )
    return out


def _training_settings(config: Config) -> dict[str, Any]:
    from lp3d_models.config import config_to_dict

    values = config_to_dict(config)
    return {k: v for k, v in values.items() if k not in ("run_dir", "distill", "pipeline")}


def _predict(
    run_dir: Path, sessions: dict[str, dict[str, Path]], out: Path, device: str, show: bool, pipeline: Any
) -> None:
    from lp3d_models.prediction import predict_videos

    for name, videos in sessions.items():
        predict_videos(
            run_dir,
            videos,
            out / f"{name}.zarr",
            group=MODEL_GROUP,
            device=device,
            progress=show,
            offsets=pipeline.offsets.get(name),
            shortest=pipeline.shortest,
        )


def _smooth(
    predictions: Path, sessions: dict[str, dict[str, Path]], calibrations: dict[str, Path | None], out: Path
) -> None:
    from lp3d_io import read_group

    for name in sessions:
        ds = read_group(predictions / f"{name}.zarr", MODEL_GROUP).load()
        views = [str(v) for v in ds["view"].values]
        calibration = calibrations[name]
        rig = load_rig(calibration, views) if calibration is not None else None
        _, smoothed = smooth_predictions(ds, rig, SmoothSettings(calibration=calibration))
        with staged_directory(out / name) as tmp:
            write_smoothed_outputs(tmp, name, ds, smoothed, rig)


def _check_videos(sessions: dict[str, dict[str, Path]], pipeline: Any) -> None:
    """Video lengths before any work: equal per session after ``pipeline.offsets``, or ``shortest``.

    Raises:
        UserError: unequal lengths without ``shortest``, or offsets naming unknown sessions or views.
    """
    from lp3d_io.video import VideoReader

    unknown = sorted(set(pipeline.offsets) - set(sessions))
    if unknown:
        raise UserError(f"pipeline.offsets: expected sessions among {sorted(sessions)}, but got {unknown}")
    for name, by_view in sessions.items():
        offsets = pipeline.offsets.get(name, {})
        bad = sorted(set(offsets) - set(by_view))
        if bad:
            raise UserError(f"pipeline.offsets.{name}: expected views among {list(by_view)}, but got {bad}")
        if len(set(by_view.values())) == 1:
            continue  # one video cut into the views (data.crops)
        lengths = {}
        for view, path in by_view.items():
            with VideoReader(path) as reader:
                lengths[view] = reader.frame_count - int(offsets.get(view, 0))
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{view}: {n}" for view, n in lengths.items())
            if not pipeline.shortest:
                raise UserError(
                    f"session {name}: expected the same number of frames in every view after pipeline.offsets, but "
                    f"got {shown} (set pipeline.offsets, or pipeline.shortest: true to end with the shortest view)"
                )
            log.warning(
                f"session {name}: views of unequal length ({shown}): predicting the first {min(lengths.values())}"
            )


def _check_held_out(config: Config, teacher: Path, sessions: dict[str, dict[str, Path]], planned: bool) -> str:
    """Which frames will be scored (``"test"``, ``"val"`` or ``""``), checked before any work.

    Args:
        planned: the teacher is not trained yet: check the split it will have.

    Raises:
        UserError: held-out frames that none of the videos holds.
    """
    from lp3d_models.data import load_data, split_frames
    from lp3d_models.evaluation import held_out_frames

    split = None
    if planned:
        split = split_frames(load_data(config.data, teacher, cameras=False), config.data)
    held = held_out_frames(teacher, list(sessions), split=split, config=config)
    if not held.part:
        log.warning(
            "nothing to score: the split holds out no labeled frame (data.test_fraction and data.val_fraction are 0, "
            "and data.split names none)"
        )
    elif not held.rows:
        raise UserError(
            f"data.split: expected held-out ({held.part}) labeled frames in the videos the pipeline predicts "
            f"(sessions {sorted(sessions)}), but none of its {held.labels.shape[1]} lies in them (hold out frames "
            f"of these sessions with data.split, or add their videos to pipeline.videos)"
        )
    elif held.part == "val":
        log.warning(
            "no test frames (data.test_fraction is 0): scoring the validation frames, which chose the checkpoints "
            "(their errors flatter the models)"
        )
    return held.part


def run_pipeline(
    config_path: Path,
    overrides: Sequence[str] = (),
    *,
    device: str = "auto",
    show_progress: bool = False,
    progress: ProgressCallback | None = None,
) -> PipelineResult:
    """Runs (or resumes) the pipeline of a config; see the module docstring.

    Args:
        config_path: the YAML config.
        overrides: ``section.key=value`` strings.
        device: where the models predict.
        show_progress: the models' own progress bars (training, prediction) on the terminal.
        progress: called as stages start (:mod:`lp3d_workflows.progress`).

    Raises:
        MissingExtraError: lp3d-models is not installed.
        FileNotFoundError, ValueError: a missing or bad config, data or videos, or held-out frames
            outside the videos (one-line messages, before any work where they can be known).
    """
    require_models()
    from lp3d_io.layout import SPLIT_FILE, SYNTHETIC_DIR, find_label_views
    from lp3d_models.config import load_config
    from lp3d_models.distill import distill
    from lp3d_models.distributed import connect, is_rank_zero, rank
    from lp3d_models.runs import read_run_info
    from lp3d_models.training import train

    connect()  # several ranks started by a launcher agree from the first step
    config = load_config(config_path, overrides)
    for path in config.pipeline.videos:
        if not Path(path).exists():
            raise UserError(f"pipeline.videos: {path}: no such video or folder")
    root = Path(config.run_dir)
    teacher, student = root / TEACHER_DIR, root / STUDENT_DIR
    teacher_config = load_config(config_path, [*overrides, f"run_dir={teacher}"])
    data = config.data
    data_root = Path(data.root) if data.root is not None else teacher / SYNTHETIC_DIR
    labels = []
    if data.root is not None:
        if data.crops is not None and "{view}" not in data.labels:
            labels = [data_root / data.labels]
        else:
            views = data.views or (list(data.crops) if data.crops else find_label_views(data_root, data.labels))
            labels = [data_root / labels_file(v, data.labels) for v in views]
    stage_names = STAGES if config.pipeline.distill else STAGES[:3]
    runner = StageRunner(root)

    def run(stage: Stage) -> None:
        report(progress, f"stage {stage.name}", stage_names.index(stage.name), len(stage_names))
        runner(stage)

    def find_sessions(views: list[str]) -> dict[str, dict[str, Path]]:
        folders = [Path(p) for p in config.pipeline.videos] or [data_root / VIDEOS]
        try:
            sessions = find_video_sessions(folders, views, cropped=data.crops is not None)
        except (ValueError, FileNotFoundError) as err:
            raise UserError(f"pipeline.videos: {err}") from None
        _check_videos(sessions, config.pipeline)
        return sessions

    train_stage = Stage(
        "train",
        lambda: train(teacher_config, overwrite=True),
        labels,
        _training_settings(teacher_config),
        [teacher],
        all_ranks=True,
    )
    if data.root is not None:  # everything that can fail is checked before training
        views = data.views or (list(data.crops) if data.crops else find_label_views(data_root, data.labels))
        sessions = find_sessions(views)
        planned = not ((teacher / SPLIT_FILE).is_file() and runner.up_to_date(train_stage))
        held_out = _check_held_out(teacher_config, teacher, sessions, planned)
    run(train_stage)
    if data.root is None:  # a synthetic session exists once the teacher wrote it
        sessions = find_sessions(read_run_info(teacher)["views"])
        held_out = _check_held_out(teacher_config, teacher, sessions, planned=False)
    calibrations = _calibrations(config, data_root, list(sessions))
    videos = sorted({p for by_view in sessions.values() for p in by_view.values()})
    cameras = [p for p in calibrations.values() if p is not None]
    settings = {
        "sessions": {k: {v: str(p) for v, p in d.items()} for k, d in sessions.items()},
        "offsets": config.pipeline.offsets,
        "shortest": config.pipeline.shortest,
    }
    stamp = runner.stamp
    smooth_settings = {**settings, "calibrations": {k: str(p) for k, p in calibrations.items()}}

    def predict_and_smooth(model: Path, after: str, prefix: str) -> None:
        """The stages ``predict<suffix>`` and ``smooth<suffix>`` of a model (the teacher or the student)."""
        suffix = "" if not prefix else f"_{prefix.rstrip('_')}"
        predictions, smoothed = root / f"{prefix}predictions", root / f"{prefix}smoothed"
        run(
            Stage(
                f"predict{suffix}",
                lambda: _predict(model, sessions, predictions, device, show_progress, config.pipeline),
                [stamp(after), *videos],
                settings,
                [predictions],
            )
        )
        run(
            Stage(
                f"smooth{suffix}",
                lambda: _smooth(predictions, sessions, calibrations, smoothed),
                [stamp(f"predict{suffix}"), *cameras],
                smooth_settings,
                [smoothed],
            )
        )

    predict_and_smooth(teacher, "train", "")
    stores = {name: root / "smoothed" / name / f"{name}.zarr" for name in sessions}
    if config.pipeline.distill:
        dc = config.distill
        run(
            Stage(
                "distill",
                lambda: distill(
                    teacher,
                    list(stores.values()),
                    student,
                    **asdict(dc),  # this config's distill section (the teacher may have been trained with another)
                    overwrite=True,
                    offsets=config.pipeline.offsets,
                ),
                [stamp("smooth"), *labels],
                {"distill": dc.__dict__, "training": _training_settings(config)},
                [student],
                all_ranks=True,
            )
        )
        predict_and_smooth(student, "distill", "student_")
    if not is_rank_zero():  # the scores and the report are rank 0's
        return PipelineResult(root, runner.ran, [], None, runner.seconds, held_out, rank())
    report(progress, "scoring the stages and writing the report", len(stage_names), len(stage_names))
    scores = score_stages(root, list(sessions), calibrations, distilled=config.pipeline.distill) if held_out else []
    page = write_pipeline_report(
        root, scores, list(sessions), runner.seconds, distilled=config.pipeline.distill, held_out=held_out
    )
    return PipelineResult(root, runner.ran, scores, page, runner.seconds, held_out)


def score_stages(
    root: Path, sessions: Sequence[str], calibrations: dict[str, Path | None], *, distilled: bool = True
) -> list[Score]:
    """Scores every stage on the teacher's held-out labeled frames (test, else validation) that lie in
    the sessions' videos; nothing (an empty list) when the teacher holds out no frame. With several
    animals, each stage has a row over all of them (``individual="all"``, with the identity-swap
    rate) and one per animal (:func:`lp3d_models.evaluation.score_individuals`).

    Raises:
        UserError: no held-out frame is a frame of the videos.
    """
    from lp3d_io import read_group
    from lp3d_models.evaluation import held_out_frames, score_individuals
    from lp3d_models.individuals import from_channels

    tests = held_out_frames(root / TEACHER_DIR, sessions)
    if not tests.part:
        return []
    if not tests.rows:
        raise UserError(
            f"{root / 'teacher'}: none of its held-out labeled frames is a frame of the videos of sessions "
            f"{list(sessions)} (expected {LABELED_DATA}/<session>_<view>/img<frame>.png)"
        )
    estimates: dict[str, list[np.ndarray]] = {}
    estimates3d: dict[str, list[np.ndarray]] = {}
    truth, truth3d = [], []
    calibrated = all(calibrations[s] is not None for s in tests.rows)
    sources = [("teacher", root / "predictions", root / "smoothed")]
    if distilled:
        sources.append(("student", root / "student_predictions", root / "student_smoothed"))
    individuals = tests.individual_names
    # the labels' individuals, in their order (one animal: whatever the store calls it)
    chosen = {"individual": [0]} if len(individuals) == 1 else {"individual": individuals}

    def pick(ds: Any) -> Any:
        return ds.isel(**chosen) if len(individuals) == 1 else ds.sel(**chosen)

    for session, (rows, frames) in tests.rows.items():
        labels = from_channels(tests.labels[:, rows], len(individuals), axis=2)  # (view, n, keypoint, individual, 2)
        truth.append(labels)
        rig = None
        for who, predictions, smoothed in sources:
            ds = pick(read_group(predictions / f"{session}.zarr", MODEL_GROUP)).sel(time=frames)
            position = ds["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values
            names = [str(m) for m in ds["member"].values]
            if calibrated and rig is None:
                rig = load_rig(calibrations[session], [str(v) for v in ds["view"].values])
            sm = pick(read_group(smoothed / session / f"{session}.zarr", SMOOTHED_GROUP)).sel(time=frames)
            reprojection = sm["reprojection"].transpose("view", "time", "keypoint", "individual", "image_space").values
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
                    dims = ("time", "keypoint", "individual", "space")
                    points = sm["position"].transpose(*dims).values if smoothed3d else None
                    estimates3d.setdefault(label, []).append(points if smoothed3d else rig.triangulate(estimate))
        if rig is not None:
            truth3d.append(rig.triangulate(labels))
    all_truth = np.concatenate(truth, axis=1)
    all_truth3d = np.concatenate(truth3d, axis=0) if calibrated else None
    scores = []
    for label, parts_ in estimates.items():
        points3d = np.concatenate(estimates3d[label], axis=0) if calibrated else None
        estimate = np.concatenate(parts_, axis=1)
        scores += score_individuals(label, estimate, all_truth, individuals, points3d, all_truth3d)
    return scores
