"""A project folder as a front end shows it: views, keypoints, skeleton, sessions, calibrations,
training runs and result stores, each under an id, and what is missing or malformed.

A *project folder* is any of (the layouts ``lp3d init``, ``lp3d pipeline`` and ``lp3d demo`` make):

- a folder with a config (``lp3d.yaml``, or another ``*.yaml`` with ``run_dir`` / ``data``): its
  data root (``data.root``, or the synthetic session a pipeline or a run wrote), and its run folder
  (``run_dir``: a pipeline's ``teacher/``, ``predictions/``, ``smoothed/``, ``student/``, ...);
- a Lightning Pose project itself (``CollectedData_<view>.csv``, ``videos/``, calibrations);
- any folder of session stores (``lp3d smooth`` outputs, ``lp3d demo --smoothing-only``).

What is found:

- **sessions**: the videos ``<data root>/videos/<session>_<view>.*`` (:func:`lp3d_io.layout.find_video_sessions`)
  and the sessions of the stores;
- **calibrations**: each session's anipose file (:func:`lp3d_io.layout.find_calibration_files`),
  or a store's ``calibration`` group;
- **runs**: training runs (folders with ``run.json``, :mod:`lp3d_io.layout`);
- **sources**: every store (``*.zarr``) with predictions and / or smoothed results, one source per
  store (its usual predictions and smoothed groups, :func:`lp3d_io.layout.groups_of_kind`);
- **prediction folders**: folders of prediction CSV files (inputs for smoothing);
- the **skeleton**: the synthetic session's bones, or ``skeleton.csv`` in the data root (one bone
  per row: two keypoint names).

Ids are what a client names things by: session names (when they are safe ids) and short hashes of
paths relative to the project, resolved only through :class:`Project` (never a path from a
client). Nothing outside the project folder is read: entries (symlinks among them) that resolve
outside it are skipped and reported as problems.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lp3d_io.layout import (
    CALIBRATION_GROUP,
    LABELED_DATA,
    LABELS_FILE,
    PREDICTIONS,
    RUN_FILE,
    SMOOTHED,
    SYNTHETIC_DIR,
    VIDEOS,
    checkpoint_path,
    find_calibration_files,
    find_label_views,
    find_video_sessions,
    groups_of_kind,
    labels_file,
)

from lp3d_workflows.errors import UserError
from lp3d_workflows.pipeline import TEACHER_DIR

__all__ = [
    "APP_DIR",
    "PROJECT_FILE",
    "SKELETON_FILE",
    "Problem",
    "VideoInfo",
    "SessionInfo",
    "CalibrationInfo",
    "RunInfo",
    "SourceInfo",
    "PredictionFolder",
    "Project",
    "describe_project",
    "is_inside",
    "video_mismatches",
]

log = logging.getLogger(__name__)

APP_DIR = ".lp3d-app"
"""What front ends keep in a project folder (hidden: never listed as project content): the jobs
(:data:`lp3d_workflows.jobs.JOBS_DIR`) and caches (:data:`lp3d_workflows.viewer_data.CACHE_DIR`)."""
PROJECT_FILE = f"{APP_DIR}/project.json"
"""Written when a front end creates a project (:mod:`lp3d_workflows.project_setup`): its name."""
SKELETON_FILE = "skeleton.csv"
"""Optional, in the data root: one bone per row, two keypoint names."""
CONFIG_NAMES = ("lp3d.yaml", "lp3d.yml")
MAX_DEPTH = 6
"""How deep the project folder is searched for stores, runs and prediction folders."""
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]{0,127}")
_RESULT_CSV = re.compile(r"^(multicam|singlecam)_.*_results\.csv$|^triangulated_3d\.csv$")


@dataclass(frozen=True)
class Problem:
    """Something missing or malformed: where (relative to the project), and one line saying what."""

    where: str
    message: str


@dataclass(frozen=True)
class VideoInfo:
    """One view's video of a session: its file, frame count, frame rate and size (width, height)."""

    view: str
    path: Path
    n_frames: int
    fps: float
    width: int
    height: int


