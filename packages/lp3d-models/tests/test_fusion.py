"""Multi-view fusion: shapes for any patch-divisible size, attention across views, view identity."""

from __future__ import annotations

import pytest
import torch
from lp3d_models.backbone import build_backbone
from lp3d_models.fusion import MultiViewEncoder


def _encoder(n_views=3, joint_blocks=None, name="vit_tiny_p8"):
    torch.manual_seed(0)
    return MultiViewEncoder(build_backbone(name), n_views, joint_blocks).eval()


@pytest.mark.parametrize(("height", "width"), [(64, 64), (48, 96), (96, 40)])
def test_any_size_divisible_by_the_patch(height, width):
    encoder = _encoder()
    features = encoder(torch.randn(2, 3, 3, height, width))
    assert features.shape == (2, 3, 48, height // 8, width // 8)
    assert torch.isfinite(features).all()


def test_patch_14_backbone_end_to_end():
    """A real patch-14 model (DINOv2 ViT-S/14, random weights) from images to keypoints and gradients,
    at a size `lp3d init` proposes for it."""
    from lp3d_models.backbone import input_multiple
    from lp3d_models.model import build_model
    from lp3d_models.project import propose_size

    torch.manual_seed(0)
    height, width = propose_size([(840, 560)], area=56 * 84, multiple=input_multiple("dinov2_s14"))
    assert (height, width) == (56, 84)
    model = build_model(2, 3, backbone="dinov2_s14", pretrained=False, image_size=(height, width))
    assert model.encoder.patch_size == 14
    out = model(torch.rand(1, 2, 3, height, width), image_sizes=torch.tensor([[840.0, 560.0], [840.0, 560.0]]))
    assert out.heatmaps.shape == (1, 2, 3, height // 4, width // 4) and out.keypoints.shape == (1, 2, 3, 2)
    assert ((out.keypoints >= -0.5) & (out.keypoints <= torch.tensor([839.5, 559.5]))).all()
    out.keypoints.sum().backward()
    grad = model.encoder.backbone.patch_embed.proj.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("size", [(60, 64), (64, 4)])
def test_size_not_divisible_is_an_error(size):
    with pytest.raises(ValueError, match="divisible by the patch 8"):
        _encoder()(torch.randn(1, 3, 3, *size))


def test_wrong_number_of_views():
    with pytest.raises(ValueError, match="expected 3 views, but got 2"):
        _encoder()(torch.randn(1, 2, 3, 64, 64))


def _cross_view_effect(encoder) -> float:
    """How much view 0's features change when only view 1's image changes."""
    x = torch.randn(1, 3, 3, 32, 32)
    y = x.clone()
    y[:, 1] = torch.randn(3, 32, 32)
    with torch.no_grad():
        return (encoder(x)[:, 0] - encoder(y)[:, 0]).abs().max().item()


def test_joint_blocks_attend_across_views():
    assert _cross_view_effect(_encoder()) > 1e-3  # default: every other block joint
    assert _cross_view_effect(_encoder(joint_blocks=[0, 1])) > 1e-3  # every block joint
    assert _cross_view_effect(_encoder(joint_blocks=[-1])) > 1e-3  # only the last
    assert _cross_view_effect(_encoder(joint_blocks=[])) == 0.0  # views independent


def test_view_embedding_tells_views_apart():
    encoder = _encoder(2)
    image = torch.randn(1, 1, 3, 32, 32).expand(1, 2, 3, 32, 32)
    with torch.no_grad():
        features = encoder(image)
    assert (features[:, 0] - features[:, 1]).abs().max() > 1e-3


def test_bad_joint_block_index():
    with pytest.raises(ValueError, match="joint_blocks: expected block indices in"):
        _encoder(joint_blocks=[2])
