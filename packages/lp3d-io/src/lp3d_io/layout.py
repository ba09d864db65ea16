"""Names and places: the groups of an lp3d store and the files of a project folder.

Every package imports these names from here; none spells them out again.

**Store groups** (:mod:`lp3d_io.store`): ``<kind>/<name>`` for the dataset kinds below, plus
``calibration``. ``lp3d smooth`` writes the ensemble it smoothed as ``predictions/ensemble`` and
its results as ``smoothed/eks``; ``lp3d predict`` writes ``predictions/<run name>``, or the group
it is given (the pipeline uses ``predictions/model``).

**Project folder** (Lightning Pose's multi-view layout, which lp3d reads and writes)::

    CollectedData_<view>.csv                 labels of each view, the same rows in every view
    weights_<view>.csv                       (pseudo-label folders) a weight per label
    labeled-data/<session>_<view>/img00012.png   the labeled frames (frame 12 of the session)
    videos/<session>_<view>.mp4              the videos of each session, one per view
    calibrations.csv                         (optional) session or image -> calibration file
    calibrations/<session>.toml              (optional) a session's anipose calibration
    calibration.toml                         (optional) the calibration of every other session

**Training run folder** (written by lp3d-models' training; named here so that front ends and
workflows find runs without importing torch)::

    <run_dir>/config.yaml, run.json, split.json, synthetic/, evaluation/
    <run_dir>/seed_<s>/checkpoints/{best,last}.ckpt

**Session of a labeled frame.** The session comes from its image path in view ``v``::

    labeled-data/<session>_<v>/img00012.png      -> <session>
    labeled-data/<session>/<v>/img00012.png      -> <session>
    anything else (e.g. labeled-data/<v>/img.png) -> ""  (the project's one unnamed session)

A project whose views are cut from one camera's frames (a mirror rig: ``data.crops`` of lp3d-models)
has one image per frame for all its views, and one video per session::

    labeled-data/<session>/img00012.png          -> <session>   (view None)
    labeled-data/img00012.png                    -> ""
    videos/<session>.mp4                         the session's whole frames

Every view of a row must give the same session. The frame's *key* is its path without the view
(``labeled-data/<session>/img00012.png``), what Lightning Pose's ``calibrations.csv`` lists.

**Calibration of a session.** The anipose TOML of a session is the first of, searching the
folders ``roots`` in order (e.g. a pseudo-label folder, then the project)::

    1. calibrations[<session>]                     (a mapping given by the caller: the config)
    2. <root>/calibrations.csv                      (see below)
    3. <root>/calibrations/<session>.toml
    4. calibration                                  (one file given for the rest)
    5. <root>/calibration.toml

``calibrations.csv`` follows Lightning Pose's ``camera_params_file``: a header row, then one row
per labeled image with its key and the TOML file (relative to the CSV's folder) in a column named
``file``; a key may also be a folder prefix (``labeled-data/session0``), and a first column named
``session`` holds session names instead::

    ,file                                               session,file
    labeled-data/session0/img00005.png,calibrations/a.toml     session0,calibrations/a.toml
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = [
    "PREDICTIONS",
    "SMOOTHED",
    "LABELS",
    "TRIANGULATED",
    "GROUP_KINDS",
    "CALIBRATION_GROUP",
    "ENSEMBLE_GROUP",
    "SMOOTHED_GROUP",
    "LABELS_GROUP",
    "TRIANGULATED_GROUP",
    "MODEL_GROUP",
    "group_name",
    "group_kind",
    "groups_of_kind",
    "LABELS_FILE",
    "WEIGHTS_FILE",
    "LABELED_DATA",
    "VIDEOS",
    "VIDEO_SUFFIXES",
    "CALIBRATION_INDEX",
    "labels_file",
    "weights_file",
    "find_label_views",
    "frame_image_path",
    "parse_session",
    "frame_sessions",
    "frame_id",
    "find_video_sessions",
    "read_calibration_index",
    "find_calibration_files",
    "CONFIG_FILE",
    "RUN_FILE",
    "SPLIT_FILE",
    "SYNTHETIC_DIR",
    "EVALUATION_DIR",
    "member_name",
    "checkpoint_path",
]

# --- store groups ----------------------------------------------------------------------------------

PREDICTIONS = "predictions"
SMOOTHED = "smoothed"
LABELS = "labels"
TRIANGULATED = "triangulated"
GROUP_KINDS = (PREDICTIONS, SMOOTHED, LABELS, TRIANGULATED)
CALIBRATION_GROUP = "calibration"

ENSEMBLE_GROUP = f"{PREDICTIONS}/ensemble"
"""The ensemble predictions a smoother read (``lp3d smooth`` stores its inputs here)."""
SMOOTHED_GROUP = f"{SMOOTHED}/eks"
"""The ensemble Kalman smoother's results."""
LABELS_GROUP = f"{LABELS}/labels"
TRIANGULATED_GROUP = f"{TRIANGULATED}/dlt"
MODEL_GROUP = f"{PREDICTIONS}/model"
"""Where the pipeline stores a run's predictions of a session."""