@dataclass(frozen=True)
class CalibrationInfo:
    """A calibration: an anipose file, or a store's calibration group (``group`` set); ``sizes``:
    each camera's image ``(width, height)`` (cameras without one are left out)."""

    id: str
    path: Path
    views: list[str]
    group: str | None = None
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionInfo:
    """A recording: its videos by view (possibly none), calibration and result sources.

    ``image_sizes``: each view's image ``(width, height)``: its video's, else its calibration's
    (the session's calibration file, else a source store's calibration group); views of no known
    size are left out."""

    id: str
    name: str
    videos: dict[str, VideoInfo]
    calibration: str | None  # a CalibrationInfo id
    sources: list[str]  # SourceInfo ids
    n_labeled: int = 0
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return min((v.n_frames for v in self.videos.values()), default=0)


@dataclass(frozen=True)
class RunInfo:
    """A training run (``run.json``): its views, keypoints and members, and which have a checkpoint."""

    id: str
    name: str
    path: Path
    views: list[str]
    keypoints: list[str]
    members: list[str]
    trained: list[str]


@dataclass(frozen=True)
class SourceInfo:
    """A store of one session's results: ensemble members, and / or a smoothed result.

    Attributes:
        id: the client's name for it.
        label: a readable name (the store's folder in the project, and its groups).
        session: the session it belongs to.
        store: the store folder.
        predictions: the predictions group (members), or None.
        smoothed: the smoothed group, or None.
        calibrated: the store holds a calibration.
        smoother: the smoother kind of ``smoothed`` (``calibrated``, ``linear``, ``single_view``).
        views, keypoints, members: names.
        n_frames: frames.
        fps: frame rate, if recorded.
        image_sizes: each view's image ``(width, height)`` from the store's calibration, if any.
        individuals: the animals' names (the store's ``individual`` dimension; one for a single animal).
    """

    id: str
    label: str
    session: str
    store: Path
    predictions: str | None
    smoothed: str | None
    calibrated: bool
    smoother: str | None
    views: list[str]
    keypoints: list[str]
    members: list[str]
    n_frames: int
    fps: float | None
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    individuals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PredictionFolder:
    """A folder of prediction files (CSV, HDF5): an input for smoothing."""

    id: str
    label: str
    path: Path
    n_files: int


