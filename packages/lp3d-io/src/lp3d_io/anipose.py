"""anipose projects read into an :class:`~lp3d_io.projects.ImportedProject`.

An anipose project (see anipose's documentation)::

    config.toml                      nesting, video_extension, model_folder (the DeepLabCut
                                     project), [triangulation] cam_regex, [pipeline] folder names
    <session>/videos-raw/<recording><cam>.avi      one video per camera of each recording
    <session>/calibration/calibration.toml         the cameras (found here or in a folder above,
                                                   up to the project)

Sessions are the folders ``nesting`` levels down (0: the project itself; -1: every folder with
raw videos). A camera's name is the first group of ``cam_regex`` in a video name, and the
recording is the name without it: ``vid-trial1-camA`` with ``-cam([A-Z])$`` is camera ``A`` of
``vid-trial1``. Each recording of a session is an lp3d session named
``<session folders>_<recording>`` (the recording alone for ``nesting = 0``), with the session's
calibration. Labels come from the DeepLabCut project of ``model_folder`` when it is there: its
labeled-data folders are recordings and cameras by the same ``cam_regex``
(:func:`lp3d_io.deeplabcut.read_deeplabcut_labels`), joined across cameras by frame number.
2D predictions (``pose-2d``) are not labels: ``lp3d smooth`` reads them.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.projects import ImportedProject, Skipped, ViewLabels, assemble_project

__all__ = ["read_anipose_project", "is_anipose_project"]

KIND = "anipose"
PIPELINE = {"videos_raw": "videos-raw", "pose_2d": "pose-2d", "calibration_results": "calibration"}


def _config(root: Path) -> tuple[Path, dict[str, Any]]:
    import tomllib

    path = root / "config.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: expected an anipose project with config.toml, but there is none")
    try:
        with open(path, "rb") as f:
            return path, tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: expected a TOML config, but it cannot be parsed ({err})") from None


def is_anipose_project(folder: Path) -> bool:
    """Whether ``folder`` holds an anipose ``config.toml``."""
    try:
        _config(folder)
    except (OSError, ValueError):
        return False
    return True


def _session_folders(root: Path, nesting: int, raw: str) -> list[tuple[str, ...]]:
    """The sessions' folder names below ``root`` (``()``: the project itself)."""
    if nesting == 0:
        return [()]
    out = []

    def walk(folder: Path, parts: tuple[str, ...]) -> None:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name[0] != "."):
            here = (*parts, sub.name)
            if nesting < 0:
                if (sub / raw).is_dir():
                    out.append(here)
                walk(sub, here)
            elif len(here) == nesting:
                out.append(here)
            else:
                walk(sub, here)

    walk(root, ())
    return out


def _calibration_of(root: Path, session: tuple[str, ...], results: str) -> Path | None:
    """The first ``<folder>/<results>/calibration.toml`` from the session folder up to the project."""
    for n in range(len(session), -1, -1):
        path = root.joinpath(*session[:n], results, "calibration.toml")
        if path.is_file():
            return path
    return None


def _splitter(cam_regex: str, where: str):
    try:
        pattern = re.compile(cam_regex)
    except re.error as err:
        raise ValueError(
            f"{where}: triangulation.cam_regex: expected a regular expression, but got {cam_regex!r} ({err})"
        ) from None
    if pattern.groups < 1:
        raise ValueError(
            f"{where}: triangulation.cam_regex: expected a group for the camera name, but got {cam_regex!r}"
        )

    def split(name: str) -> tuple[str, str] | None:
        match = pattern.search(name)
        if match is None or not match.group(1):
            return None
        return pattern.sub("", name).strip(), match.group(1).strip()

    return split


