"""Labeled frames for training and evaluation: the Lightning Pose multi-view layout, synthetic
sessions, the train/val/test split, and the torch dataset.

A project folder holds one label CSV per view (``CollectedData_<view>.csv``), with the same rows
in every view and image paths relative to the folder as row labels; lp3d-io reads them
(:func:`lp3d_io.read_labels`). A synthetic session (:mod:`lp3d_io.synthetic`) is written once in
that layout to ``<run_dir>/synthetic`` and read the same way.

A mirror rig (one camera filming the animal and its reflection) is described by crop boxes
(``data.crops``): each view is a box of the camera's whole frames, which the label file(s) and the
videos hold. One label file (no ``{view}`` in ``data.labels``) then has each view's keypoints as
its own columns (``paw_top``, ``paw_bot``: the pattern ``{keypoint}_top``); the views' keypoints
are the union of the names, unlabeled where a view has none. Labels are read in the views' own
pixels (the box's origin subtracted; a label outside its box is dropped), and so are predictions.

Every sample has all views of one labeled frame, each scaled into the model size with its aspect
kept and padded (letterboxed, :func:`lp3d_models.augment.letterbox_matrix`) and, for training,
augmented per view (:mod:`lp3d_models.augment`); keypoints are in model pixels, NaN where
unlabeled, and each view's original ``(width, height)`` comes along to map predictions back.

The split (:func:`make_split`): the frames ``data.split`` names (whole sessions, frame ranges of a
session, images) are held out as named, the other parts drawn at random at ``val_fraction`` /
``test_fraction``; ``split.json`` (:func:`save_split`) lists each part's frame indices and images.

Calibration (:mod:`lp3d_models.session_cameras`): :func:`load_data` finds each frame's session and
its anipose calibration; with ``geometry.enabled`` the samples of calibrated sessions carry their
cameras and may be 3D-augmented (:mod:`lp3d_models.augment_3d`). Pseudo-labels
(``data.pseudo_labels``, written by ``lp3d distill``) are folders in the same layout plus a
``weights_<view>.csv`` per view; they join the training frames only (:func:`training_frames`).

Several animals (the 4-row ``scorer / individuals / bodyparts / coords`` header of Lightning Pose
and DeepLabCut): every individual of the label files is read, its keypoints channels of their own
(:mod:`lp3d_models.individuals`: ``I K`` channels, individual-major); an individual absent from a
frame is NaN there, like any unlabeled keypoint. Views cut from whole frames take one animal.

A sample (a dict) holds, for ``V`` views and ``K`` channels (the keypoints, times the individuals)::

    images         (V, 3, H, W) float32   model input in [0, 1]
    keypoints      (V, K, 2)   float32    model pixels, NaN where unlabeled
    weights        (V, K)      float32    1 for hand labels, the pseudo-label weight, 0 where NaN
    image_sizes    (V, 2)      float32    original (width, height) (a crop's, for cropped views)
    affine         (V, 2, 3)   float64    original pixels -> model pixels (letterbox, then any 2D
                                          augmentation; a 3D augmentation is not in it: its labels
                                          are projections through the real cameras)
    calibrated     ()          bool       the session has cameras and geometry is enabled
    camera_matrix  (V, 3, 3)   float64    K (identity when not calibrated)
    dist_coeffs    (V, 5)      float64    k1, k2, p1, p2, k3 (zeros)
    rotation       (V, 3, 3)   float64    world to camera, x_cam = R X + t (identity)
    translation    (V, 3)      float64    t (zeros)
    fisheye        (V,)        bool       OpenCV's fisheye lens model (False)
    frame          int                    the frame's index in its LabeledData
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.layout import (
    LABELS_FILE,
    SYNTHETIC_DIR,
    find_calibration_files,
    find_label_views,
    frame_id,
    frame_sessions,
    labels_file,
)
from torch.utils.data import ConcatDataset, Dataset

from lp3d_models.augment import (
    letterbox_image,
    letterbox_matrix,
    photometric,
    random_affine,
    to_chw_float,
    transform_points,
    warp_image,
)
from lp3d_models.augment_3d import Augment3D, augment_3d
from lp3d_models.config import AugmentConfig, DataConfig, GeometryConfig, HeldOutConfig
from lp3d_models.individuals import to_channels
from lp3d_models.session_cameras import camera_arrays, check_image_sizes, load_rigs, vertical_axis

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lp3d_eks import CameraRig

    from lp3d_models.config import CropConfig

__all__ = [
    "LabeledData",
    "read_project",
    "synthetic_project",
    "load_data",
    "calibrate",
    "make_split",
    "split_frames",
    "save_split",
    "load_split",
    "read_image",
    "PoseFrames",
    "training_frames",
]


@dataclass(frozen=True, eq=False)
class LabeledData:
    """Labeled frames of a project.

    Attributes:
        root: the project folder.
        view_names: ``(view,)``.
        keypoint_names: ``(keypoint,)`` of one animal.
        image_paths: ``(view, frame)`` paths relative to ``root``.
        keypoints: ``(view, frame, channel, 2)`` float32 pixels, NaN where unlabeled; a channel per
            keypoint of each individual (:mod:`lp3d_models.individuals`; the keypoints for one).
        weights: ``(view, frame, channel)`` float32 label weights in ``[0, 1]`` (pseudo-labels),
            or None: 1 for every label.
        sessions: ``(frame,)`` session names (:mod:`lp3d_models.session_cameras`), or None: unknown.
        rigs: ``{session: CameraRig}`` the cameras of the calibrated sessions, in view order.
        pseudo: pseudo-labeled frames, one :class:`LabeledData` per folder (training only).
        crops: ``{view: (x, y, width, height)}`` when the views are boxes of whole frames (a mirror
            rig): the images are whole frames, the keypoints in each box's pixels.
        individual_names: ``(individual,)`` the animals, as the label files name them.
    """

    root: Path
    view_names: list[str]
    keypoint_names: list[str]
    image_paths: np.ndarray
    keypoints: np.ndarray
    weights: np.ndarray | None = None
    sessions: np.ndarray | None = None
    rigs: dict[str, CameraRig] = field(default_factory=dict)
    pseudo: tuple[LabeledData, ...] = ()
    crops: dict[str, tuple[int, int, int, int]] | None = None
    individual_names: list[str] = field(default_factory=lambda: [DEFAULT_INDIVIDUAL])

    @property
    def n_frames(self) -> int:
        return self.keypoints.shape[1]

    @property
    def n_channels(self) -> int:
        """Keypoints times individuals: the model's heatmaps."""
        return len(self.keypoint_names) * len(self.individual_names)

    def rig(self, frame: int) -> CameraRig | None:
        """The cameras of frame ``frame``'s session, or None (uncalibrated)."""
        if self.sessions is None:
            return None
        return self.rigs.get(str(self.sessions[frame]))

    def image_views(self) -> list[str | None]:
        """The view of each row of ``image_paths`` as :mod:`lp3d_io.layout` reads sessions from image
        paths: the view names, or None for cropped views (one image holds every view)."""
        return [None] * len(self.view_names) if self.crops else list(self.view_names)

    def frame_ids(self, frames: np.ndarray) -> list[tuple[str, int] | None]:
        """``(session, frame number)`` of labeled frames (:func:`lp3d_io.layout.frame_id` of the first
        view's image), None where the image name has no number."""
        view = self.image_views()[0]
        return [frame_id(str(self.image_paths[0, f]), view) for f in np.asarray(frames, dtype=np.int64)]


