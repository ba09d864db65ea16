"""DeepLabCut projects read into an :class:`~lp3d_io.projects.ImportedProject`.

A DeepLabCut project folder::

    config.yaml          scorer, bodyparts; multi-animal projects: multianimalproject, individuals,
                         multianimalbodyparts, uniquebodyparts (bodyparts: MULTI!); video_sets
    labeled-data/<video>/CollectedData_<scorer>.h5   labels (pandas table; or the .csv beside it),
                         row index ("labeled-data", <video>, "img0042.png") or one path string
    labeled-data/<video>/img0042.png                 the frames (also found directly in labeled-data/)
    videos/<video>.mp4                               the videos (or the paths in video_sets)

Each video is a session. A DeepLabCut project is one view (:data:`lp3d_io.grouping.SINGLE_VIEW`),
unless ``views`` names the cameras: then each video's camera is the view name found in its name
(as :func:`lp3d_io.grouping.match_view` finds it) and its session the name without it
(``trial1-camA`` -> ``trial1``), and frames of one session are joined across views by frame
number (:func:`lp3d_io.projects.assemble_rows`). Multi-animal projects keep their individuals;
the unique body parts are DeepLabCut's individual ``single``. HDF5 label files need the ``hdf5``
extra (PyTables); the CSV beside them is read without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.grouping import SINGLE_VIEW, match_view
from lp3d_io.layout import LABELED_DATA, VIDEOS
from lp3d_io.pose_table import PoseTable
from lp3d_io.projects import (
    ImportedProject,
    Skipped,
    ViewLabels,
    assemble_project,
    find_videos,
    frame_number,
    table_labels,
)

__all__ = ["read_deeplabcut_project", "read_deeplabcut_labels", "is_deeplabcut_project", "split_by_views", "DLCLabels"]

KIND = "deeplabcut"
UNIQUE_INDIVIDUAL = "single"
"""DeepLabCut's individual of a multi-animal project's unique body parts."""

Split = Callable[[str], "tuple[str, str] | None"]


def _config(root: Path) -> tuple[Path, dict[str, Any]]:
    import yaml

    path = root / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: expected a DeepLabCut project with config.yaml, but there is none")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path}: expected a YAML config, but it cannot be parsed ({' '.join(str(err).split())})"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a DeepLabCut config (a mapping), but got {type(config).__name__}")
    return path, config


def is_deeplabcut_project(folder: Path) -> bool:
    """Whether ``folder`` holds a DeepLabCut ``config.yaml`` (with ``scorer`` and ``bodyparts``)."""
    try:
        _, config = _config(folder)
    except (OSError, ValueError):
        return False
    return "scorer" in config and "bodyparts" in config


def split_by_views(views: Sequence[str]) -> Split:
    """A ``split`` for video names that contain a camera name: ``trial1-camA`` -> ``("trial1", "camA")``."""

    def split(name: str) -> tuple[str, str] | None:
        view = match_view(name, views)
        if view is None:
            return None
        session = re.sub(r"^[\W_]+|[\W_]+$", "", name.replace(view, "", 1))
        return session or "session", view

    return split


def _names(config_path: Path, config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Keypoints and individuals of the project's config."""

    def as_list(key: str) -> list[str]:
        value = config.get(key) or []
        if not isinstance(value, list):
            raise ValueError(f"{config_path}: {key}: expected a list of names, but got {value!r}")
        return [str(v) for v in value]

    if config.get("multianimalproject"):
        keypoints = as_list("multianimalbodyparts") + as_list("uniquebodyparts")
        individuals = as_list("individuals") + ([UNIQUE_INDIVIDUAL] if as_list("uniquebodyparts") else [])
        if not individuals:
            raise ValueError(
                f"{config_path}: individuals: expected the animals of a multi-animal project, but got none"
            )
    else:
        keypoints, individuals = as_list("bodyparts"), [DEFAULT_INDIVIDUAL]
    if not keypoints:
        raise ValueError(f"{config_path}: bodyparts: expected the keypoint names, but got none")
    return keypoints, individuals


def _label_file(folder: Path, scorer: str) -> Path | None:
    for name in (f"CollectedData_{scorer}.h5", f"CollectedData_{scorer}.csv"):
        if (folder / name).is_file():
            return folder / name
    others = sorted(folder.glob("CollectedData_*.h5")) or sorted(folder.glob("CollectedData_*.csv"))
    return others[0] if others else None


def _read_table(path: Path) -> PoseTable:
    if path.suffix == ".h5":
        from lp3d_io.hdf5 import from_dlc_h5

        return from_dlc_h5(path, dtype=np.float64)
    from lp3d_io.csv import from_pose_csv

    return from_pose_csv(path, dtype=np.float64)


@dataclass
class DLCLabels(ViewLabels):
    """The labeled frames of a DeepLabCut project, by view: what :func:`read_deeplabcut_labels` returns.

    Attributes (besides :class:`~lp3d_io.projects.ViewLabels`'s; ``settings``: the config's
    ``Task``, ``skeleton`` and ``video_sets``):
        folders: labeled-data folders read, by (session, view).
        config: the config file.
    """

    folders: dict[tuple[str, str], Path] = field(default_factory=dict)
    config: Path | None = None


