"""What a viewer shows of a session's results: one frame's overlays, and one keypoint's series.

A *source* is one store of a session (:class:`lp3d_workflows.project.SourceInfo`): ensemble members
(a predictions group) and / or a smoothed result (a smoothed group), and its calibration.
:class:`SourceReader` reads them by chunk, never a whole session at once:

- :meth:`SourceReader.frame`: every layer at one frame (members, ensemble centre, the smoothed
  track and its posterior variance, inflated observations, the per-frame triangulation of the
  centres reprojected, the 3D position). It reads the store's time chunk of each variable that
  holds the frame (:func:`lp3d_io.store.storage`: about 1 MiB of whole frames) and keeps decoded
  chunks in a small cache; while a viewer plays, the next chunks are read ahead on a thread.
- :meth:`SourceReader.series`: one keypoint over a range of frames, every view: centre, smoothed
  track with its 95% band, ensemble variance, posterior variance, the reprojection error (pixels
  between ensemble centre and smoothed track), inflation flags, ``s``, and on request each
  member; decimated on the server (per screen column its minimum and maximum, so a plot of
  100,000 frames is 2 x ``width`` points and no spike is lost). A short range is read from the
  store's chunks; a long one from the source's **overview**: every series' minimum and maximum
  per block of :data:`OVERVIEW_BLOCK` frames, built in one pass over the store the first time it
  is needed and kept in the app's cache folder (``<project>/.lp3d-app/cache/<source id>/``,
  :data:`CACHE_DIR`), rebuilt when the store changes (its groups' consolidated metadata, the
  store's commit record, differ).
- :meth:`SourceReader.spans`: the whole session, all keypoints, one span of frames at a time
  (what the overview and :mod:`lp3d_workflows.diagnostics` read).

Pixel quantities use the smoothed dataset's ``image_space`` variables, the same for every
smoother (``reprojection`` is the smoothed track in each view). Without a smoothed group the
ensemble centre is the members' median.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lp3d_eks import Z_95

from lp3d_workflows.errors import UserError
from lp3d_workflows.project import APP_DIR

__all__ = [
    "CACHE_DIR",
    "OVERVIEW_BLOCK",
    "RAW_FRAMES",
    "FrameOverlay",
    "KeypointSeries",
    "Span",
    "SourceReader",
    "decimate_min_max",
    "bucket_size",
]

log = logging.getLogger(__name__)

CACHE_BYTES = 384 << 20
"""Decoded time chunks kept per process (all sources together)."""
CACHE_DIR = f"{APP_DIR}/cache"
"""The app's cache folder in a project: one folder per source id (the overview)."""
OVERVIEW_BLOCK = 16
"""Frames per block of the overview (each series' minimum and maximum per block)."""
RAW_FRAMES = 8192
"""A series of at most this many frames is read from the store's chunks at full resolution; a longer
one whose columns would be narrower than a block comes from the overview, one column per block."""
_OVERVIEW_VERSION = 2
_ORDER = ("member", "view", "time", "keypoint")


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

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._items

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
_PREFETCH = ThreadPoolExecutor(1, thread_name_prefix="lp3d-prefetch")


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
            minimum, then its maximum, at the column's first frame and half a column later).
            Columns from the overview are whole blocks: the first may start up to
            ``OVERVIEW_BLOCK - 1`` frames before ``start``, the last end as far after ``stop``.
        views: ``{view: {series: (n,) values}}``: ``x_center``, ``y_center``, ``x_smoothed``,
            ``y_smoothed``, ``x_low``, ``x_high``, ``y_low``, ``y_high`` (95% band),
            ``ensemble_variance`` and ``posterior_variance`` (x + y, pixels²), ``error`` (pixels
            between centre and smoothed track), ``inflated`` (share of inflated frames in the
            column, 0..1), and with ``members`` per member ``x_<member>``, ``y_<member>``.
        space: ``{series: (n,)}`` for a 3D result: ``x``, ``y``, ``z`` and ``variance`` (sum).
        s: the smoothing parameter of this keypoint, or None.
        overview: the columns come from the overview (blocks of :data:`OVERVIEW_BLOCK` frames).
    """

    keypoint: str
    start: int
    stop: int
    step: int
    time: np.ndarray
    views: dict[str, dict[str, np.ndarray]]
    space: dict[str, np.ndarray]
    s: float | None
    overview: bool = False


@dataclass(frozen=True)
class Span:
    """Frames ``start..stop-1`` of a source, every keypoint (one individual), as arrays.

    Attributes:
        start, stop: the frames.
        layers: ``center``, ``smoothed``, ``variance``, ``ensemble_variance`` ``(view, time,
            keypoint, 2)``; ``inflation`` ``(view, time, keypoint)``; ``members`` ``(member, view,
            time, keypoint, 2)``; ``position``, ``position_variance`` ``(time, keypoint, 3)`` (a
            calibrated smoother); those the source has.
    """

    start: int
    stop: int
    layers: dict[str, np.ndarray]


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
    blocks = _pad_last(values, columns * step).reshape(*values.shape[:-1], columns, step)
    out = np.empty((*values.shape[:-1], 2 * columns), dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    out[..., 0::2] = np.fmin.reduce(blocks, axis=-1)  # fmin / fmax skip NaN (NaN only when all are)
    out[..., 1::2] = np.fmax.reduce(blocks, axis=-1)
    return out


def _pad_last(values: np.ndarray, n: int, fill: float = np.nan) -> np.ndarray:
    if values.shape[-1] == n:
        return values
    dtype = values.dtype if values.dtype.kind == "f" else np.float64
    out = np.full((*values.shape[:-1], n), fill, dtype=dtype)
    out[..., : values.shape[-1]] = values
    return out


def _column_share(flags: np.ndarray, step: int) -> np.ndarray:
    """Per column of ``step`` frames the share of flagged frames, twice (the min / max layout)."""
    n = flags.shape[-1]
    columns = -(-n // step)
    counts = (
        _pad_last(flags.astype(np.float32), columns * step, 0.0).reshape(*flags.shape[:-1], columns, step).sum(axis=-1)
    )
    share = counts / np.minimum(step, n - np.arange(columns) * step)
    return np.repeat(share, 2, axis=-1)


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """Median over ``axis`` ignoring NaN; NaN where all are NaN (without numpy's warning about it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def _version(folder: Path) -> list:
    """What identifies a group's committed state: its consolidated metadata's size and time."""
    try:
        stat = (folder / ".zmetadata").stat()
    except OSError:
        return [str(folder), None]
    return [str(folder), stat.st_size, stat.st_mtime_ns]


@dataclass(frozen=True)
class _Layout:
    """How one array of a group is stored (read once from its metadata)."""

    chunks: tuple[int, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    compressor: Any
    fill_value: Any
    separator: str
    time_chunked: bool
    direct: bool  # chunk files read and decoded here (no filters, C order, zarr v2)
    path: str


class _Group:
    """One group of a store, read through zarr (opened once). Arrays chunked along ``time`` alone
    (the store's layout for whole frames, :func:`lp3d_io.store.storage`) are read chunk file by
    chunk file (zarr v2: ``<array>/<i>.0.0...``, decoded by the array's numcodecs compressor, no
    thread hop through zarr's event loop), and decoded chunks are cached."""

    def __init__(self, store: Path, group: str) -> None:
        import zarr

        self.folder = store / group
        self.version = _version(self.folder)
        self.key = (str(store), group, *self.version[1:])
        self.group = zarr.open_group(self.folder, mode="r", zarr_format=2, use_consolidated=True)
        self.arrays: dict[str, Any] = {}
        self.dims: dict[str, list[str]] = {}
        self._layout: dict[str, _Layout] = {}
        for name in self.group.array_keys():
            array = self.group[name]
            self.arrays[name] = array
            dims = list(array.attrs.get("_ARRAY_DIMENSIONS", []))
            self.dims[name] = dims
            meta = array.metadata
            chunks, shape = tuple(int(c) for c in array.chunks), tuple(int(n) for n in array.shape)
            whole = all(c >= n for d, c, n in zip(dims, chunks, shape, strict=True) if d != "time")
            plain = not getattr(meta, "filters", None) and getattr(meta, "order", "C") == "C"
            self._layout[name] = _Layout(
                chunks=chunks,
                shape=shape,
                dtype=np.dtype(array.dtype),
                compressor=getattr(meta, "compressor", None),
                fill_value=getattr(meta, "fill_value", None),
                separator=getattr(meta, "dimension_separator", None) or ".",
                time_chunked="time" in dims and whole,
                direct=plain and hasattr(meta, "dimension_separator"),
                path=str(self.folder / name),
            )

    def names(self, dim: str) -> list[str]:
        return [str(v) for v in self.arrays[dim][:]]

    def has(self, name: str) -> bool:
        return name in self.arrays

    def time_chunk(self, name: str) -> int:
        return self._layout[name].chunks[self.dims[name].index("time")]

    def time_chunked(self, name: str) -> bool:
        """Whether a chunk of ``name`` holds whole frames (every other axis whole): one frame, one chunk."""
        return self._layout[name].time_chunked

    def block(self, name: str, index: int, *, cache: bool = True) -> np.ndarray:
        """Time chunk ``index`` of a variable (every keypoint), in its stored axis order (cached)."""
        key = (*self.key, name, index)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        values = self._chunk_file(name, index) if self.time_chunked(name) else None
        if values is None:  # a layout not read here (filters, one keypoint per chunk, ...): through zarr
            array, dims = self.arrays[name], self.dims[name]
            axis = dims.index("time")
            size = self.time_chunk(name)
            selection = [slice(None)] * len(dims)
            selection[axis] = slice(index * size, min((index + 1) * size, array.shape[axis]))
            values = np.asarray(array[tuple(selection)])
        if cache:
            _CACHE.put(key, values)
        return values

    def _chunk_file(self, name: str, index: int) -> np.ndarray | None:
        layout, dims = self._layout[name], self.dims[name]
        if not layout.direct:
            return None
        axis = dims.index("time")
        key = layout.separator.join(str(index) if d == axis else "0" for d in range(len(dims)))
        shape = layout.chunks
        try:
            with open(f"{layout.path}/{key}", "rb") as f:
                data = f.read()
        except FileNotFoundError:
            values = np.full(shape, layout.fill_value, dtype=layout.dtype)
        else:
            if layout.compressor is not None:
                data = layout.compressor.decode(data)
            values = np.frombuffer(data, dtype=layout.dtype).reshape(shape)
        stop = min((index + 1) * shape[axis], layout.shape[axis]) - index * shape[axis]
        return values if stop == shape[axis] else values[(slice(None),) * axis + (slice(0, stop),)]

    def cached(self, name: str, index: int) -> bool:
        return (*self.key, name, index) in _CACHE

    def read(
        self,
        name: str,
        start: int,
        stop: int,
        *,
        keypoints: slice = slice(None),
        individual: int = 0,
        cache: bool = True,
    ) -> np.ndarray:
        """A variable over frames ``start..stop-1``, individual removed, axes ordered ``member, view,
        time, keypoint, ...``: from its time chunks (kept in the cache with ``cache``) when they hold
        whole frames, or when every keypoint of at most one chunk's frames is asked (a frame of a
        store in the earlier one-keypoint layout); else through zarr (only those keypoints' chunks)."""
        array, dims = self.arrays[name], self.dims[name]
        axis = dims.index("time")
        selection: list[Any] = [slice(None)] * len(dims)
        every_keypoint = keypoints == slice(None)
        if self.time_chunked(name) or (cache and every_keypoint and stop - start <= self.time_chunk(name)):
            size = self.time_chunk(name)
            first, last = start // size, (stop - 1) // size
            if first == last:
                values = self.block(name, first, cache=cache)
            else:
                layout = self._layout[name]
                span = min((last + 1) * size, layout.shape[axis]) - first * size
                values = np.empty(layout.shape[:axis] + (span,) + layout.shape[axis + 1 :], dtype=layout.dtype)
                for c in range(first, last + 1):
                    piece = self.block(name, c, cache=cache)
                    at = (c - first) * size
                    values[(slice(None),) * axis + (slice(at, at + piece.shape[axis]),)] = piece
            selection[axis] = slice(start - first * size, stop - first * size)
            if "keypoint" in dims:
                selection[dims.index("keypoint")] = keypoints
        else:
            selection[axis] = slice(start, stop)
            if "keypoint" in dims:
                selection[dims.index("keypoint")] = keypoints
            values = np.asarray(array[tuple(selection)])
            selection = [slice(None)] * len(dims)
        if "individual" in dims:
            selection[dims.index("individual")] = individual
        values = values[tuple(selection)]
        kept = [d for d in dims if d != "individual"]
        order = [d for d in _ORDER if d in kept] + [d for d in kept if d not in _ORDER]
        return np.transpose(values, [kept.index(d) for d in order])


class SourceReader:
    """Reads one source's layers (see the module docstring).

    Args:
        store: the store folder.
        predictions: its predictions group (members), or None.
        smoothed: its smoothed group, or None.
        calibrated: the store has a calibration group (for the triangulation layer).
        cache: a folder for the overview (created when needed; None or not writable: kept in memory).

    Raises:
        UserError: no group, or the groups do not agree on views, keypoints or frames.
    """

    def __init__(
        self,
        store: Path,
        predictions: str | None,
        smoothed: str | None,
        calibrated: bool = False,
        *,
        cache: Path | None = None,
    ) -> None:
        if predictions is None and smoothed is None:
            raise UserError(f"{store}: expected a predictions or a smoothed group")
        self.store = Path(store)
        self.cache = None if cache is None else Path(cache)
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
                raise UserError(
                    f"{store}: expected the predictions and the smoothed result to have the same views, keypoints "
                    "and frames"
                )
        self._overviews: dict[int, tuple[list[tuple[str | None, str]], np.ndarray]] = {}
        self._overview_lock = threading.Lock()
        self._prefetching: set[tuple] = set()

    # --- what a layer is made of ---------------------------------------------------------------

    def _sources(self, *, members: bool, series: bool) -> dict[str, tuple[_Group, str]]:
        """``{layer: (group, variable)}`` of what this source has."""
        out: dict[str, tuple[_Group, str]] = {}
        if self.predictions is not None and (members or self.smoothed is None):
            out["members"] = (self.predictions, "position")
        sm = self.smoothed
        if sm is not None:
            out.update(
                center=(sm, "ensemble_center"),
                smoothed=(sm, "reprojection"),
                variance=(sm, "reprojection_variance"),
                inflation=(sm, "inflation"),
            )
            if series:
                out["ensemble_variance"] = (sm, "ensemble_variance")
            if self.smoother == "calibrated":
                out.update(position=(sm, "position"), position_variance=(sm, "position_variance"))
        return out

    def _layers(
        self, start: int, stop: int, *, members: bool, series: bool, keypoints: slice, individual: int
    ) -> dict[str, np.ndarray]:
        layers = {
            layer: group.read(name, start, stop, keypoints=keypoints, individual=individual)
            for layer, (group, name) in self._sources(members=members, series=series).items()
        }
        if "center" not in layers:
            layers["center"] = _nanmedian(layers["members"], axis=0)
        return layers

    def _check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.n_frames:
            raise IndexError(f"frame: expected 0..{self.n_frames - 1}, but got {frame}")

    def individual_index(self, individual: str | None) -> int:
        """The index of an animal of the source by name (None: the first); a user error otherwise."""
        if individual is None:
            return 0
        if individual not in self.individuals:
            raise UserError(f"individual: expected one of {self.individuals}, but got {individual!r}")
        return self.individuals.index(individual)

    def keypoint_index(self, keypoint: str) -> int:
        if keypoint not in self.keypoints:
            raise KeyError(f"keypoint {keypoint!r}: expected one of {self.keypoints}")
        return self.keypoints.index(keypoint)

    # --- one frame -------------------------------------------------------------------------------

    def frame(
        self, frame: int, individual: str | None = None, *, members: bool = True, read_ahead: bool = True
    ) -> FrameOverlay:
        """Every layer at ``frame`` (see :class:`FrameOverlay`); ``members=False`` leaves them out.
        ``read_ahead``: read the next time chunks on a thread (a viewer plays forward)."""
        self._check_frame(frame)
        i = self.individual_index(individual)
        layers = self._layers(frame, frame + 1, members=members, series=False, keypoints=slice(None), individual=i)
        at = {k: np.take(v, 0, axis=_time_axis(k)) for k, v in layers.items()}
        sm = self.smoothed
        smoothed = variance = inflated = position3d = variance3d = None
        if sm is not None:
            smoothed, variance = at["smoothed"], at["variance"]
            inflated = at["inflation"] > 1.0
            position3d, variance3d = at.get("position"), at.get("position_variance")
        center = at["center"]
        triangulated = None
        if self._rig is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                triangulated = self._rig.project(self._rig.triangulate(center))
        if read_ahead:
            self._read_ahead(frame, members)
        shown = at.get("members") if members else None
        return FrameOverlay(frame, shown, center, smoothed, variance, inflated, triangulated, position3d, variance3d)

    def _read_ahead(self, frame: int, members: bool) -> None:
        """Reads, on a thread, the chunk after the one of ``frame`` of each layer once ``frame`` is past
        its chunk's middle (a viewer that plays on finds it decoded)."""
        for group, name in self._sources(members=members, series=False).values():
            size = group.time_chunk(name)
            ahead = (frame + size // 2) // size
            if ahead * size >= self.n_frames or ahead == frame // size or group.cached(name, ahead):
                continue
            key = (*group.key, name, ahead)
            if key in self._prefetching:
                continue
            self._prefetching.add(key)

            def load(group=group, name=name, ahead=ahead, key=key) -> None:
                try:
                    group.block(name, ahead)
                finally:
                    self._prefetching.discard(key)

            _PREFETCH.submit(load)

    # --- the whole session, span by span ---------------------------------------------------------

    def span_frames(self) -> int:
        """Frames per span of :meth:`spans`: a multiple of every variable's time chunk (each chunk
        is read once) and of :data:`OVERVIEW_BLOCK`, at least 2048."""
        sizes = [OVERVIEW_BLOCK] + [g.time_chunk(n) for g, n in self._sources(members=True, series=True).values()]
        step = math.lcm(*sizes)
        return step * max(1, -(-2048 // step))

    def spans(self, individual: int = 0, *, members: bool = True) -> Iterator[Span]:
        """Every frame, every keypoint, :meth:`span_frames` frames at a time (see :class:`Span`); the
        next span is read on a thread while the caller works on this one."""
        size = self.span_frames()
        sources = self._sources(members=members, series=True)

        def read(start: int) -> Span:
            stop = min(start + size, self.n_frames)
            layers = {
                layer: group.read(name, start, stop, individual=individual, cache=False)
                for layer, (group, name) in sources.items()
            }
            if "center" not in layers:
                layers["center"] = _nanmedian(layers["members"], axis=0)
            return Span(start, stop, layers)

        with ThreadPoolExecutor(1, thread_name_prefix="lp3d-span") as pool:
            ahead = pool.submit(read, 0)
            for start in range(0, self.n_frames, size):
                span = ahead.result()
                if start + size < self.n_frames:
                    ahead = pool.submit(read, start + size)
                yield span

    # --- one keypoint over time ------------------------------------------------------------------

    def series(
        self,
        keypoint: str,
        start: int = 0,
        stop: int | None = None,
        width: int = 1500,
        *,
        views: Sequence[str] | None = None,
        members: bool = False,
        individual: str | None = None,
    ) -> KeypointSeries:
        """One keypoint over ``start..stop-1``, decimated to ``width`` columns (see :class:`KeypointSeries`)."""
        k = self.keypoint_index(keypoint)
        i = self.individual_index(individual)
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        start = max(int(start), 0)
        if stop <= start:
            raise UserError(f"frames: expected start < stop within 0..{self.n_frames}, but got {start}..{stop}")
        chosen = list(self.views) if views is None else list(views)
        unknown = [v for v in chosen if v not in self.views]
        if unknown:
            raise UserError(f"views: expected names among {self.views}, but got {unknown}")
        want_members = members and self.predictions is not None
        n = stop - start
        step = bucket_size(n, width)
        s = None
        if self.smoothed is not None:
            s = float(np.asarray(self.smoothed.arrays["smoothing_parameter"][k, i]))
        if step >= OVERVIEW_BLOCK or (step > 1 and n > RAW_FRAMES):
            return self._series_from_overview(keypoint, k, i, start, stop, step, chosen, want_members, s)
        layers = self._layers(start, stop, members=want_members, series=True, keypoints=slice(k, k + 1), individual=i)
        per_view, space = _derived(layers, self.members if want_members else [])
        out = {}
        for view in chosen:
            v = self.views.index(view)
            out[view] = {
                name: _float32(
                    _column_share(values[v, :, 0], step)
                    if name == "inflated" and step > 1
                    else decimate_min_max(values[v, :, 0], step)
                )
                for name, values in per_view.items()
            }
        space_out = {name: _float32(decimate_min_max(values[:, 0], step)) for name, values in space.items()}
        frames = np.arange(start, stop)
        if step > 1:
            time = np.repeat(frames[::step], 2).astype(np.float64)
            time[1::2] += (step - 1) / 2
        else:
            time = frames.astype(np.float64)
        return KeypointSeries(keypoint, start, stop, step, time, out, space_out, s)

    def _series_from_overview(
        self,
        keypoint: str,
        k: int,
        i: int,
        start: int,
        stop: int,
        step: int,
        chosen: list[str],
        members: bool,
        s: float | None,
    ) -> KeypointSeries:
        names, values = self.overview(i)
        block = OVERVIEW_BLOCK
        per_column = -(-step // block)
        step = per_column * block
        first, last = start // block, -(-stop // block)
        n_blocks = last - first
        columns = -(-n_blocks // per_column)
        wanted = [
            (j, view, name)
            for j, (view, name) in enumerate(names)
            if (view is None or view in chosen) and (members or view is None or not _is_member(name, self.members))
        ]
        index = [j for j, _, _ in wanted]
        lows = _columns(values[k, 0, index, first:last], per_column, np.nan)  # (series, column, block)
        highs = _columns(values[k, 1, index, first:last], per_column, np.nan)
        with warnings.catch_warnings():  # an all-NaN column is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanmin(lows, axis=-1), np.nanmax(highs, axis=-1)
        views: dict[str, dict[str, np.ndarray]] = {view: {} for view in chosen}
        space: dict[str, np.ndarray] = {}
        for row, (_, view, name) in enumerate(wanted):
            pair = np.empty(2 * columns, dtype=np.float32)
            if name == "inflated":  # (flagged frames, frames) per block
                flagged = np.nan_to_num(lows[row]).sum(axis=-1)
                pair[0::2] = pair[1::2] = flagged / np.maximum(np.nan_to_num(highs[row]).sum(axis=-1), 1)
            else:
                pair[0::2], pair[1::2] = low[row], high[row]
            (space if view is None else views[view])[name] = pair
        time = np.repeat(first * block + np.arange(columns) * step, 2).astype(np.float64)
        time[1::2] += (step - 1) / 2
        return KeypointSeries(keypoint, start, stop, step, time, views, space, s, overview=True)

    # --- the overview ----------------------------------------------------------------------------

    def overview(self, individual: int = 0) -> tuple[list[tuple[str | None, str]], np.ndarray]:
        """Every series' minimum and maximum per block of :data:`OVERVIEW_BLOCK` frames: the series'
        names ``(view, name)`` (view None: 3D) and ``(keypoint, 2, series, block)`` float32 values:
        minima, then maxima (``inflated``: flagged frames, then frames per block). Built once (a pass
        over the store), kept in the cache folder, rebuilt when the store changed."""
        with self._overview_lock:
            found = self._overviews.get(individual)
            if found is None:
                found = self._load_overview(individual)
                if found is None:
                    found = self._build_overview(individual)
                    self._save_overview(individual, *found)
                self._overviews[individual] = found
            return found

    def _overview_key(self, individual: int) -> dict[str, Any]:
        groups = [g.version for g in (self.predictions, self.smoothed) if g is not None]
        return {
            "version": _OVERVIEW_VERSION,
            "block": OVERVIEW_BLOCK,
            "individual": individual,
            "groups": groups,
            "n_frames": self.n_frames,
        }

    def _overview_folder(self, individual: int) -> Path | None:
        return None if self.cache is None else self.cache / f"overview-{individual}"

    def _load_overview(self, individual: int) -> tuple[list[tuple[str | None, str]], np.ndarray] | None:
        folder = self._overview_folder(individual)
        if folder is None or not (folder / "overview.json").is_file():
            return None
        try:
            meta = json.loads((folder / "overview.json").read_text())
            if meta.get("key") != json.loads(json.dumps(self._overview_key(individual))):
                return None
            values = np.load(folder / "values.npy", mmap_mode="r")
            names = [(v, n) for v, n in meta["names"]]
            if values.shape[:3] != (len(self.keypoints), 2, len(names)):
                return None
            return names, values
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save_overview(self, individual: int, names: list[tuple[str | None, str]], values: np.ndarray) -> None:
        folder = self._overview_folder(individual)
        if folder is None:
            return
        from lp3d_io.files import staged_directory

        try:
            with staged_directory(folder) as tmp:
                np.save(tmp / "values.npy", values)
                meta = {"key": self._overview_key(individual), "names": names}
                (tmp / "overview.json").write_text(json.dumps(meta))
        except OSError as err:
            log.warning(f"{self.store.name}: the overview is kept in memory only ({folder}: {err.strerror})")

    def _build_overview(self, individual: int) -> tuple[list[tuple[str | None, str]], np.ndarray]:
        block = OVERVIEW_BLOCK
        n_blocks = -(-self.n_frames // block)
        K = len(self.keypoints)  # noqa: N806
        names: list[tuple[str | None, str]] | None = None
        values: np.ndarray | None = None
        for span in self.spans(individual):
            per_view, space = _derived(
                {k: v.astype(np.float32, copy=False) for k, v in span.layers.items()}, self.members
            )
            n = span.stop - span.start
            nb = -(-n // block)
            # every series of the span as rows (view-major, then 3D): (series, time, keypoint), padded to whole blocks
            rows = [per_view[name][v] for v in range(len(self.views)) for name in per_view] + list(space.values())
            if names is None:
                names = [(view, name) for view in self.views for name in per_view] + [(None, name) for name in space]
                values = np.full((K, 2, len(names), n_blocks), np.nan, dtype=np.float32)
            assert values is not None
            stacked = np.empty((len(rows), nb * block, K), dtype=np.float32)
            stacked[:, n:] = np.nan  # the last span's partial block
            for r, series in enumerate(rows):
                stacked[r, :n] = series
            blocks = stacked.reshape(len(rows), nb, block, K)
            low, high = _pairwise(np.fmin, blocks), _pairwise(np.fmax, blocks)  # (series, block, keypoint)
            inflated = [r for r, (_, name) in enumerate(names) if name == "inflated"]
            if inflated:  # flagged frames and frames per block
                low[inflated] = _pairwise(np.add, np.nan_to_num(blocks[inflated]))
                high[inflated] = np.minimum(block, n - np.arange(nb) * block)[None, :, None]
            b0 = span.start // block
            values[:, 0, :, b0 : b0 + nb] = low.transpose(2, 0, 1)
            values[:, 1, :, b0 : b0 + nb] = high.transpose(2, 0, 1)
        assert names is not None and values is not None
        return names, values


def _float32(values: np.ndarray) -> np.ndarray:
    """Series go out as float32: 7 digits are more than a plot shows, and half the bytes."""
    return np.asarray(values, dtype=np.float32)


def _time_axis(layer: str) -> int:
    return {"members": 2, "position": 0, "position_variance": 0}.get(layer, 1)


def _derived(
    layers: dict[str, np.ndarray], members: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The plotted series of a span of frames: ``{name: (view, time, keypoint)}`` and the 3D ones
    ``{name: (time, keypoint)}`` (see :class:`KeypointSeries` for the names)."""
    center = layers["center"]
    per_view: dict[str, np.ndarray] = {"x_center": center[..., 0], "y_center": center[..., 1]}
    if "smoothed" in layers:
        track, variance = layers["smoothed"], layers["variance"]
        sd = np.sqrt(np.maximum(variance, 0.0))
        per_view["x_smoothed"], per_view["y_smoothed"] = track[..., 0], track[..., 1]
        per_view["x_low"], per_view["x_high"] = track[..., 0] - Z_95 * sd[..., 0], track[..., 0] + Z_95 * sd[..., 0]
        per_view["y_low"], per_view["y_high"] = track[..., 1] - Z_95 * sd[..., 1], track[..., 1] + Z_95 * sd[..., 1]
        per_view["posterior_variance"] = coordinate_sum(variance)
        per_view["ensemble_variance"] = coordinate_sum(layers["ensemble_variance"])
        per_view["error"] = np.sqrt(coordinate_sum((center - track) ** 2))
        per_view["inflated"] = (layers["inflation"] > 1.0).astype(np.float32)
    if members and "members" in layers:
        for m, member in enumerate(members):
            per_view[f"x_{member}"] = layers["members"][m, ..., 0]
            per_view[f"y_{member}"] = layers["members"][m, ..., 1]
    space: dict[str, np.ndarray] = {}
    if "position" in layers:
        for a, axis in enumerate("xyz"):
            space[axis] = layers["position"][..., a]
        space["variance"] = coordinate_sum(layers["position_variance"])
    return per_view, space


def coordinate_sum(values: np.ndarray) -> np.ndarray:
    """``values.sum(axis=-1)`` over the 2 or 3 coordinates, the same numbers: element-wise adds, several
    times faster than numpy's reduction over so short a last axis."""
    total = values[..., 0] + values[..., 1]
    for c in range(2, values.shape[-1]):
        total += values[..., c]
    return total


def _pairwise(ufunc: np.ufunc, blocks: np.ndarray) -> np.ndarray:
    """``ufunc`` over axis 2 (a power of two long; ``fmin`` / ``fmax``: NaN only where all are, ``add``),
    by halves: contiguous element-wise passes, faster than a reduction over a middle axis."""
    while blocks.shape[2] > 1:
        half = blocks.shape[2] // 2
        blocks = ufunc(blocks[:, :, :half], blocks[:, :, half:])
    return blocks[:, :, 0]


def _columns(rows: np.ndarray, per_column: int, fill: float) -> np.ndarray:
    """``(series, blocks)`` -> ``(series, columns, per_column)``, the last column padded with ``fill``."""
    n = rows.shape[-1]
    columns = -(-n // per_column)
    out = np.full((rows.shape[0], columns * per_column), fill, dtype=np.float32)
    out[:, :n] = rows
    return out.reshape(rows.shape[0], columns, per_column)


def _is_member(name: str, members: Sequence[str]) -> bool:
    return name[:2] in ("x_", "y_") and name[2:] in members and name[2:] not in ("center", "smoothed", "low", "high")