def read_project(
    root: str | os.PathLike,
    views: list[str] | None = None,
    labels: str = LABELS_FILE,
    crops: Mapping[str, CropConfig] | None = None,
):
    """Reads the labeled frames of a project folder.

    Args:
        root: the folder.
        views: view names (default :func:`lp3d_io.layout.find_label_views`, or the crops').
        labels: label file name with ``{view}`` (with ``crops``, also one file for every view).
        crops: ``data.crops``: views cut from whole frames (see the module docstring).

    Returns:
        A :class:`LabeledData`.

    Raises:
        FileNotFoundError: a label file is missing.
        ValueError: the files disagree (keypoints, individuals, rows); with crops, several
            individuals, label columns that match no view's pattern or boxes outside the frames.
    """
    from lp3d_io import read_labels

    root = Path(root)
    if crops:
        return _read_cropped_project(root, labels, crops)
    views = list(views) if views else find_label_views(root, labels)
    paths = {v: root / labels_file(v, labels) for v in views}
    for view, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: label file of view {view!r} not found")
    ds = read_labels(paths, views)
    position = ds["position"].transpose("view", "frame", "keypoint", "individual", "space").values
    return LabeledData(
        root=root,
        view_names=views,
        keypoint_names=[str(k) for k in ds["keypoint"].values],
        image_paths=ds["image_path"].transpose("view", "frame").values.astype(str),
        keypoints=to_channels(position, axis=2).astype(np.float32),
        individual_names=[str(i) for i in ds["individual"].values],
    )


