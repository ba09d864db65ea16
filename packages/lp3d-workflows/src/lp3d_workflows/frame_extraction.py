"""Frames to label, chosen from a session's videos and written as the project's images.

Methods (:data:`METHODS`):

- ``uniform``: evenly spaced in time.
- ``kmeans``: diverse appearance, as the Lightning Pose app chooses: up to :data:`MAX_SAMPLES` frames
  sampled evenly, each view's frame in grey at :data:`SIDE` pixels on its longer side, the views side
  by side; their principal components (:data:`COMPONENTS`); k-means (k-means++ start, seeded), and
  the sampled frame nearest each centre.
- ``motion``: the same on each sampled frame's *motion energy* (the absolute difference to the frame
  before it, in grey at the same size), which favours the moments the animal moves.
- ``uncertain`` / ``inconsistent``: once a model's result is smoothed, the frames the smoother found
  most uncertain (posterior variance) or most inconsistent across views (the worst view's
  reprojection error), as :func:`lp3d_workflows.diagnostics.source_statistics` ranks them, at least
  ``min_gap`` frames apart from each other (neighbouring frames are near-duplicates). Each comes *pre-filled* with
  the smoothed positions in every view: the labeler corrects them rather than starts from nothing.

Frames labeled or queued already are never chosen again. :func:`extract_frames` writes each chosen
frame of every view as ``labeled-data/<session>_<view>/img%05d.png`` (the number is the frame index,
:func:`lp3d_io.layout.frame_image_path`; atomically, from the videos) and queues them for the labeler
(:func:`lp3d_workflows.labeling.add_to_queue`). The job kind ``extract`` runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from lp3d_io.layout import frame_image_path

from lp3d_workflows.errors import UserError
from lp3d_workflows.progress import ProgressCallback, report

__all__ = [
    "Method",
    "METHODS",
    "MAX_SAMPLES",
    "SIDE",
    "COMPONENTS",
    "uniform_frames",
    "spaced_top",
    "kmeans_pick",
    "video_features",
    "Extraction",
    "extract_frames",
    "check_extract",
    "run_extract",
    "extract_params",
]

log = logging.getLogger(__name__)

Method = Literal["uniform", "kmeans", "motion", "uncertain", "inconsistent"]
METHODS: tuple[Method, ...] = get_args(Method)
"""The ways of choosing frames (see the module docstring)."""
MAX_SAMPLES = 1000
"""``kmeans`` / ``motion``: frames sampled evenly from the session, the candidates."""
SIDE = 48
"""``kmeans`` / ``motion``: the longer side (pixels) of each view's frame in grey, the features' image."""
COMPONENTS = 32
"""``kmeans`` / ``motion``: principal components of those images that k-means clusters."""
MAX_FRAMES = 500
"""Frames one extraction may add."""


def uniform_frames(n_frames: int, n: int, exclude: Sequence[int] = ()) -> np.ndarray:
    """``n`` frames of ``0..n_frames-1`` evenly spaced, avoiding ``exclude`` (fewer when too few are left)."""
    free = np.setdiff1d(np.arange(n_frames), np.asarray(exclude, dtype=np.int64))
    if n <= 0 or free.size == 0:
        return np.zeros(0, dtype=np.int64)
    if n >= free.size:
        return free
    return free[np.unique(np.round(np.linspace(0, free.size - 1, n)).astype(np.int64))]


def spaced_top(frames: np.ndarray, scores: np.ndarray, n: int, min_gap: int, exclude: Sequence[int] = ()) -> np.ndarray:
    """The ``n`` best-scoring ``frames`` (largest score first), each at least ``min_gap`` frames from
    those chosen before it; frames in ``exclude`` and NaN scores are never chosen."""
    order = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), kind="stable")
    blocked = set(int(f) for f in exclude)
    taken: list[int] = []
    for i in order:
        if len(taken) >= n or not np.isfinite(scores[i]):
            break
        f = int(frames[i])
        if f in blocked or any(abs(f - t) < max(min_gap, 1) for t in taken):
            continue
        taken.append(f)
    return np.asarray(taken, dtype=np.int64)


def kmeans_pick(features: np.ndarray, n: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Rows of ``features`` ``(sample, feature)`` nearest the centres of ``n`` k-means clusters
    (k-means++ start, seeded; at most as many as distinct rows), sorted."""
    x = np.asarray(features, dtype=np.float64)
    k = min(n, len(np.unique(x, axis=0)))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    distance = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        p = distance / distance.sum() if distance.sum() > 0 else None
        centres.append(x[rng.choice(len(x), p=p)])
        distance = np.minimum(distance, ((x - centres[-1]) ** 2).sum(axis=1))
    c = np.array(centres)
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(iterations):
        d = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
        new = d.argmin(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            if (labels == j).any():
                c[j] = x[labels == j].mean(axis=0)
    d = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
    picks = {int(np.argmin(np.where(labels == j, d[:, j], np.inf))) for j in range(k) if (labels == j).any()}
    return np.array(sorted(picks), dtype=np.int64)


def video_features(
    videos: Mapping[str, Path],
    n_frames: int,
    *,
    motion: bool = False,
    max_samples: int = MAX_SAMPLES,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled frames ``(sample,)`` and their features ``(sample, COMPONENTS)`` (see the module
    docstring): every view's frame (or its motion energy) in grey at :data:`SIDE` pixels, the views
    side by side, reduced to their principal components."""
    import cv2
    from lp3d_io.video import VideoReader

    sampled = np.unique(
        np.round(np.linspace(1 if motion else 0, n_frames - 1, min(max_samples, n_frames))).astype(np.int64)
    )
    parts = []
    for v, (view, path) in enumerate(videos.items()):
        with VideoReader(path, rgb=False) as reader:
            w, h = reader.size
            scale = SIDE / max(w, h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))

            def small(index: int, reader: VideoReader = reader, size: tuple[int, int] = size) -> np.ndarray:
                grey = cv2.cvtColor(reader.read(index), cv2.COLOR_BGR2GRAY)
                return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)

            rows = []
            for i, t in enumerate(sampled):
                image = small(int(t))
                rows.append(np.abs(image - small(int(t) - 1)) if motion else image)
                if i % 20 == 0:
                    report(progress, f"reading {view}", v * len(sampled) + i, len(videos) * len(sampled))
            parts.append(np.array(rows))
    x = np.concatenate(parts, axis=1)
    x = x - x.mean(axis=0)
    components = min(COMPONENTS, *x.shape)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return sampled, u[:, :components] * s[:components]


@dataclass(frozen=True)
class Extraction:
    """What :func:`extract_frames` wrote: the session, the frames, and the images per view."""

    session: str
    frames: list[int]
    images: dict[str, list[str]]
    method: Method


def _taken(project: Any, session: str) -> set[int]:
    from lp3d_workflows.labeling import list_frames

    return {e.frame for e in list_frames(project) if e.session == session and e.frame is not None}


def _worst(
    project: Any, source_id: str, kind: str, n: int, min_gap: int, exclude: set[int]
) -> tuple[list[int], list[float], Any]:
    """The frames of a smoothed source the smoother found most uncertain / inconsistent (in a session
    of several animals, a frame scores its worst animal's score), and its reader."""
    from lp3d_workflows.diagnostics import source_statistics
    from lp3d_workflows.viewer_data import CACHE_DIR, SourceReader

    source = project.source(source_id)
    reader = SourceReader(
        source.store, source.predictions, source.smoothed, source.calibrated, cache=project.root / CACHE_DIR / source.id
    )
    worst: dict[int, float] = {}
    for individual in reader.individuals:
        stats = source_statistics(reader, source.id, n_worst=reader.n_frames, individual=individual)
        for w in stats.uncertain if kind == "uncertain" else stats.inconsistent:
            worst[w.frame] = max(worst.get(w.frame, -np.inf), w.score)
    frames = np.array(list(worst), dtype=np.int64)
    scores = np.array(list(worst.values()), dtype=np.float64)
    chosen = spaced_top(frames, scores, n, min_gap, sorted(exclude))
    by_frame = dict(zip(frames.tolist(), scores.tolist(), strict=True))
    return chosen.tolist(), [by_frame[f] for f in chosen.tolist()], reader


def _prefill(
    reader: Any, frame: int, views: Sequence[str], keypoints: Sequence[str]
) -> dict[str, list[list[float] | None]]:
    """The smoothed positions of a frame in the project's views and keypoints (None: none)."""
    overlay = reader.frame(frame, members=False, read_ahead=False)
    track = overlay.smoothed if overlay.smoothed is not None else overlay.center
    out: dict[str, list[list[float] | None]] = {}
    for view in views:
        if view not in reader.views:
            continue
        v = reader.views.index(view)
        row: list[list[float] | None] = []
        for keypoint in keypoints:
            p = track[v, reader.keypoints.index(keypoint)] if keypoint in reader.keypoints else None
            row.append(
                None if p is None or not np.isfinite(p).all() else [round(float(p[0]), 3), round(float(p[1]), 3)]
            )
        out[view] = row
    return out


def _checked_session(project: Any, session_id: str) -> Any:
    """The session, when it has every view's video and its views agree (else a UserError)."""
    from lp3d_workflows.project import video_mismatches

    session = project.session(session_id)
    missing = [v for v in project.views if v not in session.videos]
    if missing or project.data_root is None:
        raise UserError(
            f"session {session.name}: expected a video of every view {project.views}, but {missing} have none"
        )
    problems = video_mismatches(session.name, session.videos)
    if problems:
        raise UserError(problems[0])
    return session


def _checked_source(project: Any, session: Any, method: Method, source: str | None) -> Any:
    """The smoothed source of the session the model-driven methods rank frames by (else a UserError)."""
    if not source:
        raise UserError(f"source: expected a smoothed result of session {session.name} for {method} frames")
    info = project.source(source)
    if info.session != session.name or info.smoothed is None:
        raise UserError(f"source {info.label}: expected a smoothed result of session {session.name}")
    return info


def extract_frames(
    project: Any,
    session_id: str,
    method: Method,
    n: int,
    *,
    source: str | None = None,
    min_gap: int = 10,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> Extraction:
    """Chooses ``n`` frames of a session (see the module docstring), writes their images and queues them.

    Args:
        project: the project (:func:`lp3d_workflows.project.describe_project`).
        session_id: the session (its videos: every view's, of equal length).
        method: one of :data:`METHODS`.
        n: how many frames (fewer when fewer are left).
        source: a smoothed source of the session, for ``uncertain`` and ``inconsistent``.
        min_gap: frames between two chosen by ``uncertain`` / ``inconsistent``.
        seed: the k-means seed.

    Raises:
        UserError: an unknown method, a session without every view's video, views of unequal length,
            or a missing source for the model-driven methods.
    """
    import cv2
    from lp3d_io.files import atomic_path
    from lp3d_io.video import VideoReader

    from lp3d_workflows.labeling import QueuedFrame, add_to_queue

    if method not in METHODS:
        raise UserError(f"method: expected one of {', '.join(METHODS)}, but got {method!r}")
    if not 1 <= n <= MAX_FRAMES:
        raise UserError(f"n: expected 1 to {MAX_FRAMES} frames, but got {n}")
    session = _checked_session(project, session_id)
    views = project.views
    videos = {v: session.videos[v].path for v in views}
    n_frames = session.n_frames
    taken = _taken(project, session.name)
    scores: list[float | None] = []
    prefills: list[dict[str, Any] | None] = []
    source_label = None
    if method in ("uncertain", "inconsistent"):
        info = _checked_source(project, session, method, source)
        report(progress, "ranking frames", 0, None)
        frames, worst, reader = _worst(project, info.id, method, n, min_gap, taken)
        scores = list(worst)
        prefills = [_prefill(reader, f, views, project.keypoints) for f in frames]
        source_label = info.label
    elif method == "uniform":
        frames = uniform_frames(n_frames, n, sorted(taken)).tolist()
    else:
        sampled, features = video_features(videos, n_frames, motion=method == "motion", progress=progress)
        keep = ~np.isin(sampled, np.fromiter(taken, dtype=np.int64, count=len(taken)))
        picks = kmeans_pick(features[keep], n, seed=seed)
        frames = sorted(sampled[keep][picks].tolist())
    if not frames:
        raise UserError(f"session {session.name}: no frame left to extract ({len(taken)} labeled or queued)")
    images: dict[str, list[str]] = {}
    for v, view in enumerate(views):
        images[view] = []
        with VideoReader(videos[view], rgb=False) as reader:
            for i, frame in enumerate(sorted(frames)):
                relative = frame_image_path(session.name, view, frame)
                path = project.data_root / relative
                if not path.is_file():
                    image = reader.read(frame)
                    with atomic_path(path) as tmp:
                        if not cv2.imwrite(str(tmp), image):
                            raise OSError(f"{relative}: the image could not be written")
                images[view].append(relative)
                report(progress, "writing images", v * len(frames) + i + 1, len(views) * len(frames))
    queued = [
        QueuedFrame(
            session.name,
            int(f),
            method,
            None if i >= len(scores) or scores[i] is None else float(scores[i]),  # type: ignore[arg-type]
            source_label,
            prefills[i] if i < len(prefills) else None,
        )
        for i, f in enumerate(frames)
    ]
    add_to_queue(project, queued)
    log.info(f"{len(frames)} frames of {session.name} to label ({method})")
    return Extraction(session.name, [int(f) for f in frames], images, method)


def check_extract(params: dict[str, Any]) -> Path:
    """The ``extract`` job's check (the method and count; the rest is checked when it runs);
    returns its output, the project's ``labeled-data`` folder (one extraction at a time)."""
    from lp3d_io.layout import LABELED_DATA

    if params.get("method") not in METHODS:
        raise UserError(f"method: expected one of {', '.join(METHODS)}, but got {params.get('method')!r}")
    n = params.get("n")
    if not isinstance(n, int) or not 1 <= n <= MAX_FRAMES:
        raise UserError(f"n: expected 1 to {MAX_FRAMES} frames, but got {n!r}")
    return Path(params["data_root"]) / LABELED_DATA


def run_extract(params: dict[str, Any], progress: ProgressCallback) -> dict[str, Any]:
    """The ``extract`` job: :func:`extract_frames` on the project at ``params["project"]``."""
    from lp3d_workflows.project import describe_project

    project = describe_project(params["project"])
    found = extract_frames(
        project,
        params["session"],
        params["method"],
        int(params["n"]),
        source=params.get("source"),
        min_gap=int(params.get("min_gap", 10)),
        seed=int(params.get("seed", 0)),
        progress=progress,
    )
    return {"session": found.session, "frames": found.frames, "method": found.method}


def extract_params(
    project: Any, session_id: str, method: Method, n: int, *, source: str | None = None, min_gap: int = 10
) -> tuple[dict[str, Any], str]:
    """The ``extract`` job's parameters and label, checked against the project first.

    Raises:
        KeyError: an unknown session or source.
        UserError: a session without every view's video or of unequal views, a model-driven method
            without a smoothed source of the session.
    """
    session = _checked_session(project, session_id)
    if method in ("uncertain", "inconsistent"):
        _checked_source(project, session, method, source)
    params = {
        "project": str(project.root),
        "data_root": str(project.data_root),
        "session": session.id,
        "method": method,
        "n": n,
        "source": source,
        "min_gap": min_gap,
    }
    return params, f"extract {n} {method} frames of {session.name}"
