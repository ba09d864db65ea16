"""Pseudo-label distillation: confident, diverse frames of smoothed videos become training labels.

After an ensemble has predicted a lab's unlabeled videos and the ensemble Kalman smoother has
smoothed them (``lp3d predict``, ``lp3d smooth``), :func:`distill` trains a student on the labeled
frames plus pseudo-labeled ones:

1. **Candidates** (:func:`candidate_frames`). The *frame variance* (:func:`frame_variance`) is the
   posterior variance of the smoothed positions averaged over keypoints and coordinates: of the 3D
   position when calibrated (world units squared), else of the 2D positions of every view (pixels
   squared). A frame is a candidate when its frame variance is at most the ``variance_quantile``
   quantile of its session's frames, no observation of it was inflated (the smoother found every
   view consistent with the others), every keypoint has a position, and it is not labeled already.
2. **A diverse subset** (:func:`select_frames`). Poses are centred on the mean of their keypoints
   and divided by their RMS distance to it (:func:`pose_features`; 3D when calibrated, else each
   view's 2D pose normalised on its own, then stacked), clustered with k-means (:func:`kmeans`,
   k-means++ initialisation, seeded), and the candidate nearest each centre is taken. The frames
   are shared between sessions in proportion to their candidates, every session with candidates
   getting at least one when ``n_frames`` allows (:func:`session_quotas`).
3. **Pseudo-labels** (:func:`write_pseudo_labels`): the smoothed 2D positions (the reprojections
   of the 3D track when calibrated), each with a weight in ``[0, 1]`` (:func:`confidence_weights`)::

       w = tau^2 / (tau^2 + sigma^2)

   where ``sigma^2`` is the posterior variance of that 2D position (pixels squared, mean of x and
   y) and ``tau^2`` the median of ``sigma^2`` over all observed (view, frame, keypoint) entries of
   its session: a keypoint as certain as is typical of the session weighs 1/2, one four times more
   certain 0.8, one nine times less certain 0.1. A position outside the image has no label (NaN,
   weight 0).

The pseudo-label folder is a project in the usual layout, read by :mod:`lp3d_models.data` through
``data.pseudo_labels``::

    CollectedData_<view>.csv                   smoothed 2D positions (NaN: none)
    weights_<view>.csv                         the weight of each keypoint, in its x and y columns
    labeled-data/<session>_<view>/img%05d.png  the frames, extracted from the videos
    calibration.toml                           the session's cameras (calibrations/<session>.toml
                                               for several sessions)
    selection.csv                              session, frame, frame variance, mean weight

The student's config is the teacher's with ``data.pseudo_labels`` set to that folder, its seeds
``distill.seeds``, its run directory the output, and the teacher's train/val/test split (so both
are scored on the same held-out frames).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SmoothedSession",
    "DistillResult",
    "read_smoothed",
    "frame_variance",
    "candidate_frames",
    "pose_features",
    "kmeans",
    "session_quotas",
    "select_frames",
    "confidence_weights",
    "frame_id",
    "labeled_frame_ids",
    "image_path",
    "write_pseudo_labels",
    "student_config",
    "distill",
]

PSEUDO_LABELS = "pseudo_labels"
SMOOTHED_PREFIX = "smoothed/"
_FRAME_NUMBER = re.compile(r"(\d+)\.[A-Za-z0-9]+$")


@dataclass(frozen=True, eq=False)
class SmoothedSession:
    """The smoothed tracks of one session (one animal), as distillation needs them.

    Attributes:
        name: session name (names the image folders ``<session>_<view>``).
        view_names: ``(view,)``.
        keypoint_names: ``(keypoint,)``.
        frames: ``(time,)`` frame index in the videos of each row.
        reprojection: ``(view, time, keypoint, 2)`` smoothed 2D positions, pixels.
        reprojection_variance: ``(view, time, keypoint, 2)`` their posterior variances.
        inflated: ``(view, time, keypoint)`` observations whose variance the smoother inflated.
        position: ``(time, keypoint, 3)`` smoothed 3D positions when calibrated, else None.
        position_variance: ``(time, keypoint, 3)`` their posterior variances, else None.
        videos: ``{view: video file}`` the predictions were made from (may be empty).
        rig: the cameras (a :class:`lp3d_eks.CameraRig`) when calibrated, else None.
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

    @property
    def n_frames(self) -> int:
        return int(self.reprojection.shape[1])


