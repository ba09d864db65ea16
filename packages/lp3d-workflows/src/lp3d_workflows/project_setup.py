"""Making a project from nothing: its views, keypoints and skeleton, sessions of videos, calibrations.

- :func:`create_project`: in an empty folder (or one without label files), the files every lp3d tool
  reads (:mod:`lp3d_io.layout`): ``CollectedData_<view>.csv`` (a header, no rows yet),
  ``skeleton.csv``, ``lp3d.yaml`` (``data.root: .``, the views and ``run_dir: runs/<name>``: a config
  ``lp3d train`` takes), ``videos/``, and the name (:data:`lp3d_workflows.project.PROJECT_FILE`).
- :func:`save_skeleton`: the bones (two keypoint names a row).
- :func:`check_video`: whether a video seeks frame-accurately. Its packets are read without
  decoding (their count is the true frame count, and their key-frame flags say whether every
  frame is a key frame: then any frame decodes on its own); a video with other frames is checked
  by decoding its first frames in order and then reading some of them by seeking, in an order that
  jumps back and forth: any difference, or a frame count the container gets wrong, fails it.
- :func:`convert_all_intra`: a copy of a video in which every frame is a key frame (Motion JPEG in
  AVI, the all-intra codec OpenCV always writes), with a progress callback.
- :func:`prepare_video`: an uploaded video into ``videos/<session>_<view>.<ext>``: checked, and
  converted once when it does not seek frame-accurately (the job kind ``video``).
- :func:`save_calibration`: a session's anipose calibration (pinhole or fisheye) into
  ``calibrations/<session>.toml``, checked against the views first.

Views whose videos differ in frame count or rate are reported by
:func:`lp3d_workflows.project.video_mismatches` (the project's problems).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lp3d_io.files import atomic_path, write_text_atomic
from lp3d_io.layout import LABELED_DATA, VIDEO_SUFFIXES, VIDEOS, find_label_views, labels_file

from lp3d_workflows.errors import UserError
from lp3d_workflows.progress import ProgressCallback, report
from lp3d_workflows.project import PROJECT_FILE, SKELETON_FILE

__all__ = [
    "NAME_PATTERN",
    "CALIBRATIONS_DIR",
    "create_project",
    "save_skeleton",
    "VideoCheck",
    "check_video",
    "convert_all_intra",
    "prepare_video",
    "check_prepare_video",
    "run_prepare_video",
    "save_calibration",
    "check_name",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Project, session, view and run names: letters, digits, ``_ . -`` (they become file names)."""
_NAME = re.compile(NAME_PATTERN)
_KEYPOINT = re.compile(r"^[^,\"\r\n]{1,64}$")
CALIBRATIONS_DIR = "calibrations"
CONFIG_NAME = "lp3d.yaml"
SEEK_CHECK_FRAMES = 150
"""Frames decoded in order at the start of a video to check its seeking against."""
SEEK_SAMPLES = 12


