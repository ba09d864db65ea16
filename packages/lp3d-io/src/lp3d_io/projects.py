"""Projects of other tools in one format-neutral form, and the writer of the lp3d project layout.

Each importer (:mod:`lp3d_io.lightning_pose`, :mod:`lp3d_io.deeplabcut`, :mod:`lp3d_io.sleap`,
:mod:`lp3d_io.anipose`) reads a project in its tool's own layout into an :class:`ImportedProject`:
labeled frames as rows ``(session, frame)`` with a label array and an image per view, the videos
and calibration file of each session, and what was found and skipped (and why). The importers
only read their source; :func:`write_project` writes the lp3d project (see :mod:`lp3d_io.layout`)::

    CollectedData_<view>.csv                   one per view, the same rows (4-row header for several animals)
    labeled-data/<session>_<view>/img%05d.png  each labeled frame (PNG; other image formats are re-encoded)
    videos/<session>_<view>.<ext>              the session videos (copied, or linked)
    calibration.toml                           when every session has the same calibration file, else
    calibrations/<session>.toml                one per calibrated session
    import.json                                what was imported from where, found and skipped

**Rows.** A labeled frame of a multi-view project needs an image in every view. Importers that
get their labels one view at a time (DeepLabCut, SLEAP, anipose) read them into :class:`ViewLabels`
(``{view: {(session, frame): (labels, image)}}`` and the names) and make the project with
:func:`assemble_project`, which joins the rows (:func:`assemble_rows`): a view without a label at
a row's frame is NaN, its image taken from the session's video of that view, and a row whose
missing view has no video is skipped (and reported).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.files import staged_directory
from lp3d_io.layout import LABELED_DATA, VIDEO_SUFFIXES, VIDEOS, frame_id, frame_image_path, labels_file
from lp3d_io.pose_table import PoseTable

__all__ = [
    "ImageSource",
    "Skipped",
    "ImportedProject",
    "VideoFrame",
    "ViewLabels",
    "assemble_project",
    "assemble_rows",
    "check_calibrations",
    "complete_sessions",
    "frame_number",
    "table_labels",
    "find_videos",
    "write_project",
    "IMPORT_RECORD",
]

IMPORT_RECORD = "import.json"
"""The record :func:`write_project` leaves in the project: source, kind, names, found and skipped."""


@dataclass(frozen=True)
class VideoFrame:
    """The image of frame ``frame`` of a video file (read with OpenCV when the project is written)."""

    video: Path
    frame: int

    def read(self, readers: dict[Path, Any] | None = None) -> np.ndarray:
        """The frame, ``(height, width, 3)`` RGB uint8.

        Args:
            readers: open :class:`lp3d_io.video.VideoReader` by video, reused and added to (the
                caller closes them); None opens and closes the video here.

        Raises:
            FileNotFoundError / ValueError / IndexError: the video is missing, unreadable or too short.
        """
        from lp3d_io.video import VideoReader

        if readers is None:
            with VideoReader(self.video) as reader:
                return reader.read(self.frame)
        if self.video not in readers:
            readers[self.video] = VideoReader(self.video)
        return readers[self.video].read(self.frame)


ImageSource = Path | VideoFrame | Callable[[], np.ndarray]
"""Where the image of one view of a labeled frame comes from: an image file, a video frame, or a
function returning the image (``(height, width[, channels])`` uint8, RGB; e.g. a frame embedded
in a SLEAP package)."""


@dataclass(frozen=True)
class Skipped:
    """Something in the source that was not imported: ``what`` (a file, a row, a setting) and ``why``."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


