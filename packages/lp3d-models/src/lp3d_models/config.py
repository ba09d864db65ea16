"""The training configuration: typed sections, YAML in and out, ``key=value`` overrides.

A config file is YAML with the sections of :class:`Config` (every key optional)::

    run_dir: runs/mouse
    data: {root: ., views: [top, bot]}
    model: {backbone: vit_s16, pretrained: true, height: 256, width: 256}
    training: {max_epochs: 300, batch_size: 8, seeds: [0, 1, 2]}

:func:`load_config` checks every key and value against the dataclasses below: an unknown key or
a value of the wrong type is a :class:`ValueError` naming the key (``training.lr: expected a
number, but got 'fast'``). Relative paths (``run_dir``, ``data.root``, a ``model.pretrained``
file) are relative to the folder of the config file; the resolved config, with absolute paths,
is saved in the run directory (:func:`save_config`). :func:`config_template` gives the commented
file that ``lp3d init`` writes.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "Config",
    "DataConfig",
    "SyntheticDataConfig",
    "CropConfig",
    "HeldOutConfig",
    "SplitConfig",
    "ModelConfig",
    "LossConfig",
    "MaskingConfig",
    "AugmentConfig",
    "TrainingConfig",
    "GeometryConfig",
    "DistillConfig",
    "PipelineConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "save_config",
    "config_template",
    "TINY_MODEL",
    "tiny_model",
    "as_overrides",
    "config_reference",
]


def _f(default: Any, help: str) -> Any:  # noqa: A002
    """A field with a default (copied when mutable) and its help text."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class SyntheticDataConfig:
    """A synthetic session from lp3d-io, written to ``<run_dir>/synthetic`` and trained on."""

    n_views: int = _f(4, "number of cameras")
    width: int = _f(128, "image width in pixels")
    height: int = _f(128, "image height in pixels")
    n_frames: int = _f(300, "frames in the session video")
    labeled_frames: int = _f(100, "frames with labels, evenly spread")
    skeleton: str = _f("quadruped", "animal (a key of lp3d_io.synthetic.SKELETONS)")
    seed: int = _f(0, "seed of the rig, the motion and the pictures")
    n_animals: int = _f(1, "animals in the arena, told apart by colour and size (2: a light and a larger dark one)")


@dataclass
class CropConfig:
    """One view of a mirror rig: a box of the camera's whole frames."""

    box: list[int] | None = _f(None, "[x, y, width, height] of the view in the whole frame, pixels")
    keypoints: str = _f("{keypoint}_{view}", "its label columns in a shared label file ({keypoint}: the keypoint name)")


@dataclass
class HeldOutConfig:
    """Frames held out for one part of the split; with none named, the part is drawn at random."""

    sessions: list[str] = _f([], "whole sessions (a session: labeled-data/<session>_<view>/, one video)")
    frames: dict[str, list[list[int]]] = _f(
        {}, "frame ranges per session, {session: [[start, stop], ...]} (half-open; the number in the image name)"
    )
    images: list[str] = _f([], "labeled images, as in the label files (any view's path)")


@dataclass
class SplitConfig:
    """Chosen held-out frames (neighbouring frames are near-duplicates: hold out whole stretches)."""

    test: HeldOutConfig = field(default_factory=HeldOutConfig)
    val: HeldOutConfig = field(default_factory=HeldOutConfig)


