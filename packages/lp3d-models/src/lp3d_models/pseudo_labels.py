"""Pseudo-label folders: the smoothed positions of chosen frames as training labels, with weights.

Each chosen frame's smoothed 2D positions (the reprojections of the 3D track when calibrated)
become labels, each with a weight in ``[0, 1]`` (:func:`confidence_weights`)::

    w = tau^2 / (tau^2 + sigma^2)

where ``sigma^2`` is the posterior variance of that 2D position (pixels squared, mean of x and y)
and ``tau^2`` the median of ``sigma^2`` over all observed (view, frame, keypoint) entries of its
session: a keypoint as certain as is typical of the session weighs 1/2, one four times more
certain 0.8, one nine times less certain 0.1. A position outside the image has no label (NaN,
weight 0).

The folder is a project in the usual layout (:mod:`lp3d_io.layout`), written by
:func:`write_pseudo_labels` and read for training by :func:`read_pseudo_labels` (through
``data.pseudo_labels``)::

    CollectedData_<view>.csv                   smoothed 2D positions (NaN: none)
    weights_<view>.csv                         the weight of each keypoint, in its x and y columns
    labeled-data/<session>_<view>/img%05d.png  the frames, extracted from the videos
    calibration.toml                           the session's cameras (calibrations/<session>.toml
                                               for several sessions)
    selection.csv                              session, frame, frame variance, mean weight

With several animals (:mod:`lp3d_models.individuals`) the label and weight files have the 4-row
multi-animal header, every individual's smoothed positions and weights in its own columns.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from lp3d_io.layout import frame_id, frame_image_path, labels_file, weights_file

from lp3d_models.config import DataConfig
from lp3d_models.data import LabeledData, calibrate, read_project
from lp3d_models.frame_selection import SmoothedSession, frame_variance
from lp3d_models.individuals import from_channels, to_channels

__all__ = [
    "PSEUDO_LABELS",
    "SELECTION_FILE",
    "confidence_weights",
    "labeled_frame_ids",
    "write_pseudo_labels",
    "read_pseudo_labels",
]

PSEUDO_LABELS = "pseudo_labels"
"""The pseudo-label folder's name inside a student's run directory."""
SELECTION_FILE = "selection.csv"


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


def labeled_frame_ids(image_paths: Sequence[str], view: str) -> set[tuple[str, int]]:
    """The ``(session, frame)`` (:func:`lp3d_io.layout.frame_id`) of every labeled image that has one."""
    return {ident for path in image_paths if (ident := frame_id(path, view)) is not None}


def write_pseudo_labels(
    folder: str | os.PathLike,
    sessions: Sequence[SmoothedSession],
    selection: dict[str, np.ndarray],
    *,
    crops: Mapping[str, Sequence[int]] | None = None,
    offsets: Mapping[str, Mapping[str, int]] | None = None,
) -> int:
    """Writes the pseudo-label folder (see the module docstring) into ``folder`` (created).

    Args:
        folder: the folder.
        sessions: the smoothed sessions.
        selection: ``{session: frames}`` to write.
        crops: ``{view: [x, y, width, height]}`` when the views are boxes of one video's frames
            (``data.crops``): each view's image is its box (the folder is then a plain multi-view
            project, its labels in each box's pixels as predicted).
        offsets: ``{session: {view: frame}}``: the frame of each view's video that is session frame 0.

    Returns:
        The number of frames written.

    Raises:
        ValueError: sessions of other views or keypoints, or a session without its videos.
        FileNotFoundError: a video is missing.
    """
    import cv2
    from lp3d_io import PoseTable, to_pose_csv
    from lp3d_io.video import VideoReader

    folder = Path(folder)
    first = sessions[0]
    for s in sessions[1:]:
        if (s.view_names, s.keypoint_names, s.individual_names) != (
            first.view_names,
            first.keypoint_names,
            first.individual_names,
        ):
            raise ValueError(
                f"session {s.name}: expected views {first.view_names}, keypoints {first.keypoint_names} and "
                f"individuals {first.individual_names} (as session {first.name}), but got {s.view_names}, "
                f"{s.keypoint_names} and {s.individual_names}"
            )
    views, keypoints, individuals = first.view_names, first.keypoint_names, first.individual_names
    n_individuals = len(individuals)
    channels = len(keypoints) * n_individuals
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
            shift = int((offsets or {}).get(s.name, {}).get(view, 0))
            with VideoReader(s.videos[view], rgb=False) as reader:
                images = reader.read_many(frames + shift)
                width, height = reader.size
            if crops:
                x, y, width, height = (int(c) for c in crops[view])
                images = images[:, y : y + height, x : x + width]
            points = s.reprojection[v, t].astype(np.float64)
            inside = ((points >= -0.5) & (points < np.array([width, height]) - 0.5)).all(-1)
            points[~inside] = np.nan
            weight = np.where(inside, w[v], 0.0)
            for frame, image in zip(frames, images, strict=True):
                path = frame_image_path(s.name, view, frame)
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
        position = np.concatenate(labels[view]) if labels[view] else np.zeros((0, channels, 2))
        weight = np.concatenate(weights[view]) if weights[view] else np.zeros((0, channels))
        for name, values in ((labels_file(view), position), (weights_file(view), np.repeat(weight[..., None], 2, -1))):
            table = PoseTable.from_numpy(
                from_channels(values, n_individuals, axis=1),
                keypoint_names=keypoints,
                individual_names=individuals,
                index=index[view],
            )
            to_pose_csv(table, folder / name)
    if len(calibrated) == 1:
        calibrated[0].rig.to_toml(folder / "calibration.toml")
    else:
        for s in calibrated:
            (folder / "calibrations").mkdir(exist_ok=True)
            s.rig.to_toml(folder / "calibrations" / f"{s.name}.toml")
    (folder / SELECTION_FILE).write_text("\n".join(rows) + "\n")
    return n


def read_pseudo_labels(
    folder: str | os.PathLike, data: LabeledData, config: DataConfig, *, cameras: bool = True
) -> LabeledData:
    """Reads a folder of pseudo-labels (written by ``lp3d distill``).

    The folder is a project in the Lightning Pose layout: ``CollectedData_<view>.csv`` (image paths
    relative to the folder; NaN where no pseudo-label) and ``weights_<view>.csv`` with the same
    header and rows, holding each label's weight in ``[0, 1]`` in both its ``x`` and ``y`` columns.
    Calibration files are found as for the project (:func:`lp3d_io.layout.find_calibration_files`), searching the
    folder first and then ``data.root``.

    Args:
        folder: the folder.
        data: the hand-labeled frames (views, keypoints and individuals must match).
        config: ``calibration`` and ``calibrations``.
        cameras: read the calibrations (see :func:`lp3d_models.data.load_data`).

    Raises:
        FileNotFoundError: a label or weight file is missing.
        ValueError: other keypoints or individuals than the hand labels, weights that do not match
            the labels or lie outside ``[0, 1]``, or a calibration problem.
    """
    from lp3d_io import from_pose_csv

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: pseudo-label folder not found")
    pseudo = read_project(folder, data.view_names)
    for what, want, got in (
        ("keypoints", data.keypoint_names, pseudo.keypoint_names),
        ("individuals", data.individual_names, pseudo.individual_names),
    ):
        if got != want:
            where = folder / labels_file("<view>")
            raise ValueError(f"{where}: expected the {what} of the labels {want}, but got {got}")
    weights = np.zeros(pseudo.keypoints.shape[:-1], dtype=np.float32)
    for v, view in enumerate(data.view_names):
        path = folder / weights_file(view)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: weight file of view {view!r} not found")
        table = from_pose_csv(path, dtype=np.float32)
        same = (table.keypoint_names, table.individual_names) == (pseudo.keypoint_names, pseudo.individual_names)
        if not same or table.index.astype(str).tolist() != list(pseudo.image_paths[v]):
            raise ValueError(f"{path}: expected the keypoints and rows of {labels_file(view)}, but they differ")
        w = to_channels(table.position[..., 0], axis=1)  # (frame, channel): the x columns
        labeled = np.isfinite(pseudo.keypoints[v]).all(-1)
        if not ((w[labeled] >= 0) & (w[labeled] <= 1)).all():
            raise ValueError(f"{path}: expected a weight in [0, 1] for every pseudo-label, but got others")
        weights[v] = np.where(labeled, w, 0.0)
    pseudo = dataclasses.replace(pseudo, weights=weights)
    return calibrate(pseudo, config, roots=[folder, data.root]) if cameras else pseudo
