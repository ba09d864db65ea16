"""Image preparation and per-view augmentation; labels follow every geometric change.

All geometry is 2 x 3 affine matrices acting on pixel coordinates with OpenCV's convention (pixel
centres at integers), the convention :func:`cv2.warpAffine` uses, so an image warped by ``A`` and
its keypoints mapped by ``A`` stay aligned:

- :func:`resize_matrix`: ``x' = (x + 0.5) W' / W - 0.5`` (and the same for ``y``);
- :func:`random_affine`: rotation, zoom and shift about the image centre (never a flip: a
  horizontal flip swaps left and right body parts differently in each view).

Photometric changes (brightness, contrast, noise, blur) do not move keypoints. A keypoint moved
out of the image becomes NaN (unlabeled).
"""

from __future__ import annotations

import cv2
import numpy as np

from lp3d_models.config import AugmentConfig

__all__ = [
    "resize_matrix",
    "random_affine",
    "transform_points",
    "resize_image",
    "warp_image",
    "photometric",
    "to_chw_float",
]


def resize_matrix(src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """The ``2 x 3`` matrix of a resize from ``src_size`` to ``dst_size`` (both ``(width, height)``)."""
    sx, sy = dst_size[0] / src_size[0], dst_size[1] / src_size[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def random_affine(rng: np.random.Generator, size: tuple[int, int], config: AugmentConfig) -> np.ndarray:
    """A random rotation, zoom and shift about the centre of an image of ``size`` ``(width, height)``."""
    w, h = size
    angle = rng.uniform(-config.rotation, config.rotation)
    scale = rng.uniform(1.0 - config.scale, 1.0 + config.scale)
    shift = rng.uniform(-config.translation, config.translation, 2) * np.array([w, h])
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += shift
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Maps ``(..., 2)`` points by a ``2 x 3`` matrix; with ``size`` ``(width, height)``, points that
    land outside the image become NaN. NaN points stay NaN."""
    out = points @ matrix[:, :2].T + matrix[:, 2]
    if size is not None:
        w, h = size
        outside = (out[..., 0] < -0.5) | (out[..., 0] > w - 0.5) | (out[..., 1] < -0.5) | (out[..., 1] > h - 0.5)
        out[outside] = np.nan
    return out


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes ``(H, W, 3)`` to ``size`` ``(width, height)``: area averaging when shrinking, bilinear
    when enlarging (same pixel convention as :func:`resize_matrix`)."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrink = size[0] < image.shape[1] or size[1] < image.shape[0]
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def warp_image(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warps ``(H, W, 3)`` by ``matrix`` onto a black canvas of the same size."""
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def photometric(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Brightness, contrast, blur and noise on a float ``(H, W, 3)`` image in ``[0, 1]``."""
    if config.blur > 0 and rng.random() < config.blur:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(0.5, 1.5))
    mean = image.mean()
    image = (image - mean) * rng.uniform(1.0 - config.contrast, 1.0 + config.contrast) + mean
    image = image + rng.uniform(-config.brightness, config.brightness)
    if config.noise > 0:
        image = image + rng.normal(0.0, config.noise, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def to_chw_float(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 or float to ``(3, H, W)`` float32 in ``[0, 1]``."""
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
