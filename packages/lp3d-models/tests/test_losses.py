"""Heatmap losses: Gaussian targets where the pixel convention says, NaN labels ignored safely."""

from __future__ import annotations

import pytest
import torch
from lp3d_models.losses import gaussian_heatmaps, heatmap_loss

TOL = 1e-6


def test_target_peak_follows_the_pixel_convention():
    # Stride 4: input pixel u sits at heatmap coordinate (u + 0.5) / 4 - 0.5.
    target = gaussian_heatmaps(torch.tensor([[13.5, 5.5]]), (8, 8), stride=4, sigma=1.0)[0]
    assert target[1, 3] == pytest.approx(1.0, abs=TOL)
    assert target.flatten().argmax().item() == 1 * 8 + 3
    assert gaussian_heatmaps(torch.tensor([[float("nan"), 2.0]]), (8, 8), 4, 1.0).abs().sum() == 0


@pytest.mark.parametrize("kind", ["mse", "kl"])
def test_perfect_prediction_is_the_minimum(kind):
    torch.manual_seed(0)
    keypoints = torch.rand(2, 3, 4, 2) * 60
    target = gaussian_heatmaps(keypoints, (16, 16), 4, 1.25)
    logits = target * 30.0 if kind == "kl" else target  # KL reads the map as softmax logits
    best = heatmap_loss(logits, keypoints, stride=4, sigma=1.25, kind=kind)
    worse = heatmap_loss(logits + 0.3 * torch.randn_like(logits), keypoints, stride=4, sigma=1.25, kind=kind)
    assert best < worse
    if kind == "mse":
        assert best.item() == pytest.approx(0.0, abs=TOL)


@pytest.mark.parametrize("kind", ["mse", "kl"])
def test_nan_labels_are_ignored_without_nan_gradients(kind):
    torch.manual_seed(1)
    keypoints = torch.rand(2, 2, 3, 2) * 60
    heatmaps = torch.randn(2, 2, 3, 16, 16, requires_grad=True)
    holes = keypoints.clone()
    holes[0, 1, 2] = float("nan")
    holes[1, 0, :, 0] = float("nan")
    loss = heatmap_loss(heatmaps, holes, stride=4, sigma=1.25, kind=kind)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(heatmaps.grad).all()
    assert heatmaps.grad[0, 1, 2].abs().sum() == 0 and heatmaps.grad[1, 0].abs().sum() == 0
    # Same as the mean over the labeled maps alone.
    valid = torch.isfinite(holes).all(-1)
    each = [
        heatmap_loss(
            heatmaps[b, v, k][None, None, None], keypoints[b, v, k][None, None, None], stride=4, sigma=1.25, kind=kind
        )
        for b, v, k in valid.nonzero().tolist()
    ]
    assert loss.item() == pytest.approx(torch.stack(each).mean().item(), rel=1e-5)


def test_no_labels_gives_zero_loss_and_zero_gradient():
    heatmaps = torch.randn(1, 2, 3, 8, 8, requires_grad=True)
    loss = heatmap_loss(heatmaps, torch.full((1, 2, 3, 2), float("nan")), stride=4, sigma=1.25)
    loss.backward()
    assert loss.item() == 0.0 and heatmaps.grad.abs().sum() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss: expected one of"):
        heatmap_loss(torch.zeros(1, 1, 1, 4, 4), torch.zeros(1, 1, 1, 2), stride=4, sigma=1.0, kind="l1")
    with pytest.raises(ValueError, match="keypoints: expected shape"):
        heatmap_loss(torch.zeros(1, 1, 2, 4, 4), torch.zeros(1, 1, 3, 2), stride=4, sigma=1.0)


def test_coordinate_loss_is_a_weighted_charbonnier_mean_and_nan_safe():
    from lp3d_models.losses import coordinate_loss

    labels = torch.tensor([[[[10.0, 10.0], [20.0, 5.0], [float("nan"), 1.0]]]])  # (1, 1, 3, 2)
    predicted = torch.tensor([[[[13.0, 14.0], [20.0, 5.0], [7.0, 7.0]]]], requires_grad=True)
    weights = torch.tensor([[[0.5, 1.0, 1.0]]])
    loss = coordinate_loss(predicted, labels, weights)
    # distance 5 -> sqrt(26) - 1 (width 1); the exact label costs 0; the NaN label is ignored
    assert loss.item() == pytest.approx(0.5 * (26**0.5 - 1.0) / 1.5, abs=TOL)
    loss.backward()
    assert torch.isfinite(predicted.grad).all() and predicted.grad[0, 0, 2].abs().sum() == 0
    assert coordinate_loss(labels.nan_to_num(3.0), labels.nan_to_num(3.0)).item() == pytest.approx(0.0, abs=TOL)
    empty = torch.full((1, 1, 2, 2), float("nan"))
    assert coordinate_loss(torch.zeros(1, 1, 2, 2), empty).item() == 0.0