def read_deeplabcut_labels(source: str | os.PathLike, split: Split | None = None) -> DLCLabels:
    """Reads the labeled frames of a DeepLabCut project, one view at a time.

    Args:
        source: the project folder (or its ``config.yaml``).
        split: ``video name -> (session, view)``, or None for the video name as session of the
            one view :data:`~lp3d_io.grouping.SINGLE_VIEW`; a folder it returns None for is skipped.

    Raises:
        FileNotFoundError: no ``config.yaml``.
        ValueError: a config or label file that cannot be read (naming it).
    """
    source = Path(source)
    root = source.parent if source.is_file() else source
    config_path, config = _config(root)
    out = DLCLabels()
    out.config = config_path
    out.keypoint_names, out.individual_names = _names(config_path, config)
    scorer = str(config.get("scorer") or "")
    out.scorer = scorer or "lp3d"
    out.settings = {k: config[k] for k in ("Task", "skeleton", "video_sets") if config.get(k)}
    split = split or (lambda name: (name, SINGLE_VIEW))
    labeled_data = root / LABELED_DATA
    folders = sorted(p for p in labeled_data.iterdir() if p.is_dir()) if labeled_data.is_dir() else []
    unknown_k: set[str] = set()
    unknown_i: set[str] = set()
    for folder in folders:
        if folder.name.endswith("_labeled"):
            out.skipped.append(Skipped(f"folder {folder}", "DeepLabCut's check_labels output, not labels"))
            continue
        path = _label_file(folder, scorer)
        if path is None:
            out.skipped.append(
                Skipped(f"folder {folder}", f"expected CollectedData_{scorer}.h5 or .csv, but found none")
            )
            continue
        where = split(folder.name)
        if where is None:
            out.skipped.append(Skipped(f"folder {folder}", "its name names none of the views"))
            continue
        session, view = where
        if (session, view) in out.folders:
            out.skipped.append(
                Skipped(f"folder {folder}", f"session {session} view {view} is already {out.folders[(session, view)]}")
            )
            continue
        out.folders[(session, view)] = folder
        table = _read_table(path)
        position, bad_k, bad_i = table_labels(table, out.keypoint_names, out.individual_names)
        unknown_k.update(bad_k)
        unknown_i.update(bad_i)
        by_key = out.labeled.setdefault(view, {})
        for r, label in enumerate(np.asarray(table.index).astype(str)):
            what = f"{path} row {r + 1} ({label})"
            frame = frame_number(label)
            if frame is None:
                out.skipped.append(Skipped(what, "expected an image name ending in a frame number (img0042.png)"))
                continue
            image = next((p for p in (root / label, folder / Path(label).name) if p.is_file()), None)
            if image is None:
                out.skipped.append(Skipped(what, f"image not found (looked in {root} and {folder})"))
                continue
            if (session, frame) in by_key:
                out.skipped.append(Skipped(what, f"frame {frame} of session {session} is already labeled"))
                continue
            by_key[(session, frame)] = (position[r], image)
    if unknown_k:
        out.skipped.append(Skipped(f"keypoints {sorted(unknown_k)}", f"in label files but not in {config_path}"))
    if unknown_i:
        out.skipped.append(Skipped(f"individuals {sorted(unknown_i)}", f"in label files but not in {config_path}"))
    return out


def _project_videos(root: Path, config: dict[str, Any], split: Split, views: list[str]) -> tuple[dict, list[Skipped]]:
    files = find_videos(root / VIDEOS)
    names = {p.stem for p in files}
    for entry in config.get("video_sets") or {}:
        path = Path(str(entry))
        if path.is_file() and path.stem not in names:
            files.append(path)
            names.add(path.stem)
    videos: dict[str, dict[str, Path]] = {}
    skipped = []
    for path in files:
        where = split(path.stem)
        if where is None:
            skipped.append(Skipped(f"video {path}", f"its name names none of the views {views}"))
            continue
        session, view = where
        if view in videos.get(session, {}):
            skipped.append(Skipped(f"video {path}", f"session {session} already has {videos[session][view].name}"))
            continue
        videos.setdefault(session, {})[view] = path
    return videos, skipped


def read_deeplabcut_project(source: str | os.PathLike, *, views: Sequence[str] | None = None) -> ImportedProject:
    """Reads a DeepLabCut project (see the module docstring).

    Args:
        source: the project folder (or its ``config.yaml``).
        views: camera names found in the video names, for a project whose videos are several
            synchronized cameras; None: one view.

    Returns:
        The project; label rows without an image or frame number, folders and videos naming no
        view, and rows missing a view with no video to fill it are skipped (listed in ``skipped``).

    Raises:
        FileNotFoundError: no ``config.yaml``.
        ValueError: a config or label file that cannot be read, or fewer than two views.
    """
    source = Path(source)
    root = source.parent if source.is_file() else source
    if views is not None:
        views = [str(v) for v in views]
        if len(views) < 2 or len(set(views)) != len(views):
            raise ValueError(f"views: expected two or more distinct camera names, but got {views}")
    split = split_by_views(views) if views else (lambda name: (name, SINGLE_VIEW))
    view_names = list(views) if views else [SINGLE_VIEW]
    labels = read_deeplabcut_labels(root, split)
    _, config = _config(root)
    videos, skipped_videos = _project_videos(root, config, split, view_names)
    project = assemble_project(
        KIND, source, view_names, replace(labels, skipped=labels.skipped + skipped_videos), videos
    )
    n_labels = sum(len(v) for v in labels.labeled.values())
    found = [
        f"config {labels.config} (scorer {labels.scorer})",
        f"{len(view_names)} view(s) ({', '.join(view_names)}), {len(labels.keypoint_names)} keypoints, "
        f"{len(labels.individual_names)} individual(s) ({', '.join(labels.individual_names)})",
        f"{n_labels} labeled images in {len(labels.folders)} labeled-data folder(s); {project.n_frames} labeled frames",
        f"{sum(len(v) for v in project.videos.values())} videos of {len(project.videos)} session(s)",
    ]
    return replace(project, found=found)
