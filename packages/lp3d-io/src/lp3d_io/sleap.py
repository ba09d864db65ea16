"""SLEAP ``.slp`` files, read and written through ``sleap-io`` (the ``sleap`` extra), and SLEAP projects.

**Predictions** (:func:`from_sleap_slp`, a reader of :data:`lp3d_io.readers.POSE_READERS`): one
video per file; each frame's user instances, then the predicted instances no user instance
replaces (same track, or the prediction a user instance was made from), as SLEAP itself prefers
them. Tracks are the individuals (instances without a track are left out of a tracked file); an
untracked file holds one animal per frame (:data:`~lp3d_io.dataset.DEFAULT_INDIVIDUAL`).
``confidence`` is each predicted point's score (NaN for user-labeled points); the rows are the
video's frames ``0 .. n - 1`` (the video's length when the file records it, else up to the last
labeled frame), NaN where nothing was found. :func:`to_sleap_slp` writes predictions back as
predicted instances, one track per individual and a labeled frame per row.

**Projects** (:func:`read_sleap_project`): user-labeled instances are the labels (predicted ones
too with ``predicted=True``, where no user instance replaces them); a labeled frame's image comes
from the file's video (or the frames embedded in a ``.pkg.slp``). Two layouts:

- one or more ``.slp`` files (a file, or a folder of them): one view
  (:data:`lp3d_io.grouping.SINGLE_VIEW`), a session per video (named after the video file);
- sleap-anipose sessions, ``<session>/<view>/*.slp`` with ``<session>/calibration.toml`` (a
  session folder, or a folder of them): one view per sub-folder, the frames of a session joined
  across views by frame number (:func:`lp3d_io.projects.assemble_rows`), its calibration copied.

Untracked multi-animal labels keep every instance, in file order, as individuals ``instance_0``,
``instance_1``, ... (their identity is arbitrary).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.files import atomic_path
from lp3d_io.grouping import SINGLE_VIEW
from lp3d_io.pose_table import PoseTable, build_pose_table
from lp3d_io.projects import ImageSource, ImportedProject, Skipped, ViewLabels, assemble_project

__all__ = [
    "from_sleap_slp",
    "to_sleap_slp",
    "read_sleap_project",
    "is_sleap_project",
    "SLP_SUFFIX",
]

KIND = "sleap"
SLP_SUFFIX = ".slp"
UNTRACKED = "instance_{}"


def _sleap_io():
    try:
        import sleap_io
    except ImportError:
        raise ImportError("reading and writing SLEAP .slp files needs sleap-io: pip install 'lp3d-io[sleap]'") from None
    return sleap_io


def _load(path: Path, *, open_videos: bool) -> Any:
    sio = _sleap_io()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return sio.load_slp(str(path), open_videos=open_videos)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: expected a SLEAP .slp file, but sleap-io cannot read it ({err})") from None


def _chosen(frame: Any, *, user: bool, predicted: bool) -> list[Any]:
    """The instances of a labeled frame: user ones, then predicted ones no user instance replaces."""
    users = list(frame.user_instances) if user else []
    if not predicted:
        return users
    replaced = {id(u.from_predicted) for u in users if getattr(u, "from_predicted", None) is not None}
    tracks = {id(u.track) for u in users if u.track is not None}
    preds = [
        p for p in frame.predicted_instances if id(p) not in replaced and (p.track is None or id(p.track) not in tracks)
    ]
    if users and not tracks and preds and all(p.track is None for p in preds):
        preds = []  # untracked: a user instance is the frame's labels (SLEAP's single-animal rule)
    return users + preds


@dataclass
class _Slots:
    """Instances of frames assigned to individuals."""

    individuals: list[str]
    frames: dict[int, list[tuple[int, Any]]] = field(default_factory=dict)  # frame -> [(individual, instance)]
    dropped: int = 0  # instances without a track in a tracked file


def _slot(frames: Sequence[Any], track_names: list[str], *, user: bool, predicted: bool) -> _Slots:
    chosen = {lf.frame_idx: _chosen(lf, user=user, predicted=predicted) for lf in frames}
    used = {inst.track.name for insts in chosen.values() for inst in insts if inst.track is not None}
    if used:
        slots = _Slots([t for t in track_names if t in used])
        index = {name: i for i, name in enumerate(slots.individuals)}
        for frame, insts in chosen.items():
            kept = [(index[i.track.name], i) for i in insts if i.track is not None]
            slots.dropped += len(insts) - len(kept)
            slots.frames[frame] = kept
        return slots
    most = max((len(insts) for insts in chosen.values()), default=0)
    names = [DEFAULT_INDIVIDUAL] if most <= 1 else [UNTRACKED.format(i) for i in range(most)]
    return _Slots(names, {frame: list(enumerate(insts)) for frame, insts in chosen.items()})


def _points(instance: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(node, 2)`` positions (NaN where not visible) and ``(node,)`` scores (NaN for user points)."""
    xy = np.asarray(instance.numpy(), dtype=np.float64)
    if isinstance(instance, _sleap_io().PredictedInstance):
        scores = np.asarray(instance.numpy(scores=True), dtype=np.float64)[:, 2]
    else:
        scores = np.full(len(xy), np.nan)
    return xy, scores