@dataclass
class Project:
    """What :func:`describe_project` found; ids resolve only through the ``*_by_id`` lookups.

    Attributes:
        root: the project folder (resolved).
        name: its folder name.
        config: the config file, if any.
        data_root: the labeled-data / videos folder, if any.
        run_dir: the pipeline or run folder of the config, if any.
        views, keypoints: names (from the labels, else the runs, else the stores).
        skeleton: bones as pairs of keypoint names.
        sessions, calibrations, runs, sources, prediction_folders: what was found.
        n_labeled: labeled frames (rows of the label files).
        problems: what is missing or malformed.
    """

    root: Path
    name: str
    config: Path | None = None
    data_root: Path | None = None
    run_dir: Path | None = None
    views: list[str] = field(default_factory=list)
    keypoints: list[str] = field(default_factory=list)
    skeleton: list[tuple[str, str]] = field(default_factory=list)
    sessions: list[SessionInfo] = field(default_factory=list)
    calibrations: list[CalibrationInfo] = field(default_factory=list)
    runs: list[RunInfo] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    prediction_folders: list[PredictionFolder] = field(default_factory=list)
    n_labeled: int = 0
    problems: list[Problem] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        """``path`` relative to the project folder, for display."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix() or "."
        except ValueError:
            return "(outside the project)"

    def session(self, session_id: str) -> SessionInfo:
        """The session with this id. Raises KeyError (``"session <id>: not in this project"``)."""
        return _lookup(self.sessions, session_id, "session")

    def source(self, source_id: str) -> SourceInfo:
        return _lookup(self.sources, source_id, "source")

    def calibration(self, calibration_id: str) -> CalibrationInfo:
        return _lookup(self.calibrations, calibration_id, "calibration")

    def run(self, run_id: str) -> RunInfo:
        return _lookup(self.runs, run_id, "run")

    def prediction_folder(self, folder_id: str) -> PredictionFolder:
        return _lookup(self.prediction_folders, folder_id, "prediction folder")

    def label_files(self) -> dict[str, Path]:
        """``{view: CollectedData_<view>.csv}`` of the data root (empty without one)."""
        if self.data_root is None:
            return {}
        files = {v: self.data_root / labels_file(v) for v in self.views}
        return files if all(p.is_file() for p in files.values()) else {}


def _lookup(items: list[Any], item_id: str, what: str) -> Any:
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"{what} {item_id!r}: not in this project")


def is_inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``root`` (resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(root)
    except ValueError:
        return False
    return True


def _hash_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha1("\0".join(parts).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


def _session_id(name: str) -> str:
    return name if _SAFE_ID.fullmatch(name) else _hash_id("session", name)


# --- the walk ---------------------------------------------------------------------------------------


@dataclass
class _Found:
    stores: list[Path] = field(default_factory=list)
    runs: list[Path] = field(default_factory=list)
    prediction_folders: list[tuple[Path, int]] = field(default_factory=list)


def _looks_like_pose_file(path: Path) -> bool:
    """A CSV whose first row is a pose header (``scorer,...``), or another pose suffix (HDF5)."""
    if path.suffix.lower() != ".csv":
        return True
    try:
        with open(path, newline="") as f:
            return f.readline().startswith("scorer")
    except OSError:
        return False


def _walk(project: Project) -> _Found:
    """Stores, runs and prediction folders under the project (hidden entries skipped, nothing outside)."""
    from lp3d_io.readers import POSE_SUFFIXES

    found = _Found()
    root = project.root

    def visit(folder: Path, depth: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError as err:
            project.problems.append(Problem(project.relative(folder), f"cannot list this folder: {err.strerror}"))
            return
        if any(e.name == RUN_FILE for e in entries):
            found.runs.append(folder)
        pose = [
            e
            for e in entries
            if e.suffix.lower() in POSE_SUFFIXES
            and e.is_file()
            and not e.name.startswith(("CollectedData_", "weights_", "."))
            and not _RESULT_CSV.match(e.name)
            and folder.name != LABELED_DATA
            and _looks_like_pose_file(e)
        ]
        if pose and folder != project.data_root:
            found.prediction_folders.append((folder, len(pose)))
        for entry in entries:
            if entry.name.startswith(".") or entry.name in ("node_modules", "__pycache__", LABELED_DATA):
                continue
            if entry.is_symlink() and not is_inside(root, entry):
                project.problems.append(
                    Problem(
                        f"{project.relative(folder)}/{entry.name}".removeprefix("./"),
                        "skipped: a link to outside the project",
                    )
                )
                continue
            if not entry.is_dir():
                continue
            if entry.suffix == ".zarr":
                found.stores.append(entry)
            elif depth < MAX_DEPTH:
                visit(entry, depth + 1)

    visit(root, 0)
    return found


# --- config, labels, skeleton -------------------------------------------------------------------------


def _find_config(root: Path) -> Path | None:
    for name in CONFIG_NAMES:
        if (root / name).is_file():
            return root / name
    for path in sorted(root.glob("*.y*ml")):
        try:
            import yaml

            values = yaml.safe_load(path.read_text())
        except Exception:  # not a config of ours
            continue
        if isinstance(values, dict) and ("run_dir" in values or "data" in values):
            return path
    return None


def _read_config(project: Project) -> dict[str, Any]:
    import yaml

    assert project.config is not None
    try:
        values = yaml.safe_load(project.config.read_text())
    except (OSError, yaml.YAMLError) as err:
        project.problems.append(
            Problem(project.relative(project.config), f"cannot read the config: {' '.join(str(err).split())}")
        )
        return {}
    if not isinstance(values, dict):
        project.problems.append(
            Problem(project.relative(project.config), f"expected a mapping, but got {type(values).__name__}")
        )
        return {}
    return values


def _inside_or_problem(project: Project, path: Path, what: str) -> Path | None:
    if not is_inside(project.root, path):
        project.problems.append(
            Problem(
                project.relative(project.config or project.root),
                f"{what} {path} is outside the project folder: not shown",
            )
        )
        return None
    return Path(os.path.realpath(path))


def _locate_data(project: Project, values: dict[str, Any]) -> str | None:
    """Sets ``data_root`` and ``run_dir`` from the config; returns the synthetic skeleton name, if any."""
    base = project.config.parent if project.config is not None else project.root
    data = values.get("data") if isinstance(values.get("data"), dict) else {}
    synthetic = data.get("synthetic") if isinstance(data.get("synthetic"), dict) else None
    if values.get("run_dir"):
        project.run_dir = _inside_or_problem(project, base / os.path.expanduser(str(values["run_dir"])), "run_dir")
    if data.get("root"):
        project.data_root = _inside_or_problem(project, base / os.path.expanduser(str(data["root"])), "data.root")
    elif synthetic is not None and project.run_dir is not None:
        # the synthetic session a run writes into its folder (a pipeline's is its teacher's)
        for candidate in (project.run_dir / TEACHER_DIR / SYNTHETIC_DIR, project.run_dir / SYNTHETIC_DIR):
            if candidate.is_dir():
                project.data_root = candidate
                break
        else:
            project.problems.append(
                Problem(
                    project.relative(project.run_dir),
                    "the synthetic session is not written yet (run the pipeline or lp3d train)",
                )
            )
    if project.data_root is not None and not project.data_root.is_dir():
        project.problems.append(Problem(project.relative(project.data_root), "data.root: no such folder"))
        project.data_root = None
    return str(synthetic.get("skeleton", "quadruped")) if synthetic is not None else None


def _read_labels(project: Project) -> None:
    if project.data_root is None:
        return
    try:
        project.views = find_label_views(project.data_root, LABELS_FILE)
    except FileNotFoundError as err:
        project.problems.append(Problem(project.relative(project.data_root), " ".join(str(err).split())))
        return
    from lp3d_io.csv import from_pose_csv

    from lp3d_workflows.labeling import read_label_file

    keypoints: list[str] | None = None
    for view in project.views:
        path = project.data_root / labels_file(view)
        try:
            header = read_label_file(path)  # a new project's files have a header and no rows yet
            if header.rows:
                table = from_pose_csv(path)
                names, n_rows = [str(k) for k in table.keypoint_names], len(table.index)
            else:
                names, n_rows = header.keypoints, 0
        except (OSError, ValueError) as err:
            project.problems.append(Problem(project.relative(path), " ".join(str(err).split())))
            continue
        if keypoints is None:
            keypoints, project.n_labeled = names, n_rows
        elif names != keypoints:
            project.problems.append(Problem(project.relative(path), f"expected keypoints {keypoints}, but got {names}"))
    project.keypoints = keypoints or []


def _read_skeleton(project: Project, synthetic: str | None) -> None:
    if synthetic is not None:
        from lp3d_io.synthetic import get_skeleton

        try:
            skeleton = get_skeleton(synthetic)
        except (KeyError, ValueError) as err:
            project.problems.append(Problem("config", f"data.synthetic.skeleton: {err}"))
            return
        names = list(skeleton.keypoint_names)
        project.skeleton = [(names[i], names[j]) for i, j in skeleton.edges]
        return
    if project.data_root is None or not (project.data_root / SKELETON_FILE).is_file():
        return
    path = project.data_root / SKELETON_FILE
    bones = []
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            if len(cells) != 2 or any(c not in project.keypoints for c in cells):
                project.problems.append(
                    Problem(project.relative(path), f"line {line}: expected two keypoint names, but got {row}")
                )
                continue
            bones.append((cells[0], cells[1]))
    project.skeleton = bones


# --- sessions, calibrations, runs, sources ----------------------------------------------------------


def _video_info(view: str, path: Path) -> VideoInfo:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ValueError(f"{path.name}: OpenCV cannot open this video")
        return VideoInfo(
            view,
            path,
            int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            float(capture.get(cv2.CAP_PROP_FPS)),
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()


def video_mismatches(session: str, videos: dict[str, VideoInfo]) -> list[str]:
    """What differs between a session's views: frame counts, frame rates (one line each)."""
    out = []
    if len({v.n_frames for v in videos.values()}) > 1:
        detail = ", ".join(f"{v}: {i.n_frames}" for v, i in videos.items())
        out.append(f"session {session}: expected the same number of frames in every view, but got {detail}")
    if len({round(v.fps, 3) for v in videos.values()}) > 1:
        detail = ", ".join(f"{v}: {i.fps:g}" for v, i in videos.items())
        out.append(f"session {session}: expected the same frame rate in every view, but got {detail} fps")
    return out


