"""Image preparation and per-view augmentation; labels follow every geometric change.

All geometry is 2 x 3 affine matrices acting on pixel coordinates with OpenCV's convention (pixel
centres at integers), the convention :func:`cv2.warpAffine` uses, so an image warped by ``A`` and
its keypoints mapped by ``A`` stay aligned:

- :func:`resize_matrix`: ``x' = (x + 0.5) W' / W - 0.5`` (and the same for ``y``);
- :func:`letterbox_matrix`: a view of any aspect into the model size without stretching it: scaled
  by ``s = min(W / W0, H / H0)`` to ``w x h = round(s W0) x round(s H0)`` pixels (a resize as
  above, per axis ``w / W0`` and ``h / H0``, which differ by less than half a pixel over the
  side), then shifted by ``((W - w) // 2, (H - h) // 2)`` onto a black canvas
  (:func:`letterbox_image` draws exactly that; :func:`lp3d_models.model.letterbox_affine` is the
  same map in torch);
- :func:`random_affine`: rotation, zoom and shift about the image centre (never a flip: a
  horizontal flip swaps left and right body parts differently in each view).

Photometric changes (brightness, contrast, noise, blur) do not move keypoints. A keypoint moved
out of the image becomes NaN (unlabeled).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lp3d_models.config import AugmentConfig

__all__ = [
    "resize_matrix",
    "letterbox",
    "letterbox_matrix",
    "letterbox_image",
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


def letterbox(src_size: tuple[int, int], dst_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where an image of ``src_size`` goes in ``dst_size`` (both ``(width, height)``) with its aspect
    kept: its scaled size and offset ``(w, h, x0, y0)`` (see the module docstring)."""
    (w0, h0), (w, h) = src_size, dst_size
    scale = min(w / w0, h / h0)
    sw = max(1, min(w, math.floor(scale * w0 + 0.5)))
    sh = max(1, min(h, math.floor(scale * h0 + 0.5)))
    return sw, sh, (w - sw) // 2, (h - sh) // 2


def letterbox_matrix(src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """The ``2 x 3`` matrix of :func:`letterbox_image` (original to model pixels)."""
    sw, sh, x0, y0 = letterbox(src_size, dst_size)
    matrix = resize_matrix(src_size, (sw, sh))
    matrix[:, 2] += (x0, y0)
    return matrix


def letterbox_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H0, W0, C)`` scaled into ``size`` ``(width, height)`` with its aspect kept, centred on black
    (:func:`resize_image`, then padding; :func:`letterbox_matrix` maps its pixels)."""
    sw, sh, x0, y0 = letterbox((image.shape[1], image.shape[0]), size)
    resized = resize_image(image, (sw, sh))
    if (sw, sh) == tuple(size):
        return resized
    out = np.zeros((size[1], size[0], *image.shape[2:]), dtype=image.dtype)
    out[y0 : y0 + sh, x0 : x0 + sw] = resized
    return out


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