def _one_skeleton(labels: Any, path: Path) -> Any:
    if len(labels.skeletons) != 1:
        raise ValueError(f"{path}: expected one skeleton, but the file has {len(labels.skeletons)}")
    return labels.skeletons[0]


def _video_name(video: Any) -> str:
    """The file name of a video, or of the video its embedded frames came from."""
    original = getattr(video, "original_video", None) or video
    filename = original.filename
    return str(filename[0] if isinstance(filename, list) else filename)


def from_sleap_slp(path: str | os.PathLike, *, dtype: Any = np.float64) -> PoseTable:
    """Reads the predictions of one video from a SLEAP ``.slp`` file (see the module docstring).

    Raises:
        ImportError: sleap-io is not installed (the ``sleap`` extra).
        ValueError: not a ``.slp`` file, several videos or skeletons, or several untracked
            animals in a frame (their identities would be arbitrary), naming the file.
    """
    path = Path(path)
    labels = _load(path, open_videos=False)
    if len(labels.videos) != 1:
        names = ", ".join(Path(_video_name(v)).name for v in labels.videos) or "none"
        raise ValueError(
            f"{path}: expected the predictions of one video, but the file has {len(labels.videos)} ({names}); "
            f"export one .slp per video"
        )
    video = labels.videos[0]
    skeleton = _one_skeleton(labels, path)
    nodes = [str(n) for n in skeleton.node_names]
    frames = [lf for lf in labels.labeled_frames if lf.video is video]
    slots = _slot(frames, [t.name for t in labels.tracks], user=True, predicted=True)
    if len(slots.individuals) > 1 and slots.individuals[0] == UNTRACKED.format(0):
        worst = max(slots.frames, key=lambda f: len(slots.frames[f]))
        raise ValueError(
            f"{path}: expected tracked instances (tracks) when a frame holds several animals, but frame {worst} "
            f"has {len(slots.frames[worst])} untracked instances; track them in SLEAP first"
        )
    n_frames = max(len(video), max((lf.frame_idx for lf in frames), default=-1) + 1)
    K, I = len(nodes), len(slots.individuals)  # noqa: E741
    position = np.full((n_frames, K, I, 2), np.nan)
    confidence = np.full((n_frames, K, I), np.nan)
    for frame, assigned in slots.frames.items():
        for i, instance in assigned:
            position[frame, :, i], confidence[frame, :, i] = _points(instance)
    columns = [(ind, kp, c) for ind in slots.individuals for kp in nodes for c in ("x", "y", "likelihood")]

    def column(j: int) -> np.ndarray:
        i, rest = divmod(j, 3 * K)
        k, c = divmod(rest, 3)
        return position[:, k, i, c] if c < 2 else confidence[:, k, i]

    return build_pose_table(
        columns, column, n_rows=n_frames, index=np.arange(n_frames), scorer="SLEAP", path=path, dtype=dtype
    )