def read_anipose_project(source: str | os.PathLike) -> ImportedProject:
    """Reads an anipose project (see the module docstring).

    Args:
        source: the project folder (or its ``config.toml``).

    Returns:
        The project: the sessions' videos and calibrations, and the labels of the DeepLabCut
        project if ``model_folder`` is found; videos whose names give no camera, calibrations
        that do not cover the cameras and label rows without an image in every view are skipped.

    Raises:
        FileNotFoundError: no ``config.toml``.
        ValueError: a config without ``triangulation.cam_regex`` or a bad one, naming the file.
    """
    from lp3d_io.deeplabcut import read_deeplabcut_labels

    source = Path(source)
    root = source.parent if source.is_file() else source
    config_path, config = _config(root)
    pipeline = {**PIPELINE, **(config.get("pipeline") or {})}
    cam_regex = (config.get("triangulation") or {}).get("cam_regex")
    if not cam_regex:
        raise ValueError(
            f"{config_path}: triangulation.cam_regex: expected the regex of the camera names, but got none"
        )
    split = _splitter(str(cam_regex), str(config_path))
    nesting = int(config.get("nesting", 1))
    extension = "." + str(config.get("video_extension", "avi")).lstrip(".").lower()
    skipped: list[Skipped] = []
    videos: dict[str, dict[str, Path]] = {}
    session_calibration: dict[str, Path] = {}
    recordings: dict[str, list[str]] = {}  # recording -> lp3d sessions
    n_predictions = 0
    for parts in _session_folders(root, nesting, pipeline["videos_raw"]):
        folder = root.joinpath(*parts)
        raw = folder / pipeline["videos_raw"]
        pose_2d = folder / pipeline["pose_2d"]
        if pose_2d.is_dir():
            n_predictions += sum(1 for p in pose_2d.iterdir() if p.suffix in (".h5", ".csv"))
        if not raw.is_dir():
            continue
        calibration = _calibration_of(root, parts, pipeline["calibration_results"])
        for path in sorted(p for p in raw.iterdir() if p.is_file() and p.suffix.lower() == extension):
            where = split(path.stem)
            if where is None:
                skipped.append(Skipped(f"video {path}", f"its name does not match cam_regex {cam_regex!r}"))
                continue
            recording, camera = where
            session = "_".join((*parts, recording)) if recording else "_".join(parts) or "session"
            if camera in videos.get(session, {}):
                skipped.append(
                    Skipped(f"video {path}", f"session {session} already has {videos[session][camera].name}")
                )
                continue
            videos.setdefault(session, {})[camera] = path
            recordings.setdefault(recording, [])
            if session not in recordings[recording]:
                recordings[recording].append(session)
            if calibration is not None:
                session_calibration[session] = calibration
    views = sorted({camera for by_view in videos.values() for camera in by_view})
    labels = None
    model_folder = config.get("model_folder")
    if model_folder:
        candidates = [
            Path(str(model_folder)).expanduser(),
            root / str(model_folder),
            root / Path(str(model_folder)).name,
        ]
        dlc = next((p for p in candidates if (p / "config.yaml").is_file()), None)
        if dlc is None:
            skipped.append(
                Skipped(f"{config_path}: model_folder", f"no DeepLabCut project at {model_folder}: no labels imported")
            )
        else:
            labels = read_deeplabcut_labels(dlc, split)
            skipped += labels.skipped
    labeled: dict[str, dict[tuple[str, int], tuple[np.ndarray, Any]]] = {}
    if labels is not None:
        for view, by_key in labels.labeled.items():
            if view not in views:
                views.append(view)
            for (recording, frame), entry in by_key.items():
                sessions = recordings.get(recording, [])
                if len(sessions) > 1:
                    skipped.append(
                        Skipped(
                            f"labels of {recording} (camera {view}) frame {frame}",
                            f"the recording is in several sessions {sessions}",
                        )
                    )
                    continue
                labeled.setdefault(view, {})[(sessions[0] if sessions else recording, frame)] = entry
    views = sorted(views)
    settings = {k: config[k] for k in ("calibration", "triangulation", "filter") if k in config}
    by_view = replace(
        labels or ViewLabels(individual_names=[DEFAULT_INDIVIDUAL]), labeled=labeled, skipped=skipped, settings=settings
    )
    project = assemble_project(KIND, source, views, by_view, videos, session_calibration)
    n_sessions = len(project.session_names)
    found = [
        f"config {config_path} (nesting {nesting}, cam_regex {cam_regex!r})",
        f"{len(views)} camera(s) ({', '.join(views)}); "
        f"{sum(len(v) for v in project.videos.values())} videos of {len(project.videos)} recording(s)",
        f"calibration for {len(project.calibrations)} of {n_sessions} session(s)",
        (
            f"labels from the DeepLabCut project {labels.config.parent}: {len(by_view.keypoint_names)} keypoints, "
            f"{project.n_frames} labeled frames"
            if labels is not None and labels.config is not None
            else "no labels (no DeepLabCut project at model_folder): lp3d init needs labeled frames"
        ),
    ]
    if n_predictions:
        found.append(
            f"{n_predictions} 2D prediction files in {pipeline['pose_2d']}/ (not labels; lp3d smooth reads them)"
        )
    return replace(project, found=found)
