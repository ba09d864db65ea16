"""lp3d-models: a multi-view transformer for animal pose, its training and its video inference.

Parts (one module each): :mod:`~lp3d_models.backbone` (timm ViTs by name),
:mod:`~lp3d_models.fusion` (tokens of all views attend jointly), :mod:`~lp3d_models.heads`
(heatmaps, soft-argmax, confidence), :mod:`~lp3d_models.losses`, :mod:`~lp3d_models.masking`
(patch masking), :mod:`~lp3d_models.model` (the top model). Work, as plain functions that the
command line (``lp3d train / predict / evaluate / init / distill``) and the app call:
:func:`train`, :func:`predict_videos`, :func:`evaluate`, :func:`init_project`, :func:`distill`
(:mod:`~lp3d_models.frame_selection`, :mod:`~lp3d_models.pseudo_labels`). Run folders:
:mod:`~lp3d_models.runs`.

The model parts import torch and timm only; :func:`train` imports Lightning when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "Config",
    "MultiViewPoseModel",
    "PoseOutput",
    "build_backbone",
    "build_model",
    "distill",
    "evaluate",
    "init_project",
    "load_config",
    "load_run",
    "predict_videos",
    "train",
]

# Imported on first use, so `import lp3d_models` (and `lp3d --help`) stays fast.
_WHERE = {
    "BACKBONES": "lp3d_models.backbone",
    "build_backbone": "lp3d_models.backbone",
    "Config": "lp3d_models.config",
    "load_config": "lp3d_models.config",
    "MultiViewPoseModel": "lp3d_models.model",
    "PoseOutput": "lp3d_models.model",
    "build_model": "lp3d_models.model",
    "distill": "lp3d_models.distill",
    "evaluate": "lp3d_models.evaluation",
    "init_project": "lp3d_models.project",
    "load_run": "lp3d_models.runs",
    "predict_videos": "lp3d_models.prediction",
    "train": "lp3d_models.training",
}

if TYPE_CHECKING:
    from lp3d_models.backbone import BACKBONES, build_backbone
    from lp3d_models.config import Config, load_config
    from lp3d_models.distill import distill
    from lp3d_models.evaluation import evaluate
    from lp3d_models.model import MultiViewPoseModel, PoseOutput, build_model
    from lp3d_models.prediction import predict_videos
    from lp3d_models.project import init_project
    from lp3d_models.runs import load_run
    from lp3d_models.training import train


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'lp3d_models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