def _column_pattern(template: str, view: str) -> re.Pattern[str]:
    before, _, after = template.replace("{view}", view).partition("{keypoint}")
    return re.compile(re.escape(before) + "(.+)" + re.escape(after) + "$")


def _read_cropped_project(root: Path, labels: str, crops: Mapping[str, CropConfig]) -> LabeledData:
    """:func:`read_project` for views cut from whole frames (see the module docstring)."""
    from lp3d_io import from_pose_csv

    views = list(crops)
    if "{view}" in labels:  # one file per view, in whole-frame pixels
        whole = read_project(root, views, labels)
        if len(whole.individual_names) != 1:
            path = root / labels_file(views[0], labels)
            raise ValueError(f"{path}: expected labels of one animal (data.crops), but got {whole.individual_names}")
        keypoints, position, image_paths = whole.keypoint_names, whole.keypoints.copy(), whole.image_paths
    else:  # one file: each view's keypoints are its own columns
        path = root / labels
        if not path.is_file():
            raise FileNotFoundError(f"{path}: label file not found (data.labels)")
        table = from_pose_csv(path, dtype=np.float32)
        if len(table.individual_names) != 1:
            raise ValueError(f"{path}: expected labels of one animal (data.crops), but got {table.individual_names}")
        patterns = {v: _column_pattern(crops[v].keypoints, v) for v in views}
        owner: dict[int, tuple[str, str]] = {}
        for column, name in enumerate(table.keypoint_names):
            found = [(v, m.group(1)) for v, pattern in patterns.items() if (m := pattern.match(name))]
            if len(found) != 1:
                shown = ", ".join(f"{crops[v].keypoints.replace('{view}', v)} ({v})" for v in views)
                what = "none" if not found else "several: " + ", ".join(v for v, _ in found)
                raise ValueError(
                    f"{path}: expected label column {name!r} to match one view's data.crops.<view>.keypoints "
                    f"pattern among {shown}, but it matches {what}"
                )
            owner[column] = found[0]
        keypoints = list(dict.fromkeys(base for _, base in owner.values()))
        position = np.full((len(views), len(table.index), len(keypoints), 2), np.nan, dtype=np.float32)
        for column, (view, base) in owner.items():
            position[views.index(view), :, keypoints.index(base)] = table.position[:, column, 0, :2]
        image_paths = np.array([table.index.astype(str)] * len(views))
    boxes = {v: tuple(int(x) for x in crops[v].box) for v in views}  # type: ignore[union-attr]
    first = read_image(root / image_paths[0, 0]) if image_paths.shape[1] else None
    for v, view in enumerate(views):
        x, y, w, h = boxes[view]
        if first is not None and (x + w > first.shape[1] or y + h > first.shape[0]):
            raise ValueError(
                f"data.crops.{view}.box: expected a box inside the {first.shape[1]}x{first.shape[0]} frames of "
                f"{image_paths[0, 0]}, but got {list(boxes[view])}"
            )
        points = position[v] - np.array([x, y], dtype=np.float32)
        outside = (points < -0.5).any(-1) | (points[..., 0] > w - 0.5) | (points[..., 1] > h - 0.5)
        points[outside] = np.nan
        position[v] = points
    return LabeledData(
        root=root,
        view_names=views,
        keypoint_names=keypoints,
        image_paths=image_paths,
        keypoints=position.astype(np.float32),
        crops=boxes,
    )