@dataclass(frozen=True, eq=False)
class ImportedProject:
    """A project of another tool, read into lp3d's terms.

    Attributes:
        kind: the tool (``"lightning-pose"``, ``"deeplabcut"``, ``"sleap"``, ``"anipose"``).
        source: the project read.
        view_names: ``(view,)``.
        keypoint_names: ``(keypoint,)``.
        individual_names: ``(individual,)``; one (``individual_0``) for single-animal projects.
        sessions: ``(frame,)`` the session of every labeled frame.
        frames: ``(frame,)`` its frame number in the session's videos.
        position: ``(view, frame, keypoint, individual, 2)`` pixels, NaN where not labeled.
        images: ``[view][frame]`` where each image comes from.
        videos: ``{session: {view: video file}}``.
        calibrations: ``{session: anipose TOML}`` (files whose cameras cover the views).
        scorer: the labeler named in the label files.
        found: one line per thing found (shown to the user).
        skipped: what was not imported, and why.
        settings: other settings read from the source's config (recorded in ``import.json``).
    """

    kind: str
    source: Path
    view_names: list[str]
    keypoint_names: list[str]
    individual_names: list[str]
    sessions: np.ndarray
    frames: np.ndarray
    position: np.ndarray
    images: list[list[ImageSource]]
    videos: dict[str, dict[str, Path]] = field(default_factory=dict)
    calibrations: dict[str, Path] = field(default_factory=dict)
    scorer: str = "lp3d"
    found: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.position.shape[1])

    @property
    def session_names(self) -> list[str]:
        """Every session, of labeled frames or videos, sorted."""
        return sorted(set(self.sessions.tolist()) | set(self.videos))


@dataclass
class ViewLabels:
    """Labeled frames read one view at a time (DeepLabCut, SLEAP, anipose), as :func:`assemble_project`
    joins them.

    Attributes:
        labeled: ``{view: {(session, frame): (position (keypoint, individual, 2), image)}}``.
        keypoint_names, individual_names: the project's.
        scorer: the labeler.
        skipped: what was not read, and why.
        settings: other settings read from the source's config (recorded in ``import.json``).
    """

    labeled: dict[str, dict[tuple[str, int], tuple[np.ndarray, ImageSource]]] = field(default_factory=dict)
    keypoint_names: list[str] = field(default_factory=list)
    individual_names: list[str] = field(default_factory=list)
    scorer: str = "lp3d"
    skipped: list[Skipped] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def frame_number(path: str | os.PathLike) -> int | None:
    """The frame number ending an image file name (``img00042.png`` -> 42), or None."""
    found = frame_id(str(path), "")
    return None if found is None else found[1]


