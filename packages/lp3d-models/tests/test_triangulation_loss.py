"""The weighted heatmap loss and the triangulation loss: zero at the truth, a descent direction,
nothing from uncalibrated samples, finite gradients where the geometry gives nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lp3d_io.synthetic import make_rig
from lp3d_models.augment import resize_matrix
from lp3d_models.geometry import Cameras, apply_affine, cameras_from_rig, project
from lp3d_models.losses import heatmap_loss, triangulation_loss

TOL = 1e-5

B, V, K = 3, 4, 6


def _batch(seed: int = 0) -> dict:
    """``B`` calibrated samples of a 4-camera rig (96 px images, 64 px model input, a random
    rotation and shift per view): world points, labels in model pixels, cameras, affines."""
    rng = np.random.default_rng(seed)
    cams = cameras_from_rig(make_rig(V, (96, 96), seed=1, distortion=0.3))
    cameras = Cameras(*(t.expand(B, *t.shape) for t in cams))
    affine = np.empty((B, V, 2, 3))
    for b in range(B):
        for v in range(V):
            a = np.deg2rad(rng.uniform(-10, 10))
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * rng.uniform(0.9, 1.1)
            resize = resize_matrix((96, 96), (64, 64))
            affine[b, v, :, :2] = rot @ resize[:, :2]
            affine[b, v, :, 2] = rot @ resize[:, 2] + rng.uniform(-2, 2, 2)
    affine = torch.from_numpy(affine)
    points = torch.from_numpy(rng.uniform(-40, 40, (B, K, 3)) + [0.0, 0.0, 40.0])
    labels = apply_affine(project(points, cameras), affine).float()
    return {"points": points, "keypoints": labels, "cameras": cameras, "affine": affine}


def test_heatmap_loss_weights_give_a_weighted_mean():
    gen = torch.Generator().manual_seed(0)
    heatmaps = torch.randn(2, 2, 3, 16, 16, generator=gen)
    keypoints = torch.rand(2, 2, 3, 2, generator=gen) * 60
    keypoints[0, 1, 2] = torch.nan
    plain = heatmap_loss(heatmaps, keypoints, stride=4, sigma=1.25)
    ones = heatmap_loss(heatmaps, keypoints, torch.ones(2, 2, 3), stride=4, sigma=1.25)
    assert plain.item() == pytest.approx(ones.item(), abs=TOL)
    weights = torch.rand(2, 2, 3, generator=gen)
    terms = torch.stack(
        [
            heatmap_loss(
                heatmaps[b, v, k][None, None, None], keypoints[b, v, k][None, None, None], stride=4, sigma=1.25
            )
            for b in range(2)
            for v in range(2)
            for k in range(3)
        ]
    ).view(2, 2, 3)
    valid = torch.isfinite(keypoints).all(-1)
    expected = (terms * weights * valid).sum() / (weights * valid).sum()
    weighted = heatmap_loss(heatmaps, keypoints, weights, stride=4, sigma=1.25, kind="mse")
    assert weighted.item() == pytest.approx(expected.item(), rel=TOL)
    with pytest.raises(ValueError, match=r"weights: expected shape \(2, 2, 3\)"):
        heatmap_loss(heatmaps, keypoints, torch.ones(2, 3), stride=4, sigma=1.25)


def test_zero_at_the_truth():
    batch = _batch()
    loss = triangulation_loss(batch["keypoints"], batch["keypoints"], batch["cameras"], batch["affine"])
    assert loss.item() == pytest.approx(0.0, abs=TOL)


def test_adam_on_predictions_descends_to_consistent_views():
    batch = _batch(1)
    gen = torch.Generator().manual_seed(1)
    labels = batch["keypoints"].clone()
    labels[0, 2] = torch.nan  # a view without labels still learns through the others
    start = batch["keypoints"] + 3.0 * torch.randn(B, V, K, 2, generator=gen)
    predicted = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([predicted], lr=0.1)
    losses = []
    for _ in range(200):
        loss = triangulation_loss(predicted, labels, batch["cameras"], batch["affine"])
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.05 * losses[0] and losses[-1] < losses[100] < losses[0]
    before = (start - batch["keypoints"]).norm(dim=-1)[0, 2].mean()
    after = (predicted.detach() - batch["keypoints"]).norm(dim=-1)[0, 2].mean()
    assert after < 0.75 * before  # not to the truth: any prediction there that triangulates right is optimal


def test_uncalibrated_samples_contribute_nothing():
    batch = _batch(2)
    gen = torch.Generator().manual_seed(2)
    predicted = (batch["keypoints"] + torch.randn(B, V, K, 2, generator=gen)).requires_grad_(True)
    calibrated = torch.tensor([True, False, True])
    cams = batch["cameras"]
    identity = Cameras(  # what the data pipeline puts in an uncalibrated sample
        torch.eye(3, dtype=torch.float64).expand(V, 3, 3),
        torch.zeros(V, 5, dtype=torch.float64),
        torch.eye(3, dtype=torch.float64).expand(V, 3, 3),
        torch.zeros(V, 3, dtype=torch.float64),
        torch.zeros(V, dtype=torch.bool),
    )
    mixed = Cameras(*(torch.stack([c[0], u, c[2]]) for c, u in zip(cams, identity, strict=True)))
    loss = triangulation_loss(predicted, batch["keypoints"], mixed, batch["affine"], calibrated=calibrated)
    loss.backward()
    keep = [0, 2]
    only = triangulation_loss(
        predicted.detach()[keep], batch["keypoints"][keep], Cameras(*(c[keep] for c in cams)), batch["affine"][keep]
    )
    assert loss.item() == pytest.approx(only.item(), rel=TOL)
    assert torch.equal(predicted.grad[1], torch.zeros_like(predicted.grad[1]))
    nothing = triangulation_loss(
        predicted, batch["keypoints"], cams, batch["affine"], calibrated=torch.zeros(B, dtype=torch.bool)
    )
    assert nothing.item() == 0.0


def test_finite_gradients_with_nan_labels_one_view_and_coincident_cameras():
    batch = _batch(3)
    predicted = batch["keypoints"].clone().requires_grad_(True)
    labels = batch["keypoints"].clone()
    labels[0] = torch.nan  # a sample without labels
    confidence = torch.ones(B, V, K)
    confidence[1, 1:, :3] = 0.0  # keypoints seen by one view
    weights = torch.rand(B, V, K, generator=torch.Generator().manual_seed(3))
    cams = batch["cameras"]
    same = Cameras(*(torch.stack([c[0], c[1], c[2, :1].expand_as(c[2])]) for c in cams))  # coincident in sample 2
    loss = triangulation_loss(predicted + 0.5, labels, same, batch["affine"], confidence=confidence, weights=weights)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0 and torch.isfinite(predicted.grad).all()
    assert predicted.grad[2].abs().sum() == 0 and predicted.grad[1, :, :3].abs().sum() == 0
    with pytest.raises(ValueError, match="keypoints: expected shape"):
        triangulation_loss(predicted, labels[:, :2], cams, batch["affine"])
