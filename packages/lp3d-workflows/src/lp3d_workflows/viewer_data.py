"""What a viewer shows of a session's results: one frame's overlays, and one keypoint's series.

A *source* is one store of a session (:class:`lp3d_workflows.project.SourceInfo`): ensemble members
(a predictions group) and / or a smoothed result (a smoothed group), and its calibration.
:class:`SourceReader` reads them by chunk, never a whole session:

- :meth:`SourceReader.frame`: every layer at one frame (members, ensemble centre, the smoothed
  track and its posterior variance, inflated observations, the per-frame triangulation of the
  centres reprojected, the 3D position). The store's time chunks (``time_chunk`` frames, all
  keypoints) are read whole and kept in a small cache, so playing through a session reads each
  chunk once.
- :meth:`SourceReader.series`: one keypoint over a range of frames, every view: members, centre,
  smoothed track with its 95% band, ensemble variance, posterior variance, the reprojection error
  (pixels between ensemble centre and smoothed track), inflation flags, and ``s``; reads only that
  keypoint's chunks (the store's layout for large arrays) and decimates on the server
  (:func:`decimate_min_max`: per screen column its minimum and maximum, so a plot of 100,000 frames
  is 2 x ``width`` points and no spike is lost).

Pixel quantities use the smoothed dataset's ``image_space`` variables, the same for every
smoother (``reprojection`` is the smoothed track in each view). Without a smoothed group the
ensemble centre is the members' median.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lp3d_workflows.errors import UserError

__all__ = [
    "Z95",
    "FrameOverlay",
    "KeypointSeries",
    "SourceReader",
    "decimate_min_max",
    "bucket_size",
]

Z95 = 1.959963984540054
CACHE_BYTES = 384 << 20
"""Decoded time chunks kept per process (all sources together)."""

_FRAME_VARIABLES = {
    "smoothed": (
        "ensemble_center",
        "reprojection",
        "reprojection_variance",
        "inflation",
        "position",
        "position_variance",
    ),
    "predictions": ("position",),
}


class _ChunkCache:
    """Least recently used decoded arrays, bounded in bytes (shared by every reader of a process)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple, value: np.ndarray) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes


_CACHE = _ChunkCache(CACHE_BYTES)


@dataclass(frozen=True)
class FrameOverlay:
    """Every layer of one source at one frame (one individual); NaN where there is nothing.

    Attributes:
        frame: the frame index.
        members: ``(member, view, keypoint, 2)`` pixels, or None without members.
        center: ``(view, keypoint, 2)`` ensemble centre.
        smoothed: ``(view, keypoint, 2)`` the smoothed track in each view, or None.
        smoothed_variance: ``(view, keypoint, 2)`` its posterior variance in pixels², or None.
        inflated: ``(view, keypoint)`` observations whose variance the smoother inflated, or None.
        triangulated: ``(view, keypoint, 2)`` the per-frame DLT of the centres, reprojected
            (calibrated sources), or None.
        position3d: ``(keypoint, 3)`` the smoothed 3D position (calibrated smoother), or None.
        variance3d: ``(keypoint, 3)`` its posterior variance, or None.
    """

    frame: int
    members: np.ndarray | None
    center: np.ndarray
    smoothed: np.ndarray | None
    smoothed_variance: np.ndarray | None
    inflated: np.ndarray | None
    triangulated: np.ndarray | None
    position3d: np.ndarray | None
    variance3d: np.ndarray | None


@dataclass(frozen=True)
class KeypointSeries:
    """One keypoint over frames ``start..stop-1``, decimated to about ``2 * width`` points.

    Attributes:
        keypoint: its name.
        start, stop: the frame range.
        step: frames per column (1: every frame, no decimation).
        time: ``(n,)`` frame of each point (with decimation each column gives two points: its
            minimum, then its maximum, both at the column's first frame and half a column later).
        views: ``{view: {series: (n,) values}}``: ``x_center``, ``y_center``, ``x_smoothed``,
            ``y_smoothed``, ``x_low``, ``x_high``, ``y_low``, ``y_high`` (95% band),
            ``ensemble_variance`` and ``posterior_variance`` (x + y, pixels²), ``error`` (pixels
            between centre and smoothed track), ``inflated`` (share of inflated frames in the
            column, 0..1), and per member ``x_<member>``, ``y_<member>``.
        space: ``{series: (n,)}`` for a 3D result: ``x``, ``y``, ``z`` and ``variance`` (sum).
        s: the smoothing parameter of this keypoint, or None.
    """

    keypoint: str
    start: int
    stop: int
    step: int
    time: np.ndarray
    views: dict[str, dict[str, np.ndarray]]
    space: dict[str, np.ndarray]
    s: float | None