@dataclass
class DataConfig:
    """Where the labeled frames are and how they are split."""

    root: str | None = _f(None, "project folder in the Lightning Pose multi-view layout (CollectedData_<view>.csv)")
    views: list[str] | None = _f(None, "view names; default: from the label file names (or the crops)")
    labels: str = _f(
        "CollectedData_{view}.csv",
        "label file name of each view ({view} is replaced; with crops, one file may hold all)",
    )
    crops: dict[str, CropConfig] | None = _f(
        None,
        "views cut from one camera's frames (a mirror rig): {view: {box: [x, y, width, height], keypoints: "
        "'{keypoint}_<view>'}}; labels, images and videos/<session>.mp4 hold whole frames",
    )
    synthetic: SyntheticDataConfig | None = _f(None, "train on a synthetic session instead of root")
    val_fraction: float = _f(
        0.1, "share of labeled frames for validation, drawn at random unless split.val names frames"
    )
    test_fraction: float = _f(
        0.1, "share of labeled frames held out for `lp3d evaluate`, at random unless split.test names frames (0: none)"
    )
    split_seed: int = _f(0, "seed of the train/val/test split (shared by ensemble members)")
    split: SplitConfig = field(default_factory=SplitConfig)
    calibration: str | None = _f(
        None, "anipose calibration TOML for every session without its own (null: discovered, see calibrations)"
    )
    calibrations: dict[str, str] | None = _f(
        None,
        "session name -> calibration TOML; sessions not listed are discovered as "
        "<root>/calibrations/<session>.toml, then <root>/calibration.toml",
    )
    pseudo_labels: list[str] = _f(
        [], "folders of pseudo-labels (written by lp3d distill) added to the training frames, weighted"
    )
    cache_images: bool = _f(True, "keep the resized images in memory after the first read")
    num_workers: int = _f(0, "data loader worker processes")


@dataclass
class ModelConfig:
    """The network (see lp3d_models.model)."""

    backbone: str = _f(
        "vit_s16",
        "vit_s16, vit_b16, dinov2_s14, dinov2_b14, vit_t16, resnet18_s16 (CPU-sized), or vit_tiny_p8/p16 (tests)",
    )
    pretrained: bool | str = _f(True, "true: timm weights (needs a network); false: random; or a weights file")
    height: int = _f(256, "model input height (a multiple of the patch and heatmap stride: 16, or 28 for dinov2)")
    width: int = _f(256, "model input width (each view is scaled to fit and padded: its aspect is kept)")
    heatmap_stride: int = _f(4, "heatmap resolution: 1/4, 1/2 or 1/1 of the input")
    head_channels: int = _f(128, "width of the heatmap head's first upsampling stage")
    joint_blocks: list[int] | None = _f(
        None, "transformer blocks attending across views (null: every other block, ending with the last)"
    )
    drop_path: float = _f(0.1, "stochastic depth rate")
    init_checkpoint: str | None = _f(
        None, "start from the weights of this lp3d checkpoint (.ckpt, same model settings); null: model.pretrained"
    )


@dataclass
class LossConfig:
    """Heatmap loss (see lp3d_models.losses)."""

    kind: Literal["mse", "kl"] = _f("mse", "mse or kl")
    sigma: float = _f(1.25, "Gaussian target width in heatmap pixels")
    coordinate_weight: float = _f(0.2, "weight of the Charbonnier loss on each view's soft-argmax keypoints (0: off)")
    coordinate_warmup_steps: int = _f(200, "the coordinate loss ramps linearly from 0 over this many steps")


@dataclass
class MaskingConfig:
    """Patch masking during training (see lp3d_models.masking)."""

    initial: float = _f(0.0, "share of patches hidden per view at start_step")
    final: float = _f(0.3, "share of patches hidden per view from end_step on (0: no masking)")
    start_step: int = _f(0, "first step of the ramp")
    end_step: int = _f(2000, "last step of the ramp")


@dataclass
class AugmentConfig:
    """Per-view augmentations of training images (labels follow; never a horizontal flip)."""

    enabled: bool = _f(True, "augment training images")
    rotation: float = _f(10.0, "rotation up to +- this many degrees")
    scale: float = _f(0.1, "zoom by a factor in [1 - scale, 1 + scale]")
    translation: float = _f(0.05, "shift up to +- this share of the image side")
    brightness: float = _f(0.2, "add up to +- this share of full brightness")
    contrast: float = _f(0.2, "scale contrast by a factor in [1 - contrast, 1 + contrast]")
    noise: float = _f(0.02, "Gaussian pixel noise (share of full brightness)")
    blur: float = _f(0.1, "probability of a Gaussian blur")


