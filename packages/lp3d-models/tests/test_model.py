"""The top model: shapes, and keypoints mapped back to each view's original pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lp3d_models.augment import letterbox_matrix, transform_points
from lp3d_models.losses import gaussian_heatmaps
from lp3d_models.model import build_model, to_model_pixels, to_original_pixels

TOL = 0.02  # pixels


def _model(n_views=2, size=(64, 96)):
    torch.manual_seed(0)
    return build_model(n_views, 5, backbone="vit_tiny_p8", image_size=size, head_channels=32).eval()


def test_output_shapes_and_ranges():
    out = _model()(torch.rand(3, 2, 3, 64, 96))
    assert out.heatmaps.shape == (3, 2, 5, 16, 24)
    assert out.keypoints.shape == (3, 2, 5, 2) and out.confidence.shape == (3, 2, 5)
    assert ((out.confidence >= 0) & (out.confidence <= 1)).all()


def test_wrong_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected \(batch, 2, 3, 64, 96\)"):
        _model()(torch.rand(1, 2, 3, 64, 64))
    with pytest.raises(ValueError, match="divisible by the patch"):
        build_model(2, 5, backbone="vit_tiny_p8", image_size=(60, 64))


def _letterboxed(points: np.ndarray, size: tuple[int, int], model: tuple[int, int] = (96, 64)) -> np.ndarray:
    """Model pixels of ``points`` in a view of ``size`` (width, height), computed here: scaled by
    min(W / W0, H / H0) to a whole number of pixels, centred (OpenCV pixel centres)."""
    scale = min(model[0] / size[0], model[1] / size[1])
    scaled = np.floor(scale * np.asarray(size, dtype=np.float64) + 0.5)
    offset = (np.asarray(model) - scaled) // 2
    return (points + 0.5) * scaled / np.asarray(size) - 0.5 + offset


def test_pixel_mapping_matches_the_image_letterbox():
    torch.manual_seed(1)
    points = torch.rand(2, 3, 4, 2) * 300
    sizes = torch.tensor([[400.0, 170.0], [396.0, 238.0], [64.0, 64.0]]).expand(2, 3, 2)
    model_px = to_model_pixels(points, (64, 96), sizes)
    for v in range(3):
        size = tuple(int(x) for x in sizes[0, v])
        expected = _letterboxed(points[:, v].numpy().astype(np.float64), size)
        np.testing.assert_allclose(model_px[:, v].numpy(), expected, atol=1e-3)
        matrix = letterbox_matrix(size, (96, 64))  # the data pipeline's affine (the sample's "affine")
        np.testing.assert_allclose(
            transform_points(points[:, v].numpy().astype(np.float64), matrix), expected, atol=1e-9
        )
    torch.testing.assert_close(to_original_pixels(model_px, (64, 96), sizes), points, atol=1e-4, rtol=0)


def test_keypoints_come_back_in_original_pixels():
    # Replace the head by known heatmaps: peaks at chosen model pixels must come out at the
    # corresponding pixels of views of different sizes (peaks 3 sigma inside the heatmap).
    model = _model()
    peaks = torch.tensor([[[20.0, 20.0], [33.5, 40.25], [77.0, 19.0], [18.3, 45.0], [50.5, 31.5]]]).expand(2, 5, 2)
    model.head.forward = lambda features: gaussian_heatmaps(
        peaks[None].expand(features.shape[0], -1, -1, -1), (16, 24), 4, 1.25
    )
    sizes = [(396, 168), (396, 238)]
    out = model(torch.rand(1, 2, 3, 64, 96), image_sizes=torch.tensor(sizes, dtype=torch.float32))
    for v, size in enumerate(sizes):  # invert _letterboxed
        scale = min(96 / size[0], 64 / size[1])
        scaled = np.floor(scale * np.asarray(size, dtype=np.float64) + 0.5)
        offset = (np.array([96, 64]) - scaled) // 2
        expected = (peaks[v].numpy() + 0.5 - offset) * np.asarray(size) / scaled - 0.5
        np.testing.assert_allclose(out.keypoints[0, v].numpy(), expected, atol=TOL * 5)
    assert (out.confidence > 0.95).all()


def test_resize_views_of_different_sizes():
    model = _model()
    views = [torch.randint(0, 255, (2, 3, 168, 396), dtype=torch.uint8), torch.rand(2, 3, 238, 396)]
    images, sizes = model.resize_views(views)
    assert images.shape == (2, 2, 3, 64, 96) and 0 <= images.min() and images.max() <= 1
    assert sizes.tolist() == [[396, 168], [396, 238]]
    # Aspect kept: 396 x 168 -> 96 x 41 (rows 11-51), 396 x 238 -> 96 x 58 (rows 3-60), black around.
    for v, (top, bottom) in enumerate(((11, 52), (3, 61))):
        assert (images[:, v, :, :top] == 0).all() and (images[:, v, :, bottom:] == 0).all()
        assert images[:, v, :, top:bottom].mean() > 0.2
    assert model(images, image_sizes=sizes).keypoints.shape == (2, 2, 5, 2)