def read_smoothed(store: str | os.PathLike) -> SmoothedSession:
    """Reads the smoothed results of a store written by ``lp3d smooth`` (or ``lp3d pipeline``).

    Raises:
        FileNotFoundError: no store there.
        ValueError: not a store, no smoothed results, or several animals.
    """
    from lp3d_io import list_groups, open_store, read_calibration, read_group

    path = Path(store)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no store there")
    handle = open_store(path, "r")
    groups = list_groups(handle)
    smoothed = [g for g in groups if g.startswith(SMOOTHED_PREFIX)]
    if not smoothed:
        raise ValueError(f"{path}: expected smoothed results (run lp3d smooth on the predictions), but it has {groups}")
    ds = read_group(handle, smoothed[0]).load()
    if ds.sizes["individual"] != 1:
        raise ValueError(f"{path}: expected the tracks of one animal, but got {ds.sizes['individual']} individuals")
    ds = ds.isel(individual=0)
    views = [str(v) for v in ds["view"].values]
    calibrated = ds.attrs.get("smoother") == "calibrated"
    sources = [Path(p) for p in (ds.attrs.get("source_files") or [])]
    videos = {v: p for v, p in zip(views, sources, strict=False)} if len(sources) == len(views) else {}
    return SmoothedSession(
        name=str(handle.session or ds.attrs.get("session") or path.stem),
        view_names=views,
        keypoint_names=[str(k) for k in ds["keypoint"].values],
        frames=np.asarray(ds["time"].values, dtype=np.int64),
        reprojection=ds["reprojection"].transpose("view", "time", "keypoint", "image_space").values,
        reprojection_variance=ds["reprojection_variance"].transpose("view", "time", "keypoint", "image_space").values,
        inflated=ds["inflation"].transpose("view", "time", "keypoint").values > 1.0,
        position=ds["position"].transpose("time", "keypoint", "space").values if calibrated else None,
        position_variance=ds["position_variance"].transpose("time", "keypoint", "space").values if calibrated else None,
        videos=videos,
        rig=read_calibration(handle) if calibrated and "calibration" in groups else None,
    )


# --- selection ------------------------------------------------------------------------------------


def frame_variance(session: SmoothedSession) -> np.ndarray:
    """``(time,)`` posterior variance averaged over keypoints and coordinates (3D when calibrated,
    else over every view's 2D positions); NaN where a keypoint has none."""
    if session.position_variance is not None:
        return np.mean(session.position_variance, axis=(1, 2))
    return np.mean(session.reprojection_variance, axis=(0, 2, 3))


def candidate_frames(session: SmoothedSession, variance_quantile: float, exclude: Collection[int] = ()) -> np.ndarray:
    """``(time,)`` mask of the confident frames (see the module docstring, step 1).

    Args:
        session: the smoothed session.
        variance_quantile: a frame's variance must be at most this quantile of the session's.
        exclude: frame indices (in the videos) that may not be chosen (labeled already).
    """
    if not 0 < variance_quantile <= 1:
        raise ValueError(f"variance_quantile: expected a share in (0, 1], but got {variance_quantile}")
    score = frame_variance(session)
    finite = np.isfinite(score) & np.isfinite(pose_features(_poses(session))).all(axis=1)
    if not finite.any():
        return finite
    threshold = np.quantile(score[finite], variance_quantile)
    ok = finite & (score <= threshold) & ~session.inflated.any(axis=(0, 2))
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


