"""Heatmap head, sub-pixel soft-argmax and confidence.

The head turns each view's patch features ``(D, H / p, W / p)`` into ``K`` heatmaps at
``1 / stride`` of the input (``stride`` 4, 2 or 1): a 1x1 projection, then ``ceil(log2(p / s))``
stages of (2x transposed convolution, group norm, GELU), a bilinear resize to exactly
``(H / s, W / s)`` when the patch is not ``s`` times a power of two (patch 14), and a 1x1
convolution to one map per keypoint. The same head serves every view.

Pixel convention (OpenCV's): pixel centres sit at integer coordinates, so heatmap pixel ``j``
covers image coordinate ``u = (j + 0.5) s - 0.5``.

Soft-argmax: around the peak ``j*`` of each heatmap, within a ``(2 r + 1)`` square window, the
position is the mean of the pixel coordinates weighted by the positive heatmap values::

    u_hat = sum_{|j - j*| <= r} relu(m_j) j  /  sum_{|j - j*| <= r} relu(m_j)

which is sub-pixel, unbiased for a symmetric peak, and ignores the rest of the map (a global
soft-argmax is pulled towards the centre by background activity). The confidence is the share of
the positive heatmap mass that lies in that window, divided by the share a perfect Gaussian
target of width ``sigma`` would have there (so a clean, single peak scores about 1; a flat or
multi-modal map scores low), clipped to ``[0, 1]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HeatmapHead", "soft_argmax", "peak_mass_fraction"]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


class HeatmapHead(nn.Module):
    """Patch features to keypoint heatmaps (see the module docstring).

    Args:
        embed_dim: feature width ``D``.
        n_keypoints: ``K``.
        patch_size: the backbone's patch ``p``.
        stride: heatmap stride ``s`` relative to the input (4, 2 or 1; at most ``p``).
        channels: width of the first upsampling stage (halved at each further stage, at least 16).
    """

    def __init__(self, embed_dim: int, n_keypoints: int, patch_size: int, stride: int = 4, channels: int = 128) -> None:
        super().__init__()
        if stride not in (1, 2, 4) or stride > patch_size:
            raise ValueError(f"heatmap_stride: expected 1, 2 or 4 (at most the patch {patch_size}), but got {stride}")
        if n_keypoints < 1:
            raise ValueError(f"n_keypoints: expected at least 1, but got {n_keypoints}")
        self.stride = stride
        self.patch_size = patch_size
        self.n_keypoints = n_keypoints
        n_stages = max(0, math.ceil(math.log2(patch_size / stride) - 1e-9))
        layers: list[nn.Module] = [nn.Conv2d(embed_dim, channels, 1)]
        width = channels
        for _ in range(n_stages):
            out = max(16, width // 2)
            layers += [nn.ConvTranspose2d(width, out, 4, stride=2, padding=1), _norm(out), nn.GELU()]
            width = out
        self.upsample = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, n_keypoints, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Heatmaps of every view.

        Args:
            features: ``(B, V, D, h, w)`` patch features.

        Returns:
            Heatmaps ``(B, V, K, h p / s, w p / s)``.
        """
        B, V, D, h, w = features.shape
        size = (h * self.patch_size // self.stride, w * self.patch_size // self.stride)
        x = self.upsample(features.reshape(B * V, D, h, w))
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = self.out(x)
        return x.reshape(B, V, self.n_keypoints, *size)


def _window(heatmaps: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel grids ``(h, 1)``, ``(1, w)`` and the ``(2 r + 1)``-square window mask ``(..., h, w)``
    around the peak of each heatmap."""
    h, w = heatmaps.shape[-2:]
    peak = heatmaps.flatten(-2).argmax(-1)  # (...,)
    py, px = (peak // w).to(heatmaps.dtype), (peak % w).to(heatmaps.dtype)
    gy = torch.arange(h, device=heatmaps.device, dtype=heatmaps.dtype).view(h, 1)
    gx = torch.arange(w, device=heatmaps.device, dtype=heatmaps.dtype).view(1, w)
    mask = ((gy - py[..., None, None]).abs() <= radius) & ((gx - px[..., None, None]).abs() <= radius)
    return gy, gx, mask


def soft_argmax(heatmaps: torch.Tensor, radius: int = 2, stride: int = 1) -> torch.Tensor:
    """Sub-pixel peak positions (see the module docstring).

    Args:
        heatmaps: ``(..., h, w)``.
        radius: window half-width ``r`` in heatmap pixels.
        stride: heatmap stride; positions are returned in input pixels ``(j + 0.5) s - 0.5``.

    Returns:
        ``(..., 2)`` positions ``(x, y)``; the peak pixel where the window holds no positive mass.
    """
    heatmaps = heatmaps.float()
    gy, gx, mask = _window(heatmaps, radius)
    weight = heatmaps.clamp(min=0) * mask
    total = weight.sum((-2, -1))
    safe = total.clamp(min=1e-12)
    x = (weight * gx).sum((-2, -1)) / safe
    y = (weight * gy).sum((-2, -1)) / safe
    # No positive mass near the peak: take the peak pixel itself (argmax; no gradient).
    fallback = (mask * gx).sum((-2, -1)) / mask.sum((-2, -1)), (mask * gy).sum((-2, -1)) / mask.sum((-2, -1))
    empty = total <= 1e-12
    x = torch.where(empty, fallback[0], x)
    y = torch.where(empty, fallback[1], y)
    return (torch.stack([x, y], dim=-1) + 0.5) * stride - 0.5


def _gaussian_window_share(radius: int, sigma: float) -> float:
    """Share of a 2D Gaussian's mass (width ``sigma``, sampled on the pixel grid) within the window."""
    d = torch.arange(-(radius + int(6 * sigma) + 1), radius + int(6 * sigma) + 2, dtype=torch.float64)
    g = torch.exp(-0.5 * (d / sigma) ** 2)
    share = float(g[d.abs() <= radius].sum() / g.sum())
    return share * share


def peak_mass_fraction(heatmaps: torch.Tensor, radius: int = 2, sigma: float = 1.25) -> torch.Tensor:
    """Confidence ``(...)`` in ``[0, 1]`` of heatmaps ``(..., h, w)`` (see the module docstring)."""
    heatmaps = heatmaps.float()
    _, _, mask = _window(heatmaps, radius)
    positive = heatmaps.clamp(min=0)
    total = positive.sum((-2, -1))
    near = (positive * mask).sum((-2, -1))
    share = near / total.clamp(min=1e-12)
    return (share / _gaussian_window_share(radius, sigma)).clamp(0.0, 1.0).where(total > 1e-12, 0.0)