def to_sleap_slp(table: PoseTable, path: str | os.PathLike, *, video: str | os.PathLike | None = None) -> None:
    """Writes a table of 2D poses as a SLEAP ``.slp`` file of predicted instances, atomically.

    The keypoints are the skeleton's nodes, each individual a track, the confidence the point
    scores (NaN where the table has none), ``table.index`` the frame numbers in the video. Every
    row is a labeled frame (an empty one where every point is NaN), so the number of frames reads
    back; an instance's score is the mean of its points' scores.

    Args:
        table: what to write (``x, y`` only).
        path: the output file (``.slp``).
        video: the video the predictions are of (SLEAP asks for it when it is elsewhere); default
            the file's name with ``.mp4``.
    """
    sio = _sleap_io()
    path = Path(path)
    if len(table.space) != 2:
        raise ValueError("position: expected 2D poses (x, y) for a SLEAP file, but got 3D")
    frames = table.frame_numbers()
    pos, conf = table.position.astype(np.float64), table.confidence_or_nan()
    skeleton = sio.Skeleton(list(table.keypoint_names))
    tracks = [sio.Track(name) for name in table.individual_names]
    media = sio.Video(filename=str(video) if video is not None else path.with_suffix(".mp4").name, open_backend=False)
    labeled = []
    for t, frame in enumerate(frames.tolist()):
        instances = []
        for i, track in enumerate(tracks):
            if np.isnan(pos[t, :, i]).all():
                continue
            scores = conf[t, :, i]
            score = float(np.nanmean(scores)) if np.isfinite(scores).any() else 0.0
            instances.append(
                sio.PredictedInstance.from_numpy(
                    pos[t, :, i], skeleton=skeleton, point_scores=scores, score=score, track=track
                )
            )
        labeled.append(sio.LabeledFrame(video=media, frame_idx=int(frame), instances=instances))
    labels = sio.Labels(
        labeled_frames=labeled, videos=[media], skeletons=[skeleton], tracks=tracks, provenance={"software": "lp3d"}
    )
    with atomic_path(path, create=False) as tmp:
        sio.save_slp(labels, str(tmp), verbose=False)


# --- projects ----------------------------------------------------------------------------------------


def _view_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name[0] != "." and any(p.glob(f"*{SLP_SUFFIX}")))


def _is_session(folder: Path) -> bool:
    views = _view_folders(folder)
    return bool(views) and ((folder / "calibration.toml").is_file() or len(views) >= 2)


def _sessions(source: Path) -> list[Path]:
    """sleap-anipose session folders: ``source`` itself, or its sub-folders that are sessions."""
    if not source.is_dir():
        return []
    if _is_session(source):
        return [source]
    return [p for p in sorted(source.iterdir()) if p.is_dir() and p.name[0] != "." and _is_session(p)]


def is_sleap_project(path: Path) -> bool:
    """Whether ``path`` is a ``.slp`` file, a folder of them, or sleap-anipose sessions."""
    if path.is_file():
        return path.name.endswith(SLP_SUFFIX)
    return path.is_dir() and (any(path.glob(f"*{SLP_SUFFIX}")) or bool(_sessions(path)))


