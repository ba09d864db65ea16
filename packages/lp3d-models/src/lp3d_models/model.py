"""The multi-view pose model: normalization, joint encoder, heatmap head, coordinates and confidence.

Every view is fed at one model size ``H x W``; a view recorded at another size is scaled to fit it
with its aspect kept and padded (letterboxed: :func:`lp3d_models.augment.letterbox_matrix`, by
:meth:`MultiViewPoseModel.resize_views` or the data pipeline), and the keypoints are mapped back to
each view's own pixels through the inverse of that affine map (:func:`letterbox_affine`). Pixels
follow OpenCV's convention (pixel centres at integers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lp3d_models.backbone import Pretrained, build_backbone
from lp3d_models.fusion import MultiViewEncoder
from lp3d_models.heads import HeatmapHead, peak_mass_fraction, soft_argmax
from lp3d_models.masking import hide_patches

__all__ = [
    "PoseOutput",
    "MultiViewPoseModel",
    "build_model",
    "letterbox_affine",
    "to_model_pixels",
    "to_original_pixels",
]


class PoseOutput(NamedTuple):
    """What the model predicts for a batch.

    Attributes:
        heatmaps: ``(B, V, K, H / s, W / s)`` raw heatmaps.
        keypoints: ``(B, V, K, 2)`` positions ``(x, y)`` in the original pixels of each view
            (model pixels when no original sizes were given).
        confidence: ``(B, V, K)`` in ``[0, 1]``.
    """

    heatmaps: torch.Tensor
    keypoints: torch.Tensor
    confidence: torch.Tensor


def letterbox_affine(image_sizes: torch.Tensor, model_size: tuple[int, int]) -> torch.Tensor:
    """The letterbox maps ``(..., 2, 3)`` float64, original to model pixels, of images of
    ``image_sizes (..., 2)`` (width, height) in a model of ``model_size`` (height, width): the torch
    twin of :func:`lp3d_models.augment.letterbox_matrix`, equal to it to float64 rounding."""
    h, w = model_size
    size = image_sizes.double()
    w0, h0 = size[..., 0], size[..., 1]
    scale = torch.minimum(w / w0, h / h0)
    sw = torch.floor(scale * w0 + 0.5).clamp(1, w)
    sh = torch.floor(scale * h0 + 0.5).clamp(1, h)
    sx, sy = sw / w0, sh / h0
    x0, y0 = torch.div(w - sw, 2, rounding_mode="floor"), torch.div(h - sh, 2, rounding_mode="floor")
    zero = torch.zeros_like(sx)
    rows = [torch.stack([sx, zero, 0.5 * sx - 0.5 + x0], -1), torch.stack([zero, sy, 0.5 * sy - 0.5 + y0], -1)]
    return torch.stack(rows, dim=-2)


def to_original_pixels(points: torch.Tensor, model_size: tuple[int, int], image_sizes: torch.Tensor) -> torch.Tensor:
    """Model pixels ``(B, V, K, 2)`` to the pixels of images of ``image_sizes (B, V, 2)`` (width,
    height): the inverse letterbox map (:func:`letterbox_affine`)."""
    affine = letterbox_affine(image_sizes, model_size)[..., None, :, :]  # (B, V, 1, 2, 3)
    scale, shift = torch.diagonal(affine[..., :2], dim1=-2, dim2=-1), affine[..., 2]
    return ((points.double() - shift) / scale).to(points.dtype)


def to_model_pixels(points: torch.Tensor, model_size: tuple[int, int], image_sizes: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_original_pixels`."""
    affine = letterbox_affine(image_sizes, model_size)[..., None, :, :]
    scale, shift = torch.diagonal(affine[..., :2], dim1=-2, dim2=-1), affine[..., 2]
    return (points.double() * scale + shift).to(points.dtype)