def _squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (x**2).sum(1)[:, None] - 2.0 * x @ centres.T + (centres**2).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(points: np.ndarray, k: int, *, seed: int = 0, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """k-means (Lloyd's iterations) with k-means++ initialisation.

    Args:
        points: ``(n, features)`` finite values.
        k: clusters, ``1 <= k <= n``.
        seed: seed of the initialisation (the result is a function of ``points, k, seed``).
        max_iter: at most this many assignment/update rounds.

    Returns:
        Centres ``(k, features)`` and the cluster of each point ``(n,)``. A cluster left empty is
        restarted at the point farthest from its centre.
    """
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k: expected a number of clusters in [1, {n}], but got {k}")
    rng = np.random.default_rng(seed)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    nearest = _squared_distances(x, centres[:1])[:, 0]
    for j in range(1, k):
        total = nearest.sum()
        i = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres[j] = x[i]
        nearest = np.minimum(nearest, _squared_distances(x, centres[j : j + 1])[:, 0])
    labels = np.full(n, -1)
    for _ in range(max_iter):
        d = _squared_distances(x, centres)
        new = d.argmin(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        for j in np.flatnonzero(counts == 0):
            far = int(d[np.arange(n), labels].argmax())
            labels[far] = j
            d[far] = 0.0
        centres = np.zeros_like(centres)
        np.add.at(centres, labels, x)
        centres /= np.bincount(labels, minlength=k)[:, None]
    return centres, labels


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
) -> dict[str, np.ndarray]:
    """Chooses the frames to pseudo-label (see the module docstring, steps 1 and 2).

    Args:
        sessions: the smoothed sessions.
        n_frames: how many frames in all (fewer if there are fewer candidates).
        variance_quantile: candidates have a frame variance at most this quantile of their session's.
        seed: seed of the k-means initialisation.
        labeled: ``(session, frame)`` pairs that are labeled already (never chosen).

    Returns:
        ``{session name: sorted frame indices (in the videos)}`` for every session.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames: expected a positive number, but got {n_frames}")
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise ValueError(f"sessions: expected distinct session names, but got {names}")
    masks = []
    for s in sessions:
        exclude = {frame for session, frame in labeled if session == s.name}
        masks.append(candidate_frames(s, variance_quantile, exclude))
    quotas = session_quotas([int(m.sum()) for m in masks], n_frames)
    chosen: dict[str, np.ndarray] = {}
    for i, (s, mask, quota) in enumerate(zip(sessions, masks, quotas, strict=True)):
        rows = np.flatnonzero(mask)
        if quota == 0:
            chosen[s.name] = np.zeros(0, dtype=np.int64)
            continue
        features = pose_features(_poses(s))[rows]
        centres, labels = kmeans(features, int(quota), seed=seed + i)
        picks = []
        for j, centre in enumerate(centres):
            members = np.flatnonzero(labels == j)
            if members.size:
                d = ((features[members] - centre) ** 2).sum(axis=1)
                picks.append(rows[members[int(d.argmin())]])
        chosen[s.name] = np.sort(s.frames[np.asarray(picks, dtype=np.int64)])
    return chosen


def confidence_weights(variance: np.ndarray) -> np.ndarray:
    """Weights in ``[0, 1]`` from posterior variances ``(view, time, keypoint, 2)``: ``tau^2 / (tau^2 +
    sigma^2)`` per ``(view, time, keypoint)`` (see the module docstring); 0 where the variance is NaN."""
    sigma2 = np.mean(np.asarray(variance, dtype=np.float64), axis=-1)
    finite = np.isfinite(sigma2)
    if not finite.any():
        return np.zeros(sigma2.shape)
    tau2 = float(np.median(sigma2[finite]))
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(sigma2 > 0, tau2 / (tau2 + sigma2), 1.0)
    return np.where(finite, np.clip(w, 0.0, 1.0), 0.0)


# --- files ----------------------------------------------------------------------------------------


def image_path(session: str, view: str, frame: int) -> str:
    """The Lightning Pose image path of a frame: ``labeled-data/<session>_<view>/img%05d.png``."""
    return f"labeled-data/{session}_{view}/img{int(frame):05d}.png"


def frame_id(path: str, view: str) -> tuple[str, int] | None:
    """``(session, frame)`` of a labeled image of view ``view``: the session as
    :func:`lp3d_models.calibration.parse_session` reads it (``labeled-data/<session>_<view>/img00012.png``),
    the frame the number ending the file name; None for a name without a number."""
    from lp3d_models.calibration import parse_session

    match = _FRAME_NUMBER.search(Path(str(path)).name)
    if match is None:
        return None
    return parse_session(str(path), view)[0], int(match.group(1))


def labeled_frame_ids(image_paths: Sequence[str], view: str) -> set[tuple[str, int]]:
    """The :func:`frame_id` of every labeled image that has one."""
    return {ident for path in image_paths if (ident := frame_id(path, view)) is not None}


def write_pseudo_labels(
    folder: str | os.PathLike, sessions: Sequence[SmoothedSession], selection: dict[str, np.ndarray]
) -> int:
    """Writes the pseudo-label folder (see the module docstring) into ``folder`` (created).

    Returns:
        The number of frames written.

    Raises:
        ValueError: sessions of other views or keypoints, or a session without its videos.
        FileNotFoundError: a video is missing.
    """
    import cv2
    from lp3d_io import to_pose_csv
    from lp3d_io.video import VideoReader

    folder = Path(folder)
    first = sessions[0]
    for s in sessions[1:]:
        if s.view_names != first.view_names or s.keypoint_names != first.keypoint_names:
            raise ValueError(
                f"session {s.name}: expected views {first.view_names} and keypoints {first.keypoint_names} "
                f"(as session {first.name}), but got {s.view_names} and {s.keypoint_names}"
            )
    views, keypoints = first.view_names, first.keypoint_names
    labels: dict[str, list[np.ndarray]] = {v: [] for v in views}
    weights: dict[str, list[np.ndarray]] = {v: [] for v in views}
    index: dict[str, list[str]] = {v: [] for v in views}
    rows = ["session,frame,frame_variance,mean_weight"]
    calibrated = [s for s in sessions if s.rig is not None and len(selection.get(s.name, ())) > 0]
    for s in sessions:
        frames = np.asarray(selection.get(s.name, ()), dtype=np.int64)
        if not frames.size:
            continue
        if not s.videos or set(s.videos) != set(views):
            raise ValueError(
                f"session {s.name}: expected the videos of views {views} to extract frames from, but the store "
                f"names {sorted(s.videos or {})} (were its predictions made from videos?)"
            )
        rows_of = {int(f): i for i, f in enumerate(s.frames)}
        missing = [int(f) for f in frames if int(f) not in rows_of]
        if missing:
            raise ValueError(f"session {s.name}: expected frames among its {s.n_frames}, but got {missing[:5]}")
        t = np.array([rows_of[int(f)] for f in frames])
        w = confidence_weights(s.reprojection_variance)[:, t]  # (view, frame, keypoint)
        for v, view in enumerate(views):
            with VideoReader(s.videos[view], rgb=False) as reader:
                images = reader.read_many(frames)
                width, height = reader.size
            points = s.reprojection[v, t].astype(np.float64)
            inside = ((points >= -0.5) & (points < np.array([width, height]) - 0.5)).all(-1)
            points[~inside] = np.nan
            weight = np.where(inside, w[v], 0.0)
            for frame, image in zip(frames, images, strict=True):
                path = image_path(s.name, view, frame)
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(folder / path), image):
                    raise OSError(f"{folder / path}: could not write the image")
                index[view].append(path)
            labels[view].append(points)
            weights[view].append(weight)
        score = frame_variance(s)[t]
        mean_w = w.mean(axis=(0, 2))
        rows += [f"{s.name},{f},{v:.6g},{m:.4f}" for f, v, m in zip(frames, score, mean_w, strict=True)]
    n = len(rows) - 1
    folder.mkdir(parents=True, exist_ok=True)
    for view in views:
        position = np.concatenate(labels[view]) if labels[view] else np.zeros((0, len(keypoints), 2))
        weight = np.concatenate(weights[view]) if weights[view] else np.zeros((0, len(keypoints)))
        to_pose_csv(folder / f"CollectedData_{view}.csv", position, keypoint_names=keypoints, index=index[view])
        to_pose_csv(
            folder / f"weights_{view}.csv",
            np.repeat(weight[..., None], 2, -1),
            keypoint_names=keypoints,
            index=index[view],
        )
    if len(calibrated) == 1:
        calibrated[0].rig.to_toml(folder / "calibration.toml")
    else:
        for s in calibrated:
            (folder / "calibrations").mkdir(exist_ok=True)
            s.rig.to_toml(folder / "calibrations" / f"{s.name}.toml")
    (folder / "selection.csv").write_text("\n".join(rows) + "\n")
    return n


# --- the command ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` did.

    Attributes:
        run_dir: the student's run directory.
        pseudo_labels: the pseudo-label folder.
        frames: ``{session: chosen frames}``.
        best_val_error: per student member, its best validation pixel error (empty if not trained).
    """

    run_dir: Path
    pseudo_labels: Path
    frames: dict[str, np.ndarray]
    best_val_error: list[float]


def student_config(teacher: Any, teacher_dir: str | os.PathLike, out: str | os.PathLike, pseudo_labels: Path) -> Any:
    """The student's config: the teacher's (a :class:`~lp3d_models.config.Config`) with its run
    directory ``out``, ``data.pseudo_labels = [pseudo_labels]``, seeds ``distill.seeds`` and
    ``distill.max_steps``; a synthetic teacher's session is read from the teacher's run directory.
    With ``distill.warm_start`` the students start from the weights of the teacher's first member
    (``model.init_checkpoint``): at a small budget, a student trained from scratch on noisy
    pseudo-labels does not catch up with a teacher trained on clean labels alone."""
    import copy

    config = copy.deepcopy(teacher)
    config.run_dir = str(Path(out).resolve())
    if config.data.synthetic is not None:
        config.data.root = str((Path(teacher_dir) / "synthetic").resolve())
        config.data.synthetic = None
    config.data.pseudo_labels = [str(Path(pseudo_labels).resolve())]
    config.training.seeds = list(config.distill.seeds)
    if config.distill.max_steps is not None:
        config.training.max_steps = config.distill.max_steps
    if config.distill.warm_start:
        folder = Path(teacher_dir) / f"seed_{teacher.training.seeds[0]}" / "checkpoints"
        start = next((folder / f for f in ("best.ckpt", "last.ckpt") if (folder / f).is_file()), None)
        if start is None:
            raise FileNotFoundError(f"{folder}: expected a checkpoint to start the student from (distill.warm_start)")
        config.model.init_checkpoint = str(start.resolve())
    return config


def distill(
    run_dir: str | os.PathLike,
    stores: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    n_frames: int | None = None,
    variance_quantile: float | None = None,
    seeds: Sequence[int] | None = None,
    max_steps: int | None = None,
    seed: int | None = None,
    train_student: bool = True,
    overwrite: bool = False,
) -> DistillResult:
    """Chooses frames, writes their pseudo-labels and trains a student (steps 1-3 of the module docstring).

    Args:
        run_dir: the teacher's training run (its labeled frames are never chosen).
        stores: smoothed stores of its predictions on unlabeled videos, one per session.
        out: the student's run directory; the pseudo-labels go to ``<out>/pseudo_labels``.
        n_frames, variance_quantile, seeds, max_steps, seed: override the teacher config's
            ``distill`` section.
        train_student: train the student (else only write the pseudo-labels).
        overwrite: replace an earlier student in ``out``.

    Raises:
        FileNotFoundError: a missing run or store.
        ValueError: bad stores (no smoothed results, other views or keypoints than the run), no
            candidate frames, or an existing ``out`` without ``overwrite``.
    """
    from lp3d_models.config import save_config
    from lp3d_models.data import load_data
    from lp3d_models.runs import load_run
    from lp3d_models.training import train

    if not stores:
        raise ValueError("stores: expected at least one smoothed store, but got none")
    out = Path(out).resolve()
    sessions = [read_smoothed(s) for s in stores]
    teacher = load_run(run_dir)
    dc = teacher.config.distill
    for key, value in (
        ("n_frames", n_frames),
        ("variance_quantile", variance_quantile),
        ("max_steps", max_steps),
        ("seed", seed),
    ):
        if value is not None:
            setattr(dc, key, value)
    if seeds is not None:
        dc.seeds = list(seeds)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out}: already exists and is not empty (pass --overwrite to replace the student)")
    for path, s in zip(stores, sessions, strict=True):
        if s.view_names != teacher.view_names or s.keypoint_names != teacher.keypoint_names:
            raise ValueError(
                f"{path}: expected views {teacher.view_names} and keypoints {teacher.keypoint_names} "
                f"(those of {teacher.run_dir}), but got {s.view_names} and {s.keypoint_names}"
            )
    data = load_data(teacher.config.data, teacher.run_dir)
    labeled = set().union(*(labeled_frame_ids(data.image_paths[v], view) for v, view in enumerate(data.view_names)))
    selection = select_frames(
        sessions, dc.n_frames, variance_quantile=dc.variance_quantile, seed=dc.seed, labeled=labeled
    )
    if not sum(len(f) for f in selection.values()):
        raise ValueError(
            f"no candidate frames in {len(sessions)} session(s): every frame is labeled, inflated or "
            f"above the variance quantile {dc.variance_quantile}"
        )
    if out.exists() and overwrite:
        shutil.rmtree(out)
    out.mkdir(parents=True)
    staged = out / f".{PSEUDO_LABELS}.partial"
    write_pseudo_labels(staged, sessions, selection)
    os.replace(staged, out / PSEUDO_LABELS)
    config = student_config(teacher.config, teacher.run_dir, out, out / PSEUDO_LABELS)
    shutil.copyfile(teacher.run_dir / "split.json", out / "split.json")  # the same held-out frames
    errors: list[float] = []
    if train_student:
        errors = train(config).best_val_error
    else:
        save_config(config, out / "config.yaml")
    return DistillResult(out, out / PSEUDO_LABELS, selection, errors)
