"""Heatmap head sizes, sub-pixel soft-argmax and peak-mass confidence against known heatmaps."""

from __future__ import annotations

import pytest
import torch
from lp3d_models.heads import HeatmapHead, peak_mass_fraction, soft_argmax
from lp3d_models.losses import gaussian_heatmaps

TOL = 0.01  # pixels


@pytest.mark.parametrize(
    ("patch", "stride", "grid"), [(8, 4, (8, 6)), (16, 4, (4, 5)), (14, 4, (4, 4)), (16, 2, (2, 3))]
)
def test_head_upsamples_to_the_stride(patch, stride, grid):
    head = HeatmapHead(48, 5, patch, stride, channels=32)
    out = head(torch.randn(2, 3, 48, *grid))
    assert out.shape == (2, 3, 5, grid[0] * patch // stride, grid[1] * patch // stride)


def test_head_rejects_a_coarse_stride():
    with pytest.raises(ValueError, match="heatmap_stride"):
        HeatmapHead(48, 5, 8, stride=8)


@pytest.mark.parametrize("stride", [1, 4])
def test_soft_argmax_recovers_subpixel_gaussian_peaks(stride):
    torch.manual_seed(0)
    size = (20, 28)
    points = (torch.rand(50, 2) * torch.tensor([20.0, 12.0]) + 4.0) * stride  # input pixels
    heatmaps = gaussian_heatmaps(points, size, stride, sigma=1.25)
    found = soft_argmax(heatmaps, radius=4, stride=stride)
    assert (found - points).abs().max() < TOL * stride


def test_soft_argmax_ignores_a_distant_second_blob():
    point = torch.tensor([[6.3, 5.6]])
    heatmaps = gaussian_heatmaps(point, (16, 32), 1, 1.25) + 0.5 * gaussian_heatmaps(
        torch.tensor([[25.0, 10.0]]), (16, 32), 1, 1.25
    )
    assert (soft_argmax(heatmaps, radius=4) - point).abs().max() < TOL


def test_soft_argmax_of_an_all_negative_map_is_the_peak():
    heatmaps = -torch.ones(1, 8, 8)
    heatmaps[0, 2, 5] = -0.5
    assert soft_argmax(heatmaps, radius=2).tolist() == [[5.0, 2.0]]


def test_confidence_is_high_for_a_clean_peak_and_low_otherwise():
    clean = gaussian_heatmaps(torch.tensor([[10.2, 8.7]]), (24, 24), 1, 1.25)
    two = clean + gaussian_heatmaps(torch.tensor([[2.0, 20.0]]), (24, 24), 1, 1.25)
    flat = torch.ones(1, 24, 24)
    conf = peak_mass_fraction(torch.cat([clean, two, flat, -flat]), radius=4, sigma=1.25)
    assert conf[0] > 0.98
    assert conf[1] == pytest.approx(0.5, abs=0.02)
    assert conf[2] == pytest.approx(25 / 576 / 0.9999, rel=0.01)  # corner peak: a 5 x 5 window of a flat map
    assert conf[3] == 0.0
    assert ((conf >= 0) & (conf <= 1)).all()


def test_soft_argmax_is_differentiable():
    heatmaps = gaussian_heatmaps(torch.tensor([[5.4, 6.1]]), (12, 12), 1, 1.25).requires_grad_(True)
    soft_argmax(heatmaps, radius=4).sum().backward()
    assert torch.isfinite(heatmaps.grad).all() and heatmaps.grad.abs().sum() > 0