_GROUP_OF_KIND = {
    PREDICTIONS: ENSEMBLE_GROUP,
    SMOOTHED: SMOOTHED_GROUP,
    LABELS: LABELS_GROUP,
    TRIANGULATED: TRIANGULATED_GROUP,
    CALIBRATION_GROUP: CALIBRATION_GROUP,
}


def group_name(kind: str, name: str | None = None) -> str:
    """The group of a dataset kind: ``group_name("smoothed")`` is ``"smoothed/eks"`` (each kind's
    usual group), ``group_name("predictions", "run1")`` is ``"predictions/run1"``.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == CALIBRATION_GROUP:
        return CALIBRATION_GROUP
    if kind not in GROUP_KINDS:
        raise ValueError(f"group kind: expected one of {[*GROUP_KINDS, CALIBRATION_GROUP]}, but got {kind!r}")
    return _GROUP_OF_KIND[kind] if name is None else f"{kind}/{name}"


def group_kind(group: str) -> str:
    """The dataset kind of a group: ``"smoothed/eks"`` -> ``"smoothed"``, ``"calibration"`` -> itself."""
    return group.split("/", 1)[0]


def groups_of_kind(groups: Iterable[str], kind: str) -> list[str]:
    """The groups of one kind, the kind's usual group first (``predictions/ensemble`` for predictions)."""
    chosen = [g for g in groups if group_kind(g) == kind]
    usual = _GROUP_OF_KIND.get(kind)
    return sorted(chosen, key=lambda g: g != usual)


# --- project folder --------------------------------------------------------------------------------

LABELS_FILE = "CollectedData_{view}.csv"
WEIGHTS_FILE = "weights_{view}.csv"
LABELED_DATA = "labeled-data"
VIDEOS = "videos"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
CALIBRATION_INDEX = "calibrations.csv"
_FRAME_NUMBER = re.compile(r"(\d+)\.[A-Za-z0-9]+$")


def labels_file(view: str, template: str = LABELS_FILE) -> str:
    """The label file name of a view (``CollectedData_<view>.csv``, or a project's own ``template``)."""
    return template.format(view=view)


def weights_file(view: str) -> str:
    """The pseudo-label weight file name of a view (``weights_<view>.csv``)."""
    return WEIGHTS_FILE.format(view=view)