@dataclass
class GeometryConfig:
    """Calibration-aware training: 3D augmentation and the triangulation loss (sessions with a calibration)."""

    enabled: bool = _f(False, "use the cameras of calibrated sessions (uncalibrated ones train as before)")
    augment_3d: bool = _f(True, "3D augmentation: move the triangulated labels in 3D, reproject, warp each view")
    augment_probability: float = _f(0.8, "share of training samples that get the 3D augmentation")
    rotation: float = _f(180.0, "rotation about the vertical axis up to +- this many degrees")
    scale: float = _f(0.1, "scale about the pose centre by a factor in [1 - scale, 1 + scale]")
    translation: float = _f(0.1, "shift up to +- this share of the pose's size along each axis")
    vertical: list[float] | None = _f(None, "the world's up direction (null: from the cameras' image axes)")
    min_points: int = _f(3, "a sample with fewer keypoints labeled in two views or more is not 3D-augmented")
    triangulation_loss: bool = _f(True, "penalize predictions that do not agree with one 3D point per keypoint")
    loss_weight: float = _f(0.1, "weight of the triangulation loss (after the warm-up)")
    loss_start_step: int = _f(0, "the triangulation loss is off before this step")
    loss_warmup_steps: int = _f(200, "then ramps linearly to loss_weight over this many steps")


@dataclass
class TrainingConfig:
    """Optimization and hardware."""

    seeds: list[int] = _f([0], "one ensemble member per seed (initialization and data order)")
    batch_size: int = _f(8, "labeled frames per optimizer step, over all devices (each with all views)")
    max_epochs: int = _f(300, "passes over the training frames")
    max_steps: int | None = _f(None, "optimizer steps; overrides max_epochs when set")
    max_minutes: float | None = _f(None, "wall-clock limit per member in minutes")
    lr: float = _f(1e-3, "peak learning rate of the head and the view embeddings (AdamW)")
    backbone_lr_scale: float = _f(0.1, "backbone learning rate = lr * backbone_lr_scale")
    weight_decay: float = _f(0.05, "AdamW weight decay")
    warmup_steps: int = _f(100, "linear warm-up steps")
    schedule: Literal["cosine", "linear", "constant"] = _f("cosine", "decay after the warm-up")
    min_lr_ratio: float = _f(0.01, "final learning rate as a share of the peak")
    freeze_backbone_steps: int = _f(0, "keep the backbone fixed for this many steps (head warm-up)")
    gradient_clip: float | None = _f(1.0, "gradient norm clipping (null: none)")
    val_every_steps: int = _f(100, "validate (and keep the best checkpoint) every this many steps")
    accelerator: str = _f("auto", "auto, cpu or gpu")
    devices: int | str = _f("auto", "number of devices (several train with DDP, also on the CPU), or auto")
    precision: str = _f("auto", "auto (bf16/16 mixed on GPU, 32 on CPU) or a Lightning precision")
    progress_bar: bool = _f(True, "show a progress bar")
    log_every_steps: int = _f(10, "write metrics.csv rows every this many steps")


@dataclass
class DistillConfig:
    """Pseudo-label distillation (lp3d distill, lp3d pipeline)."""

    n_frames: int = _f(100, "pseudo-labeled frames to choose (k-means centres over confident poses)")
    variance_quantile: float = _f(0.5, "candidate frames: posterior variance below this quantile of all frames")
    seeds: list[int] = _f([0], "student members, one per seed")
    max_steps: int | None = _f(None, "student optimizer steps (null: training.max_steps / max_epochs)")
    seed: int = _f(0, "seed of the frame selection")
    warm_start: bool = _f(True, "students start from the teacher's first member (else from model.pretrained)")


@dataclass
class PipelineConfig:
    """lp3d pipeline: train -> predict -> smooth -> distill -> predict -> smooth -> report."""

    videos: list[str] = _f([], "videos or folders of videos to predict (empty: the data's videos/ folder)")
    distill: bool = _f(True, "run the distillation stages")
    shortest: bool = _f(
        True, "views of unequal length: end each session with its shortest view, with a warning (false: stop)"
    )
    offsets: dict[str, dict[str, int]] = _f(
        {}, "{session: {view: frame}}: the frame of each view's video that is the session's frame 0"
    )


@dataclass
class Config:
    """A training run."""

    run_dir: str = _f("runs/lp3d", "where checkpoints, metrics, the split and the resolved config go")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def __post_init__(self) -> None:
        _check_values(self)


