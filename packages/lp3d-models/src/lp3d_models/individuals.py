"""Several animals in one model: every individual's keypoints as channels of its own.

The animals lp3d tells apart are *visually distinct* (fixed identities: a dark and a light mouse, a
marked and an unmarked bird), so identity is a matter of appearance, as keypoints are: a model of
``I`` individuals with ``K`` keypoints each predicts ``I K`` heatmaps, one per *channel*, in
individual-major order::

    channel c = i K + k        (individual i, keypoint k)

Labels, predictions, the losses, patch masking, the 3D augmentation and the triangulation loss all
work on channels, so each of them is per individual by construction: an individual absent from a
labeled frame is NaN in its ``K`` channels, which every loss ignores; the triangulation loss asks
the views to agree on one 3D point per channel, i.e. per keypoint of each animal; the 3D
augmentation moves every animal by the same similarity (one camera transform for the whole scene,
so one image warp per view still carries all of them). A model of one animal has ``K`` channels:
the keypoints, as before.

Stores and files keep lp3d-io's convention, ``(..., keypoint, individual, ...)``:
:func:`to_channels` and :func:`from_channels` go between the two.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_channels", "from_channels"]


def to_channels(values: np.ndarray, axis: int) -> np.ndarray:
    """Merges the ``keypoint`` axis ``axis`` and the ``individual`` axis after it into one channel
    axis (individual-major): ``(..., K, I, ...) -> (..., I K, ...)``."""
    values = np.asarray(values)
    axis = axis % values.ndim
    moved = np.moveaxis(values, axis + 1, axis)  # (..., I, K, ...)
    return moved.reshape(moved.shape[:axis] + (-1,) + moved.shape[axis + 2 :])


def from_channels(values: np.ndarray, n_individuals: int, axis: int) -> np.ndarray:
    """The inverse of :func:`to_channels`: channel axis ``axis`` of ``I K`` entries to ``(..., K, I, ...)``.

    Raises:
        ValueError: the channels are not a multiple of ``n_individuals``.
    """
    values = np.asarray(values)
    axis = axis % values.ndim
    n = values.shape[axis]
    if n_individuals < 1 or n % n_individuals:
        raise ValueError(f"channels: expected a multiple of the {n_individuals} individuals, but got {n}")
    split = values.reshape(values.shape[:axis] + (n_individuals, n // n_individuals) + values.shape[axis + 1 :])
    return np.moveaxis(split, axis, axis + 1)
