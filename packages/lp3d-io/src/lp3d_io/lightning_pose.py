"""Lightning Pose projects, single- and multi-view, read into an :class:`~lp3d_io.projects.ImportedProject`.

A Lightning Pose project is a data folder and a config (``config.yaml``, or any YAML file in the
folder with a ``data`` section)::

    config.yaml          data: view_names, csv_file (one per view, or one file), keypoint_names,
                         num_keypoints, image_orig_dims, camera_params_file, data_dir, video_dir
    CollectedData.csv                    single view: image paths labeled-data/<video>/img00012.png
    CollectedData_<view>.csv             multi-view: the same rows in every view
    labeled-data/...                     the labeled frames
    videos/<session>_<view>.mp4          (multi-view) or videos/<video>.mp4 (single view)
    calibrations.csv, calibrations/<session>.toml, calibration.toml     (multi-view) cameras

The label files, images and videos are looked for in the folder of the config (so a project that
moved is read from where it is now), then in the config's ``data_dir`` / ``video_dir``. A single-view
project gets the view :data:`lp3d_io.grouping.SINGLE_VIEW` and one session per video folder of
``labeled-data``. Calibrations are found as :func:`lp3d_io.layout.find_calibration_files` finds
them, with the config's ``camera_params_file`` as the index.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from lp3d_io.grouping import SINGLE_VIEW, _check_same
from lp3d_io.layout import CALIBRATION_INDEX, LABELED_DATA, VIDEOS, find_calibration_files, parse_session
from lp3d_io.projects import (
    ImportedProject,
    Skipped,
    check_calibrations,
    complete_sessions,
    find_videos,
    frame_number,
    table_labels,
)

__all__ = ["read_lightning_pose_project", "find_lightning_pose_config", "is_lightning_pose_project"]

KIND = "lightning-pose"
DEFAULT_SESSION = "session"
_SETTINGS = (
    "image_orig_dims",
    "image_resize_dims",
    "camera_params_file",
    "mirrored_column_matches",
    "columns_for_singleview_pca",
)


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path}: expected a YAML config, but it cannot be parsed ({' '.join(str(err).split())})"
        ) from None


def find_lightning_pose_config(folder: Path) -> Path | None:
    """The Lightning Pose config of a data folder: ``config.yaml`` (which must parse), else the one
    YAML file with a ``data`` section (None if there is none).

    Raises:
        ValueError: ``config.yaml`` cannot be parsed.
    """
    if (folder / "config.yaml").is_file():
        _load_yaml(folder / "config.yaml")
        return folder / "config.yaml"
    for path in sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")):
        try:
            config = _load_yaml(path)
        except ValueError:
            continue
        if isinstance(config, dict) and isinstance(config.get("data"), dict):
            return path
    return None


def is_lightning_pose_project(folder: Path) -> bool:
    """Whether ``folder`` looks like a Lightning Pose data folder (a config with a ``data`` section,
    or ``CollectedData*.csv`` label files beside ``labeled-data``)."""
    if not folder.is_dir():
        return False
    try:
        config = find_lightning_pose_config(folder)
        if (
            config is not None
            and isinstance(_load_yaml(config), dict)
            and isinstance(_load_yaml(config).get("data"), dict)
        ):
            return True
    except ValueError:
        pass
    return (folder / LABELED_DATA).is_dir() and any(folder.glob("CollectedData*.csv"))


def _resolve(name: str | os.PathLike, *roots: Path | None) -> Path | None:
    """``name`` relative to the first root where it exists, or as given if it exists."""
    for root in roots:
        if root is not None and (root / name).exists():
            return root / name
    path = Path(name)
    return path if path.is_absolute() and path.exists() else None


def _existing_dir(value: Any) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_dir() else None


def _label_files(root: Path, data: dict[str, Any], config_path: Path | None) -> tuple[dict[str, Path], bool]:
    """``({view: label file}, multi_view)`` from the config, else from the file names."""
    data_dir = _existing_dir(data.get("data_dir"))
    views = data.get("view_names")
    csv_file = data.get("csv_file")
    where = f"{config_path}: data" if config_path else str(root)
    if views:
        views = [str(v) for v in views]
        if len(set(views)) != len(views):
            raise ValueError(f"{where}.view_names: expected unique names, but got {views}")
        files = csv_file if isinstance(csv_file, list) else [f"CollectedData_{v}.csv" for v in views]
        if len(files) != len(views):
            raise ValueError(
                f"{where}.csv_file: expected one label file per view ({len(views)}: {views}), but got {len(files)}"
            )
        found = {}
        for view, name in zip(views, files, strict=True):
            path = _resolve(str(name), root, data_dir)
            if path is None:
                raise FileNotFoundError(f"{where}.csv_file: label file {name} of view {view!r} not found in {root}")
            found[view] = path
        return found, True
    if isinstance(csv_file, list):
        raise ValueError(f"{where}.csv_file: expected one file without view_names, but got a list of {len(csv_file)}")
    if csv_file:
        path = _resolve(str(csv_file), root, data_dir)
        if path is None:
            raise FileNotFoundError(f"{where}.csv_file: label file {csv_file} not found in {root}")
        return {SINGLE_VIEW: path}, False
    multi = sorted(p for p in root.glob("CollectedData_*.csv"))
    if multi:
        return {p.stem[len("CollectedData_") :]: p for p in multi}, True
    if (root / "CollectedData.csv").is_file():
        return {SINGLE_VIEW: root / "CollectedData.csv"}, False
    raise FileNotFoundError(
        f"{root}: expected label files CollectedData.csv or CollectedData_<view>.csv, but found none"
    )


def _session_of(image_path: str, view: str, multi: bool) -> str:
    """The session of an image: :func:`lp3d_io.layout.parse_session` for multi-view projects, then
    the image's folder (without the view name); ``session`` for images directly in labeled-data."""
    if multi:
        session = parse_session(image_path, view)[0]
        if session:
            return session
    parts = PurePosixPath(image_path.replace("\\", "/")).parts
    folder = parts[-2] if len(parts) >= 2 else LABELED_DATA
    if folder == LABELED_DATA:
        return DEFAULT_SESSION
    if multi:
        folder = re.sub(r"^[\W_]+|[\W_]+$", "", folder.replace(view, ""))
    return folder or DEFAULT_SESSION