def synthetic_project(directory: str | os.PathLike, config: Any, *, write: bool = True, wait: float = 3600) -> Path:
    """Writes the synthetic session of ``config`` (:class:`~lp3d_models.config.SyntheticDataConfig`)
    to ``directory`` unless it is already there; returns the folder.

    Args:
        write: False: wait (up to ``wait`` seconds) for another process to write it (the ranks
            other than 0 of a training on several devices).

    Raises:
        TimeoutError: not written in time.
    """
    import time

    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    directory = Path(directory)
    stamp = directory / "synthetic.json"  # written last
    wanted = {k: getattr(config, k) for k in config.__dataclass_fields__}
    deadline = time.monotonic() + wait
    while not write and not (stamp.is_file() and json.loads(stamp.read_text()) == wanted):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{directory}: the synthetic session was not written within {wait:.0f} s")
        time.sleep(0.2)
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return directory
    session = make_session(
        SyntheticConfig(
            n_views=config.n_views,
            image_size=(config.width, config.height),
            n_frames=config.n_frames,
            skeleton=config.skeleton,
            seed=config.seed,
            n_animals=config.n_animals,
        )
    )
    write_session(session, directory, labeled_frames=config.labeled_frames)
    from lp3d_io.files import write_text_atomic

    write_text_atomic(stamp, json.dumps(wanted))
    return directory


def load_data(config: DataConfig, run_dir: str | os.PathLike, *, cameras: bool = True) -> LabeledData:
    """The labeled frames a config names (a project folder, or its synthetic session), with the
    sessions' calibrations and the pseudo-labels.

    Args:
        config: the ``data`` section.
        run_dir: the run directory (a synthetic session is written there).
        cameras: look up and read the sessions' calibrations (training does only with
            ``geometry.enabled``: without it, calibration files are never opened).

    Raises:
        FileNotFoundError: a label, weight or calibration file is missing.
        ValueError: files that disagree, cameras that do not match the views (see
            :func:`calibrate` and :func:`lp3d_models.pseudo_labels.read_pseudo_labels`).
    """
    if config.synthetic is not None:
        from lp3d_models.distributed import is_rank_zero

        # Rank 0 writes it, the other ranks wait for it (lp3d_models.distributed).
        root = synthetic_project(Path(run_dir) / SYNTHETIC_DIR, config.synthetic, write=is_rank_zero())
        data = read_project(root, config.views)
    else:
        assert config.root is not None
        data = read_project(config.root, config.views, config.labels, config.crops)
    if cameras:
        data = calibrate(data, config)
    from lp3d_models.pseudo_labels import read_pseudo_labels

    pseudo = tuple(read_pseudo_labels(folder, data, config, cameras=cameras) for folder in config.pseudo_labels)
    return dataclasses.replace(data, pseudo=pseudo)


def calibrate(data: LabeledData, config: DataConfig, roots: list[Path] | None = None) -> LabeledData:
    """``data`` with its frames' sessions and their cameras (:mod:`lp3d_models.session_cameras`).

    Args:
        data: labeled frames.
        config: ``calibration`` and ``calibrations``.
        roots: folders searched for calibration files (default ``[data.root]``).

    Raises:
        FileNotFoundError: a named calibration file is missing.
        ValueError: a row's views name different sessions, or a calibration file is unreadable, has
            no camera for a view, or cameras of another image size.
    """
    roots = [data.root] if roots is None else roots
    sessions, keys = frame_sessions(data.image_paths, data.image_views(), source=str(data.root))
    files = find_calibration_files(
        sessions, keys, roots, calibration=config.calibration, calibrations=config.calibrations
    )
    rigs = load_rigs(files, data.view_names)
    sizes = [data.crops[v][2:] for v in data.view_names] if data.crops else None
    check_image_sizes(rigs, files, sessions, data.image_paths, data.root, view_sizes=sizes)
    return dataclasses.replace(data, sessions=sessions, rigs=rigs)


def make_split(n_frames: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """A random train/val/test split of ``n_frames`` frames.

    Validation gets ``round(val_fraction n)`` frames (at least one when ``val_fraction > 0``), test
    likewise, and training the rest (at least one).

    Returns:
        ``{"train", "val", "test"}`` sorted frame indices.
    """
    n_val = max(1, round(val_fraction * n_frames)) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * n_frames)) if test_fraction > 0 else 0
    if n_frames - n_val - n_test < 1:
        raise ValueError(
            f"data: expected more labeled frames than {n_val} validation + {n_test} test, but got {n_frames}"
        )
    order = np.random.default_rng(seed).permutation(n_frames)
    return {
        "val": np.sort(order[:n_val]),
        "test": np.sort(order[n_val : n_val + n_test]),
        "train": np.sort(order[n_val + n_test :]),
    }


