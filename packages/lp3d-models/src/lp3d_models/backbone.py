"""Backbones by name, from :data:`BACKBONES`: timm Vision Transformers, and a CNN whose feature map
becomes the tokens.

Every builder returns a :class:`timm.models.vision_transformer.VisionTransformer` without a
classifier, built with ``dynamic_img_size=True`` so its patch embedding accepts any image size
divisible by the patch (:mod:`lp3d_models.fusion` interpolates the positional embeddings). For the
CNN backbone (``resnet18_s16``) the "patch embedding" is a ResNet-18 cut after its stride-16 stage
and a 1 x 1 projection: each cell of its feature map is a token, and a few transformer blocks (the
multi-view fusion's) follow.

Weights (``pretrained``):

- ``False``: random initialization (tests, the demo);
- ``True``: timm's pretrained weights, downloaded from the Hugging Face hub (needs a network; offline,
  a one-line error says how to pass a file instead). For ``resnet18_s16``, the CNN's ImageNet
  weights (its transformer blocks start random);
- a path: a local state dict (``.pth``, ``.pt``, ``.bin`` or ``.safetensors``; a dict wrapped
  under ``"model"``, ``"state_dict"`` or ``"teacher"`` is unwrapped; timm's converter for the
  official ViT / DINOv2 layouts is applied; for ``resnet18_s16`` a ResNet-18 classifier's weights,
  timm's or torchvision's, or a whole backbone saved from it). Missing or unexpected keys and shape
  mismatches raise, naming the keys: a checkpoint that does not fit is never silently replaced by
  random weights.

timm and torch are imported when a backbone is built, so the registry (:data:`BACKBONES`,
:func:`input_multiple`) is cheap to import (the config checks model sizes against it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch
    from timm.models.vision_transformer import VisionTransformer

__all__ = [
    "BACKBONES",
    "BackboneEntry",
    "input_multiple",
    "build_backbone",
    "build_vit_s16",
    "build_vit_b16",
    "build_dinov2_s14",
    "build_dinov2_b14",
    "build_vit_t16",
    "build_resnet18_s16",
    "build_vit_tiny_p8",
    "build_vit_tiny_p16",
    "load_backbone_weights",
    "PretrainedWeightsUnavailable",
]

Pretrained = bool | str | os.PathLike

# Keys of a classifier checkpoint that a backbone without a classifier does not use.
_IGNORED_PREFIXES = ("head.", "fc_norm.", "attn_pool.", "head_drop.")


class PretrainedWeightsUnavailable(OSError):
    """timm could not download pretrained weights (no network): the message says what to do instead."""


_HUB = ("huggingface.co", 443)


def _offline_error(arch: str, reason: str) -> PretrainedWeightsUnavailable:
    return PretrainedWeightsUnavailable(
        f"model.pretrained: expected to download the weights of {arch} through timm, but {reason}; "
        "pass a local weights file (--pretrained PATH, or model.pretrained: PATH) or --pretrained false "
        "(random weights); weights downloaded before are used with HF_HUB_OFFLINE=1"
    )


def _check_hub_reachable(arch: str) -> None:
    """Fails at once, in one line, when the hub cannot be reached (rather than after minutes of retries).

    Raises:
        PretrainedWeightsUnavailable: no connection to the Hugging Face hub (and HF_HUB_OFFLINE unset).
    """
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return  # timm then looks in the local cache only
    try:
        socket.create_connection(_HUB, timeout=5).close()
    except OSError as err:
        raise _offline_error(arch, f"the Hugging Face hub is not reachable ({err.strerror or err})") from None


def _create(arch: str, pretrained: bool, **kwargs: Any) -> Any:
    """``timm.create_model``; a failed download is a one-line :class:`PretrainedWeightsUnavailable`."""
    import timm

    if pretrained:
        _check_hub_reachable(arch)
    try:
        return timm.create_model(arch, pretrained=pretrained, **kwargs)
    except Exception as err:  # network or hub failures: say what to do instead
        if not pretrained:
            raise
        first = " ".join(str(err).split())[:200]
        raise _offline_error(arch, f"could not ({type(err).__name__}: {first})") from err


def _headless(drop_path: float) -> dict[str, Any]:
    """What every backbone's ViT is built with: no classifier, any input size divisible by the
    patch, stochastic depth ``drop_path``."""
    return {"num_classes": 0, "dynamic_img_size": True, "drop_path_rate": drop_path}


def _local_vit(
    img_size: int, patch: int, width: int, depth: int, heads: int, drop_path: float, **kwargs: Any
) -> VisionTransformer:
    """A ViT of these sizes built here rather than by a timm name (no published weights of its own);
    ``img_size`` sets its positional-embedding grid (``img_size / patch`` a side), which its
    checkpoints keep."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=img_size,
        patch_size=patch,
        embed_dim=width,
        depth=depth,
        num_heads=heads,
        **_headless(drop_path),
        **kwargs,
    )