def _find_videos(project: Project) -> dict[str, dict[str, VideoInfo]]:
    if project.data_root is None or not project.views:
        return {}
    folder = project.data_root / VIDEOS
    if not folder.is_dir():
        project.problems.append(
            Problem(project.relative(project.data_root), f"no {VIDEOS}/ folder: sessions have no video")
        )
        return {}
    try:
        sessions = find_video_sessions([folder], project.views)
    except (OSError, ValueError) as err:
        project.problems.append(Problem(project.relative(folder), " ".join(str(err).split())))
        return {}
    out: dict[str, dict[str, VideoInfo]] = {}
    for name, by_view in sessions.items():
        infos = {}
        for view, path in by_view.items():
            if not is_inside(project.root, path):
                project.problems.append(
                    Problem(project.relative(folder), f"{path.name}: a link to outside the project: skipped")
                )
                continue
            try:
                infos[view] = _video_info(view, path)
            except ValueError as err:
                project.problems.append(Problem(project.relative(path), str(err)))
        for message in video_mismatches(name, infos):
            project.problems.append(Problem(project.relative(folder), message))
        out[name] = infos
    return out


def _store_source(project: Project, path: Path) -> SourceInfo | None:
    from lp3d_io.store import list_groups, open_store, read_group

    where = project.relative(path)
    try:
        store = open_store(path, "r")
        groups = list_groups(store)
    except (OSError, ValueError) as err:
        project.problems.append(Problem(where, " ".join(str(err).split())))
        return None
    predictions = (groups_of_kind(groups, PREDICTIONS) or [None])[0]
    smoothed = (groups_of_kind(groups, SMOOTHED) or [None])[0]
    if predictions is None and smoothed is None:
        project.problems.append(
            Problem(where, f"expected predictions or smoothed results in the store, but it has {groups}")
        )
        return None
    try:
        main = read_group(store, smoothed or predictions)
        members: list[str] = []
        if predictions is not None:
            ds = read_group(store, predictions)
            members = [str(m) for m in ds["member"].values]
            if smoothed is not None and ds.sizes["time"] != main.sizes["time"]:
                project.problems.append(
                    Problem(
                        where,
                        f"{predictions} has {ds.sizes['time']} frames but {smoothed} {main.sizes['time']}: "
                        "members not shown",
                    )
                )
                predictions, members = None, []
    except (OSError, ValueError, KeyError) as err:
        project.problems.append(Problem(where, " ".join(str(err).split())))
        return None
    session = store.session or str(main.attrs.get("session") or path.stem)
    sizes: dict[str, tuple[int, int]] = {}
    if CALIBRATION_GROUP in groups:
        try:
            calibration = read_group(store, CALIBRATION_GROUP)
            sizes = {
                str(v): (int(w), int(h))
                for v, (w, h) in zip(calibration["view"].values, calibration["image_size"].values, strict=True)
                if w > 0 and h > 0
            }
        except (OSError, ValueError, KeyError) as err:
            project.problems.append(Problem(where, f"{CALIBRATION_GROUP}: {' '.join(str(err).split())}"))
    folder = project.relative(path.parent)
    shown = [g for g in (predictions, smoothed) if g]
    fps = main.attrs.get("fps")
    return SourceInfo(
        id=_hash_id("src", where),
        label=f"{folder if folder != '.' else path.name} ({', '.join(shown)})",
        session=session,
        store=path,
        predictions=predictions,
        smoothed=smoothed,
        calibrated=CALIBRATION_GROUP in groups,
        smoother=str(main.attrs.get("smoother")) if smoothed else None,
        views=[str(v) for v in main["view"].values],
        keypoints=[str(k) for k in main["keypoint"].values],
        members=members,
        n_frames=int(main.sizes["time"]),
        fps=float(fps) if fps is not None else None,
        image_sizes=sizes,
        individuals=[str(i) for i in main["individual"].values] if "individual" in main.coords else [],
    )


