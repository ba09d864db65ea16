"""A CNN's feature map as the patch tokens of a Vision Transformer (the ``resnet18_s16`` backbone).

A convolutional trunk cut after a stage of stride ``s`` maps an ``H x W`` image to a
``C x H/s x W/s`` feature map; a 1 x 1 convolution projects each cell to the token width ``D``.
The module stands where a ViT's patch embedding stands (same attributes, same ``(B, H/s, W/s, D)``
output), so :class:`timm.models.vision_transformer.VisionTransformer` adds the positional and view
embeddings and its blocks attend across the cells of all views (:mod:`lp3d_models.fusion`). A CNN
sees local detail cheaply, which is what a lab without a GPU can afford; the blocks then relate the
views.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["CnnPatchEmbed"]


class CnnPatchEmbed(nn.Module):
    """A CNN trunk plus a 1 x 1 projection, with a ViT patch embedding's interface.

    Args:
        trunk: a timm ``features_only`` model returning one feature map of stride ``stride``.
        channels: its channels ``C``.
        stride: its stride ``s`` (the "patch size").
        img_size: the nominal input size (sets the positional embedding's grid; any size divisible
            by ``s`` works at run time).
        embed_dim: token width ``D``.
        bias: a bias in the projection.
        output_fmt: ``"NHWC"`` (what a ViT built with ``dynamic_img_size=True`` asks for) or ``"NLC"``.
        Other keywords of timm's ``PatchEmbed`` are accepted and ignored.
    """

    def __init__(
        self,
        trunk: nn.Module,
        channels: int,
        stride: int,
        img_size: int | tuple[int, int] = 224,
        embed_dim: int = 192,
        bias: bool = True,
        output_fmt: str = "NLC",
        **_: Any,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.proj = nn.Conv2d(channels, embed_dim, kernel_size=1, bias=bias)
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.img_size = size
        self.patch_size = (stride, stride)
        self.grid_size = (size[0] // stride, size[1] // stride)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.output_fmt = output_fmt
        self.dynamic_img_pad = False

    def feat_ratio(self, as_scalar: bool = True) -> int | tuple[int, int]:
        return self.patch_size[0] if as_scalar else self.patch_size

    def dynamic_feat_size(self, img_size: tuple[int, int]) -> tuple[int, int]:
        return img_size[0] // self.patch_size[0], img_size[1] // self.patch_size[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> tokens ``(B, H/s, W/s, D)`` (``"NHWC"``) or ``(B, H W / s^2, D)``."""
        tokens = self.proj(self.trunk(x)[-1])
        if self.output_fmt == "NHWC":
            return tokens.permute(0, 2, 3, 1)
        return tokens.flatten(2).transpose(1, 2)