def _check_values(c: Config) -> None:
    def need(ok: bool, key: str, what: str, got: Any) -> None:
        if not ok:
            raise ValueError(f"{key}: expected {what}, but got {got!r}")

    d, m, t = c.data, c.model, c.training
    need(d.root is not None or d.synthetic is not None, "data.root", "a project folder (or data.synthetic)", d.root)
    need(0 <= d.val_fraction < 1 and 0 <= d.test_fraction < 1, "data.val_fraction", "shares in [0, 1)", d.val_fraction)
    need(d.val_fraction + d.test_fraction < 1, "data.test_fraction", "val + test < 1", d.test_fraction)
    need("{view}" in d.labels or d.crops is not None, "data.labels", "a name containing {view}", d.labels)
    if d.crops is not None:
        need(len(d.crops) > 0, "data.crops", "at least one view", d.crops)
        need(d.views is None or list(d.views) == list(d.crops), "data.views", f"null or {list(d.crops)}", d.views)
        for view, crop in d.crops.items():
            box = crop.box
            ok = box is not None and len(box) == 4 and box[0] >= 0 and box[1] >= 0 and box[2] > 0 and box[3] > 0
            need(ok, f"data.crops.{view}.box", "[x, y, width, height] with x, y >= 0 and a positive size", box)
            need(
                "{keypoint}" in crop.keypoints,
                f"data.crops.{view}.keypoints",
                "a pattern with {keypoint}",
                crop.keypoints,
            )
    for part in ("test", "val"):
        held = getattr(d.split, part)
        for session, ranges in held.frames.items():
            good = all(len(r) == 2 and 0 <= r[0] < r[1] for r in ranges)
            need(good, f"data.split.{part}.frames.{session}", "[[start, stop], ...] with 0 <= start < stop", ranges)
    need(m.height > 0 and m.width > 0, "model.height", "positive sizes", (m.height, m.width))
    need(m.heatmap_stride in (1, 2, 4), "model.heatmap_stride", "1, 2 or 4", m.heatmap_stride)
    from lp3d_models.backbone import BACKBONES, input_multiple

    need(m.backbone in BACKBONES, "model.backbone", f"one of {', '.join(BACKBONES)}", m.backbone)
    multiple = input_multiple(m.backbone, m.heatmap_stride)
    for key, side in (("model.height", m.height), ("model.width", m.width)):
        need(side % multiple == 0, key, f"a multiple of {multiple} for backbone {m.backbone}", side)
    need(c.loss.sigma > 0, "loss.sigma", "a positive width", c.loss.sigma)
    need(c.loss.coordinate_weight >= 0, "loss.coordinate_weight", "a non-negative number", c.loss.coordinate_weight)
    need(len(t.seeds) > 0 and len(set(t.seeds)) == len(t.seeds), "training.seeds", "distinct seeds", t.seeds)
    need(t.batch_size > 0, "training.batch_size", "a positive number", t.batch_size)
    need(t.lr > 0, "training.lr", "a positive number", t.lr)
    need(t.max_steps is None or t.max_steps > 0, "training.max_steps", "a positive number or null", t.max_steps)
    need(t.val_every_steps > 0, "training.val_every_steps", "a positive number", t.val_every_steps)
    need(isinstance(t.devices, int) or t.devices == "auto", "training.devices", "a number or 'auto'", t.devices)
    if isinstance(t.devices, int):
        need(t.devices > 0, "training.devices", "a positive number or 'auto'", t.devices)
        need(
            t.batch_size % t.devices == 0,
            "training.batch_size",
            f"a multiple of training.devices ({t.devices})",
            t.batch_size,
        )
    g, dd = c.geometry, c.distill
    need(0 <= g.augment_probability <= 1, "geometry.augment_probability", "a share in [0, 1]", g.augment_probability)
    need(0 <= g.scale < 1, "geometry.scale", "a share in [0, 1)", g.scale)
    ranges = (g.rotation, g.translation)
    need(min(ranges) >= 0, "geometry.rotation", "non-negative rotation and translation", ranges)
    need(g.vertical is None or len(g.vertical) == 3, "geometry.vertical", "3 numbers or null", g.vertical)
    need(g.min_points >= 1, "geometry.min_points", "a positive number", g.min_points)
    need(g.loss_weight >= 0, "geometry.loss_weight", "a non-negative number", g.loss_weight)
    need(dd.n_frames > 0, "distill.n_frames", "a positive number", dd.n_frames)
    need(0 < dd.variance_quantile <= 1, "distill.variance_quantile", "a share in (0, 1]", dd.variance_quantile)
    need(len(dd.seeds) > 0 and len(set(dd.seeds)) == len(dd.seeds), "distill.seeds", "distinct seeds", dd.seeds)
    from lp3d_models.masking import MaskingSchedule

    MaskingSchedule(c.masking.initial, c.masking.final, c.masking.start_step, c.masking.end_step)