def _held_out(data: LabeledData, held: HeldOutConfig, key: str, sessions: np.ndarray) -> np.ndarray | None:
    """The frames ``held`` names (sorted), or None when it names none."""
    if not (held.sessions or held.frames or held.images):
        return None
    chosen: set[int] = set()
    known = sorted(set(sessions.tolist()))
    for session in held.sessions:
        if session not in known:
            raise ValueError(f"{key}.sessions: expected sessions among {known}, but got {session!r}")
        chosen.update(np.flatnonzero(sessions == session).tolist())
    if held.frames:
        ids = data.frame_ids(np.arange(data.n_frames))
        for session, ranges in held.frames.items():
            if session not in known:
                raise ValueError(f"{key}.frames: expected sessions among {known}, but got {session!r}")
            found = [
                f
                for f, ident in enumerate(ids)
                if ident is not None and ident[0] == session and any(a <= ident[1] < b for a, b in ranges)
            ]
            if not found:
                raise ValueError(f"{key}.frames.{session}: expected labeled frames in {ranges}, but there are none")
            chosen.update(found)
    if held.images:
        rows = {str(p): f for v in range(data.image_paths.shape[0]) for f, p in enumerate(data.image_paths[v])}
        for image in held.images:
            name = image.replace("\\", "/")
            if name not in rows:
                raise ValueError(f"{key}.images: expected images of the label files, but got {image!r}")
            chosen.add(rows[name])
    return np.array(sorted(chosen), dtype=np.int64)


def split_frames(data: LabeledData, config: DataConfig) -> dict[str, np.ndarray]:
    """The train/val/test split of ``data`` that ``config`` asks for: the frames ``config.split``
    names for a part, and for a part that names none, ``val_fraction`` / ``test_fraction`` of all
    labeled frames drawn at random (seed ``split_seed``) from the frames not named; the rest trains.
    Without ``config.split`` this is :func:`make_split`.

    Raises:
        ValueError: a session, frame range or image the labels do not have; a frame named for both
            test and val; no frame left to train on.
    """
    split = config.split
    if not any(h.sessions or h.frames or h.images for h in (split.test, split.val)):
        return make_split(data.n_frames, config.val_fraction, config.test_fraction, config.split_seed)
    sessions, _ = frame_sessions(data.image_paths, data.image_views(), source=str(data.root))
    chosen = {part: _held_out(data, getattr(split, part), f"data.split.{part}", sessions) for part in ("val", "test")}
    if chosen["val"] is not None and chosen["test"] is not None:
        both = np.intersect1d(chosen["val"], chosen["test"])
        if both.size:
            raise ValueError(
                f"data.split: expected test and val frames to differ, but both hold {data.image_paths[0, both[0]]}"
                + (f" and {both.size - 1} more" if both.size > 1 else "")
            )
    named = np.concatenate([c for c in chosen.values() if c is not None])
    rest = np.setdiff1d(np.arange(data.n_frames), named)
    order = np.random.default_rng(config.split_seed).permutation(rest)
    out: dict[str, np.ndarray] = {}
    for part, fraction in (("val", config.val_fraction), ("test", config.test_fraction)):
        if chosen[part] is not None:
            out[part] = chosen[part]
            continue
        n = max(1, round(fraction * data.n_frames)) if fraction > 0 else 0
        out[part], order = np.sort(order[:n]), order[n:]
    if not order.size:
        raise ValueError(
            f"data.split: expected frames left to train on, but val and test hold all {data.n_frames} labeled frames"
        )
    out["train"] = np.sort(order)
    return {"val": out["val"], "test": out["test"], "train": out["train"]}


def save_split(split: dict[str, np.ndarray], data: LabeledData, path: str | os.PathLike) -> None:
    """Writes the split as JSON, ``{"train" | "val" | "test": {"frames": [row indices of the label
    files], "images": [the first view's image paths]}}`` (what :func:`load_split` reads back)."""
    from lp3d_io.files import write_text_atomic

    out = {name: {"frames": idx.tolist(), "images": data.image_paths[0, idx].tolist()} for name, idx in split.items()}
    write_text_atomic(Path(path), json.dumps(out, indent=1))