def find_label_views(root: str | os.PathLike, template: str = LABELS_FILE) -> list[str]:
    """The view names of the label files in ``root`` matching ``template`` (sorted).

    Raises:
        FileNotFoundError: no folder ``root``, or no label file in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: project folder not found")
    before, _, after = template.partition("{view}")
    pattern = re.compile(re.escape(before) + r"(.+)" + re.escape(after) + "$")
    views = sorted(m.group(1) for p in root.iterdir() if (m := pattern.match(p.name)))
    if not views:
        raise FileNotFoundError(f"{root}: expected label files named {labels_file('<view>', template)}, but found none")
    return views


def frame_image_path(session: str, view: str, frame: int) -> str:
    """The image path of a frame in the project: ``labeled-data/<session>_<view>/img%05d.png``."""
    return f"{LABELED_DATA}/{session}_{view}/img{int(frame):05d}.png"


def parse_session(image_path: str, view: str | None) -> tuple[str, str]:
    """The session of an image of view ``view`` and the image's key without the view.

    Args:
        image_path: the image, relative to the project.
        view: its view, or None for an image of every view (cropped views; see the module docstring).

    Returns:
        ``(session, key)``; the session is ``""`` when the path names none (see the module docstring).
    """
    parts = PurePosixPath(str(image_path).replace("\\", "/")).parts
    if view is None:
        if len(parts) >= 2 and parts[-2] != LABELED_DATA:
            return parts[-2], "/".join(parts)
        return "", "/".join(parts)
    if len(parts) >= 2:
        folder = parts[-2]
        if folder.endswith("_" + view) and len(folder) > len(view) + 1:
            session = folder[: -len(view) - 1]
            return session, "/".join((*parts[:-2], session, parts[-1]))
        if folder == view:
            key = "/".join((*parts[:-2], parts[-1]))
            if len(parts) >= 3 and parts[-3] != LABELED_DATA:
                return parts[-3], key
            return "", key
    return "", "/".join(parts)


def frame_sessions(
    image_paths: np.ndarray, view_names: Sequence[str | None], source: str = "labels"
) -> tuple[np.ndarray, np.ndarray]:
    """The session and key of every labeled frame.

    Args:
        image_paths: ``(view, frame)`` image paths.
        view_names: ``(view,)``; None for views cut from one image (:func:`parse_session`).
        source: named in errors (the label file).

    Returns:
        ``sessions`` and ``keys``, both ``(frame,)`` str.

    Raises:
        ValueError: the views of a row name different sessions.
    """
    n_frames = image_paths.shape[1]
    sessions, keys = np.empty(n_frames, dtype=object), np.empty(n_frames, dtype=object)
    for f in range(n_frames):
        parsed = [parse_session(image_paths[v, f], view) for v, view in enumerate(view_names)]
        if len({s for s, _ in parsed}) > 1:
            got = ", ".join(f"{view}: {s!r}" for view, (s, _) in zip(view_names, parsed, strict=True))
            raise ValueError(
                f"{source}: row {f} ({image_paths[0, f]}): expected the same session in every view, but got {got}"
            )
        sessions[f], keys[f] = parsed[0]
    return sessions.astype(str), keys.astype(str)


def frame_id(image_path: str, view: str | None) -> tuple[str, int] | None:
    """``(session, frame)`` of a labeled image of view ``view`` (None: an image of every view): the
    session as :func:`parse_session` reads it, the frame the number ending the file name; None for a
    name without a number."""
    match = _FRAME_NUMBER.search(PurePosixPath(str(image_path).replace("\\", "/")).name)
    if match is None:
        return None
    return parse_session(str(image_path), view)[0], int(match.group(1))


def find_video_sessions(
    videos: Iterable[str | os.PathLike], views: Sequence[str], *, cropped: bool = False
) -> dict[str, dict[str, Path]]:
    """Groups video files into sessions: ``<session>_<view>.<ext>`` -> ``{session: {view: path}}``.

    Args:
        videos: video files, or folders of them.
        views: the view names.
        cropped: the views are cut from one video per session (``<session>.<ext>``, see the module
            docstring): every view of a session is its one video.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: no videos, a file matching no view, or a session without every view.
    """
    files: list[Path] = []
    for path in map(Path, videos):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such video or folder")
    if not files:
        name = "<session>" if cropped else "<session>_<view>"
        raise ValueError(f"videos: expected videos named {name}{VIDEO_SUFFIXES[0]}, but found none")
    if cropped:
        return {path.stem: {v: path for v in views} for path in sorted(files, key=lambda p: p.stem)}
    sessions: dict[str, dict[str, Path]] = {}
    for path in files:
        matches = [v for v in views if path.stem.endswith(f"_{v}")]
        if not matches:
            raise ValueError(f"{path}: expected a video named <session>_<view> with a view among {list(views)}")
        view = max(matches, key=len)
        sessions.setdefault(path.stem[: -len(view) - 1], {})[view] = path
    for name, by_view in sessions.items():
        missing = [v for v in views if v not in by_view]
        if missing:
            raise ValueError(f"session {name}: expected a video of every view {list(views)}, but {missing} have none")
    return {name: {v: sessions[name][v] for v in views} for name in sorted(sessions)}


def read_calibration_index(path: str | os.PathLike) -> tuple[bool, dict[str, Path]] | None:
    """Reads a ``calibrations.csv`` (see the module docstring).

    Returns:
        ``(by_session, {key: TOML path})``: keys are session names when ``by_session``, else image
        keys or folder prefixes; paths are resolved against the CSV's folder. None: no such file.

    Raises:
        ValueError: no ``file`` column, or a row without a file.
    """
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    header = [cell.strip() for cell in rows[0]] if rows else []
    if len(header) < 2 or "file" not in header[1:]:
        raise ValueError(f"{path}: expected a header with a key column and a 'file' column, but got {header}")
    column = header.index("file", 1)
    out: dict[str, Path] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= column or not row[column].strip():
            raise ValueError(f"{path}: line {line}: expected a calibration file in column 'file', but got {row}")
        out[row[0].strip().replace("\\", "/").strip("/")] = path.parent / row[column].strip()
    return header[0].lower() == "session", out


def _index_lookup(index: tuple[bool, dict[str, Path]], session: str, key: str) -> set[Path]:
    """The files ``calibrations.csv`` gives a key: its own row, else the longest folder prefix, else
    (a session folder ``labeled-data/<session>``, for its videos) the rows of the images inside it."""
    by_session, table = index
    if by_session:
        return {table[session]} if session in table else set()
    if key in table:
        return {table[key]}
    prefixes = [p for p in table if p and key.startswith(p + "/")]
    if prefixes:
        return {table[max(prefixes, key=len)]}  # the longest folder prefix
    return {file for p, file in table.items() if p.startswith(key + "/")}


def _first_file(paths: Iterable[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def find_calibration_files(
    sessions: np.ndarray,
    keys: np.ndarray,
    roots: Sequence[str | os.PathLike],
    *,
    calibration: str | os.PathLike | None = None,
    calibrations: Mapping[str, str | os.PathLike] | None = None,
    index_name: str = CALIBRATION_INDEX,
) -> dict[str, Path]:
    """The calibration file of every session that has one (search order in the module docstring).

    Args:
        sessions: ``(frame,)`` session names.
        keys: ``(frame,)`` image keys (the paths without the view); for sessions known only by
            name (videos), ``labeled-data/<session>`` matches ``calibrations.csv``'s folder prefixes
            and the rows of the session's images (Lightning Pose's one row per labeled image).
        roots: folders searched, in order.
        calibration: one file for the sessions that have no other.
        calibrations: ``{session: file}`` given explicitly.
        index_name: the file name of the index in each root (a Lightning Pose config's
            ``camera_params_file`` may name it otherwise).

    Returns:
        ``{session: file}``; files are not opened here.

    Raises:
        ValueError: ``calibrations.csv`` gives the frames of one session different files.
    """
    roots = [Path(r) for r in roots]
    indexes = [(r / index_name, read_calibration_index(r / index_name)) for r in roots]
    indexes = [(path, index) for path, index in indexes if index is not None]
    mapping = dict(calibrations or {})
    out: dict[str, Path] = {}
    for session in dict.fromkeys(np.asarray(sessions).tolist()):
        if session in mapping:
            out[session] = Path(mapping[session])
            continue
        found = None
        for index_path, index in indexes:
            files = set().union(
                *(_index_lookup(index, session, k) for k in np.asarray(keys)[np.asarray(sessions) == session])
            )
            if len(files) > 1:
                raise ValueError(
                    f"{index_path}: expected one calibration file per session, but session {session!r} "
                    f"has {sorted(str(f) for f in files)}"
                )
            if files:
                found = files.pop()
                break
        if found is None and session:
            found = _first_file(r / "calibrations" / f"{session}.toml" for r in roots)
        if found is None and calibration is not None:
            found = Path(calibration)
        if found is None:
            found = _first_file(r / "calibration.toml" for r in roots)
        if found is not None:
            out[session] = found
    return out


# --- training run folders --------------------------------------------------------------------------

CONFIG_FILE = "config.yaml"
"""A run's resolved config."""
RUN_FILE = "run.json"
"""A run's views, keypoints, model size and members: what marks a folder as a training run."""
SPLIT_FILE = "split.json"
"""A run's split: ``{part: {"frames": [...], "images": [the first view's image paths]}}`` for
``train``, ``val`` and ``test``."""
SYNTHETIC_DIR = "synthetic"
"""The synthetic session a run writes into its folder when its config asks for one."""
EVALUATION_DIR = "evaluation"
"""``lp3d evaluate``'s tables and plots in a run folder."""


def member_name(seed: int | str) -> str:
    """The folder (and ensemble member name) of seed ``seed``: ``seed_<seed>``."""
    return f"seed_{seed}"


def checkpoint_path(run_dir: str | os.PathLike, member: str, kind: str = "best") -> Path:
    """``<run_dir>/<member>/checkpoints/<kind>.ckpt`` (``kind`` is ``best`` or ``last``)."""
    return Path(run_dir) / member / "checkpoints" / f"{kind}.ckpt"