class MultiViewPoseModel(nn.Module):
    """Keypoints of every view from all views at once.

    Args:
        encoder: the joint multi-view encoder.
        head: the heatmap head (shared by the views).
        image_size: model input ``(H, W)``.
        pixel_mean, pixel_std: RGB normalization of images in ``[0, 1]`` (the backbone's).
        sigma: target width in heatmap pixels (the confidence's reference peak).
        radius: soft-argmax window half-width in heatmap pixels (:func:`build_model` uses
            ``ceil(3 sigma)``: the window mean of a sampled Gaussian is then within 0.01 pixel).
    """

    def __init__(
        self,
        encoder: MultiViewEncoder,
        head: HeatmapHead,
        image_size: tuple[int, int],
        pixel_mean: Sequence[float] = (0.485, 0.456, 0.406),
        pixel_std: Sequence[float] = (0.229, 0.224, 0.225),
        sigma: float = 1.25,
        radius: int = 4,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.image_size = (int(image_size[0]), int(image_size[1]))
        encoder.grid_size(*self.image_size)  # validates the size
        if self.image_size[0] % head.stride or self.image_size[1] % head.stride:
            raise ValueError(f"image_size: expected sides divisible by the heatmap stride {head.stride}")
        self.sigma = float(sigma)
        self.radius = int(radius)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, 1, 3, 1, 1), False)

    @property
    def n_views(self) -> int:
        return self.encoder.n_views

    @property
    def n_keypoints(self) -> int:
        return self.head.n_keypoints

    @property
    def grid_size(self) -> tuple[int, int]:
        """The token grid ``(H / p, W / p)`` of the model size."""
        return self.encoder.grid_size(*self.image_size)

    def forward(
        self,
        images: torch.Tensor,
        image_sizes: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> PoseOutput:
        """Predicts keypoints.

        Args:
            images: ``(B, V, 3, H, W)`` RGB in ``[0, 1]`` at the model size.
            image_sizes: ``(B, V, 2)`` or ``(V, 2)`` original ``(width, height)`` of each view, to
                map the keypoints back; None keeps model pixels.
            hidden: ``(B, V, H / p, W / p)`` bool patches to hide (patch masking), or None.

        Returns:
            A :class:`PoseOutput`.
        """
        if images.ndim != 5 or images.shape[2] != 3 or tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(
                f"images: expected (batch, {self.n_views}, 3, {self.image_size[0]}, {self.image_size[1]}), "
                f"but got {tuple(images.shape)}"
            )
        x = (images - self.pixel_mean) / self.pixel_std
        if hidden is not None:
            x = hide_patches(x, hidden, self.encoder.patch_size)
        heatmaps = self.head(self.encoder(x))
        keypoints = soft_argmax(heatmaps, self.radius, self.head.stride)
        confidence = peak_mass_fraction(heatmaps, self.radius, self.sigma)
        if image_sizes is not None:
            sizes = image_sizes.to(keypoints.device).expand(images.shape[0], self.n_views, 2)
            keypoints = to_original_pixels(keypoints, self.image_size, sizes)
        return PoseOutput(heatmaps, keypoints, confidence)

    def resize_views(self, views: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Scales views of any sizes into the model size, aspect kept (letterboxed, see the module
        docstring).

        Args:
            views: ``V`` tensors ``(B, 3, H_v, W_v)``: uint8 (0..255) or float in ``[0, 1]``.

        Returns:
            Images ``(B, V, 3, H, W)`` float in ``[0, 1]`` and their original sizes ``(V, 2)``
            ``(width, height)``, ready for :meth:`forward`.
        """
        from lp3d_models.augment import letterbox

        if len(views) != self.n_views:
            raise ValueError(f"views: expected {self.n_views} views, but got {len(views)}")
        out, sizes = [], []
        height, width = self.image_size
        for view in views:
            x = view.float() / 255.0 if view.dtype == torch.uint8 else view.float()
            sizes.append([x.shape[-1], x.shape[-2]])
            sw, sh, x0, y0 = letterbox((x.shape[-1], x.shape[-2]), (width, height))
            if (sh, sw) != tuple(x.shape[-2:]):
                x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False, antialias=True)
            if (sh, sw) != self.image_size:
                x = F.pad(x, (x0, width - sw - x0, y0, height - sh - y0))
            out.append(x)
        return torch.stack(out, dim=1), torch.tensor(sizes, dtype=torch.float32, device=out[0].device)


def build_model(
    n_views: int,
    n_keypoints: int,
    *,
    backbone: str = "vit_s16",
    pretrained: Pretrained = False,
    image_size: tuple[int, int] = (256, 256),
    heatmap_stride: int = 4,
    head_channels: int = 128,
    joint_blocks: Sequence[int] | None = None,
    drop_path: float = 0.0,
    sigma: float = 1.25,
) -> MultiViewPoseModel:
    """Builds the parts and the model (the options are those of the ``model`` config section).

    Args:
        n_views: ``V``.
        n_keypoints: ``K``.
        backbone: a key of :data:`lp3d_models.backbone.BACKBONES`.
        pretrained: ``False``, ``True`` or a weights file (see :mod:`lp3d_models.backbone`).
        image_size: model input ``(H, W)``, divisible by the patch.
        heatmap_stride: 4, 2 or 1.
        head_channels: width of the head's first stage.
        joint_blocks: blocks attending across views (None: every other block, ending with the last).
        drop_path: stochastic depth rate.
        sigma: Gaussian target width in heatmap pixels.
    """
    vit = build_backbone(backbone, pretrained=pretrained, drop_path=drop_path)
    encoder = MultiViewEncoder(vit, n_views, joint_blocks)
    head = HeatmapHead(encoder.embed_dim, n_keypoints, encoder.patch_size, heatmap_stride, head_channels)
    cfg = getattr(vit, "pretrained_cfg", None) or {}
    return MultiViewPoseModel(
        encoder,
        head,
        tuple(image_size),
        pixel_mean=cfg.get("mean", (0.485, 0.456, 0.406)),
        pixel_std=cfg.get("std", (0.229, 0.224, 0.225)),
        sigma=sigma,
        radius=max(2, math.ceil(3 * sigma)),
    )
