"""Vision Transformer backbones from timm, selected by name from :data:`BACKBONES`.

Every builder returns a :class:`timm.models.vision_transformer.VisionTransformer` without a
classifier, built with ``dynamic_img_size=True`` so its patch embedding accepts any image size
divisible by the patch (:mod:`lp3d_models.fusion` interpolates the positional embeddings).

Weights (``pretrained``):

- ``False``: random initialization (tests, the demo);
- ``True``: timm's pretrained weights, downloaded from the Hugging Face hub (needs a network);
- a path: a local state dict (``.pth``, ``.pt``, ``.bin`` or ``.safetensors``; a dict wrapped
  under ``"model"``, ``"state_dict"`` or ``"teacher"`` is unwrapped; timm's converter for the
  official ViT / DINOv2 layouts is applied). Missing or unexpected keys and shape mismatches raise,
  naming the keys: a checkpoint that does not fit is never silently replaced by random weights.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import timm
import torch
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

__all__ = [
    "BACKBONES",
    "BackboneEntry",
    "input_multiple",
    "build_backbone",
    "build_vit_s16",
    "build_vit_b16",
    "build_dinov2_s14",
    "build_dinov2_b14",
    "build_vit_tiny_p8",
    "build_vit_tiny_p16",
    "load_backbone_weights",
]

Pretrained = bool | str | os.PathLike

# Keys of a classifier checkpoint that a backbone without a classifier does not use.
_IGNORED_PREFIXES = ("head.", "fc_norm.", "attn_pool.", "head_drop.")


def _timm_vit(arch: str, pretrained: Pretrained, drop_path: float) -> VisionTransformer:
    """A timm ViT ``arch`` without classifier; weights as described in the module docstring."""
    download = pretrained is True
    try:
        model = timm.create_model(
            arch, pretrained=download, num_classes=0, dynamic_img_size=True, drop_path_rate=drop_path
        )
    except Exception as err:  # network or hub failures: say what to do instead
        if not download:
            raise
        raise RuntimeError(
            f"could not download the pretrained weights of {arch} through timm ({type(err).__name__}: {err}); "
            "without a network, pass a local weights file (pretrained=PATH / --pretrained PATH) "
            "or pretrained=false for a random initialization"
        ) from err
    if not isinstance(pretrained, bool):
        load_backbone_weights(model, pretrained)
    return model


def _tiny_vit(patch: int, pretrained: Pretrained, drop_path: float) -> VisionTransformer:
    """A 2-block, 48-wide ViT for tests and the demo (no published weights)."""
    if pretrained is True:
        raise ValueError(f"backbone vit_tiny_p{patch}: has no published weights; expected pretrained=false or a path")
    model = VisionTransformer(
        img_size=64,
        patch_size=patch,
        embed_dim=48,
        depth=2,
        num_heads=2,
        mlp_ratio=2.0,
        num_classes=0,
        dynamic_img_size=True,
        drop_path_rate=drop_path,
    )
    if not isinstance(pretrained, bool):
        load_backbone_weights(model, pretrained)
    return model


def build_vit_s16(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """ViT-S/16 (384 wide, 12 blocks, 6 heads, 22 M parameters; ImageNet-21k/1k weights)."""
    return _timm_vit("vit_small_patch16_224", pretrained, drop_path)


def build_vit_b16(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """ViT-B/16 (768 wide, 12 blocks, 12 heads, 86 M parameters; ImageNet-21k/1k weights)."""
    return _timm_vit("vit_base_patch16_224", pretrained, drop_path)


def build_dinov2_s14(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """DINOv2 ViT-S/14 (384 wide, 12 blocks, patch 14, layer scale; self-supervised LVD-142M weights)."""
    return _timm_vit("vit_small_patch14_dinov2", pretrained, drop_path)


def build_dinov2_b14(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """DINOv2 ViT-B/14 (768 wide, 12 blocks, patch 14, layer scale; self-supervised LVD-142M weights)."""
    return _timm_vit("vit_base_patch14_dinov2", pretrained, drop_path)


def build_vit_tiny_p8(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """Test-sized ViT: 48 wide, 2 blocks, 2 heads, patch 8 (random init only)."""
    return _tiny_vit(8, pretrained, drop_path)


def build_vit_tiny_p16(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """Test-sized ViT: 48 wide, 2 blocks, 2 heads, patch 16 (random init only)."""
    return _tiny_vit(16, pretrained, drop_path)


class BackboneEntry(NamedTuple):
    """A registered backbone: its builder ``build(pretrained, drop_path)`` and its patch size (model
    inputs must be a multiple of the patch, and of the heatmap stride: :func:`input_multiple`)."""

    build: Callable[..., VisionTransformer]
    patch: int


BACKBONES: dict[str, BackboneEntry] = {
    "vit_s16": BackboneEntry(build_vit_s16, 16),
    "vit_b16": BackboneEntry(build_vit_b16, 16),
    "dinov2_s14": BackboneEntry(build_dinov2_s14, 14),
    "dinov2_b14": BackboneEntry(build_dinov2_b14, 14),
    "vit_tiny_p8": BackboneEntry(build_vit_tiny_p8, 8),
    "vit_tiny_p16": BackboneEntry(build_vit_tiny_p16, 16),
}


def _entry(name: str) -> BackboneEntry:
    if name not in BACKBONES:
        raise ValueError(f"backbone: expected one of {', '.join(BACKBONES)}, but got {name!r}")
    return BACKBONES[name]


def input_multiple(name: str, heatmap_stride: int = 4) -> int:
    """What a model input side must be a multiple of for backbone ``name``: its patch and the heatmap
    stride (16 for the patch-16 ViTs, 28 for DINOv2's patch 14)."""
    return math.lcm(_entry(name).patch, heatmap_stride)


def build_backbone(name: str, pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """The backbone registered as ``name`` in :data:`BACKBONES`.

    Args:
        name: registry key, e.g. ``"vit_s16"``.
        pretrained: ``False``, ``True`` (timm download) or a local weights file.
        drop_path: stochastic depth rate.

    Raises:
        ValueError: unknown ``name`` (the message lists the keys).
        FileNotFoundError, ValueError: a weights file that is missing or does not fit.
    """
    return _entry(name).build(pretrained=pretrained, drop_path=drop_path)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path), device="cpu")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path}: expected a PyTorch state dict, but it cannot be read ({err})") from None
    for wrapper in ("model", "state_dict", "teacher"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, but got {type(state).__name__}")
    # Checkpoints of wrapped models (DINOv2 teachers, DDP) prefix every key.
    for prefix in ("module.", "backbone."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_backbone_weights(model: VisionTransformer, path: str | os.PathLike) -> None:
    """Loads a local state dict into ``model``, strictly (see the module docstring).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: unreadable file, missing or unexpected keys, or tensors of another shape
            (the message names them and the file).
    """
    path = Path(path)
    state = _read_state_dict(path)
    state = checkpoint_filter_fn(state, model)  # official layouts -> timm, positional embedding resized
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if not (k.startswith(_IGNORED_PREFIXES) and k not in expected)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} (expected {tuple(expected[k].shape)}, got {tuple(state[k].shape)})"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing keys {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_few(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch {_few(wrong)}")
    if problems:
        raise ValueError(f"{path}: the weights do not fit this backbone: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)


def _few(items: list[str], n: int = 5) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more