def _videos(folders: list[Path], views: list[str], multi: bool) -> tuple[dict[str, dict[str, Path]], list[Skipped]]:
    videos: dict[str, dict[str, Path]] = {}
    skipped = []
    for folder in folders:
        for path in find_videos(folder):
            if not multi:
                session, view = path.stem, SINGLE_VIEW
            else:
                matches = [v for v in views if path.stem.endswith(f"_{v}") and len(path.stem) > len(v) + 1]
                if not matches:
                    skipped.append(
                        Skipped(f"video {path}", f"expected a name <session>_<view> with a view among {views}")
                    )
                    continue
                view = max(matches, key=len)
                session = path.stem[: -len(view) - 1]
            if view in videos.get(session, {}):
                skipped.append(Skipped(f"video {path}", f"session {session} already has {videos[session][view].name}"))
                continue
            videos.setdefault(session, {})[view] = path
        if videos:
            break  # the project's own video folder wins over the config's video_dir
    videos, incomplete = complete_sessions(videos, views)
    return videos, skipped + incomplete


def read_lightning_pose_project(source: str | os.PathLike) -> ImportedProject:
    """Reads a Lightning Pose project (see the module docstring).

    Args:
        source: the data folder, or its config file.

    Returns:
        The project; rows whose image is missing, has no frame number, or repeats a session's
        frame, videos that match no view, and calibration files that do not cover the views are
        skipped (and listed in ``skipped``).

    Raises:
        FileNotFoundError: no label file.
        ValueError: a config or label file that cannot be read, or label files that disagree
            (keypoints, individuals, number of rows), naming the file.
    """
    from lp3d_io.csv import from_pose_csv

    source = Path(source)
    config_path = source if source.is_file() else find_lightning_pose_config(source)
    root = source.parent if source.is_file() else source
    config = _load_yaml(config_path) if config_path else {}
    if config_path and not (isinstance(config, dict) and isinstance(config.get("data", {}), dict)):
        raise ValueError(f"{config_path}: expected a Lightning Pose config with a 'data' section, but got none")
    data = dict(config.get("data") or {}) if config_path else {}
    files, multi = _label_files(root, data, config_path)
    views = list(files)
    tables = {view: from_pose_csv(path, dtype=np.float64) for view, path in files.items()}
    first = tables[views[0]]
    for table in tables.values():
        _check_same(table, first, same_labels=False)
    keypoints, individuals = first.keypoint_names, first.individual_names
    skipped: list[Skipped] = []
    named = data.get("keypoint_names")
    if named and [str(k) for k in named] != keypoints:
        skipped.append(
            Skipped(
                f"{config_path}: data.keypoint_names",
                f"expected the label files' keypoints {keypoints}, but got {list(named)}; "
                "the label files' names are used",
            )
        )
    data_dir = _existing_dir(data.get("data_dir"))
    rows: dict[tuple[str, int], int] = {}
    keep, sessions, frames, images = [], [], [], [[] for _ in views]
    keys = []
    for f in range(first.n_frames):
        paths = [str(tables[view].index[f]) for view in views]
        what = f"{files[views[0]].name} row {f + 1} ({paths[0]})"
        found = {_session_of(path, view, multi) for path, view in zip(paths, views, strict=True)}
        numbers = {frame_number(path) for path in paths}
        if len(found) > 1:
            skipped.append(Skipped(what, f"expected the same session in every view, but got {sorted(found)}"))
            continue
        if None in numbers or len(numbers) > 1:
            skipped.append(
                Skipped(what, "expected image names ending in one frame number (img00012.png) in every view")
            )
            continue
        files_f = [_resolve(path, root, data_dir) for path in paths]
        if None in files_f:
            missing = [p for p, found_file in zip(paths, files_f, strict=True) if found_file is None]
            skipped.append(Skipped(what, f"image {missing[0]} not found"))
            continue
        key = (found.pop(), numbers.pop())
        if key in rows:
            skipped.append(Skipped(what, f"session {key[0]} frame {key[1]} is already row {rows[key] + 1}"))
            continue
        rows[key] = f
        keep.append(f)
        sessions.append(key[0])
        frames.append(key[1])
        keys.append(parse_session(paths[0], views[0])[1])
        for v in range(len(views)):
            images[v].append(files_f[v])
    position = np.stack([table_labels(tables[v], keypoints, individuals)[0][keep] for v in views])
    video_folders = [root / VIDEOS] + ([d] if (d := _existing_dir(data.get("video_dir"))) else [])
    videos, skipped_videos = _videos(video_folders, views, multi)
    skipped += skipped_videos
    calibrations: dict[str, Path] = {}
    if multi:
        index = data.get("camera_params_file")
        index_path = _resolve(str(index), root, data_dir) if index else None
        if index and index_path is None:
            skipped.append(Skipped(f"{config_path}: data.camera_params_file", f"{index} not found"))
        roots = ([] if index_path is None else [index_path.parent]) + [d for d in (root, data_dir) if d is not None]
        all_sessions = sorted(set(sessions) | set(videos))
        session_keys = list(keys) + [f"{LABELED_DATA}/{s}" for s in videos if s not in sessions]
        key_sessions = list(sessions) + [s for s in videos if s not in sessions]
        found_files = find_calibration_files(
            np.array(key_sessions, dtype=str),
            np.array(session_keys, dtype=str),
            roots,
            index_name=index_path.name if index_path is not None else CALIBRATION_INDEX,
        )
        calibrations, skipped_calibrations = check_calibrations(
            {s: p for s, p in found_files.items() if s in all_sessions}, views
        )
        skipped += skipped_calibrations
    settings = {name: data[name] for name in _SETTINGS if data.get(name) is not None}
    n_sessions = len(set(sessions) | set(videos))
    found_lines = [
        f"config {config_path}" if config_path else f"no config in {root}; views and keypoints from the label files",
        f"{len(views)} view(s) ({', '.join(views)}), {len(keypoints)} keypoints, {len(individuals)} individual(s)",
        f"{len(keep)} labeled frames of {first.n_frames} rows in {', '.join(p.name for p in files.values())}",
        f"{sum(len(v) for v in videos.values())} videos of {len(videos)} session(s); {n_sessions} session(s) in all",
    ]
    if multi:
        found_lines.append(f"calibration for {len(calibrations)} of {n_sessions} session(s)")
    return ImportedProject(
        kind=KIND,
        source=source,
        view_names=views,
        keypoint_names=keypoints,
        individual_names=individuals,
        sessions=np.array(sessions, dtype=str),
        frames=np.array(frames, dtype=np.int64),
        position=position,
        images=images,
        videos=videos,
        calibrations=calibrations,
        scorer=first.scorer or "lp3d",
        found=found_lines,
        skipped=skipped,
        settings=settings,
    )