def check_name(value: str, what: str) -> str:
    """``value`` when it is a safe name (:data:`NAME_PATTERN`). Raises UserError naming ``what``."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise UserError(f"{what}: expected letters, digits, '_', '.' or '-' (at most 64), but got {value!r}")
    return value


def _distinct(values: Sequence[str], what: str) -> list[str]:
    values = list(values)
    if not values:
        raise UserError(f"{what}: expected at least one name, but got none")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise UserError(f"{what}: expected distinct names, but {repeated} repeat")
    return values


def create_project(
    root: str | os.PathLike,
    name: str,
    views: Sequence[str],
    keypoints: Sequence[str],
    skeleton: Sequence[tuple[str, str]] = (),
) -> Path:
    """Creates a project in ``root`` (see the module docstring); returns ``root``.

    Raises:
        UserError: bad names, a bone between unknown keypoints, or ``root`` holds a project already
            (label files or ``lp3d.yaml``).
    """
    import yaml

    from lp3d_workflows.labeling import new_label_file

    root = Path(root)
    check_name(name, "name")
    for view in _distinct(views, "views"):
        check_name(view, f"view {view!r}")
    for keypoint in _distinct(keypoints, "keypoints"):
        if not _KEYPOINT.match(keypoint) or keypoint != keypoint.strip():
            raise UserError(f"keypoint {keypoint!r}: expected a name without commas, quotes or line breaks")
    _checked_bones(keypoints, skeleton)
    try:
        existing = find_label_views(root)
    except FileNotFoundError:
        existing = []
    if existing or (root / CONFIG_NAME).exists():
        raise UserError(f"{root}: a project is here already (label files of {existing} or {CONFIG_NAME})")
    root.mkdir(parents=True, exist_ok=True)
    (root / VIDEOS).mkdir(exist_ok=True)
    (root / LABELED_DATA).mkdir(exist_ok=True)
    save_skeleton(root, keypoints, skeleton)
    for view in views:
        label_file = new_label_file(root / labels_file(view), keypoints)
        write_text_atomic(label_file.path, label_file.text())
    config = {"run_dir": f"runs/{name}", "data": {"root": ".", "views": list(views)}}
    write_text_atomic(
        root / CONFIG_NAME,
        f"# lp3d project {name}, created by the lp3d app: training settings come from the app's model form\n"
        "# (or `lp3d train lp3d.yaml --set section.key=value`; `lp3d init` writes every key with its help).\n"
        + yaml.safe_dump(config, sort_keys=False),
    )
    write_text_atomic(root / PROJECT_FILE, json.dumps({"name": name}))
    return root


def save_skeleton(data_root: str | os.PathLike, keypoints: Sequence[str], bones: Sequence[Sequence[str]]) -> Path:
    """Writes ``skeleton.csv`` (two keypoint names a row; no file content for no bones).

    Raises:
        UserError: a bone that is not two distinct keypoints of ``keypoints``, or repeats.
    """
    path = Path(data_root) / SKELETON_FILE
    write_text_atomic(path, "".join(f"{a},{b}\n" for a, b in _checked_bones(keypoints, bones)))
    return path


def _checked_bones(keypoints: Sequence[str], bones: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """The bones, each two distinct keypoints of ``keypoints``, none repeated. Raises UserError."""
    seen: set[frozenset[str]] = set()
    out = []
    for bone in bones:
        if len(bone) != 2 or bone[0] == bone[1] or any(k not in keypoints for k in bone):
            raise UserError(
                f"skeleton: expected bones of two distinct keypoints among {list(keypoints)}, but got {list(bone)}"
            )
        if frozenset(bone) in seen:
            raise UserError(f"skeleton: the bone {bone[0]}-{bone[1]} is given twice")
        seen.add(frozenset(bone))
        out.append((bone[0], bone[1]))
    return out


# --- videos -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoCheck:
    """What :func:`check_video` found.

    Attributes:
        n_frames: frames in the file (its packets; what the container claims is ``declared``).
        declared: the frame count the container claims.
        fps, width, height: as the container says.
        key_frames: frames that are key frames.
        seeks: whether a frame read by its index is that frame.
        reason: why it does not seek frame-accurately (one line), or "".
    """

    n_frames: int
    declared: int
    fps: float
    width: int
    height: int
    key_frames: int
    seeks: bool
    reason: str = ""

    @property
    def all_intra(self) -> bool:
        return self.n_frames > 0 and self.key_frames == self.n_frames


def _packets(path: Path) -> tuple[int, int]:
    """``(packets, key-frame packets)`` of a video, read without decoding (OpenCV's raw stream)."""
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened() or not capture.set(cv2.CAP_PROP_FORMAT, -1):
            return -1, -1
        n = keys = 0
        while capture.grab():
            n += 1
            keys += int(capture.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME) > 0)
        return n, keys
    finally:
        capture.release()


def _seek_order(n: int, samples: int, seed: int = 0) -> list[int]:
    """Frames to read by seeking, in an order that jumps forwards and backwards (last frame included)."""
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(n, size=min(samples, n), replace=False).tolist()) | {n - 1, n // 2}
    order = sorted(chosen)
    return order[1::2][::-1] + order[0::2]


def check_video(path: str | os.PathLike, progress: ProgressCallback | None = None) -> VideoCheck:
    """Whether a video seeks frame-accurately (see the module docstring).

    Raises:
        ValueError: OpenCV cannot open or decode it.
    """
    import cv2
    from lp3d_io.video import VideoReader

    path = Path(path)
    report(progress, f"checking {path.name}", 0, None)
    with VideoReader(path, rgb=False) as reader:
        declared, fps, (width, height) = reader.frame_count, reader.fps, reader.size
    n_packets, keys = _packets(path)
    n = n_packets if n_packets > 0 else declared
    if n <= 0:
        raise ValueError(f"{path.name}: expected a video with frames, but OpenCV finds none")

    def result(seeks: bool, reason: str = "") -> VideoCheck:
        return VideoCheck(n, declared, fps, width, height, max(keys, 0), seeks, reason)

    if n_packets > 0 and n_packets != declared:
        return result(False, f"the container claims {declared} frames, but the file holds {n_packets}")
    if n_packets > 0 and keys == n_packets:
        return result(True)
    head = min(n, SEEK_CHECK_FRAMES)
    capture = cv2.VideoCapture(str(path))
    try:
        sequential = []
        for i in range(head):
            ok, frame = capture.read()
            if not ok:
                return result(False, f"frame {i} cannot be decoded")
            sequential.append(frame)
            report(progress, f"checking {path.name}", i + 1, head + SEEK_SAMPLES)
    finally:
        capture.release()
    with VideoReader(path, rgb=False) as reader:
        for done, index in enumerate(_seek_order(head, SEEK_SAMPLES)):
            try:
                frame = reader.read(index)
            except IndexError as err:
                return result(False, str(err))
            if frame.shape != sequential[index].shape or not np.array_equal(frame, sequential[index]):
                return result(False, f"seeking to frame {index} gives another frame")
            report(progress, f"checking {path.name}", head + done + 1, head + SEEK_SAMPLES)
        try:
            reader.read(n - 1)
        except IndexError as err:
            return result(False, str(err))
    return result(True)


def convert_all_intra(
    source: str | os.PathLike, target: str | os.PathLike, progress: ProgressCallback | None = None
) -> Path:
    """Writes ``target`` (``.avi``), every frame of ``source`` as a key frame (Motion JPEG), atomically.

    Raises:
        ValueError: the source cannot be decoded, or OpenCV cannot write Motion JPEG.
    """
    import cv2

    source, target = Path(source), Path(target)
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise ValueError(f"{source.name}: OpenCV cannot open this video")
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    try:
        with atomic_path(target, create=False) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
            if not writer.isOpened():
                raise ValueError(f"{target.name}: OpenCV cannot write Motion JPEG video here")
            try:
                done = 0
                while True:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    writer.write(frame)
                    done += 1
                    if done % 25 == 0:
                        report(progress, f"converting {source.name} (every frame a key frame)", done, total or None)
            finally:
                writer.release()
            if done == 0:
                raise ValueError(f"{source.name}: no frame could be decoded")
            report(progress, f"converting {source.name} (every frame a key frame)", done, done)
    finally:
        capture.release()
    return target


def _existing_video(folder: Path, session: str, view: str) -> Path | None:
    for suffix in VIDEO_SUFFIXES:
        path = folder / f"{session}_{view}{suffix}"
        if path.exists():
            return path
    return None


def check_prepare_video(params: dict[str, Any]) -> Path:
    """The ``video`` job's check: names, the upload, and no video of that session and view yet
    (unless ``overwrite``); returns the target (without suffix: the job picks it)."""
    check_name(params["session"], "session")
    check_name(params["view"], "view")
    upload, folder = Path(params["upload"]), Path(params["videos"])
    if not upload.is_file():
        raise UserError(f"upload {upload.name}: no such file")
    if upload.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"video: expected a {', '.join(VIDEO_SUFFIXES)} file, but got {upload.suffix or 'no suffix'}")
    found = _existing_video(folder, params["session"], params["view"])
    if found is not None and not params.get("overwrite"):
        raise UserError(f"{VIDEOS}/{found.name}: a video of this session and view is there already")
    return folder / f"{params['session']}_{params['view']}"


