"""``lp3d init``: a starting config for a project folder.

The folder is looked at for label files (``CollectedData_<view>.csv``): their views, the number
of labeled frames and keypoints, and the size of the first labeled image of each view, from
which a model input size is proposed (about 256 x 256 pixels in area, the views' mean aspect
ratio, sides a multiple of what the backbone takes: 16, or 28 for DINOv2). A mirror rig is given
by its crop boxes (``crops``, ``data.crops``): the views are then cut from the whole frames of one
label file (``labels``) or of ``CollectedData_<view>.csv``. The config is written with every key and
its help text (:func:`lp3d_models.config.config_template`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lp3d_models.backbone import input_multiple
from lp3d_models.config import CropConfig, DataConfig, ModelConfig, config_template, load_config
from lp3d_models.data import read_image, read_project

__all__ = ["InitResult", "init_project", "propose_size"]


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_project` wrote and found.

    Attributes:
        config: the config file.
        views: the views found (empty for a synthetic project).
        n_frames: labeled frames found.
        n_keypoints: keypoints found.
        image_sizes: ``{view: (width, height)}`` of the first labeled image.
        model_size: the proposed ``(height, width)``.
    """

    config: Path
    views: list[str]
    n_frames: int
    n_keypoints: int
    image_sizes: dict[str, tuple[int, int]]
    model_size: tuple[int, int]


def propose_size(image_sizes: list[tuple[int, int]], area: int = 256 * 256, multiple: int = 16) -> tuple[int, int]:
    """A model ``(height, width)`` of about ``area`` pixels with the mean aspect of ``image_sizes``
    (``(width, height)`` each), sides divisible by ``multiple``."""
    aspect = sum(w / h for w, h in image_sizes) / len(image_sizes)
    height = max(multiple, round(math.sqrt(area / aspect) / multiple) * multiple)
    width = max(multiple, round(height * aspect / multiple) * multiple)
    return height, width


def init_project(
    directory: str | os.PathLike,
    *,
    config_name: str = "lp3d.yaml",
    synthetic: bool = False,
    backbone: str | None = None,
    crops: Mapping[str, Sequence[int]] | None = None,
    labels: str | None = None,
    overwrite: bool = False,
) -> InitResult:
    """Writes ``<directory>/<config_name>``, a commented starting config.

    Args:
        directory: the project folder (with ``CollectedData_<view>.csv`` files unless ``synthetic``).
        config_name: file name of the config.
        synthetic: configure training on a synthetic session (no labels needed; for trying lp3d).
        backbone: the backbone (default the config's); the proposed model size is a multiple of
            what it accepts (:func:`lp3d_models.backbone.input_multiple`: 16, or 28 for DINOv2).
        crops: ``{view: [x, y, width, height]}``: views cut from whole frames (a mirror rig).
        labels: the label file name (``data.labels``; one file for every view, with ``crops``).
        overwrite: replace an existing config.

    Raises:
        FileExistsError: the config exists and ``overwrite`` is False.
        FileNotFoundError: no folder, or no label files in it (without ``synthetic``).
    """
    root = Path(directory)
    path = root / config_name
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: a config is already there (pass --overwrite to replace it)")
    backbone = backbone or ModelConfig.backbone
    values: dict[str, object] = {
        "run_dir": f"runs/{root.resolve().name or 'lp3d'}",
        "data.root": ".",
        "model.backbone": backbone,
    }
    views: list[str] = []
    sizes: dict[str, tuple[int, int]] = {}
    n_frames = n_keypoints = 0
    if synthetic:
        if not root.is_dir():
            root.mkdir(parents=True)
        values.update({"data.root": None, "data.synthetic": {"n_views": 4, "width": 128, "height": 128}})
        size = (128, 128) if 128 % input_multiple(backbone) == 0 else (112, 112)
    else:
        boxes = None
        if crops:
            boxes = {view: CropConfig(box=[int(x) for x in box]) for view, box in crops.items()}
            values["data.crops"] = {view: {"box": c.box, "keypoints": c.keypoints} for view, c in boxes.items()}
            values["data.views"] = None
        data = read_project(root, labels=labels or DataConfig.labels, crops=boxes)
        if labels:
            values["data.labels"] = labels
        views, n_frames, n_keypoints = data.view_names, data.n_frames, len(data.keypoint_names)
        for v, view in enumerate(views):
            if data.crops:
                sizes[view] = tuple(data.crops[view][2:])
            else:
                image = read_image(root / data.image_paths[v, 0])
                sizes[view] = (image.shape[1], image.shape[0])
        size = propose_size(list(sizes.values()), multiple=input_multiple(backbone, ModelConfig.heatmap_stride))
        if not crops:
            values["data.views"] = views
    values.update({"model.height": size[0], "model.width": size[1]})
    text = config_template(values)
    path.write_text(text)
    load_config(path)  # what was written must load
    return InitResult(path, views, n_frames, n_keypoints, sizes, size)