@dataclass
class _Read:
    """Labeled frames of ``.slp`` files, by view, as :func:`lp3d_io.projects.assemble_rows` takes them."""

    keypoints: list[str] | None = None
    individuals: list[str] = field(default_factory=list)
    labeled: dict[str, dict[tuple[str, int], tuple[np.ndarray, ImageSource]]] = field(default_factory=dict)
    videos: dict[str, dict[str, Path]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    instances: int = 0
    video_sessions: dict[tuple[str, str], str] = field(default_factory=dict)  # (view, video file) -> session
    predictions_left: int = 0  # predicted instances not imported (predicted=False)

    @property
    def labeled_any(self) -> bool:
        return any(self.labeled.values())


def _video_file(video: Any, slp: Path) -> Path | None:
    """The video file behind ``video`` (the source of embedded frames), found as named or beside the ``.slp``."""
    name = Path(_video_name(video))
    for candidate in (name, slp.parent / name.name):
        if candidate.is_file() and candidate.suffix.lower() != SLP_SUFFIX:
            return candidate
    return None


def _readable(video: Any, slp: Path) -> bool:
    """Whether frames can be read from ``video``; relinks a moved video found beside the ``.slp``."""
    if video.exists():
        if video.backend is None:
            video.open()
        return True
    found = _video_file(video, slp)
    if found is not None:
        video.replace_filename(found)
        return video.backend is not None
    return False


def _session_of(read: _Read, view: str, video: str, session: str | None) -> str | None:
    """The session of a video's labeled frames in ``view``: ``session`` when given (None if that
    session's view already has another video), else one per video file, named after it (unique)."""
    owners = {s: v for (w, v), s in read.video_sessions.items() if w == view}
    if (view, video) in read.video_sessions:
        return read.video_sessions[(view, video)]
    if session is not None:
        if session in owners:
            return None
        this = session
    else:
        stem, this, n = Path(video).stem, Path(video).stem, 1
        while this in owners:
            n += 1
            this = f"{stem}-{n}"
    read.video_sessions[(view, video)] = this
    return this


def _read_file(read: _Read, slp: Path, *, view: str, session: str | None, predicted: bool) -> None:
    """Adds the labeled frames of one ``.slp`` file to ``read`` (``session`` None: one per video;
    files labeling the same video add to its session)."""
    labels = _load(slp, open_videos=True)
    read.files.append(slp)
    skeleton = _one_skeleton(labels, slp)
    nodes = [str(n) for n in skeleton.node_names]
    if read.keypoints is None:
        read.keypoints = nodes
    elif nodes != read.keypoints:
        raise ValueError(
            f"{slp}: expected the skeleton nodes {read.keypoints} (as in {read.files[0]}), but got {nodes}"
        )
    by_key = read.labeled.setdefault(view, {})
    if not predicted:
        read.predictions_left += sum(len(lf.predicted_instances) for lf in labels.labeled_frames)
    for video in labels.videos:
        frames = [lf for lf in labels.labeled_frames if lf.video is video]
        slots = _slot(frames, [t.name for t in labels.tracks], user=True, predicted=predicted)
        frames = [lf for lf in frames if slots.frames.get(lf.frame_idx)]
        if not frames:
            continue
        name = _video_name(video)
        what = f"{slp}: video {name}"
        this = _session_of(read, view, name, session)
        if this is None:
            read.skipped.append(Skipped(what, f"view {view} of session {session} already has another video"))
            continue
        if slots.dropped:
            read.skipped.append(Skipped(what, f"{slots.dropped} instance(s) without a track"))
        if not _readable(video, slp):
            read.skipped.append(
                Skipped(what, f"not found (nor beside the .slp): its {len(frames)} labeled frames are skipped")
            )
            continue
        for ind in slots.individuals:
            if ind not in read.individuals:
                read.individuals.append(ind)
        source = _video_file(video, slp)
        if source is not None:
            read.videos.setdefault(this, {})[view] = source
        for lf in frames:
            if (this, int(lf.frame_idx)) in by_key:
                read.skipped.append(Skipped(f"{what} frame {lf.frame_idx}", "already labeled in an earlier file"))
                continue
            arr = np.full((len(nodes), len(slots.individuals), 2), np.nan)
            for i, instance in slots.frames[lf.frame_idx]:
                arr[:, i] = _points(instance)[0]
                read.instances += 1
            by_key[(this, int(lf.frame_idx))] = (
                _Labels(arr, [read.individuals.index(n) for n in slots.individuals]),
                _frame_reader(video, lf.frame_idx),
            )


@dataclass(frozen=True)
class _Labels:
    """A frame's instances in the file's individual order, and where each goes in the project's."""

    position: np.ndarray  # (keypoint, individual of the file, 2)
    where: list[int]


def _frame_reader(video: Any, frame: int) -> Any:
    def read() -> np.ndarray:
        return np.asarray(video[frame])

    return read


def _finish(read: _Read) -> dict[str, dict[tuple[str, int], tuple[np.ndarray, ImageSource]]]:
    """The labels in the project's individual order (the individuals of every file read)."""
    out = {}
    for view, by_key in read.labeled.items():
        out[view] = {}
        for key, (labels, image) in by_key.items():
            arr = np.full((len(read.keypoints or []), len(read.individuals), 2), np.nan)
            arr[:, labels.where] = labels.position
            out[view][key] = (arr, image)
    return out


def read_sleap_project(source: str | os.PathLike, *, predicted: bool = False) -> ImportedProject:
    """Reads SLEAP labels as a project (see the module docstring).

    Args:
        source: a ``.slp`` file, a folder of them, a sleap-anipose session folder, or a folder of sessions.
        predicted: also import predicted instances (where no user instance replaces them).

    Returns:
        The project; videos that cannot be found (their frames), instances without a track in a
        tracked file and rows missing a view with no video to fill it are skipped (listed).

    Raises:
        ImportError: sleap-io is not installed.
        FileNotFoundError: nothing to import at ``source``.
        ValueError: a file sleap-io cannot read, several skeletons, or files whose skeletons differ.
    """
    source = Path(source)
    read = _Read()
    sessions = _sessions(source)
    calibrations: dict[str, Path] = {}
    if sessions:
        views = sorted({p.name for s in sessions for p in _view_folders(s)})
        for folder in sessions:
            for view_folder in _view_folders(folder):
                for slp in sorted(view_folder.glob(f"*{SLP_SUFFIX}")):
                    _read_file(read, slp, view=view_folder.name, session=folder.name, predicted=predicted)
            if (folder / "calibration.toml").is_file():
                calibrations[folder.name] = folder / "calibration.toml"
        layout = f"sleap-anipose sessions ({len(sessions)}: {', '.join(s.name for s in sessions)})"
    else:
        files = [source] if source.is_file() else sorted(source.glob(f"*{SLP_SUFFIX}")) if source.is_dir() else []
        if not files:
            raise FileNotFoundError(f"{source}: expected a .slp file, a folder of them, or sleap-anipose sessions")
        views = [SINGLE_VIEW]
        for slp in files:
            _read_file(read, slp, view=SINGLE_VIEW, session=None, predicted=predicted)
        layout = f"{len(files)} .slp file(s)"
    if read.keypoints is None or (not read.labeled_any and read.predictions_left):
        only = f", only {read.predictions_left} predicted instances (pass --predicted to import them)"
        raise ValueError(
            f"{source}: expected user-labeled instances in the .slp files, but found none"
            + (only if read.predictions_left else "")
        )
    individuals = read.individuals or [DEFAULT_INDIVIDUAL]
    read.individuals = individuals
    labeled = _finish(read)
    labels = ViewLabels(labeled, read.keypoints, individuals, scorer="SLEAP", skipped=read.skipped)
    project = assemble_project(KIND, source, views, labels, read.videos, calibrations)
    kinds = "user and predicted instances" if predicted else "user-labeled instances"
    found = [
        layout,
        f"{len(views)} view(s) ({', '.join(views)}), {len(read.keypoints)} keypoints, "
        f"{len(individuals)} individual(s) ({', '.join(individuals)})",
        f"{read.instances} {kinds} in {sum(len(v) for v in labeled.values())} labeled images; "
        f"{project.n_frames} labeled frames",
        f"{sum(len(v) for v in project.videos.values())} videos of {len(project.videos)} session(s)",
    ]
    if sessions:
        found.append(f"calibration for {len(project.calibrations)} of {len(sessions)} session(s)")
    if not predicted:
        found.append("predicted instances not imported (pass predicted=True / --predicted to include them)")
    return replace(project, found=found)