def prepare_video(
    upload: str | os.PathLike,
    videos: str | os.PathLike,
    session: str,
    view: str,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[Path, VideoCheck, bool]:
    """Moves an uploaded video to ``<videos>/<session>_<view><suffix>``, converted to all-intra
    (:func:`convert_all_intra`, ``.avi``) when it does not seek frame-accurately; the upload is
    removed. Returns ``(video, check, converted)``."""
    upload, folder = Path(upload), Path(videos)
    check = check_video(upload, progress)
    folder.mkdir(parents=True, exist_ok=True)
    old = _existing_video(folder, session, view)
    if old is not None and not overwrite:
        raise UserError(f"{VIDEOS}/{old.name}: a video of this session and view is there already")
    if check.seeks:
        target = folder / f"{session}_{view}{upload.suffix.lower()}"
        with atomic_path(target, create=False) as tmp:
            shutil.move(upload, tmp)
        converted = False
    else:
        target = convert_all_intra(upload, folder / f"{session}_{view}.avi", progress)
        upload.unlink(missing_ok=True)
        converted = True
    if old is not None and old != target:
        old.unlink(missing_ok=True)
    return target, check, converted


def run_prepare_video(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``video`` job: :func:`prepare_video`; the upload's folder is removed at the end."""
    upload = Path(params["upload"])
    try:
        video, check, converted = prepare_video(
            upload,
            params["videos"],
            params["session"],
            params["view"],
            overwrite=bool(params.get("overwrite")),
            progress=progress,
        )
    finally:
        if upload.parent.name.startswith("upload-"):
            shutil.rmtree(upload.parent, ignore_errors=True)
    return {
        "session": params["session"],
        "view": params["view"],
        "video": video.name,
        "n_frames": check.n_frames,
        "fps": check.fps,
        "width": check.width,
        "height": check.height,
        "converted": converted,
        "reason": check.reason,
    }


# --- calibrations --------------------------------------------------------------------------------------


def save_calibration(text: bytes, data_root: str | os.PathLike, session: str, views: Sequence[str]) -> Path:
    """Checks an anipose calibration (pinhole or fisheye cameras) and writes it as
    ``calibrations/<session>.toml`` (atomically), where lp3d finds a session's calibration.

    Raises:
        UserError: not a calibration lp3d reads, or no camera named after a view.
    """
    from lp3d_eks import CameraRig

    check_name(session, "session")
    root = Path(data_root)
    target = root / CALIBRATIONS_DIR / f"{session}.toml"
    with atomic_path(target) as tmp:
        tmp.write_bytes(text)
        try:
            rig = CameraRig.from_toml(tmp)
        except (ValueError, KeyError, TypeError) as err:
            message = " ".join(str(err).replace(f"{tmp}: ", "").replace(str(tmp), "the file").split())
            raise UserError(f"calibration: {message}") from None
        missing = [v for v in views if v not in rig.names]
        if missing:
            raise UserError(
                f"calibration: expected a camera named after every view {list(views)}, "
                f"but {missing} have none (cameras: {rig.names})"
            )
    return target
