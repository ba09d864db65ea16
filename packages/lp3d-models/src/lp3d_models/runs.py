"""Training runs: the layout of a run directory, and reading a run back (no Lightning needed).

A run directory holds::

    config.yaml                 the resolved config (absolute paths, every default written out)
    run.json                    view, keypoint and individual names, model size, members
    split.json                  train/val/test frames (shared by every member)
    synthetic/                  the synthetic session, when the config asks for one
    seed_<s>/                   one ensemble member per seed
        checkpoints/best.ckpt   lowest validation pixel error
        checkpoints/last.ckpt   the latest state (what --resume continues from)
        logs/version_<n>/metrics.csv   one CSV per (re)start
    evaluation/                 lp3d evaluate's tables and plots

The names are :mod:`lp3d_io.layout`'s (front ends find runs without importing torch); this module
re-exports them and reads runs back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.layout import CONFIG_FILE, RUN_FILE, checkpoint_path, member_name

from lp3d_models.backbone import Pretrained
from lp3d_models.config import Config, config_to_dict, load_config
from lp3d_models.model import MultiViewPoseModel, build_model

__all__ = [
    "FIXED_SETTINGS",
    "RunConflicts",
    "run_conflicts",
    "read_run_info",
    "TrainedRun",
    "load_run",
    "load_member",
    "model_from_config",
]


FIXED_SETTINGS = {
    "data": ("root", "views", "labels", "crops", "synthetic", "val_fraction", "test_fraction", "split_seed", "split"),
    "model": ("backbone", "height", "width", "heatmap_stride", "head_channels", "joint_blocks"),
    "loss": ("sigma",),
}
"""The settings every member of a run shares (``section: keys``): more members, or a resumed one, must
be trained with the run's own."""


@dataclass(frozen=True)
class RunConflicts:
    """What stands between a config and its run directory (:func:`run_conflicts`).

    Attributes:
        changed: ``section.key`` of :data:`FIXED_SETTINGS` that differ from the run's saved config.
        trained: members of the requested seeds with a last checkpoint already.
        saved_seeds: the seeds of the run's saved config (None: no saved config).
    """

    changed: list[str]
    trained: list[str]
    saved_seeds: list[int] | None


def run_conflicts(config: Config, seeds: list[int]) -> RunConflicts:
    """How a training of ``seeds`` with ``config`` meets ``config.run_dir`` as it is on disk: the
    trainer's rule (it refuses changed settings, and trained members unless resumed) and front ends
    that check a form before starting a training share it."""
    run_dir = Path(config.run_dir)
    saved = run_dir / CONFIG_FILE
    changed: list[str] = []
    saved_seeds = None
    if saved.is_file():
        before, now = config_to_dict(load_config(saved)), config_to_dict(config)
        changed = [f"{s}.{k}" for s, keys in FIXED_SETTINGS.items() for k in keys if now[s][k] != before[s][k]]
        saved_seeds = list(before["training"]["seeds"])
    trained = [member_name(s) for s in seeds if checkpoint_path(run_dir, member_name(s), "last").is_file()]
    return RunConflicts(changed, trained, saved_seeds)


def read_run_info(run_dir: str | os.PathLike) -> dict:
    """The run's ``run.json``: ``views``, ``keypoints``, ``individuals`` (absent in runs of one animal
    trained before several could be: read as ``[individual_0]``), ``model_size``, ``members``.

    Raises:
        FileNotFoundError: not a run directory.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a training run directory (no {RUN_FILE}); run `lp3d train` first")
    info = json.loads(path.read_text())
    info.setdefault("individuals", [DEFAULT_INDIVIDUAL])
    return info


@dataclass(frozen=True, eq=False)
class TrainedRun:
    """A training run with its members' models (in eval mode, on the CPU).

    Attributes:
        run_dir: the run directory.
        config: its resolved config.
        view_names: ``(view,)`` in model order.
        keypoint_names: ``(keypoint,)`` of one animal.
        members: ``{member name: model}``, e.g. ``{"seed_0": ...}``.
        checkpoints: ``{member name: checkpoint file}`` that was loaded.
        individual_names: ``(individual,)``: the models predict every keypoint of each
            (:mod:`lp3d_models.individuals`).
    """

    run_dir: Path
    config: Config
    view_names: list[str]
    keypoint_names: list[str]
    members: dict[str, MultiViewPoseModel]
    checkpoints: dict[str, Path]
    individual_names: list[str] = field(default_factory=lambda: [DEFAULT_INDIVIDUAL])


def model_from_config(config: Config, n_views: int, n_keypoints: int, *, pretrained: Pretrained | None = None):
    """Builds the model of ``config`` (``pretrained`` overrides ``config.model.pretrained``)."""
    m = config.model
    return build_model(
        n_views,
        n_keypoints,
        backbone=m.backbone,
        pretrained=m.pretrained if pretrained is None else pretrained,
        image_size=(m.height, m.width),
        heatmap_stride=m.heatmap_stride,
        head_channels=m.head_channels,
        joint_blocks=m.joint_blocks,
        drop_path=m.drop_path,
        sigma=config.loss.sigma,
    )


def load_member(path: str | os.PathLike, config: Config, n_views: int, n_keypoints: int) -> MultiViewPoseModel:
    """The model of one checkpoint file (a Lightning ``.ckpt`` of :class:`~lp3d_models.training.PoseTask`).

    Raises:
        FileNotFoundError: no file.
        ValueError: the checkpoint does not fit the config's model (names the keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("model."): v for k, v in checkpoint.get("state_dict", {}).items() if k.startswith("model.")}
    # The checkpoint has every weight: never download or read pretrained weights at inference.
    model = model_from_config(config, n_views, n_keypoints, pretrained=False)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path}: the checkpoint does not fit the run's model config: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    return model.eval()


def load_run(run_dir: str | os.PathLike, members: list[str] | None = None, checkpoint: str = "best") -> TrainedRun:
    """Loads a run's members.

    Args:
        run_dir: the run directory.
        members: member names to load (default: every member with a checkpoint).
        checkpoint: ``"best"`` (falls back to ``last`` for a member never validated) or ``"last"``.

    Raises:
        FileNotFoundError: not a run directory, or no trained member.
        ValueError: an unknown member name or checkpoint kind.
    """
    run_dir = Path(run_dir)
    meta = read_run_info(run_dir)
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint: expected 'best' or 'last', but got {checkpoint!r}")
    config = load_config(run_dir / CONFIG_FILE)
    names = meta["members"] if members is None else list(members)
    unknown = [n for n in names if n not in meta["members"]]
    if unknown:
        raise ValueError(f"members: expected names among {meta['members']}, but got {unknown}")
    files: dict[str, Path] = {}
    for name in names:
        for kind in (checkpoint, "last"):
            if checkpoint_path(run_dir, name, kind).is_file():
                files[name] = checkpoint_path(run_dir, name, kind)
                break
    if not files:
        raise FileNotFoundError(f"{run_dir}: no trained member (no checkpoints under {', '.join(names)})")
    views, keypoints, individuals = list(meta["views"]), list(meta["keypoints"]), list(meta["individuals"])
    channels = len(keypoints) * len(individuals)
    models = {name: load_member(path, config, len(views), channels) for name, path in files.items()}
    return TrainedRun(run_dir, config, views, keypoints, models, files, individuals)