def _timm_vit(arch: str, pretrained: Pretrained, drop_path: float) -> VisionTransformer:
    """A timm ViT ``arch`` without classifier; weights as described in the module docstring."""
    model = _create(arch, pretrained is True, **_headless(drop_path))
    if not isinstance(pretrained, bool):
        load_backbone_weights(model, pretrained)
    return model


def _tiny_vit(patch: int, pretrained: Pretrained, drop_path: float) -> VisionTransformer:
    """A 2-block, 48-wide ViT for tests and the demo (no published weights)."""
    if pretrained is True:
        raise ValueError(f"backbone vit_tiny_p{patch}: has no published weights; expected pretrained=false or a path")
    model = _local_vit(64, patch, width=48, depth=2, heads=2, drop_path=drop_path, mlp_ratio=2.0)
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


def build_vit_t16(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """ViT-Ti/16 (192 wide, 12 blocks, 3 heads, 5.7 M parameters; ImageNet-21k/1k weights): the
    smallest real ViT, for CPUs."""
    return _timm_vit("vit_tiny_patch16_224", pretrained, drop_path)


_CNN_STAGE = 3  # timm's feature index of ResNet's stride-16 stage (layer3)
_CNN_UNUSED = ("layer4.", "fc.")  # classifier-checkpoint keys after the stride-16 stage


def build_resnet18_s16(pretrained: Pretrained = False, drop_path: float = 0.0) -> VisionTransformer:
    """ResNet-18 up to stride 16 (its first three stages, 256 channels, 2.8 M parameters) whose feature
    map cells are the tokens of 4 transformer blocks 192 wide with 3 heads (1.8 M): a CNN backbone
    for CPUs (:mod:`lp3d_models.cnn_embed`). Pretrained: the ResNet's ImageNet weights (timm
    ``resnet18.a1_in1k``); the blocks start random."""
    from lp3d_models.cnn_embed import CnnPatchEmbed

    trunk = _create("resnet18", False, features_only=True, out_indices=(_CNN_STAGE,))
    embed = partial(CnnPatchEmbed, trunk=trunk, channels=trunk.feature_info.channels()[-1], stride=16)
    model = _local_vit(224, 16, width=192, depth=4, heads=3, drop_path=drop_path, embed_layer=embed)
    if pretrained is True:  # after the ViT's own initialization, which would reset the trunk
        source = _create("resnet18", True, features_only=True, out_indices=(_CNN_STAGE,))
        model.patch_embed.trunk.load_state_dict(source.state_dict())
    elif not isinstance(pretrained, bool):
        load_backbone_weights(model, pretrained)
    return model


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
    "vit_t16": BackboneEntry(build_vit_t16, 16),
    "resnet18_s16": BackboneEntry(build_resnet18_s16, 16),
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
    import torch

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
    """Loads a local state dict into ``model``, strictly (see the module docstring); into a CNN
    backbone's trunk when the file holds a CNN classifier's weights.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: unreadable file, missing or unexpected keys, or tensors of another shape
            (the message names them and the file).
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    path = Path(path)
    state = _read_state_dict(path)
    trunk = getattr(model.patch_embed, "trunk", None)  # a CNN backbone (resnet18_s16)
    if trunk is not None and not any(k.startswith("patch_embed.") for k in state):
        # A CNN classifier's weights: its stages up to the trunk's stride.
        model, state = trunk, {k: v for k, v in state.items() if not k.startswith(_CNN_UNUSED)}
    elif trunk is None:
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
