"""Training runs as a front end shows and starts them: the model form's config, checked by the
trainer's own rules; each member's metrics; the runs compared on their held-out labeled frames; and
the jobs that train, predict (then smooth), evaluate and distill. Training, prediction, evaluation
and distillation are lp3d-models' own functions (:func:`lp3d_models.train`,
:func:`lp3d_models.predict_videos`, :func:`lp3d_models.evaluate`, :func:`lp3d_models.distill`), called
as the ``lp3d`` command calls them.

- :func:`model_config`: a config from the project's (``lp3d.yaml``, as ``lp3d init`` or
  :func:`lp3d_workflows.project_setup.create_project` wrote it; the defaults without one) and the
  form's settings as ``section.key=value`` overrides, loaded by :func:`lp3d_models.config.load_config`
  (every key and value, and the cross-field rules it has: a model side the backbone does not take,
  a batch that the devices do not divide, ...); then the labeled frames the trainer would read and
  their split (:func:`lp3d_models.data.load_data`, :func:`lp3d_models.data.split_frames`), so that a
  config the trainer would reject is refused before anything starts.
- :func:`read_metrics`: ``seed_<s>/logs/version_<n>/metrics.csv`` of every member (the versions of a
  resumed member one after the other), per metric its steps and values.
- :func:`compare_runs`: the runs' ``evaluation/summary.csv`` (:func:`lp3d_models.evaluate`), per
  keypoint and view, with which held-out frames each run was scored on.
- Job kinds (:mod:`lp3d_workflows.jobs`): ``train`` (a new run, more seeds, or ``resume``),
  ``predict`` (every member on chosen sessions' videos, then the smoother), ``evaluate``,
  ``distill`` (the pseudo-labels of a student, to preview; the student then trains as a ``train``
  job on its ``config.yaml``). Their progress comes from the trainer's and the predictor's progress
  bars (``seed_0 steps: 37/200``, ``predict: 40/90``), read as they are written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lp3d_io.layout import CONFIG_FILE, EVALUATION_DIR, SPLIT_FILE

from lp3d_workflows.errors import UserError, require_models
from lp3d_workflows.progress import ProgressCallback, report

__all__ = [
    "RUNS_DIR",
    "PREDICTIONS_DIR",
    "SMOOTHED_DIR",
    "WEIGHT_SUFFIXES",
    "ModelSettings",
    "backbones",
    "settings_overrides",
    "model_config",
    "config_yaml",
    "read_metrics",
    "RunComparison",
    "compare_runs",
    "read_selection",
    "weight_files",
    "pretrained_value",
    "model_options",
    "train_params",
    "predict_params",
    "evaluate_params",
    "distill_params",
    "distillation_folder",
    "find_distillations",
    "run_detail",
    "comparison",
    "distillation_detail",
    "distillation_image",
    "check_train",
    "run_train",
    "check_predict",
    "run_predict",
    "check_evaluate",
    "run_evaluate",
    "check_distill",
    "run_distill",
]

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
"""Where the app's runs go in a project: ``runs/<name>/`` (``lp3d init``'s ``run_dir`` is there too)."""
PREDICTIONS_DIR = "lp3d-app/predictions"
"""Where prediction jobs write: ``lp3d-app/predictions/<name>/<session>.zarr``."""
SMOOTHED_DIR = "lp3d-app/smoothed"
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")
"""Backbone weight files a project may hold (``model.pretrained``)."""


@dataclass(frozen=True)
class ModelSettings:
    """What the model form sets (everything else comes from the project's config or the defaults).

    Attributes:
        name: the run's name: ``runs/<name>/``.
        backbone: a key of :data:`lp3d_models.backbone.BACKBONES`.
        pretrained: True (timm's weights), False (random), or a weights file (absolute, in the project).
        height, width: the model's input size (a multiple of what the backbone takes).
        steps: optimizer steps of each member.
        batch_size: labeled frames per step.
        seeds: one ensemble member per seed.
        masking: share of patches hidden per view at the end of the ramp (0: none).
        geometry: use the calibrations (3D augmentation, triangulation loss).
        augment_3d, triangulation_loss: those two, with ``geometry``.
        val_fraction, test_fraction: held-out shares (None: the config's).
        extra: more ``section.key=value`` settings.
    """

    name: str
    backbone: str
    pretrained: bool | str
    height: int
    width: int
    steps: int
    batch_size: int
    seeds: list[int]
    masking: float = 0.3
    geometry: bool = False
    augment_3d: bool = True
    triangulation_loss: bool = True
    val_fraction: float | None = None
    test_fraction: float | None = None
    extra: list[str] = field(default_factory=list)


def backbones() -> list[tuple[str, int]]:
    """Every backbone of the registry and what the model's sides must be a multiple of."""
    require_models()
    from lp3d_models.backbone import BACKBONES, input_multiple

    return [(name, input_multiple(name)) for name in BACKBONES]


def settings_overrides(root: Path, settings: ModelSettings) -> list[str]:
    """The form's settings as ``section.key=value`` overrides (:func:`lp3d_models.config.apply_overrides`)."""
    from lp3d_workflows.project_setup import check_name

    check_name(settings.name, "name")
    out = [
        f"run_dir={json.dumps(str(root / RUNS_DIR / settings.name))}",
        f"model.backbone={json.dumps(settings.backbone)}",
        f"model.pretrained={json.dumps(settings.pretrained)}",
        f"model.height={int(settings.height)}",
        f"model.width={int(settings.width)}",
        f"training.max_steps={int(settings.steps)}",
        f"training.batch_size={int(settings.batch_size)}",
        f"training.seeds={json.dumps([int(s) for s in settings.seeds])}",
        f"masking.final={float(settings.masking)}",
        f"geometry.enabled={json.dumps(bool(settings.geometry))}",
        f"geometry.augment_3d={json.dumps(bool(settings.augment_3d))}",
        f"geometry.triangulation_loss={json.dumps(bool(settings.triangulation_loss))}",
    ]
    if settings.val_fraction is not None:
        out.append(f"data.val_fraction={float(settings.val_fraction)}")
    if settings.test_fraction is not None:
        out.append(f"data.test_fraction={float(settings.test_fraction)}")
    form_keys = {line.split("=", 1)[0] for line in out}
    extra = [line.strip() for line in settings.extra if line.strip()]
    for line in extra:
        key = line.split("=", 1)[0].strip()
        if key in form_keys:
            raise UserError(
                f"more settings: expected settings the form does not set, but got {line!r} (set {key} above)"
            )
    return out + extra


def model_config(project: Any, settings: ModelSettings, *, check_data: bool = True) -> Any:
    """The config the form makes (see the module docstring), checked as the trainer checks it.

    Raises:
        ValueError: what :func:`lp3d_models.config.load_config` rejects (naming the key), a
            pretrained file outside the project, or labeled frames the trainer would not take
            (none, too few for the split, calibrations that do not match).
    """
    require_models()
    from lp3d_models.config import load_config

    from lp3d_workflows.project import is_inside

    if isinstance(settings.pretrained, str) and not is_inside(project.root, Path(settings.pretrained)):
        raise UserError(f"model.pretrained: expected a weights file in the project, but got {settings.pretrained}")
    overrides = settings_overrides(project.root, settings)
    base = project.data_root or project.root
    if project.config is None and project.data_root is not None:
        overrides.insert(0, f"data.root={json.dumps(str(project.data_root))}")
    try:
        config = load_config(project.config, overrides, base=base)
    except ValueError as err:  # "<absolute config path>: key: ..." names the file as the project does
        if project.config is None:
            raise
        raise UserError(str(err).replace(str(project.config), project.relative(project.config))) from None
    _check_paths_inside(project.root, config, project.views)
    if check_data and config.data.synthetic is None:
        if project.n_labeled == 0:
            raise UserError("data: expected labeled frames to train on, but the label files have none (label some)")
        from lp3d_models.data import load_data, split_frames

        data = load_data(config.data, config.run_dir, cameras=config.geometry.enabled)
        if data.n_frames == 0:
            raise UserError("data: expected labeled frames to train on, but the label files have none (label some)")
        split_frames(data, config.data)
    return config


def _check_paths_inside(root: Path, config: Any, views: Sequence[str]) -> None:
    """Refuses a config whose files are outside the project (``run_dir``, ``data.root``, the label
    files, ``model.init_checkpoint``, a ``model.pretrained`` file): the form may name only the
    project's own files."""
    from lp3d_workflows.project import is_inside

    paths = [("run_dir", config.run_dir), ("data.root", config.data.root)]
    if config.data.root is not None:
        for view in config.data.views or views:
            paths.append(("data.labels", str(Path(config.data.root) / config.data.labels.format(view=view))))
    paths.append(("model.init_checkpoint", config.model.init_checkpoint))
    if isinstance(config.model.pretrained, str):
        paths.append(("model.pretrained", config.model.pretrained))
    for key, value in paths:
        if value is not None and not is_inside(root, Path(value)):
            raise UserError(f"{key}: expected a path inside the project, but got {value}")


def config_yaml(config: Any) -> str:
    """The config as the run folder's ``config.yaml`` will hold it."""
    import yaml
    from lp3d_models.config import config_to_dict

    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


# --- metrics -------------------------------------------------------------------------------------------


def _version(path: Path) -> int:
    match = re.search(r"(\d+)$", path.name)
    return int(match.group(1)) if match else -1


def read_metrics(run_dir: str | os.PathLike) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{member: {metric: {"step": [...], "value": [...]}}}`` from each member's ``metrics.csv``
    (missing or empty files give nothing; a row is skipped where a metric is empty)."""
    run_dir = Path(run_dir)
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for member in sorted(p for p in run_dir.glob("seed_*") if p.is_dir()):
        series: dict[str, dict[str, list[float]]] = {}
        for version in sorted((member / "logs").glob("version_*"), key=_version):
            path = version / "metrics.csv"
            try:
                text = path.read_text()
            except OSError:
                continue
            for row in csv.DictReader(io.StringIO(text)):
                try:
                    step = float(row.get("step") or "nan")
                except ValueError:
                    continue
                for name, cell in row.items():
                    if name in ("step", "epoch") or not cell:
                        continue
                    with contextlib.suppress(ValueError):
                        value = float(cell)
                        entry = series.setdefault(name, {"step": [], "value": []})
                        entry["step"].append(step)
                        entry["value"].append(value)
        out[member.name] = series
    return out


# --- comparison on held-out frames ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunComparison:
    """One run's evaluation (:func:`lp3d_models.evaluate`, ``evaluation/summary.csv``).

    Attributes:
        run: the run's name in the project.
        part: the held-out part it was scored on (``test``, else ``val``), or "" when unknown.
        n_frames: frames in that part.
        frames_key: identifies those frames (runs with equal keys were scored on the same frames).
        rows: ``[(model, view, keypoint, n, mean, median, p90)]``; ``view`` / ``keypoint`` ``all`` for totals.
    """

    run: str
    part: str
    n_frames: int
    frames_key: str
    rows: list[tuple[str, str, str, int, float, float, float]]


def _held_out_part(run_dir: Path) -> tuple[str, list[str]]:
    try:
        split = json.loads((run_dir / SPLIT_FILE).read_text())
    except (OSError, ValueError):
        return "", []
    for part in ("test", "val"):
        images = split.get(part, {}).get("images", []) if isinstance(split.get(part), dict) else []
        if images:
            return part, [str(i) for i in images]
    return "", []


def compare_runs(runs: Sequence[tuple[str, Path]]) -> list[RunComparison]:
    """The evaluations of ``[(name, run folder)]`` (runs not evaluated yet are left out)."""
    import hashlib

    out = []
    for name, run_dir in runs:
        path = Path(run_dir) / EVALUATION_DIR / "summary.csv"
        if not path.is_file():
            continue
        rows = []
        for row in csv.DictReader(io.StringIO(path.read_text())):
            with contextlib.suppress(KeyError, ValueError):
                rows.append(
                    (
                        row["model"],
                        row["view"],
                        row["keypoint"],
                        int(float(row["n"])),
                        float(row["mean"]),
                        float(row["median"]),
                        float(row["p90"]),
                    )
                )
        part, images = _held_out_part(Path(run_dir))
        key = hashlib.sha1("\n".join(sorted(images)).encode()).hexdigest()[:10] if images else ""
        out.append(RunComparison(name, part, len(images), key, rows))
    return out


def read_selection(folder: Path) -> list[dict[str, Any]]:
    """A pseudo-label folder's frames (``selection.csv``: session, frame, frame variance, mean weight),
    each with its images, pseudo-labels and weights per view (from the folder's label and weight files)."""
    from lp3d_io.layout import frame_image_path, labels_file, weights_file

    from lp3d_workflows.labeling import read_label_file

    try:
        rows = list(csv.DictReader(io.StringIO((folder / "selection.csv").read_text())))
    except OSError:
        return []
    views = sorted(p.name[len("CollectedData_") : -4] for p in folder.glob("CollectedData_*.csv"))
    labels = {v: read_label_file(folder / labels_file(v)) for v in views}
    weights = {v: read_label_file(folder / weights_file(v)) for v in views if (folder / weights_file(v)).is_file()}
    keypoints = labels[views[0]].keypoints if views else []
    out = []
    for row in rows:
        session, frame = row["session"], int(row["frame"])
        entry: dict[str, Any] = {
            "session": session,
            "frame": frame,
            "frame_variance": float(row["frame_variance"]),
            "mean_weight": float(row["mean_weight"]),
            "images": {},
            "points": {},
            "weights": {},
        }
        for view in views:
            image = frame_image_path(session, view, frame)
            found = labels[view].find(image)
            if found is None:
                continue
            entry["images"][view] = image
            entry["points"][view] = labels[view].positions(found, keypoints).tolist()
            if view in weights and (w := weights[view].find(image)) is not None:
                entry["weights"][view] = weights[view].positions(w, keypoints)[:, 0].tolist()
        out.append(entry)
    return out


# --- progress from the trainer's and predictor's progress bars -----------------------------------------

_BAR = re.compile(r"(seed_\S+ steps|predict):[^\r\n]*?(\d+)/(\d+)")
_OTHER_BAR = re.compile(r"\d+%\||it/s\]|\x1b\[|\[A")


class _ProgressBars(io.TextIOBase):
    """Stands in for stderr while lp3d-models trains or predicts: its progress bars become progress
    reports (``seed_0 steps: 37/200``, ``predict: 40/90``); other text goes to the log, and the bars
    too, once every ``log_every`` seconds."""

    def __init__(self, stream: Any, on_bar: Any, log_every: float = 10.0) -> None:
        self.stream, self.on_bar, self.log_every = stream, on_bar, log_every
        self._logged = 0.0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        found = _BAR.findall(text)
        if found:
            name, done, total = found[-1]
            self.on_bar(name, int(done), int(total))
            now = time.monotonic()
            if now - self._logged >= self.log_every or int(done) == int(total):
                self._logged = now
                self.stream.write(text.replace("\r", "").rstrip("\n") + "\n")
            return len(text)
        if text.strip("\r\n ") and not _OTHER_BAR.search(text):  # another bar (validation): not worth a line
            self.stream.write(text.replace("\r", ""))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _bars(on_bar: Any) -> Iterator[None]:
    original = sys.stderr
    sys.stderr = _ProgressBars(original, on_bar)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stderr = original


def _quiet() -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)


# --- jobs ---------------------------------------------------------------------------------------------


def check_train(params: dict[str, Any]) -> Path:
    """The ``train`` job's check: a config (as :func:`model_config` made it) or a run to resume."""
    if params.get("resume"):
        run_dir = Path(params["run_dir"])
        if not (run_dir / CONFIG_FILE).is_file():
            raise UserError(f"{run_dir.name}: expected a run to resume (with {CONFIG_FILE}), but it has none")
        return run_dir
    if not isinstance(params.get("config"), dict) or "run_dir" not in params["config"]:
        raise UserError("config: expected the run's config")
    return Path(params["config"]["run_dir"])


def _train(config: Any, progress: ProgressCallback, *, resume: bool, overwrite: bool) -> Any:
    from lp3d_models.training import train

    seeds = list(config.training.seeds)
    totals: dict[str, int] = {}

    def on_bar(name: str, done: int, total: int) -> None:
        member = name.split(" ")[0]
        if name == "predict":
            return
        totals[member] = total
        i = len(totals) - 1
        finished = sum(t for m, t in totals.items() if m != member)
        progress(f"training {member} ({i + 1} of {len(seeds)})", finished + done, total * len(seeds))

    config.training.progress_bar = True  # its bar is the progress (module docstring)
    report(progress, "reading the labeled frames", 0, None)
    _quiet()
    with _bars(on_bar):
        return train(config, resume=resume, overwrite=overwrite)


def run_train(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``train`` job: :func:`lp3d_models.train` on the config (or the run's own, to resume)."""
    require_models()
    from lp3d_models.config import config_from_dict, load_config

    resume = bool(params.get("resume"))
    if resume:
        config = load_config(Path(params["run_dir"]) / CONFIG_FILE)
    else:
        config = config_from_dict(params["config"])
    result = _train(config, progress, resume=resume, overwrite=bool(params.get("overwrite")))
    return {
        "run_dir": str(result.run_dir),
        "members": [m.name for m in result.members],
        "best_val_error": [None if e != e else float(e) for e in result.best_val_error],
    }


def check_predict(params: dict[str, Any]) -> Path:
    """The ``predict`` job's check: a trained run and sessions with every view's video."""
    from lp3d_workflows.project_setup import check_name

    check_name(params["name"], "name")
    if not params.get("sessions"):
        raise UserError("sessions: expected at least one session to predict")
    for session in params["sessions"]:
        if not session.get("videos"):
            raise UserError(f"session {session.get('name')}: expected its videos, but it has none")
    return Path(params["out"])


def run_predict(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``predict`` job: every member of the run on each session's videos
    (:func:`lp3d_models.predict_videos` into ``<out>/<session>.zarr``), then, with ``smooth``, the
    smoother on each (:func:`lp3d_workflows.jobs.smooth_job`, into ``<smoothed>/<session>.zarr``)."""
    require_models()
    from lp3d_models.prediction import predict_videos

    from lp3d_workflows.jobs import smooth_job

    sessions = params["sessions"]
    out = Path(params["out"])
    results = []
    for i, session in enumerate(sessions):
        name = session["name"]

        def on_bar(bar: str, done: int, total: int, i: int = i, name: str = name) -> None:
            if bar == "predict":
                progress(f"predicting {name} ({i + 1} of {len(sessions)})", i * total + done, total * len(sessions))

        report(progress, f"predicting {name} ({i + 1} of {len(sessions)})", 0, None)
        with _bars(on_bar):
            found = predict_videos(
                params["run_dir"],
                session["videos"],
                out / f"{name}.zarr",
                export_csv=False,
                batch_size=int(params.get("batch_size", 16)),
                overwrite=True,
                progress=True,
            )
        entry: dict[str, Any] = {"session": name, "store": str(found.store), "n_frames": found.n_frames}
        if params.get("smooth"):
            smoothed = smooth_job(
                {
                    "inputs": [str(found.store)],
                    "out": params["smoothed"],
                    "calibration": session.get("calibration"),
                    "overwrite": True,
                    "n_threads": 1,
                    "project": params.get("project"),
                },
                progress,
            )
            entry["smoothed"] = smoothed
        results.append(entry)
    return {"sessions": results, "session": results[0]["session"] if len(results) == 1 else None}


def check_evaluate(params: dict[str, Any]) -> Path:
    """The ``evaluate`` job's check: runs with checkpoints; its output is the first run's evaluation."""
    runs = [Path(r) for r in params.get("runs", [])]
    if not runs:
        raise UserError("runs: expected at least one run to evaluate")
    return runs[0] / EVALUATION_DIR


def run_evaluate(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``evaluate`` job: :func:`lp3d_models.evaluate` on each run's test frames (its validation
    frames when it holds out no test frames)."""
    require_models()
    from lp3d_models.evaluation import evaluate

    out = {}
    runs = [Path(r) for r in params["runs"]]
    for i, run in enumerate(runs):
        report(progress, f"evaluating {run.name}", i, len(runs))
        part = _held_out_part(run)[0] or "test"
        found = evaluate(run, split=part, overlays=int(params.get("overlays", 0)))
        out[run.name] = {"split": part, "ensemble": found.overall(), "n_frames": len(found.frames)}
    report(progress, "evaluated", len(runs), len(runs))
    return {"runs": out}


def check_distill(params: dict[str, Any]) -> Path:
    """The ``distill`` job's check: a teacher, smoothed stores, a student name."""
    from lp3d_workflows.project_setup import check_name

    check_name(Path(params["out"]).name, "name")
    if not params.get("stores"):
        raise UserError("stores: expected at least one smoothed result to choose frames from")
    return Path(params["out"])


def run_distill(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``distill`` job: :func:`lp3d_models.distill` without training the student: its frames
    chosen and pseudo-labeled (``<out>/pseudo_labels/``), its config and split written; the student
    then trains as a ``train`` job on ``<out>/config.yaml``."""
    require_models()
    from lp3d_models.distill import distill

    report(progress, "choosing frames and writing their pseudo-labels", 0, None)
    found = distill(
        params["teacher"],
        params["stores"],
        params["out"],
        n_frames=params.get("n_frames"),
        variance_quantile=params.get("variance_quantile"),
        seeds=params.get("seeds"),
        max_steps=params.get("max_steps"),
        train_student=False,
        overwrite=bool(params.get("overwrite")),
    )
    return {
        "run_dir": str(found.run_dir),
        "frames": {s: [int(f) for f in frames] for s, frames in found.frames.items()},
    }


# --- what the app's handlers call: options, job parameters, run details --------------------------------


def weight_files(project: Any) -> list[Path]:
    """Backbone weight files (:data:`WEIGHT_SUFFIXES`) in the project's ``weights/`` folder or its top folder."""
    from lp3d_workflows.project import is_inside

    found = []
    for folder in (project.root, project.root / "weights"):
        if folder.is_dir():
            found += [
                p
                for p in sorted(folder.iterdir())
                if p.suffix.lower() in WEIGHT_SUFFIXES and p.is_file() and is_inside(project.root, p)
            ]
    return found


def weights_id(project: Any, path: Path) -> str:
    return project.relative(path)


def pretrained_value(project: Any, value: bool | str) -> bool | str:
    """``model.pretrained`` of the form's choice: True, False, or a weights file named by its id.

    Raises:
        KeyError: no weights file of that id in the project.
    """
    if isinstance(value, bool):
        return value
    for path in weight_files(project):
        if weights_id(project, path) == value:
            return str(path)
    raise KeyError(f"weights {value!r}: not in this project (put .pth / .safetensors files in weights/)")


def model_options(project: Any) -> dict[str, Any]:
    """What the model form offers: backbones, weight files, whether sessions are calibrated, labeled
    frames, the views' image sizes, and the runs of ``runs/``."""
    message = None
    sizes = sorted({size for s in project.sessions for size in s.image_sizes.values()})
    proposed: dict[str, tuple[int, int]] = {}
    try:
        found = backbones()
        from lp3d_models.project import propose_size

        if sizes:
            proposed = {name: propose_size(sizes, multiple=multiple) for name, multiple in found}
    except ImportError as err:
        found, message = [], str(err)
    runs = sorted(p.name for p in (project.root / RUNS_DIR).glob("*") if p.is_dir()) if project.root else []
    return {
        "backbones": [{"name": n, "multiple": m, "proposed": proposed.get(n)} for n, m in found],
        "weights": [{"id": weights_id(project, p), "label": project.relative(p)} for p in weight_files(project)],
        "calibrated": any(s.calibration for s in project.sessions),
        "n_labeled": project.n_labeled,
        "image_sizes": sizes,
        "runs": runs,
        "message": message,
    }


def train_params(
    project: Any,
    settings: ModelSettings | None = None,
    *,
    run_id: str | None = None,
    student: str | None = None,
    overwrite: bool = False,
) -> tuple[dict[str, Any], str]:
    """The ``train`` job's parameters and label: a new run from the form's ``settings`` (checked by
    :func:`model_config`), a run to resume, or a distillation's student (its ``config.yaml``).

    Raises:
        UserError: none or several of the three; what the trainer would reject.
        KeyError: an unknown run or distillation.
    """
    if sum(x is not None for x in (settings, run_id, student)) != 1:
        raise UserError("train: expected one of a model form, a run to resume, or a student")
    if run_id is not None:
        run = project.run(run_id)
        return {"resume": True, "run_dir": str(run.path)}, f"resume {run.name}"
    require_models()
    from lp3d_models.config import config_to_dict, load_config

    if student is not None:
        folder = distillation_folder(project, student)
        config = load_config(folder / CONFIG_FILE)
        from lp3d_models.data import load_data

        load_data(config.data, config.run_dir, cameras=config.geometry.enabled)  # the student's frames, as it will
        return {"config": config_to_dict(config), "overwrite": overwrite}, f"train student {student}"
    assert settings is not None
    config = model_config(project, settings)
    if not overwrite:  # the trainer's rules (lp3d_models.runs.run_conflicts), checked before the job starts
        from lp3d_models.runs import run_conflicts

        found = run_conflicts(config, list(settings.seeds))
        if found.changed:
            raise UserError(
                f"{RUNS_DIR}/{settings.name}: expected the run's own {', '.join(found.changed)}, but the form "
                "changes them (choose another name, or start the run again)"
            )
        if found.trained:
            raise UserError(
                f"{RUNS_DIR}/{settings.name}: expected new members, but {', '.join(found.trained)} trained already "
                "(resume the run, start it again, or choose other seeds)"
            )
    return {"config": config_to_dict(config), "overwrite": overwrite}, f"train {settings.name} (seeds {settings.seeds})"


def predict_params(
    project: Any, run_id: str, session_ids: Sequence[str], name: str | None = None, smooth: bool = True
) -> tuple[dict[str, Any], str]:
    """The ``predict`` job's parameters and label: the run, each session's videos (every view the
    run has) and calibration; outputs ``lp3d-app/predictions/<name>/`` and ``lp3d-app/smoothed/<name>/``.

    Raises:
        KeyError: an unknown run or session.
        UserError: a run without a trained member, a session without a video of a view of the run.
    """
    from lp3d_workflows.project_setup import check_name

    run = project.run(run_id)
    if not run.trained:
        raise UserError(f"run {run.name}: expected trained members, but it has none yet")
    name = check_name(name or Path(run.name).name, "name")
    sessions = []
    for session_id in session_ids:
        session = project.session(session_id)
        missing = [v for v in run.views if v not in session.videos]
        if missing:
            raise UserError(
                f"session {session.name}: expected a video of every view of the run, but {missing} have none"
            )
        calibration = project.calibration(session.calibration).path if session.calibration else None
        sessions.append(
            {
                "name": session.name,
                "videos": {v: str(session.videos[v].path) for v in run.views},
                "calibration": None if calibration is None else str(calibration),
            }
        )
    params = {
        "name": name,
        "run_dir": str(run.path),
        "sessions": sessions,
        "out": str(project.root / PREDICTIONS_DIR / name),
        "smoothed": str(project.root / SMOOTHED_DIR / name),
        "smooth": smooth,
        "project": str(project.root),
    }
    names = ", ".join(s["name"] for s in sessions)
    return params, f"predict {names} with {run.name}" + (" and smooth" if smooth else "")


def evaluate_params(project: Any, run_ids: Sequence[str]) -> tuple[dict[str, Any], str]:
    runs = [project.run(r) for r in run_ids]
    untrained = [r.name for r in runs if not r.trained]
    if untrained:
        raise UserError(f"runs {untrained}: expected trained members to evaluate")
    return {"runs": [str(r.path) for r in runs]}, "evaluate " + ", ".join(r.name for r in runs)


def distillation_folder(project: Any, name: str) -> Path:
    """``runs/<name>/`` of a distillation (a folder with ``pseudo_labels/``). Raises KeyError."""
    from lp3d_workflows.project_setup import check_name

    check_name(name, "name")
    folder = project.root / RUNS_DIR / name
    if not (folder / "pseudo_labels" / "selection.csv").is_file():
        raise KeyError(f"distillation {name!r}: not in this project")
    return folder


def distill_params(
    project: Any,
    teacher_id: str,
    source_ids: Sequence[str],
    name: str,
    *,
    n_frames: int,
    variance_quantile: float | None = None,
    steps: int | None = None,
    seeds: Sequence[int] | None = None,
    overwrite: bool = False,
) -> tuple[dict[str, Any], str]:
    """The ``distill`` job's parameters and label (its student goes to ``runs/<name>/``).

    Raises:
        KeyError: an unknown run or source.
        UserError: a source without a smoothed result, an untrained teacher, an existing student.
    """
    from lp3d_workflows.project_setup import check_name

    teacher = project.run(teacher_id)
    if not teacher.trained:
        raise UserError(f"teacher {teacher.name}: expected trained members")
    stores = []
    for source_id in source_ids:
        source = project.source(source_id)
        if source.smoothed is None:
            raise UserError(f"source {source.label}: expected a smoothed result")
        stores.append(str(source.store))
    out = project.root / RUNS_DIR / check_name(name, "name")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{RUNS_DIR}/{name}: exists already (choose another name, or replace it)")
    params = {
        "teacher": str(teacher.path),
        "stores": stores,
        "out": str(out),
        "n_frames": n_frames,
        "variance_quantile": variance_quantile,
        "max_steps": steps,
        "seeds": None if seeds is None else list(seeds),
        "overwrite": overwrite,
    }
    return params, f"distill {teacher.name} -> {name} ({n_frames} frames)"


def find_distillations(project: Any) -> list[tuple[str, Path]]:
    """``[(name, folder)]`` of the folders in ``runs/`` with pseudo-labels (students, trained or not)."""
    folder = project.root / RUNS_DIR
    if not folder.is_dir():
        return []
    return [(p.name, p) for p in sorted(folder.iterdir()) if (p / "pseudo_labels" / "selection.csv").is_file()]


def run_detail(project: Any, run: Any) -> dict[str, Any]:
    """A run's config, members, best validation errors, metrics, and whether it was evaluated or distilled."""
    try:
        config_text = (run.path / CONFIG_FILE).read_text()
    except OSError:
        config_text = ""
    metrics = read_metrics(run.path)
    best = {}
    for member in run.members:
        values = metrics.get(member, {}).get("val/pixel_error", {}).get("value", [])
        best[member] = min(values) if values else None
    teacher = _teacher(project, run.path) if (run.path / "pseudo_labels").is_dir() else None
    return {
        "id": run.id,
        "name": run.name,
        "config": config_text,
        "members": run.members,
        "trained": run.trained,
        "best_val_error": best,
        "evaluated": (run.path / EVALUATION_DIR / "summary.csv").is_file(),
        "student_of": teacher,
        "metrics": metrics,
    }


def comparison(runs: Sequence[Any]) -> dict[str, Any]:
    """:func:`compare_runs` of the project's runs as plain data: ``{"runs": [...], "missing": [names
    of runs not evaluated yet]}``."""
    found = compare_runs([(r.name, r.path) for r in runs])
    columns = ("model", "view", "keypoint", "n", "mean", "median", "p90")
    names = {c.run for c in found}
    return {
        "runs": [
            {
                "run": c.run,
                "part": c.part,
                "n_frames": c.n_frames,
                "frames_key": c.frames_key,
                "rows": [dict(zip(columns, row, strict=True)) for row in c.rows],
            }
            for c in found
        ],
        "missing": [r.name for r in runs if r.name not in names],
    }


def distillation_detail(project: Any, name: str) -> dict[str, Any]:
    """A distillation: its teacher, keypoints, pseudo-labeled frames (:func:`read_selection`), and
    whether its student is trained."""
    from lp3d_io.layout import RUN_FILE, checkpoint_path

    folder = distillation_folder(project, name)
    frames = read_selection(folder / "pseudo_labels")
    teacher = _teacher(project, folder)
    keypoints = []
    with contextlib.suppress(OSError, ValueError, StopIteration):
        from lp3d_workflows.labeling import read_label_file

        keypoints = read_label_file(next((folder / "pseudo_labels").glob("CollectedData_*.csv"))).keypoints
    trained = False
    with contextlib.suppress(OSError, ValueError):
        members = json.loads((folder / RUN_FILE).read_text()).get("members", [])
        trained = bool(members) and all(checkpoint_path(folder, m).is_file() for m in members)
    return {
        "name": name,
        "teacher": teacher,
        "keypoints": keypoints,
        "frames": [
            {
                "session": f["session"],
                "frame": f["frame"],
                "frame_variance": f["frame_variance"],
                "mean_weight": f["mean_weight"],
                "views": list(f["images"]),
                "points": f["points"],
                "weights": f["weights"],
            }
            for f in frames
        ],
        "trained": trained,
    }


def distillation_image(project: Any, name: str, index: int, view: str) -> Path:
    """The image of a distillation's ``index``-th pseudo-labeled frame in ``view``. Raises KeyError."""
    from lp3d_workflows.project import is_inside

    folder = distillation_folder(project, name) / "pseudo_labels"
    frames = read_selection(folder)
    if not 0 <= index < len(frames) or view not in frames[index]["images"]:
        raise KeyError(f"distillation {name}: no frame {index} of view {view!r}")
    path = folder / frames[index]["images"][view]
    if not path.is_file() or not is_inside(project.root, path):
        raise KeyError(f"distillation {name}: no image of frame {index} in view {view!r}")
    return path


def _teacher(project: Any, student: Path) -> str | None:
    """The teacher of a distilled student: the run of the checkpoint it started from
    (``model.init_checkpoint``, ``<teacher>/seed_<s>/checkpoints/best.ckpt``), or None."""
    import yaml

    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError, IndexError, yaml.YAMLError):
        start = (yaml.safe_load((student / CONFIG_FILE).read_text()) or {}).get("model", {}).get("init_checkpoint")
        if start:
            return project.relative(Path(start).parents[2])
    return None
