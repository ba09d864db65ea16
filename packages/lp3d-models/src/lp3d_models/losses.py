"""Heatmap losses against Gaussian targets, with missing labels ignored.

The target of a keypoint at input pixel ``u`` on a heatmap of stride ``s`` is a Gaussian of width
``sigma`` heatmap pixels (peak 1) centred on ``(u + 0.5) / s - 0.5`` (the pixel convention of
:mod:`lp3d_models.heads`):

- ``"mse"``: mean over heatmap pixels of ``(m - g)^2``;
- ``"kl"``: ``KL(g / sum g || softmax(m))``, the heatmap read as a distribution over pixels.

Each labeled ``(sample, view, keypoint)`` contributes one term and the loss is their mean. A
label with a NaN coordinate (not labeled, or moved out of the image by augmentation) contributes
nothing: its target is built from a finite placeholder and multiplied by zero, so no NaN reaches
the gradient. A batch without any label gives a loss of zero (with a gradient of zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "gaussian_heatmaps", "heatmap_loss"]

LOSSES = ("mse", "kl")


def gaussian_heatmaps(keypoints: torch.Tensor, size: tuple[int, int], stride: int, sigma: float) -> torch.Tensor:
    """Gaussian targets.

    Args:
        keypoints: ``(..., 2)`` input pixels ``(x, y)``; NaN rows give all-zero maps.
        size: heatmap ``(h, w)``.
        stride: heatmap stride ``s``.
        sigma: Gaussian width in heatmap pixels.

    Returns:
        ``(..., h, w)`` targets, peak 1 at the keypoint.
    """
    valid = torch.isfinite(keypoints).all(-1)
    centre = (torch.where(valid[..., None], keypoints, 0.0).float() + 0.5) / stride - 0.5
    h, w = size
    gy = torch.arange(h, device=keypoints.device, dtype=torch.float32)
    gx = torch.arange(w, device=keypoints.device, dtype=torch.float32)
    dy = (gy - centre[..., 1:2]) ** 2  # (..., h)
    dx = (gx - centre[..., 0:1]) ** 2  # (..., w)
    g = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2.0 * sigma**2))
    return g * valid[..., None, None]


def heatmap_loss(heatmaps: torch.Tensor, keypoints: torch.Tensor, *, stride: int, sigma: float, kind: str = "mse"):
    """The loss of predicted heatmaps against labels (see the module docstring).

    Args:
        heatmaps: predictions ``(B, V, K, h, w)``.
        keypoints: labels ``(B, V, K, 2)`` in input pixels, NaN where missing.
        stride: heatmap stride.
        sigma: target width in heatmap pixels.
        kind: ``"mse"`` or ``"kl"``.

    Returns:
        A scalar tensor.
    """
    if kind not in LOSSES:
        raise ValueError(f"loss: expected one of {LOSSES}, but got {kind!r}")
    if heatmaps.shape[:-2] != keypoints.shape[:-1]:
        raise ValueError(
            f"keypoints: expected shape {tuple(heatmaps.shape[:-2]) + (2,)} to match the heatmaps, "
            f"but got {tuple(keypoints.shape)}"
        )
    heatmaps = heatmaps.float()
    valid = torch.isfinite(keypoints).all(-1).float()  # (B, V, K)
    target = gaussian_heatmaps(keypoints, tuple(heatmaps.shape[-2:]), stride, sigma)
    if kind == "mse":
        per_map = ((heatmaps - target) ** 2).mean((-2, -1))
    else:
        prob = target / target.sum((-2, -1), keepdim=True).clamp(min=1e-12)
        log_q = F.log_softmax(heatmaps.flatten(-2), dim=-1).reshape(heatmaps.shape)
        per_map = (torch.xlogy(prob, prob) - prob * log_q).sum((-2, -1))
    return (per_map * valid).sum() / valid.sum().clamp(min=1.0)
