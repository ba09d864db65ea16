"""Input checks shared by the public functions: clear one-line errors, no silent reshaping."""

from __future__ import annotations

import numpy as np


def _where(mask: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"first at index {idx}"


def as_predictions(predictions) -> np.ndarray:
    """``(member, view, time, keypoint, 2)`` C-contiguous float64 (a copy only if needed)."""
    try:
        pos = np.ascontiguousarray(predictions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("predictions: expected a numeric array (member, view, time, keypoint, 2)") from None
    if pos.ndim != 5 or pos.shape[-1] != 2:
        raise ValueError(f"predictions: expected shape (member, view, time, keypoint, 2), but got {pos.shape}")
    if min(pos.shape) == 0:
        raise ValueError(f"predictions: expected no empty axis, but got shape {pos.shape}")
    bad = np.isinf(pos)
    if bad.any():
        raise ValueError(f"predictions: expected finite numbers (NaN for missing), but got inf ({_where(bad)})")
    return pos


def as_confidences(confidences, shape: tuple[int, ...]) -> np.ndarray | None:
    if confidences is None:
        return None
    conf = np.ascontiguousarray(confidences, dtype=np.float64)
    if conf.shape != tuple(shape):
        raise ValueError(f"confidences: expected shape {tuple(shape)}, but got {conf.shape}")
    bad = np.isinf(conf) | (conf < 0)
    if bad.any():
        raise ValueError(f"confidences: expected non-negative finite numbers or NaN ({_where(bad)})")
    return conf


def as_observations(center, variance) -> tuple[np.ndarray, np.ndarray]:
    c = np.ascontiguousarray(center, dtype=np.float64)
    v = np.ascontiguousarray(variance, dtype=np.float64)
    if c.ndim != 4 or c.shape[-1] != 2:
        raise ValueError(f"center: expected shape (view, time, keypoint, 2), but got {c.shape}")
    if v.shape != c.shape:
        raise ValueError(f"variance: expected shape {c.shape} like the center, but got {v.shape}")
    for name, arr in (("center", c), ("variance", v)):
        bad = np.isinf(arr)
        if bad.any():
            raise ValueError(f"{name}: expected finite numbers (NaN for missing), but got inf ({_where(bad)})")
    bad = v < 0
    if bad.any():
        raise ValueError(f"variance: expected non-negative values ({_where(bad)})")
    return c, v


def per_keypoint(value, K: int, name: str) -> np.ndarray | None:
    """None (automatic), a positive scalar, or K positive values (NaN = automatic for that one)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(K, float(arr))
    if arr.shape != (K,):
        raise ValueError(f"{name}: expected a number or {K} values (one per keypoint), but got shape {arr.shape}")
    if np.any(arr[np.isfinite(arr)] <= 0) or np.isinf(arr).any():
        raise ValueError(f"{name}: expected positive finite values (NaN for automatic), but got {arr.tolist()}")
    return arr


def frame_ranges(ranges, T: int) -> list[tuple[int, int]] | None:
    """``[(start, stop), ...]`` half-open frame ranges inside ``[0, T)``."""
    if ranges is None:
        return None
    out = []
    for item in ranges:
        try:
            start, stop = (int(x) for x in item)
        except (TypeError, ValueError):
            raise ValueError(f"s_frames: expected (start, stop) pairs, but got {item!r}") from None
        if not (0 <= start < stop <= T) or stop - start < 2:
            raise ValueError(f"s_frames: expected 0 <= start < stop <= {T} with >= 2 frames, but got ({start}, {stop})")
        out.append((start, stop))
    if not out:
        raise ValueError("s_frames: expected at least one (start, stop) range")
    return out