def table_labels(
    table: PoseTable, keypoint_names: Sequence[str], individual_names: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """A label table's positions in a project's keypoint and individual order.

    Args:
        table: labeled frames of one view (a CSV or HDF5 label file).
        keypoint_names, individual_names: the project's names; a name the table lacks is NaN.

    Returns:
        ``position (row, keypoint, individual, 2)``, and the table's keypoints and individuals
        that are not among the project's (their columns are left out).
    """
    position = np.full((table.n_frames, len(keypoint_names), len(individual_names), 2), np.nan)
    k_src = {k: i for i, k in enumerate(table.keypoint_names)}
    i_src = {k: i for i, k in enumerate(table.individual_names)}
    for k, name in enumerate(keypoint_names):
        for i, ind in enumerate(individual_names):
            if name in k_src and ind in i_src:
                position[:, k, i] = table.position[:, k_src[name], i_src[ind], :2]
    unknown_k = [k for k in table.keypoint_names if k not in keypoint_names]
    unknown_i = [i for i in table.individual_names if i not in individual_names]
    return position, unknown_k, unknown_i


def find_videos(folder: Path) -> list[Path]:
    """The video files directly in ``folder`` (suffixes of :data:`lp3d_io.layout.VIDEO_SUFFIXES`), sorted."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and p.name[0] != "."
    )


def assemble_rows(
    view_names: Sequence[str],
    n_keypoints: int,
    n_individuals: int,
    labeled: Mapping[str, Mapping[tuple[str, int], tuple[np.ndarray, ImageSource]]],
    videos: Mapping[str, Mapping[str, Path]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[ImageSource]], list[Skipped]]:
    """Joins labeled frames given one view at a time into rows with every view.

    Args:
        view_names: ``(view,)``.
        n_keypoints, n_individuals: the label array's sizes.
        labeled: ``{view: {(session, frame): (position (keypoint, individual, 2), image)}}``.
        videos: ``{session: {view: video}}``: where a view without a label at a frame gets its image.

    Returns:
        ``sessions (frame,)``, ``frames (frame,)``, ``position (view, frame, keypoint, individual, 2)``,
        ``images [view][frame]`` and the rows skipped; rows sorted by session, then frame.
    """
    keys = sorted({key for by_key in labeled.values() for key in by_key})
    sessions, frames, rows, images = [], [], [], [[] for _ in view_names]
    skipped = []
    for session, frame in keys:
        row = np.full((len(view_names), n_keypoints, n_individuals, 2), np.nan)
        row_images: list[ImageSource] = []
        missing = []
        for v, view in enumerate(view_names):
            entry = labeled.get(view, {}).get((session, frame))
            if entry is not None:
                row[v] = entry[0]
                row_images.append(entry[1])
            elif view in videos.get(session, {}):
                row_images.append(VideoFrame(videos[session][view], frame))
            else:
                missing.append(view)
        if missing:
            skipped.append(
                Skipped(
                    f"session {session} frame {frame}",
                    f"expected an image in every view, but {', '.join(missing)} has no label at this frame "
                    f"and no video to take the frame from",
                )
            )
            continue
        sessions.append(session)
        frames.append(frame)
        rows.append(row)
        for v in range(len(view_names)):
            images[v].append(row_images[v])
    position = np.stack(rows, axis=1) if rows else np.empty((len(view_names), 0, n_keypoints, n_individuals, 2))
    return np.array(sessions, dtype=str), np.array(frames, dtype=np.int64), position, images, skipped


def complete_sessions(
    videos: Mapping[str, Mapping[str, Path]], view_names: Sequence[str]
) -> tuple[dict[str, dict[str, Path]], list[Skipped]]:
    """The sessions with a video of every view (lp3d predicts every view of a session together).

    Returns:
        ``{session: {view: video}}`` in view order, and one :class:`Skipped` per incomplete session.
    """
    complete, skipped = {}, []
    for session in sorted(videos):
        missing = [v for v in view_names if v not in videos[session]]
        if missing:
            names = ", ".join(p.name for p in videos[session].values())
            skipped.append(Skipped(f"videos {names}", f"session {session} has no video of view(s) {missing}"))
        else:
            complete[session] = {v: videos[session][v] for v in view_names}
    return complete, skipped


def check_calibrations(files: Mapping[str, Path], view_names: Sequence[str]) -> tuple[dict[str, Path], list[Skipped]]:
    """The calibration files whose cameras cover the views (extra cameras are allowed, as in training).

    Args:
        files: ``{session: anipose TOML}``.
        view_names: the views.

    Returns:
        ``{session: file}`` of the usable ones, and one :class:`Skipped` per unusable file.
    """
    from lp3d_io.calibration import from_anipose_toml

    usable: dict[str, Path] = {}
    bad: dict[Path, str] = {}
    for session, path in files.items():
        path = Path(path)
        if path not in bad and path not in usable.values():
            try:
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: no such file")
                from_anipose_toml(path, view_names, allow_extra=True)
            except (ValueError, OSError) as err:
                bad[path] = " ".join(str(err).split())
        if path not in bad:
            usable[session] = path
    skipped = [Skipped(f"calibration {path}", why) for path, why in bad.items()]
    return usable, skipped


def assemble_project(
    kind: str,
    source: Path,
    view_names: Sequence[str],
    labels: ViewLabels,
    videos: Mapping[str, Mapping[str, Path]],
    calibrations: Mapping[str, Path] | None = None,
) -> ImportedProject:
    """The project of labels read one view at a time: the rows joined across views
    (:func:`assemble_rows`), the sessions with a video of every view (:func:`complete_sessions`) and
    the calibrations that cover the views (:func:`check_calibrations`).

    Args:
        kind, source: as in :class:`ImportedProject`.
        view_names: ``(view,)``.
        labels: the labels by view, with the names, scorer, settings and what was skipped so far.
        videos: ``{session: {view: video}}`` found.
        calibrations: ``{session: anipose TOML}`` found.

    Returns:
        The project; its ``skipped`` are ``labels.skipped``, then the rows, sessions and
        calibrations left out here; ``found`` is left to the importer (``dataclasses.replace``).
    """
    sessions, frames, position, images, skipped_rows = assemble_rows(
        view_names, len(labels.keypoint_names), len(labels.individual_names), labels.labeled, videos
    )
    complete, incomplete = complete_sessions(videos, view_names)
    usable, unusable = check_calibrations(calibrations or {}, view_names)
    return ImportedProject(
        kind=kind,
        source=source,
        view_names=list(view_names),
        keypoint_names=labels.keypoint_names,
        individual_names=labels.individual_names,
        sessions=sessions,
        frames=frames,
        position=position,
        images=images,
        videos=complete,
        calibrations=usable,
        scorer=labels.scorer,
        skipped=[*labels.skipped, *skipped_rows, *incomplete, *unusable],
        settings=labels.settings,
    )


def _write_image(source: ImageSource, target: Path, readers: dict[Path, Any]) -> None:
    if isinstance(source, Path):
        if source.suffix.lower() == ".png":
            shutil.copyfile(source, target)
            return
        import cv2

        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"{source}: expected an image file, but OpenCV cannot read it")
        cv2.imwrite(str(target), image)
        return
    image = source.read(readers) if isinstance(source, VideoFrame) else source()
    import cv2

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    elif image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(target), image):
        raise OSError(f"{target}: OpenCV could not write the image")


def _record(project: ImportedProject) -> dict[str, Any]:
    return {
        "kind": project.kind,
        "source": str(project.source),
        "views": project.view_names,
        "keypoints": project.keypoint_names,
        "individuals": project.individual_names,
        "labeled_frames": project.n_frames,
        "sessions": project.session_names,
        "found": project.found,
        "skipped": [{"what": s.what, "why": s.why} for s in project.skipped],
        "settings": project.settings,
    }


def write_project(
    project: ImportedProject,
    directory: str | os.PathLike,
    *,
    link_videos: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Path]:
    """Writes ``project`` as an lp3d project folder (see the module docstring), whole or not at all.

    Args:
        project: what to write.
        directory: the project folder; an existing one is replaced (the caller checks beforehand
            that it may be, with :func:`lp3d_io.files.check_target`).
        link_videos: symbolic links to the source videos instead of copies.
        progress: called as ``progress(description, done, total)``.

    Returns:
        ``{"labels/<view>": CSV, "videos/<session>/<view>": video, "calibration/<session>": TOML,
        "record": import.json}`` of the files written (paths in ``directory``).

    Raises:
        ValueError / OSError: an image or video that cannot be read or written (nothing is written).
    """
    from lp3d_io.csv import to_pose_csv

    directory = Path(directory)
    views = project.view_names
    written: dict[str, Path] = {}

    def step(description: str, done: int, total: int | None) -> None:
        if progress is not None:
            progress(description, done, total)

    readers: dict[Path, Any] = {}
    with staged_directory(directory) as tmp, contextlib.ExitStack() as stack:
        stack.callback(lambda: [reader.close() for reader in readers.values()])
        n = project.n_frames
        paths = np.array(
            [
                [frame_image_path(s, view, f) for s, f in zip(project.sessions, project.frames, strict=True)]
                for view in views
            ],
            dtype=object,
        ).reshape(len(views), n)
        for v, view in enumerate(views):
            for i in range(n):
                target = tmp / paths[v, i]
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_image(project.images[v][i], target, readers)
            step(f"images of {view}", v + 1, len(views))
        if n:
            for v, view in enumerate(views):
                path = tmp / labels_file(view)
                table = PoseTable.from_numpy(
                    project.position[v],
                    keypoint_names=project.keypoint_names,
                    individual_names=project.individual_names,
                    index=paths[v].tolist(),
                    scorer=project.scorer,
                )
                to_pose_csv(table, path)
                written[f"labels/{view}"] = directory / path.name
        else:
            (tmp / LABELED_DATA).mkdir()
        videos = [(s, view, src) for s, by_view in sorted(project.videos.items()) for view, src in by_view.items()]
        for i, (session, view, src) in enumerate(videos):
            name = f"{session}_{view}{src.suffix.lower()}"
            target = tmp / VIDEOS / name
            target.parent.mkdir(exist_ok=True)
            if link_videos:
                os.symlink(src.resolve(), target)
            else:
                shutil.copyfile(src, target)
            written[f"videos/{session}/{view}"] = directory / VIDEOS / name
            step("videos", i + 1, len(videos))
        sessions = project.session_names
        files = set(project.calibrations.values())
        if len(files) == 1 and set(project.calibrations) >= set(sessions):
            shutil.copyfile(files.pop(), tmp / "calibration.toml")
            for session in sessions:
                written[f"calibration/{session}"] = directory / "calibration.toml"
        else:
            for session, src in sorted(project.calibrations.items()):
                target = tmp / "calibrations" / f"{session}.toml"
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(src, target)
                written[f"calibration/{session}"] = directory / "calibrations" / target.name
        (tmp / IMPORT_RECORD).write_text(json.dumps(_record(project), indent=2) + "\n")
        written["record"] = directory / IMPORT_RECORD
    return written