def load_split(path: str | os.PathLike, data: LabeledData | None = None) -> dict[str, np.ndarray]:
    """Reads a split written by :func:`save_split`; with ``data``, checks that the images still match."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: split file not found (is this a training run directory?)")
    raw = json.loads(path.read_text())
    split = {name: np.asarray(part["frames"], dtype=np.int64) for name, part in raw.items()}
    if data is not None:
        for name, part in raw.items():
            idx = split[name]
            if idx.size and (idx.max() >= data.n_frames or data.image_paths[0, idx].tolist() != part["images"]):
                raise ValueError(f"{path}: the {name} frames no longer match the labeled frames of {data.root}")
    return split


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB ``(H, W, 3)`` uint8 (grayscale is repeated to three channels)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: image not found or not readable")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class PoseFrames(Dataset):
    """All views of labeled frames at the model size, optionally augmented.

    Args:
        data: the labeled frames.
        frames: which frames (indices into ``data``).
        image_size: model input ``(height, width)``.
        augment: augmentation settings, or None for none (validation, evaluation). Given (a
            training set), the samples of calibrated sessions may also get the 3D augmentation.
        cache: keep resized images in memory after the first read.
        geometry: calibration-aware settings; None or disabled: ``calibrated`` is False everywhere.

    Items are dicts (the keys and shapes are in the module docstring).
    """

    def __init__(
        self,
        data: LabeledData,
        frames: np.ndarray,
        image_size: tuple[int, int],
        augment: AugmentConfig | None = None,
        cache: bool = True,
        geometry: GeometryConfig | None = None,
    ) -> None:
        self.data = data
        self.frames = np.asarray(frames, dtype=np.int64)
        self.size = (int(image_size[1]), int(image_size[0]))  # (width, height)
        self.training = augment is not None
        self.augment = augment if augment is not None and augment.enabled else None
        self.cache = cache
        self.geometry = geometry if geometry is not None and geometry.enabled else None
        self._cache: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}
        V = len(data.view_names)
        self._uncalibrated = {
            "camera_matrix": np.tile(np.eye(3), (V, 1, 1)),
            "dist_coeffs": np.zeros((V, 5)),
            "rotation": np.tile(np.eye(3), (V, 1, 1)),
            "translation": np.zeros((V, 3)),
            "fisheye": np.zeros(V, dtype=bool),
        }
        self._cameras = {session: camera_arrays(rig) for session, rig in data.rigs.items()}
        self._vertical: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def _load(self, frame: int) -> tuple[list[np.ndarray], np.ndarray]:
        if frame in self._cache:
            return self._cache[frame]
        images, sizes = [], []
        read: dict[str, np.ndarray] = {}  # cropped views share their frame's image
        for v, view in enumerate(self.data.view_names):
            path = str(self.data.image_paths[v, frame])
            if path not in read:
                read[path] = read_image(self.data.root / path)
            image = read[path]
            if self.data.crops is not None:
                x, y, w, h = self.data.crops[view]
                if x + w > image.shape[1] or y + h > image.shape[0]:
                    raise ValueError(
                        f"data.crops.{view}.box: expected a box inside the {image.shape[1]}x{image.shape[0]} "
                        f"frame {path}, but got {[x, y, w, h]}"
                    )
                image = image[y : y + h, x : x + w]
            sizes.append((image.shape[1], image.shape[0]))
            images.append(letterbox_image(image, self.size))
        item = (images, np.asarray(sizes, dtype=np.float32))
        if self.cache:
            self._cache[frame] = item
        return item

    def _up(self, session: str, rig: CameraRig) -> np.ndarray:
        if session not in self._vertical:
            g = self.geometry
            assert g is not None
            self._vertical[session] = np.asarray(g.vertical, dtype=np.float64) if g.vertical else vertical_axis(rig)
        return self._vertical[session]

    def __getitem__(self, i: int) -> dict[str, Any]:
        frame = int(self.frames[i])
        images, sizes = self._load(frame)
        session = "" if self.data.sessions is None else str(self.data.sessions[frame])
        rig = self.data.rig(frame) if self.geometry is not None else None
        g = self.geometry
        augment_3d_now = self.training and rig is not None and g is not None and g.augment_3d
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item())) if self.augment or augment_3d_now else None
        V = len(images)
        points = self.data.keypoints[:, frame].astype(np.float64)
        weights = np.ones(points.shape[:-1]) if self.data.weights is None else self.data.weights[:, frame]
        weights = np.where(np.isfinite(points).all(-1), weights, 0.0).astype(np.float64)
        resize = [letterbox_matrix(tuple(int(x) for x in sizes[v]), self.size) for v in range(V)]
        warps = [np.eye(3)[:2] for _ in range(V)]  # 3D augmentation, model pixels
        if augment_3d_now and rng is not None and rng.random() < g.augment_probability:
            moved = self._augment_3d(points, weights, session, rig, sizes, resize, rng)
            if moved is not None:
                points, weights = moved.keypoints, moved.weights
                warps = [_compose(_compose(resize[v], moved.warps[v]), _invert(resize[v])) for v in range(V)]
        out_images, out_points, affines = [], [], []
        for v, image in enumerate(images):
            view_points = transform_points(points[v], resize[v])
            matrix = np.eye(3)[:2]
            if self.augment is not None and rng is not None:
                matrix = random_affine(rng, self.size, self.augment)
                view_points = transform_points(view_points, matrix, self.size)
            warp = _compose(matrix, warps[v])
            if not np.array_equal(warp, np.eye(3)[:2]):
                image = warp_image(image, warp)
            if self.augment is not None and rng is not None:
                image = photometric(image.astype(np.float32) / 255.0, rng, self.augment)
            out_images.append(to_chw_float(image))
            out_points.append(view_points.astype(np.float32))
            affines.append(_compose(matrix, resize[v]))
        keypoints = np.stack(out_points)
        cameras = self._cameras[session] if rig is not None else self._uncalibrated
        return {
            "images": torch.from_numpy(np.stack(out_images)),
            "keypoints": torch.from_numpy(keypoints),
            "weights": torch.from_numpy(np.where(np.isfinite(keypoints).all(-1), weights, 0.0).astype(np.float32)),
            "image_sizes": torch.from_numpy(sizes),
            "affine": torch.from_numpy(np.stack(affines)),
            "calibrated": torch.tensor(rig is not None),
            **{key: torch.from_numpy(value.copy()) for key, value in cameras.items()},
            "frame": frame,
        }

    def _augment_3d(
        self,
        points: np.ndarray,
        weights: np.ndarray,
        session: str,
        rig: CameraRig,
        sizes: np.ndarray,
        resize: list[np.ndarray],
        rng: np.random.Generator,
    ) -> Augment3D | None:
        g = self.geometry
        assert g is not None
        # The warp may be off by WARP_TOLERANCE model pixels (converted to original pixels per view).
        tolerance = np.array([WARP_TOLERANCE / min(m[0, 0], m[1, 1]) for m in resize])
        return augment_3d(points, weights, rig, sizes.astype(np.float64), rng, g, self._up(session, rig), tolerance)


WARP_TOLERANCE = 2.0
"""Largest accepted distance, in model pixels, between a 3D-augmented label and where the image
warp puts the labeled point (:mod:`lp3d_models.augment_3d`)."""


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The ``2 x 3`` affine map ``outer(inner(x))``."""
    return outer[:, :2] @ inner + np.concatenate([np.zeros((2, 2)), outer[:, 2:]], axis=1)


def _invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a ``2 x 3`` affine map."""
    return np.linalg.inv(np.concatenate([matrix, [[0.0, 0.0, 1.0]]]))[:2]


def training_frames(
    data: LabeledData,
    frames: np.ndarray,
    image_size: tuple[int, int],
    augment: AugmentConfig | None,
    geometry: GeometryConfig | None = None,
    cache: bool = True,
) -> Dataset:
    """The training set: the hand-labeled ``frames`` of ``data`` and every pseudo-labeled frame.

    Raises:
        ValueError: ``geometry.enabled`` but no session of ``data`` or its pseudo-labels has a
            calibration.
    """
    if geometry is not None and geometry.enabled and not data.rigs and not any(p.rigs for p in data.pseudo):
        raise ValueError(
            f"geometry.enabled: expected a calibration for at least one session of {data.root}, but found none "
            "(set data.calibration or data.calibrations, add calibrations/<session>.toml or calibration.toml, "
            "or disable geometry)"
        )
    parts = [PoseFrames(data, frames, image_size, augment=augment, cache=cache, geometry=geometry)]
    for pseudo in data.pseudo:
        parts.append(PoseFrames(pseudo, np.arange(pseudo.n_frames), image_size, augment, cache, geometry))
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)