def _read_run(project: Project, folder: Path) -> RunInfo | None:
    where = project.relative(folder)
    try:
        info = json.loads((folder / RUN_FILE).read_text())
        members = [str(m) for m in info.get("members", [])]
        return RunInfo(
            id=_hash_id("run", where),
            name=where,
            path=folder,
            views=[str(v) for v in info.get("views", [])],
            keypoints=[str(k) for k in info.get("keypoints", [])],
            members=members,
            trained=[m for m in members if checkpoint_path(folder, m).is_file()],
        )
    except (OSError, ValueError, TypeError, AttributeError) as err:
        project.problems.append(Problem(where, f"{RUN_FILE}: cannot read it: {' '.join(str(err).split())}"))
        return None


def _calibration_files(project: Project, session_names: list[str], values: dict[str, Any]) -> dict[str, Path]:
    if project.data_root is None or not session_names:
        return {}
    data = values.get("data") if isinstance(values.get("data"), dict) else {}
    base = project.config.parent if project.config is not None else project.root
    one = data.get("calibration")
    many = data.get("calibrations") if isinstance(data.get("calibrations"), dict) else None
    names = np.array(session_names)
    try:
        found = find_calibration_files(
            names,
            np.array([f"{LABELED_DATA}/{n}" for n in names]),
            [project.data_root],
            calibration=None if not one else base / str(one),
            calibrations=None if many is None else {k: base / str(v) for k, v in many.items()},
        )
    except (OSError, ValueError) as err:
        project.problems.append(Problem(project.relative(project.data_root), " ".join(str(err).split())))
        return {}
    out = {}
    for session, path in found.items():
        if not path.is_file():
            project.problems.append(Problem(project.relative(path), f"session {session}: calibration file not found"))
        elif is_inside(project.root, path):
            out[session] = Path(os.path.realpath(path))
        else:
            project.problems.append(
                Problem(
                    project.relative(project.data_root),
                    f"session {session}: calibration {path} is outside the project: not used",
                )
            )
    return out