def bucket_size(n: int, width: int) -> int:
    """Frames per column so that ``n`` frames fit ``width`` columns of two points each (1: no decimation)."""
    if width < 1:
        raise UserError(f"width: expected a positive number of columns, but got {width}")
    return 1 if n <= 2 * width else math.ceil(n / width)


def decimate_min_max(values: np.ndarray, step: int) -> np.ndarray:
    """Per column of ``step`` values along the last axis, its minimum then its maximum (NaN ignored;
    NaN where a column is all NaN). ``(..., n)`` -> ``(..., 2 * ceil(n / step))``; ``step`` 1 returns
    the values."""
    if step <= 1:
        return values
    n = values.shape[-1]
    columns = -(-n // step)
    padded = np.full((*values.shape[:-1], columns * step), np.nan, dtype=np.float64)
    padded[..., :n] = values
    blocks = padded.reshape(*values.shape[:-1], columns, step)
    finite = np.isfinite(blocks)
    low = np.where(finite, blocks, np.inf).min(axis=-1)
    high = np.where(finite, blocks, -np.inf).max(axis=-1)
    empty = ~finite.any(axis=-1)
    low[empty] = np.nan
    high[empty] = np.nan
    out = np.empty((*values.shape[:-1], 2 * columns), dtype=np.float64)
    out[..., 0::2] = low
    out[..., 1::2] = high
    return out


class _Group:
    """One group of a store, read array by array through zarr (opened once)."""

    def __init__(self, store: Path, group: str) -> None:
        import zarr

        self.key = (str(store), group)
        self.group = zarr.open_group(store / group, mode="r", zarr_format=2, use_consolidated=True)
        self.arrays: dict[str, Any] = {}
        self.dims: dict[str, list[str]] = {}
        for name in self.group.array_keys():
            array = self.group[name]
            self.arrays[name] = array
            self.dims[name] = list(array.attrs.get("_ARRAY_DIMENSIONS", []))

    def names(self, dim: str) -> list[str]:
        return [str(v) for v in self.arrays[dim][:]]

    def has(self, name: str) -> bool:
        return name in self.arrays

    def time_chunk(self, name: str) -> int:
        return int(self.arrays[name].chunks[self.dims[name].index("time")])

    def block(self, name: str, index: int) -> np.ndarray:
        """Time chunk ``index`` of a variable, time moved first (cached)."""
        key = (*self.key, name, index)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        array, dims = self.arrays[name], self.dims[name]
        axis = dims.index("time")
        size = self.time_chunk(name)
        selection = [slice(None)] * len(dims)
        selection[axis] = slice(index * size, min((index + 1) * size, array.shape[axis]))
        values = np.moveaxis(np.asarray(array[tuple(selection)]), axis, 0)
        _CACHE.put(key, values)
        return values

    def at(self, name: str, frame: int) -> np.ndarray:
        """A variable at one frame (time removed)."""
        size = self.time_chunk(name)
        return self.block(name, frame // size)[frame % size]

    def keypoint_range(self, name: str, keypoint: int, start: int, stop: int) -> np.ndarray:
        """A variable at one keypoint over ``start..stop-1`` (time first, keypoint removed)."""
        array, dims = self.arrays[name], self.dims[name]
        selection: list[Any] = [slice(None)] * len(dims)
        selection[dims.index("time")] = slice(start, stop)
        selection[dims.index("keypoint")] = keypoint
        values = np.asarray(array[tuple(selection)])
        kept = [d for d in dims if d != "keypoint"]
        return np.moveaxis(values, kept.index("time"), 0)


class SourceReader:
    """Reads one source's layers (see the module docstring).

    Args:
        store: the store folder.
        predictions: its predictions group (members), or None.
        smoothed: its smoothed group, or None.
        calibrated: the store has a calibration group (for the triangulation layer).

    Raises:
        ValueError: the groups do not agree on views, keypoints or frames.
    """

    def __init__(self, store: Path, predictions: str | None, smoothed: str | None, calibrated: bool = False) -> None:
        if predictions is None and smoothed is None:
            raise UserError(f"{store}: expected a predictions or a smoothed group")
        self.store = Path(store)
        self.predictions = _Group(self.store, predictions) if predictions else None
        self.smoothed = _Group(self.store, smoothed) if smoothed else None
        main = self.smoothed or self.predictions
        assert main is not None
        self.views = main.names("view")
        self.keypoints = main.names("keypoint")
        self.individuals = main.names("individual")
        self.n_frames = int(main.arrays["time"].shape[0])
        self.members = self.predictions.names("member") if self.predictions else []
        self.smoother = str(self.smoothed.group.attrs.get("smoother")) if self.smoothed else None
        self._rig = None
        if calibrated:
            from lp3d_io.store import read_calibration

            self._rig = read_calibration(self.store)
        if self.predictions is not None and self.smoothed is not None:
            same = self.predictions.names("view") == self.views and self.predictions.names("keypoint") == self.keypoints
            if not same or int(self.predictions.arrays["time"].shape[0]) != self.n_frames:
                raise UserError(f"{store}: expected the predictions and the smoothed result to have the same views, keypoints and frames")

    def _check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.n_frames:
            raise IndexError(f"frame: expected 0..{self.n_frames - 1}, but got {frame}")

    def _individual(self, individual: str | None) -> int:
        if individual is None:
            return 0
        if individual not in self.individuals:
            raise UserError(f"individual: expected one of {self.individuals}, but got {individual!r}")
        return self.individuals.index(individual)

    def keypoint_index(self, keypoint: str) -> int:
        if keypoint not in self.keypoints:
            raise KeyError(f"keypoint {keypoint!r}: expected one of {self.keypoints}")
        return self.keypoints.index(keypoint)

    def frame(self, frame: int, individual: str | None = None) -> FrameOverlay:
        """Every layer at ``frame`` (see :class:`FrameOverlay`)."""
        self._check_frame(frame)
        i = self._individual(individual)
        members = None
        if self.predictions is not None:
            members = self.predictions.at("position", frame)[:, :, :, i, :]  # (member, view, keypoint, 2)
        sm = self.smoothed
        if sm is None:
            assert members is not None
            center = _nanmedian(members, axis=0)
            smoothed = variance = inflated = position3d = variance3d = None
        else:
            center = sm.at("ensemble_center", frame)[:, :, i]
            smoothed = sm.at("reprojection", frame)[:, :, i]
            variance = sm.at("reprojection_variance", frame)[:, :, i]
            inflated = sm.at("inflation", frame)[:, :, i] > 1.0
            position3d = variance3d = None
            if self.smoother == "calibrated":
                position3d = sm.at("position", frame)[:, i]
                variance3d = sm.at("position_variance", frame)[:, i]
        triangulated = None
        if self._rig is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                triangulated = self._rig.project(self._rig.triangulate(center))
        return FrameOverlay(frame, members, center, smoothed, variance, inflated, triangulated, position3d, variance3d)

    def series(
        self,
        keypoint: str,
        start: int = 0,
        stop: int | None = None,
        width: int = 1500,
        *,
        views: Sequence[str] | None = None,
        members: bool = True,
        individual: str | None = None,
    ) -> KeypointSeries:
        """One keypoint over ``start..stop-1``, decimated to ``width`` columns (see :class:`KeypointSeries`)."""
        k = self.keypoint_index(keypoint)
        i = self._individual(individual)
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        start = max(int(start), 0)
        if stop <= start:
            raise UserError(f"frames: expected start < stop within 0..{self.n_frames}, but got {start}..{stop}")
        chosen = list(self.views) if views is None else list(views)
        unknown = [v for v in chosen if v not in self.views]
        if unknown:
            raise UserError(f"views: expected names among {self.views}, but got {unknown}")
        step = bucket_size(stop - start, width)
        frames = np.arange(start, stop)
        if step > 1:
            time = np.repeat(frames[::step], 2).astype(np.float64)
            time[1::2] += (step - 1) / 2
        else:
            time = frames.astype(np.float64)
        v_idx = [self.views.index(v) for v in chosen]
        raw: dict[str, np.ndarray] = {}  # name -> (view, time) or (member, view, time)
        if self.predictions is not None and (members or self.smoothed is None):
            pos = self.predictions.keypoint_range("position", k, start, stop)[:, :, :, i, :]  # (time, member, view, 2)
            pos = np.moveaxis(pos, 0, -2)  # (member, view, time, 2)
            raw["members"] = pos[:, v_idx]
        sm = self.smoothed
        if sm is not None:

            def get(name: str) -> np.ndarray:
                values = sm.keypoint_range(name, k, start, stop)  # (time, view, individual, ...)
                return np.moveaxis(values[:, v_idx][:, :, i], 0, 1)  # (view, time, ...)

            raw["center"] = get("ensemble_center")
            raw["smoothed"] = get("reprojection")
            raw["variance"] = get("reprojection_variance")
            raw["ensemble_variance"] = get("ensemble_variance")
            raw["inflation"] = get("inflation")
        elif "members" in raw:
            raw["center"] = _nanmedian(raw["members"], axis=0)
        out: dict[str, dict[str, np.ndarray]] = {}
        for j, view in enumerate(chosen):
            series: dict[str, np.ndarray] = {}
            center = raw["center"][j]
            series["x_center"], series["y_center"] = center[:, 0], center[:, 1]
            if "smoothed" in raw:
                track, var = raw["smoothed"][j], raw["variance"][j]
                sd = np.sqrt(np.maximum(var, 0.0))
                series["x_smoothed"], series["y_smoothed"] = track[:, 0], track[:, 1]
                series["x_low"], series["x_high"] = track[:, 0] - Z95 * sd[:, 0], track[:, 0] + Z95 * sd[:, 0]
                series["y_low"], series["y_high"] = track[:, 1] - Z95 * sd[:, 1], track[:, 1] + Z95 * sd[:, 1]
                series["posterior_variance"] = var.sum(axis=-1)
                series["ensemble_variance"] = raw["ensemble_variance"][j].sum(axis=-1)
                series["error"] = np.sqrt(((center - track) ** 2).sum(axis=-1))
                series["inflated"] = (raw["inflation"][j] > 1.0).astype(np.float64)
            if "members" in raw:
                for m, member in enumerate(self.members):
                    series[f"x_{member}"] = raw["members"][m, j, :, 0]
                    series[f"y_{member}"] = raw["members"][m, j, :, 1]
            out[view] = {name: _decimate_series(name, values, step) for name, values in series.items()}
        space: dict[str, np.ndarray] = {}
        s = None
        if sm is not None:
            s = float(np.asarray(sm.arrays["smoothing_parameter"][k, i]))
            if self.smoother == "calibrated":
                position = sm.keypoint_range("position", k, start, stop)[:, i]  # (time, 3)
                variance = sm.keypoint_range("position_variance", k, start, stop)[:, i]
                for a, axis in enumerate("xyz"):
                    space[axis] = decimate_min_max(position[:, a], step)
                space["variance"] = decimate_min_max(variance.sum(axis=-1), step)
        return KeypointSeries(keypoint, start, stop, step, time, out, space, s)


def _decimate_series(name: str, values: np.ndarray, step: int) -> np.ndarray:
    if name != "inflated" or step <= 1:
        return decimate_min_max(np.asarray(values, dtype=np.float64), step)
    share = decimate_min_max(values, step)  # a column's flags: the share of inflated frames, twice
    n = values.shape[-1]
    columns = -(-n // step)
    padded = np.zeros(columns * step)
    padded[:n] = values
    mean = padded.reshape(columns, step).sum(axis=-1) / np.minimum(step, n - np.arange(columns) * step)
    share[0::2] = mean
    share[1::2] = mean
    return share


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """Median over ``axis`` ignoring NaN; NaN where all are NaN (without numpy's warning about it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)
