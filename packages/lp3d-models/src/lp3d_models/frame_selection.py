"""Which frames of smoothed videos to pseudo-label: confident, novel, then diverse, spread over the sessions.

1. **Candidates** (:func:`candidate_frames`). The *frame variance* (:func:`frame_variance`) is the
   posterior variance of the smoothed positions averaged over keypoints and coordinates: of the 3D
   position when calibrated (world units squared), else of the 2D positions of every view (pixels
   squared). A frame is a candidate when its frame variance is at most the ``variance_quantile``
   quantile of its session's frames, no observation of it was inflated (the smoother found every
   view consistent with the others), every keypoint has a position, and it is not labeled already.
   With several animals every one must be confident: each animal's own frame variance at most that
   quantile of its own (:func:`individual_variance`), and no observation of any animal inflated.
2. **Novel poses** (``novelty_quantile > 0``). A frame's *novelty* (:func:`novelty`) is the
   distance of its smoothed pose to the nearest labeled pose, both normalised as below (the labels'
   poses from :func:`label_poses`). Candidates keep only the frames whose novelty is at least the
   ``novelty_quantile`` quantile of their session's: the poses the labels miss, where a student has
   the most to learn (bench/bench_distill.py: confident frames alone are mostly poses the labels
   already cover).
3. **A diverse subset** (:func:`select_frames`). Poses are centred on the mean of their keypoints
   and divided by their RMS distance to it (:func:`pose_features`; 3D when calibrated, else each
   view's 2D pose normalised on its own, then stacked), clustered with scikit-learn's k-means
   (k-means++ initialisation, seeded), and one candidate of each cluster is taken: the one nearest
   its centre, or the most confident (``pick="confident"``). The frames are shared between sessions
   in proportion to their candidates, every session with candidates getting at least one when
   ``n_frames`` allows (:func:`session_quotas`).

Several animals (:mod:`lp3d_models.individuals`): a session's keypoints are channels, every
keypoint of each animal, so a pose is the animals together (their features encode where each one
is relative to the others: social configurations count as diverse poses).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.layout import SMOOTHED, groups_of_kind

from lp3d_models.individuals import to_channels

__all__ = [
    "SmoothedSession",
    "read_smoothed",
    "frame_variance",
    "individual_variance",
    "candidate_frames",
    "pose_features",
    "label_poses",
    "novelty",
    "session_quotas",
    "select_frames",
]


@dataclass(frozen=True, eq=False)
class SmoothedSession:
    """The smoothed tracks of one session, as distillation needs them.

    The ``keypoint`` axes of the arrays are channels: every keypoint of each individual
    (:mod:`lp3d_models.individuals`; the keypoints for one animal).

    Attributes:
        name: session name (names the image folders ``<session>_<view>``).
        view_names: ``(view,)``.
        keypoint_names: ``(keypoint,)`` of one animal.
        frames: ``(time,)`` frame index in the videos of each row.
        reprojection: ``(view, time, keypoint, 2)`` smoothed 2D positions, pixels.
        reprojection_variance: ``(view, time, keypoint, 2)`` their posterior variances.
        inflated: ``(view, time, keypoint)`` observations whose variance the smoother inflated.
        position: ``(time, keypoint, 3)`` smoothed 3D positions when calibrated, else None.
        position_variance: ``(time, keypoint, 3)`` their posterior variances, else None.
        videos: ``{view: video file}`` the predictions were made from (may be empty).
        rig: the cameras (a :class:`lp3d_eks.CameraRig`) when calibrated, else None.
        individual_names: ``(individual,)``.
    """

    name: str
    view_names: list[str]
    keypoint_names: list[str]
    frames: np.ndarray
    reprojection: np.ndarray
    reprojection_variance: np.ndarray
    inflated: np.ndarray
    position: np.ndarray | None = None
    position_variance: np.ndarray | None = None
    videos: dict[str, Path] | None = None
    rig: Any = None
    individual_names: list[str] = field(default_factory=lambda: [DEFAULT_INDIVIDUAL])

    @property
    def n_frames(self) -> int:
        return int(self.reprojection.shape[1])


def read_smoothed(store: str | os.PathLike) -> SmoothedSession:
    """Reads the smoothed results of a store written by ``lp3d smooth`` (or ``lp3d pipeline``).

    The session's name is the one its predictions recorded (``lp3d predict`` takes it from the video
    names, ``<session>_<view>.mp4``), else the store's, else the store's file name: labeled frames
    are matched to it (never pseudo-labeled), so the file name does not matter.

    Raises:
        FileNotFoundError: no store there.
        ValueError: not a store, or no smoothed results.
    """
    from lp3d_io import list_groups, open_store, read_calibration, read_group

    path = Path(store)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no store there")
    handle = open_store(path, "r")
    groups = list_groups(handle)
    smoothed = groups_of_kind(groups, SMOOTHED)
    if not smoothed:
        raise ValueError(f"{path}: expected smoothed results (run lp3d smooth on the predictions), but it has {groups}")
    ds = read_group(handle, smoothed[0]).load()
    views = [str(v) for v in ds["view"].values]
    calibrated = ds.attrs.get("smoother") == "calibrated"
    sources = [Path(p) for p in (ds.attrs.get("source_files") or [])]
    videos = {v: p for v, p in zip(views, sources, strict=False)} if len(sources) == len(views) else {}

    def channels(name: str, *dims: str) -> np.ndarray:  # (..., keypoint, individual, ...) -> (..., channel, ...)
        values = ds[name].transpose(*dims[:-1], "individual", dims[-1]).values
        return to_channels(values, axis=dims.index("keypoint"))

    image = ("view", "time", "keypoint", "image_space")
    world = ("time", "keypoint", "space")
    return SmoothedSession(
        name=str(ds.attrs.get("session") or handle.session or path.stem),
        view_names=views,
        keypoint_names=[str(k) for k in ds["keypoint"].values],
        frames=np.asarray(ds["time"].values, dtype=np.int64),
        reprojection=channels("reprojection", *image),
        reprojection_variance=channels("reprojection_variance", *image),
        inflated=to_channels(ds["inflation"].transpose("view", "time", "keypoint", "individual").values, 2) > 1.0,
        position=channels("position", *world) if calibrated else None,
        position_variance=channels("position_variance", *world) if calibrated else None,
        videos=videos,
        rig=read_calibration(handle) if calibrated and "calibration" in groups else None,
        individual_names=[str(i) for i in ds["individual"].values],
    )


def frame_variance(session: SmoothedSession) -> np.ndarray:
    """``(time,)`` posterior variance averaged over keypoints and coordinates (3D when calibrated,
    else over every view's 2D positions); NaN where a keypoint has none."""
    if session.position_variance is not None:
        return np.mean(session.position_variance, axis=(1, 2))
    return np.mean(session.reprojection_variance, axis=(0, 2, 3))


def individual_variance(session: SmoothedSession) -> np.ndarray:
    """``(time, individual)``: :func:`frame_variance` of each animal on its own."""
    n = len(session.individual_names)
    if session.position_variance is not None:
        return np.mean(session.position_variance.reshape(session.n_frames, n, -1), axis=2)
    variance = np.moveaxis(session.reprojection_variance, 1, 0)  # (time, view, channel, 2)
    return np.mean(variance.reshape(session.n_frames, variance.shape[1], n, -1, 2), axis=(1, 3, 4))


def candidate_frames(session: SmoothedSession, variance_quantile: float, exclude: Collection[int] = ()) -> np.ndarray:
    """``(time,)`` mask of the confident frames (see the module docstring, step 1).

    Args:
        session: the smoothed session.
        variance_quantile: a frame's variance must be at most this quantile of the session's.
        exclude: frame indices (in the videos) that may not be chosen (labeled already).
    """
    if not 0 < variance_quantile <= 1:
        raise ValueError(f"variance_quantile: expected a share in (0, 1], but got {variance_quantile}")
    score = individual_variance(session)  # (time, individual): every animal must be confident
    finite = np.isfinite(score).all(axis=1) & np.isfinite(pose_features(_poses(session))).all(axis=1)
    if not finite.any():
        return finite
    threshold = np.quantile(score[finite], variance_quantile, axis=0)
    ok = finite & (score <= threshold).all(axis=1) & ~session.inflated.any(axis=(0, 2))
    if exclude:
        ok &= ~np.isin(session.frames, np.fromiter(exclude, dtype=np.int64))
    return ok


def _poses(session: SmoothedSession) -> np.ndarray:
    return session.position if session.position is not None else session.reprojection


def pose_features(poses: np.ndarray) -> np.ndarray:
    """Poses normalised for position and scale, flattened: ``(time, features)``.

    Args:
        poses: ``(time, keypoint, D)`` (3D), or ``(view, time, keypoint, 2)``: each view is
            normalised on its own, then the views are stacked.

    Each pose is centred on the mean of its keypoints and divided by its RMS distance to it; NaN
    where a keypoint is missing.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim == 4:
        return np.concatenate([pose_features(view) for view in poses], axis=1)
    centred = poses - poses.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.mean(np.sum(centred**2, axis=-1), axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = centred / np.where(scale > 0, scale, np.nan)[:, None, None]
    return out.reshape(len(poses), -1)


def label_poses(labels: np.ndarray, rig: Any = None) -> np.ndarray:
    """Labeled poses in the space of a session's poses: ``labels`` ``(view, frame, keypoint, 2)``
    (pixels, NaN where unlabeled) triangulated to ``(frame, keypoint, 3)`` with the session's cameras
    ``rig`` (a :class:`lp3d_eks.CameraRig`), or kept as they are without cameras."""
    labels = np.asarray(labels, dtype=np.float64)
    return rig.triangulate(labels) if rig is not None else labels


def novelty(session: SmoothedSession, reference: np.ndarray, block: int = 4096) -> np.ndarray:
    """``(time,)`` distance of each frame's normalised pose to the nearest reference pose (NaN where a
    keypoint has no position); ``reference`` in the session's pose space (:func:`label_poses`).

    Raises:
        ValueError: no reference pose with every keypoint.
    """
    ref = pose_features(reference)
    ref = ref[np.isfinite(ref).all(axis=1)]
    if not len(ref):
        raise ValueError("reference: expected at least one labeled pose with every keypoint, but got none")
    features = pose_features(_poses(session))
    out = np.full(len(features), np.nan)
    for start in range(0, len(features), block):
        part = features[start : start + block]
        out[start : start + block] = np.sqrt(np.maximum(_squared_distances(part, ref).min(axis=1), 0.0))
    return out


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x**2).sum(1)[:, None] - 2.0 * x @ y.T + (y**2).sum(1)[None, :]


def session_quotas(counts: Sequence[int], n_frames: int) -> np.ndarray:
    """How many frames each session gives: in proportion to its candidates ``counts``, at least one
    per session with candidates when ``n_frames`` allows, never more than it has."""
    counts = np.asarray(counts, dtype=np.int64)
    if n_frames >= counts.sum():
        return counts.copy()
    quota = np.zeros_like(counts)
    order = np.argsort(-counts, kind="stable")
    first = order[: min(n_frames, int((counts > 0).sum()))]
    quota[first] = 1
    target = n_frames * counts / counts.sum()
    for _ in range(n_frames - int(quota.sum())):
        deficit = np.where(quota < counts, target - quota, -np.inf)
        quota[int(deficit.argmax())] += 1
    return quota


def select_frames(
    sessions: Sequence[SmoothedSession],
    n_frames: int,
    *,
    variance_quantile: float = 0.5,
    seed: int = 0,
    labeled: Collection[tuple[str, int]] = (),
    pick: str = "centre",
    novelty_quantile: float = 0.0,
    reference: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Chooses the frames to pseudo-label (see the module docstring, steps 1 and 2).

    Args:
        sessions: the smoothed sessions.
        n_frames: how many frames in all (fewer if there are fewer candidates).
        variance_quantile: candidates have a frame variance at most this quantile of their session's.
        seed: seed of the k-means initialisation.
        labeled: ``(session, frame)`` pairs that are labeled already (never chosen).
        pick: which frame of each pose cluster: ``"centre"`` (nearest the cluster's centre) or
            ``"confident"`` (the lowest frame variance).
        novelty_quantile: candidates have a novelty at least this quantile of their session's
            (0: no condition).
        reference: with ``novelty_quantile > 0``: the labeled poses in each session's pose space
            (:func:`label_poses`), one array per session.

    Returns:
        ``{session name: sorted frame indices (in the videos)}`` for every session.
    """
    if pick not in ("centre", "confident"):
        raise ValueError(f"pick: expected 'centre' or 'confident', but got {pick!r}")
    if not 0 <= novelty_quantile < 1:
        raise ValueError(f"novelty_quantile: expected a share in [0, 1), but got {novelty_quantile}")
    if novelty_quantile > 0 and (reference is None or len(reference) != len(sessions)):
        raise ValueError("reference: expected the labeled poses of every session to measure novelty, but got none")
    if n_frames < 1:
        raise ValueError(f"n_frames: expected a positive number, but got {n_frames}")
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise ValueError(f"sessions: expected distinct session names, but got {names}")
    masks = []
    for s in sessions:
        exclude = {frame for session, frame in labeled if session == s.name}
        mask = candidate_frames(s, variance_quantile, exclude)
        if novelty_quantile > 0:
            distance = novelty(s, reference[len(masks)])
            finite = np.isfinite(distance)
            if finite.any():
                mask &= finite & (distance >= np.quantile(distance[finite], novelty_quantile))
        masks.append(mask)
    quotas = session_quotas([int(m.sum()) for m in masks], n_frames)
    chosen: dict[str, np.ndarray] = {}
    for i, (s, mask, quota) in enumerate(zip(sessions, masks, quotas, strict=True)):
        rows = np.flatnonzero(mask)
        if quota == 0:
            chosen[s.name] = np.zeros(0, dtype=np.int64)
            continue
        features = pose_features(_poses(s))[rows]
        centres, labels = _kmeans(features, int(quota), seed=seed + i)
        score = frame_variance(s)[rows] if pick == "confident" else None
        picks = []
        for j, centre in enumerate(centres):
            members = np.flatnonzero(labels == j)
            if members.size:
                d = ((features[members] - centre) ** 2).sum(axis=1) if score is None else score[members]
                picks.append(rows[members[int(d.argmin())]])
        chosen[s.name] = np.sort(s.frames[np.asarray(picks, dtype=np.int64)])
    return chosen


def _kmeans(points: np.ndarray, k: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's k-means (k-means++ initialisation, seeded, best of 4 starts): centres ``(k, features)``
    and the cluster of each point ``(n,)``; at most as many clusters as distinct points."""
    from sklearn.cluster import KMeans

    k = min(k, len(np.unique(points, axis=0)))
    model = KMeans(n_clusters=k, init="k-means++", n_init=4, random_state=seed).fit(points)
    return model.cluster_centers_, model.labels_