def _calibration_info(project: Project, path: Path) -> CalibrationInfo | None:
    from lp3d_eks import CameraRig

    try:
        rig = CameraRig.from_toml(path)
    except (OSError, ValueError, KeyError) as err:
        project.problems.append(
            Problem(project.relative(path), f"cannot read the calibration: {' '.join(str(err).split())}")
        )
        return None
    sizes = {c.name: (int(c.size[0]), int(c.size[1])) for c in rig.cameras if c.size[0] > 0 and c.size[1] > 0}
    return CalibrationInfo(_hash_id("cal", project.relative(path)), path, list(rig.names), sizes=sizes)


def _toml_files(project: Project) -> list[Path]:
    """Calibration files of the project: the data root's, and those beside stores or at the top."""
    places = [project.root]
    if project.data_root is not None:
        places += [project.data_root, project.data_root / "calibrations"]
    seen: dict[Path, None] = {}
    for place in places:
        if place.is_dir():
            for path in sorted(place.glob("*.toml")):
                if is_inside(project.root, path):
                    seen[Path(os.path.realpath(path))] = None
    return list(seen)


def _project_name(root: Path) -> str:
    """The name given when the project was created (:data:`PROJECT_FILE`), else the folder's."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        name = json.loads((root / PROJECT_FILE).read_text()).get("name")
        if isinstance(name, str) and name:
            return name
    return root.resolve().name


def describe_project(root: str | os.PathLike) -> Project:
    """Looks at a project folder (see the module docstring); reads metadata only, never whole arrays.

    Raises:
        UserError: ``root`` is not a folder.
    """
    path = Path(root).expanduser()
    if not path.is_dir():
        raise UserError(
            f"PROJECT_DIR {path}: expected a project folder, "
            f"but {'it is a file' if path.exists() else 'it does not exist'}"
        )
    project = Project(root=Path(os.path.realpath(path)), name=_project_name(path))
    project.config = _find_config(project.root)
    values = _read_config(project) if project.config is not None else {}
    synthetic = _locate_data(project, values)
    if project.data_root is None and project.config is None and any(project.root.glob("CollectedData_*.csv")):
        project.data_root = project.root
    _read_labels(project)
    found = _walk(project)
    runs = [r for r in (_read_run(project, f) for f in found.runs) if r is not None]
    project.runs = runs
    if not project.views and runs:
        project.views, project.keypoints = runs[0].views, runs[0].keypoints
    _read_skeleton(project, synthetic)
    sources = [s for s in (_store_source(project, p) for p in found.stores) if s is not None]
    project.sources = sources
    if not project.views and sources:
        project.views, project.keypoints = sources[0].views, sources[0].keypoints
    project.prediction_folders = [
        PredictionFolder(_hash_id("csv", project.relative(p)), project.relative(p), p, n)
        for p, n in found.prediction_folders
    ]
    videos = _find_videos(project)
    names = list(dict.fromkeys([*videos, *(s.session for s in sources)]))
    calibration_files = _calibration_files(project, names, values)
    calibrations: dict[Path, CalibrationInfo] = {}
    for toml in [*calibration_files.values(), *_toml_files(project)]:
        if toml not in calibrations and (info := _calibration_info(project, toml)) is not None:
            calibrations[toml] = info
    project.calibrations = list(calibrations.values())
    labeled = _labeled_per_session(project)
    for name in names:
        own = [s for s in sources if s.session == name]
        calibration = calibrations.get(calibration_files[name]) if name in calibration_files else None
        if calibration is None:  # a store's calibration, else the project's only calibration file
            tomls = [c for c in project.calibrations if c.group is None]
            views = (own[0].views if own else project.views) or []
            matching = [c for c in tomls if set(views) <= set(c.views)]
            calibration = matching[0] if len(matching) == 1 else None
        sizes = {view: (info.width, info.height) for view, info in videos.get(name, {}).items()}
        for known in [calibration.sizes if calibration is not None else {}, *(s.image_sizes for s in own)]:
            sizes = {**known, **sizes}
        project.sessions.append(
            SessionInfo(
                id=_session_id(name),
                name=name,
                videos=videos.get(name, {}),
                calibration=None if calibration is None else calibration.id,
                sources=[s.id for s in own],
                n_labeled=labeled.get(name, 0),
                image_sizes=sizes,
            )
        )
    if not project.sessions:
        project.problems.append(
            Problem(".", "no sessions: no videos (videos/<session>_<view>.mp4) and no result stores (*.zarr)")
        )
    return project


def _labeled_per_session(project: Project) -> dict[str, int]:
    files = project.label_files()
    if not files:
        return {}
    from lp3d_io.layout import parse_session

    view = project.views[0]
    counts: dict[str, int] = {}
    with open(files[view], newline="") as f:
        for row in csv.reader(f):
            if row and row[0].startswith(LABELED_DATA):
                session = parse_session(row[0], view)[0]
                counts[session] = counts.get(session, 0) + 1
    return counts
