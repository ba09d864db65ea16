"""Labeled frames for training and evaluation: the Lightning Pose multi-view layout, synthetic
sessions, the train/val/test split, and the torch dataset.

A project folder holds one label CSV per view (``CollectedData_<view>.csv``), with the same rows
in every view and image paths relative to the folder as row labels; lp3d-io reads them
(:func:`lp3d_io.read_labels`). A synthetic session (:mod:`lp3d_io.synthetic`) is written once in
that layout to ``<run_dir>/synthetic`` and read the same way.

Every sample has all views of one labeled frame, resized to the model size (each view from its
own size) and, for training, augmented per view (:mod:`lp3d_models.augment`); keypoints are in
model pixels, NaN where unlabeled, and each view's original ``(width, height)`` comes along to
map predictions back.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from lp3d_models.augment import (
    photometric,
    random_affine,
    resize_image,
    resize_matrix,
    to_chw_float,
    transform_points,
    warp_image,
)
from lp3d_models.config import AugmentConfig, DataConfig

__all__ = [
    "LabeledData",
    "find_views",
    "read_project",
    "synthetic_project",
    "load_data",
    "make_split",
    "save_split",
    "load_split",
    "read_image",
    "PoseFrames",
]


@dataclass(frozen=True, eq=False)
class LabeledData:
    """Labeled frames of a project.

    Attributes:
        root: the project folder.
        view_names: ``(view,)``.
        keypoint_names: ``(keypoint,)``.
        image_paths: ``(view, frame)`` paths relative to ``root``.
        keypoints: ``(view, frame, keypoint, 2)`` float32 pixels, NaN where unlabeled.
    """

    root: Path
    view_names: list[str]
    keypoint_names: list[str]
    image_paths: np.ndarray
    keypoints: np.ndarray

    @property
    def n_frames(self) -> int:
        return self.keypoints.shape[1]


def find_views(root: str | os.PathLike, labels: str = "CollectedData_{view}.csv") -> list[str]:
    """The view names of the label files in ``root`` matching ``labels`` (sorted).

    Raises:
        FileNotFoundError: no folder ``root`` or no label file in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: project folder not found")
    before, _, after = labels.partition("{view}")
    pattern = re.compile(re.escape(before) + r"(.+)" + re.escape(after) + "$")
    views = sorted(m.group(1) for p in root.iterdir() if (m := pattern.match(p.name)))
    if not views:
        raise FileNotFoundError(f"{root}: expected label files named {labels.format(view='<view>')}, but found none")
    return views


def read_project(root: str | os.PathLike, views: list[str] | None = None, labels: str = "CollectedData_{view}.csv"):
    """Reads the labeled frames of a project folder.

    Args:
        root: the folder.
        views: view names (default :func:`find_views`).
        labels: label file name with ``{view}``.

    Returns:
        A :class:`LabeledData`.

    Raises:
        FileNotFoundError: a label file is missing.
        ValueError: the files disagree (keypoints, rows), or several individuals are labeled.
    """
    from lp3d_io import read_labels

    root = Path(root)
    views = list(views) if views else find_views(root, labels)
    paths = {v: root / labels.format(view=v) for v in views}
    for view, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: label file of view {view!r} not found")
    ds = read_labels(paths, views)
    if ds.sizes["individual"] != 1:
        raise ValueError(
            f"{paths[views[0]]}: expected labels of one animal, but got {ds.sizes['individual']} individuals"
        )
    position = ds["position"].transpose("view", "frame", "keypoint", "individual", "space").values[..., 0, :]
    return LabeledData(
        root=root,
        view_names=views,
        keypoint_names=[str(k) for k in ds["keypoint"].values],
        image_paths=ds["image_path"].transpose("view", "frame").values.astype(str),
        keypoints=position.astype(np.float32),
    )


def synthetic_project(directory: str | os.PathLike, config: Any) -> Path:
    """Writes the synthetic session of ``config`` (:class:`~lp3d_models.config.SyntheticDataConfig`)
    to ``directory`` unless it is already there; returns the folder."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    directory = Path(directory)
    stamp = directory / "synthetic.json"
    wanted = {k: getattr(config, k) for k in config.__dataclass_fields__}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return directory
    session = make_session(
        SyntheticConfig(
            n_views=config.n_views,
            image_size=(config.width, config.height),
            n_frames=config.n_frames,
            skeleton=config.skeleton,
            seed=config.seed,
        )
    )
    write_session(session, directory, labeled_frames=config.labeled_frames)
    stamp.write_text(json.dumps(wanted))
    return directory


def load_data(config: DataConfig, run_dir: str | os.PathLike) -> LabeledData:
    """The labeled frames a config names (a project folder, or its synthetic session)."""
    if config.synthetic is not None:
        root = synthetic_project(Path(run_dir) / "synthetic", config.synthetic)
        return read_project(root, config.views)
    assert config.root is not None
    return read_project(config.root, config.views, config.labels)


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


def save_split(split: dict[str, np.ndarray], data: LabeledData, path: str | os.PathLike) -> None:
    """Writes the split as JSON: frame indices and the image paths of the first view."""
    out = {name: {"frames": idx.tolist(), "images": data.image_paths[0, idx].tolist()} for name, idx in split.items()}
    Path(path).write_text(json.dumps(out, indent=1))


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
        augment: augmentation settings, or None for none (validation, evaluation).
        cache: keep resized images in memory after the first read.

    Items are dicts: ``images`` ``(V, 3, H, W)`` float32 in ``[0, 1]``, ``keypoints``
    ``(V, K, 2)`` float32 model pixels (NaN unlabeled), ``image_sizes`` ``(V, 2)`` original
    ``(width, height)``, ``frame`` the frame index.
    """

    def __init__(
        self,
        data: LabeledData,
        frames: np.ndarray,
        image_size: tuple[int, int],
        augment: AugmentConfig | None = None,
        cache: bool = True,
    ) -> None:
        self.data = data
        self.frames = np.asarray(frames, dtype=np.int64)
        self.size = (int(image_size[1]), int(image_size[0]))  # (width, height)
        self.augment = augment if augment is not None and augment.enabled else None
        self.cache = cache
        self._cache: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def _load(self, frame: int) -> tuple[list[np.ndarray], np.ndarray]:
        if frame in self._cache:
            return self._cache[frame]
        images, sizes = [], []
        for v in range(len(self.data.view_names)):
            image = read_image(self.data.root / self.data.image_paths[v, frame])
            sizes.append((image.shape[1], image.shape[0]))
            images.append(resize_image(image, self.size))
        item = (images, np.asarray(sizes, dtype=np.float32))
        if self.cache:
            self._cache[frame] = item
        return item

    def __getitem__(self, i: int) -> dict[str, Any]:
        frame = int(self.frames[i])
        images, sizes = self._load(frame)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item())) if self.augment else None
        out_images, out_points = [], []
        for v, image in enumerate(images):
            points = transform_points(self.data.keypoints[v, frame], resize_matrix(tuple(sizes[v]), self.size))
            if self.augment is not None and rng is not None:
                matrix = random_affine(rng, self.size, self.augment)
                image = warp_image(image, matrix)
                points = transform_points(points, matrix, self.size)
                image = photometric(image.astype(np.float32) / 255.0, rng, self.augment)
            out_images.append(to_chw_float(image))
            out_points.append(points.astype(np.float32))
        return {
            "images": torch.from_numpy(np.stack(out_images)),
            "keypoints": torch.from_numpy(np.stack(out_points)),
            "image_sizes": torch.from_numpy(sizes),
            "frame": frame,
        }
