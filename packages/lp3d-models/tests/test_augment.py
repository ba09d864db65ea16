"""Augmentation keeps labels on the image content; no flips; out-of-image labels become NaN."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from lp3d_models.augment import photometric, random_affine, resize_image, resize_matrix, transform_points, warp_image
from lp3d_models.config import AugmentConfig

TOL = 0.25  # pixels (centroid of a blurred dot after resampling)


def _dot(size, centre):
    """A smooth blob at ``centre`` (x, y) on a black ``size`` (w, h) image, uint8 RGB."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * 2.0**2))
    return np.repeat((255 * g).astype(np.uint8)[..., None], 3, axis=2)


def _centroid(image):
    g = image[..., 0].astype(np.float64)
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    return np.array([(g * xx).sum() / g.sum(), (g * yy).sum() / g.sum()])


def test_resize_moves_labels_with_the_image():
    centre = np.array([150.3, 60.7])
    image = _dot((396, 168), centre)
    small = resize_image(image, (198, 84))
    assert small.shape == (84, 198, 3)
    expected = transform_points(centre[None], resize_matrix((396, 168), (198, 84)))[0]
    np.testing.assert_allclose(_centroid(small), expected, atol=TOL)


def test_random_affine_moves_labels_with_the_image():
    rng = np.random.default_rng(0)
    config = AugmentConfig(rotation=30, scale=0.2, translation=0.1)
    for _ in range(5):
        centre = rng.uniform(25, 40, 2)
        matrix = random_affine(rng, (64, 64), config)
        assert np.linalg.det(matrix[:, :2]) > 0  # never a reflection
        warped = warp_image(_dot((64, 64), centre), matrix)
        np.testing.assert_allclose(_centroid(warped), transform_points(centre[None], matrix)[0], atol=TOL)


def test_labels_leaving_the_image_become_nan():
    matrix = np.array([[1.0, 0.0, 30.0], [0.0, 1.0, 0.0]])
    points = np.array([[10.0, 10.0], [40.0, 5.0], [np.nan, 3.0]])
    out = transform_points(points, matrix, (64, 64))
    np.testing.assert_allclose(out[0], [40.0, 10.0])
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()


def test_photometric_stays_in_range_and_keeps_content():
    rng = np.random.default_rng(2)
    image = _dot((32, 32), (16, 10)).astype(np.float32) / 255
    out = photometric(image, rng, AugmentConfig(blur=1.0))
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1
    assert np.abs(_centroid(cv2.GaussianBlur(out, (0, 0), 1.0) - out.min()) - [16, 10]).max() < 1.5


@pytest.mark.parametrize("size", [(64, 64), (96, 48)])
def test_enlarging_uses_the_same_convention(size):
    centre = np.array([10.4, 12.2])
    image = _dot((32, 32), centre)
    big = resize_image(image, size)
    np.testing.assert_allclose(
        _centroid(big), transform_points(centre[None], resize_matrix((32, 32), size))[0], atol=TOL * 2
    )