# --- typed conversion ------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping to {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}[tp]


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key)
            except ValueError:
                continue
    elif origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin is list:
        if isinstance(value, list | tuple):
            (item,) = typing.get_args(tp)
            return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, Mapping):
            _, item = typing.get_args(tp)
            return {str(k): _convert(v, item, f"{key}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            return _build(tp, value, key)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ValueError(f"{key}: expected {_type_name(tp)}, but got {value!r}")


def _build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ValueError(f"{key}: unknown key; expected one of {', '.join(names)}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in values.items()}
    return cls(**kwargs)


def config_from_dict(values: Mapping[str, Any] | None) -> Config:
    """A validated :class:`Config` from a (YAML) mapping; paths are kept as given."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ValueError(f"config: expected a mapping of sections, but got {type(values).__name__}")
    return _build(Config, values)


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain data (what :func:`save_config` writes)."""
    return dataclasses.asdict(config)


def apply_overrides(values: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Applies ``section.key=value`` overrides (the value read as YAML: ``8``, ``[0, 1]``, ``null``).

    Returns:
        A new nested mapping.

    Raises:
        ValueError: an override without ``=`` or with an empty key.
    """
    import copy

    out = copy.deepcopy(dict(values))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or any(not p for p in key.strip().split(".")):
            raise ValueError(f"--set: expected key=value (e.g. training.lr=1e-4), but got {item!r}")
        parts = key.strip().split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ValueError(f"--set {item}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else ""
    return out


def _resolve_paths(config: Config, base: Path) -> Config:
    def absolute(p: str) -> str:
        return str((base / os.path.expanduser(p)).resolve())

    config.run_dir = absolute(config.run_dir)
    if config.data.root is not None:
        config.data.root = absolute(config.data.root)
    if isinstance(config.model.pretrained, str):
        config.model.pretrained = absolute(config.model.pretrained)
    if config.model.init_checkpoint is not None:
        config.model.init_checkpoint = absolute(config.model.init_checkpoint)
    d = config.data
    if d.calibration is not None:
        d.calibration = absolute(d.calibration)
    if d.calibrations is not None:
        d.calibrations = {session: absolute(path) for session, path in d.calibrations.items()}
    d.pseudo_labels = [absolute(p) for p in d.pseudo_labels]
    config.pipeline.videos = [absolute(p) for p in config.pipeline.videos]
    return config


def load_config(path: str | os.PathLike | None, overrides: Iterable[str] = (), *, base: Path | None = None) -> Config:
    """Reads, overrides and validates a config; relative paths become absolute.

    Args:
        path: a YAML file, or None for the defaults (then ``base``, default the working folder,
            anchors relative paths).
        overrides: ``section.key=value`` strings (``--set``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: bad YAML, an unknown key or a wrong value (naming the key).
    """
    values: Any = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of sections, but got {type(values).__name__}")
        base = path.resolve().parent
    try:
        config = config_from_dict(apply_overrides(values, overrides))
    except ValueError as err:
        raise ValueError(f"{path}: {err}" if path is not None else str(err)) from None
    return _resolve_paths(config, base or Path.cwd())


def save_config(config: Config, path: str | os.PathLike) -> None:
    """Writes the config as YAML (atomically: another process reads it whole or not at all)."""
    from lp3d_io.files import write_text_atomic

    write_text_atomic(Path(path), yaml.safe_dump(config_to_dict(config), sort_keys=False))


def config_template(values: Mapping[str, Any] | None = None) -> str:
    """A commented YAML config with every key and its help text.

    Args:
        values: ``{"section.key": value}`` to put in place of the defaults (e.g. the views found).
    """
    values = dict(values or {})
    lines = [
        "# lp3d training config. Every key is optional; `lp3d train CONFIG --set section.key=value` overrides.",
        "# Relative paths are relative to this file's folder.",
    ]

    def flow(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
        return text.removesuffix("\n...").removesuffix("...").strip()

    def emit(cls: type, obj: Any, prefix: str, indent: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            key = f"{prefix}{f.name}"
            value = values.get(key, getattr(obj, f.name))
            if dataclasses.is_dataclass(value):
                lines.append(f"{indent}{f.name}:{'  # ' + cls_doc(value) if cls_doc(value) else ''}")
                emit(type(value), value, f"{key}.", indent + "  ")
                continue
            lines.append(f"{indent}{f.name}: {flow(value)}  # {f.metadata.get('help', '')}".rstrip())
            nested = _nested_dataclass(hints[f.name])
            if value is None and nested is not None:  # its keys, as comments
                inner, per_name = nested
                lines.append(f"{indent}#   {'<view>: ' if per_name else ''}{cls_doc(inner)}")
                for g in dataclasses.fields(inner):
                    default = g.default_factory() if g.default_factory is not dataclasses.MISSING else g.default
                    lines.append(f"{indent}#     {g.name}: {flow(default)}  # {g.metadata.get('help', '')}")

    def cls_doc(obj: Any) -> str:
        cls = obj if isinstance(obj, type) else type(obj)
        return (cls.__doc__ or "").strip().splitlines()[0]

    emit(Config, _defaults_for_template(), "", "")
    return "\n".join(lines) + "\n"


def _nested_dataclass(tp: Any) -> tuple[type, bool] | None:
    """The dataclass inside an optional field's type, and whether it is per name (a mapping's values)."""
    for arg in typing.get_args(tp) or (tp,):
        if dataclasses.is_dataclass(arg):
            return arg, False
        if typing.get_origin(arg) is dict and dataclasses.is_dataclass(typing.get_args(arg)[1]):
            return typing.get_args(arg)[1], True
    return None


def config_reference() -> str:
    """Every key of the config with its default and help text: the config reference of the lp3d-models
    README (a test keeps the README's copy equal to this), and what ``lp3d init`` writes, with the
    project's values, for a project."""
    return config_template()


def _defaults_for_template() -> Config:
    config = object.__new__(Config)  # defaults without validation (data.root may be unset)
    for f in dataclasses.fields(Config):
        setattr(config, f.name, f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
    return config


TINY_MODEL: dict[str, dict[str, Any]] = {
    "model": {
        "backbone": "vit_tiny_p8",
        "pretrained": False,
        "height": 64,
        "width": 64,
        "head_channels": 32,
        "drop_path": 0.0,
    },
    "training": {"backbone_lr_scale": 1.0, "progress_bar": False},
}
"""A model that trains in seconds on a CPU from random weights (2 blocks 48 wide, patch 8, 64 x 64
input): the demo's, the tests' and the benchmarks' one definition. Not for real data."""


def tiny_model(**sections: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`TINY_MODEL` merged with more settings per section, e.g.
    ``tiny_model(training={"max_steps": 6, "seeds": [0, 1]}, run_dir="run")`` (a new nested dict;
    a section given as a plain value, like ``run_dir``, replaces it)."""
    import copy

    out = copy.deepcopy(TINY_MODEL)
    for name, values in sections.items():
        if isinstance(values, Mapping):
            out[name] = {**out.get(name, {}), **copy.deepcopy(dict(values))}
        else:
            out[name] = values
    return out


def as_overrides(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Nested settings as ``section.key=value`` overrides (:func:`apply_overrides`' input)."""
    import json

    out = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += as_overrides(value, f"{name}.")
        else:
            out.append(f"{name}={json.dumps(value)}")
    return out
