"""Video frames through OpenCV: one reader per file, synchronized views, and labeled videos.

- :class:`VideoReader`: frame count, fps, size; random access by index and sequential batches.
  Frames are ``(height, width, 3)`` uint8, RGB by default.
- :class:`SyncedVideos`: one reader per view. Session frame ``t`` is frame ``t + offset[view]`` of
  each view's video. Views must then have the same number of frames, or with
  ``on_mismatch="shortest"`` the session is as long as the shortest view.
- :func:`write_labeled_video` / :func:`write_labeled_videos`: diagnostic videos with each keypoint
  drawn as a dot inside its uncertainty ellipse (``n_std`` standard deviations of the posterior
  variance, or of a full 2 x 2 covariance).

``CAP_PROP_FRAME_COUNT`` comes from the container and can be off for some codecs; reading past
the real end raises a clear error naming the frame.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import cv2
import numpy as np

from lp3d_io.files import atomic_path

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "VideoReader",
    "SyncedVideos",
    "keypoint_colors",
    "draw_keypoints",
    "write_labeled_video",
    "write_labeled_videos",
]


_F = TypeVar("_F", bound="_Frames")


class _Frames:
    """What :class:`VideoReader` and :class:`SyncedVideos` share: ``frame_count`` frames, a context
    manager that closes them, and sequential batches of frame indices."""

    frame_count: int

    def __len__(self) -> int:
        return self.frame_count

    def __enter__(self: _F) -> _F:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def _batch_indices(self, batch_size: int, start: int, stop: int | None) -> Iterator[np.ndarray]:
        """The indices ``(B,)`` of sequential batches from ``start`` to ``stop`` (default the end)."""
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive number, but got {batch_size}")
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        for first in range(start, stop, batch_size):
            yield np.arange(first, min(first + batch_size, stop))


class VideoReader(_Frames):
    """Reads frames of one video file.

    Args:
        path: the video.
        rgb: return RGB frames (default); False returns OpenCV's BGR.

    Attributes:
        path: the video.
        frame_count: number of frames (from the container).
        fps: frames per second.
        size: ``(width, height)`` in pixels.
    """

    def __init__(self, path: str | os.PathLike, *, rgb: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: video not found")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise ValueError(f"{self.path}: OpenCV cannot open this video")
        self.rgb = rgb
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.size = (
            int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self._next = 0  # index of the frame the capture decodes next

    def close(self) -> None:
        """Releases the file."""
        self._capture.release()

    def __getitem__(self, index: int) -> np.ndarray:
        return self.read(index)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(height, width, 3)`` uint8 (seeks only when not sequential).

        Raises:
            IndexError: outside ``0..frame_count-1`` or not decodable.
        """
        index = int(index)
        if not 0 <= index < self.frame_count:
            raise IndexError(f"{self.path}: expected a frame index in 0..{self.frame_count - 1}, but got {index}")
        if index != self._next:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = self._capture.read()
        if not ok:
            self._next = -1
            raise IndexError(f"{self.path}: could not decode frame {index} (the file claims {self.frame_count})")
        self._next = index + 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if self.rgb else frame

    def read_many(self, indices: Sequence[int]) -> np.ndarray:
        """Frames ``(n, height, width, 3)`` at ``indices`` (any order; decoded in sorted order)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((idx.size, self.size[1], self.size[0], 3), dtype=np.uint8)
        for pos in np.argsort(idx, kind="stable"):
            out[pos] = self.read(idx[pos])
        return out

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Sequential batches: ``(indices (B,), frames (B, height, width, 3))``, the last may be shorter."""
        for indices in self._batch_indices(batch_size, start, stop):
            yield indices, self.read_many(indices)


class SyncedVideos(_Frames):
    """Frame-synchronized videos of several views.

    Args:
        videos: ``{view: path}``, or paths in the order of ``view_names``.
        view_names: required when ``videos`` is a sequence.
        offsets: ``{view: frame}``: the frame of that view's video that is session frame 0
            (default 0).
        on_mismatch: ``"error"`` (default) if the views have different numbers of frames after
            the offsets; ``"shortest"`` to end the session with the shortest view.
        rgb: as for :class:`VideoReader`.

    Raises:
        ValueError: frame counts differ (lists them per view), or frame rates differ by more
            than 0.1 %.
    """

    def __init__(
        self,
        videos: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
        view_names: Sequence[str] | None = None,
        *,
        offsets: Mapping[str, int] | None = None,
        on_mismatch: str = "error",
        rgb: bool = True,
    ) -> None:
        if isinstance(videos, Mapping):
            paths = {str(v): Path(p) for v, p in videos.items()}
        else:
            if view_names is None or len(view_names) != len(videos):
                raise ValueError(f"view_names: expected one name per video ({len(videos)}), but got {view_names}")
            paths = {str(v): Path(p) for v, p in zip(view_names, videos, strict=True)}
        if on_mismatch not in ("error", "shortest"):
            raise ValueError(f"on_mismatch: expected 'error' or 'shortest', but got {on_mismatch!r}")
        self.views = list(paths)
        self.offsets = {v: int((offsets or {}).get(v, 0)) for v in self.views}
        unknown = sorted(set(offsets or {}) - set(self.views))
        if unknown:
            raise ValueError(f"offsets: expected views among {self.views}, but got {unknown}")
        self.readers = {v: VideoReader(p, rgb=rgb) for v, p in paths.items()}
        try:
            lengths = {v: r.frame_count - self.offsets[v] for v, r in self.readers.items()}
            if len(set(lengths.values())) > 1 and on_mismatch == "error":
                detail = ", ".join(f"{v}: {lengths[v]}" for v in self.views)
                raise ValueError(
                    f"expected the same number of frames in every view (after offsets), but got {detail} "
                    f"(pass offsets= or on_mismatch='shortest')"
                )
            fps = {v: r.fps for v, r in self.readers.items()}
            if max(fps.values()) - min(fps.values()) > 1e-3 * max(fps.values()):
                raise ValueError(f"expected the same frame rate in every view, but got {fps}")
        except BaseException:
            self.close()
            raise
        self.frame_count = max(0, min(lengths.values()))
        self.fps = fps[self.views[0]]

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()

    def read(self, index: int) -> dict[str, np.ndarray]:
        """Session frame ``index`` of every view: ``{view: (height, width, 3)}``."""
        if not 0 <= index < self.frame_count:
            raise IndexError(f"expected a session frame in 0..{self.frame_count - 1}, but got {index}")
        return {v: r.read(index + self.offsets[v]) for v, r in self.readers.items()}

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Sequential batches: ``(session indices (B,), {view: frames (B, height, width, 3)})``."""
        for indices in self._batch_indices(batch_size, start, stop):
            yield indices, {v: r.read_many(indices + self.offsets[v]) for v, r in self.readers.items()}


# --- labeled videos -------------------------------------------------------------------------------


def keypoint_colors(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 RGB colors spread around the hue circle."""
    hsv = np.zeros((1, max(n, 1), 3), dtype=np.uint8)
    hsv[0, :, 0] = (np.arange(max(n, 1)) * 180 // max(n, 1)).astype(np.uint8)
    hsv[0, :, 1:] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, :n]


def _ellipse(variance: np.ndarray, n_std: float) -> tuple[tuple[float, float], float] | None:
    """Semi-axes and angle (degrees) of the ``n_std`` ellipse of a diagonal (2,) or full (2, 2) variance."""
    if not np.all(np.isfinite(variance)):
        return None
    if variance.shape == (2,):
        return (n_std * math.sqrt(max(variance[0], 0.0)), n_std * math.sqrt(max(variance[1], 0.0))), 0.0
    evals, evecs = np.linalg.eigh(variance)
    angle = math.degrees(math.atan2(evecs[1, 1], evecs[0, 1]))
    return (n_std * math.sqrt(max(evals[1], 0.0)), n_std * math.sqrt(max(evals[0], 0.0))), angle


def draw_keypoints(
    frame: np.ndarray,
    points: np.ndarray,
    variance: np.ndarray | None = None,
    *,
    colors: np.ndarray | None = None,
    radius: int = 3,
    n_std: float = 2.0,
    thickness: int = 1,
) -> np.ndarray:
    """Draws keypoints (dots) and their uncertainty ellipses on a copy of ``frame``.

    Args:
        frame: ``(height, width, 3)`` uint8.
        points: ``(keypoint, 2)`` pixels; NaN points are not drawn.
        variance: ``(keypoint, 2)`` per-axis variances or ``(keypoint, 2, 2)`` covariances
            (pixels squared); None draws dots only.
        colors: ``(keypoint, 3)`` in the frame's channel order; default :func:`keypoint_colors`.
        radius, n_std, thickness: dot radius, ellipse size in standard deviations, line width.

    Returns:
        The annotated copy.
    """
    out = np.ascontiguousarray(frame).copy()
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points: expected shape (keypoint, 2), but got {pts.shape}")
    var = None if variance is None else np.asarray(variance, dtype=np.float64)
    if var is not None and var.shape not in ((len(pts), 2), (len(pts), 2, 2)):
        raise ValueError(f"variance: expected shape ({len(pts)}, 2) or ({len(pts)}, 2, 2), but got {var.shape}")
    cols = keypoint_colors(len(pts)) if colors is None else np.asarray(colors)
    for k, (x, y) in enumerate(pts):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        color = tuple(int(c) for c in cols[k])
        center = (int(round(x)), int(round(y)))
        if var is not None:
            ellipse = _ellipse(var[k], n_std)
            if ellipse is not None:
                (ax, ay), angle = ellipse
                axes = (min(int(round(ax)), 1 << 15), min(int(round(ay)), 1 << 15))
                cv2.ellipse(out, center, axes, angle, 0, 360, color, thickness, cv2.LINE_AA)
        cv2.circle(out, center, radius, color, -1, cv2.LINE_AA)
    return out


def write_labeled_video(
    path: str | os.PathLike,
    video: str | os.PathLike | VideoReader,
    position: Any,
    variance: Any = None,
    *,
    start: int = 0,
    fps: float | None = None,
    n_std: float = 2.0,
    radius: int = 3,
    colors: Any = None,
) -> None:
    """Writes a copy of ``video`` with keypoints and uncertainty ellipses drawn (mp4, atomically).

    Args:
        path: the output ``.mp4``.
        video: the source video (path or reader).
        position: ``(time, keypoint, 2)`` or ``(time, keypoint, individual, 2)`` pixels; output
            frame ``t`` is video frame ``start + t``.
        variance: matching ``(..., 2)`` per-axis variances or ``(..., 2, 2)`` covariances.
        start: video frame of ``position[0]``.
        fps: output frame rate; default the video's.
        n_std, radius: ellipse size in standard deviations, dot radius.
        colors: ``(keypoint, 3)`` RGB; default :func:`keypoint_colors` (repeated per individual).
    """
    pos = np.asarray(position, dtype=np.float64)
    if pos.ndim == 4:  # individuals: draw them as more keypoints
        pos = pos.reshape(pos.shape[0], -1, 2)
    if pos.ndim != 3 or pos.shape[-1] != 2:
        raise ValueError(f"position: expected shape (time, keypoint[, individual], 2), but got {np.shape(position)}")
    var = None
    if variance is not None:
        var = np.asarray(variance, dtype=np.float64)
        full = var.shape[-2:] == (2, 2) and var.ndim == np.ndim(position) + 1
        var = var.reshape(pos.shape + ((2,) if full else ()))
    n_kp = np.shape(position)[1]
    rgb = keypoint_colors(n_kp) if colors is None else np.asarray(colors, dtype=np.uint8)
    bgr = np.tile(rgb[:, ::-1], (pos.shape[1] // n_kp, 1))
    reader = video if isinstance(video, VideoReader) else VideoReader(video, rgb=False)
    try:
        if start < 0 or start + len(pos) > reader.frame_count:
            raise ValueError(
                f"position: expected at most {reader.frame_count - max(start, 0)} frames from frame {start} of "
                f"{reader.path.name}, but got {len(pos)}"
            )
        with atomic_path(path) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps or reader.fps or 30.0, reader.size)
            if not writer.isOpened():
                raise ValueError(f"{path}: OpenCV cannot write an mp4v video there")
            try:
                for t in range(len(pos)):
                    frame = reader.read(start + t)
                    if reader.rgb:  # OpenCV writes BGR
                        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                    writer.write(
                        draw_keypoints(
                            frame, pos[t], None if var is None else var[t], colors=bgr, radius=radius, n_std=n_std
                        )
                    )
            finally:
                writer.release()
    finally:
        if not isinstance(video, VideoReader):
            reader.close()


def write_labeled_videos(
    smoothed: xr.Dataset,
    videos: Mapping[str, str | os.PathLike],
    directory: str | os.PathLike,
    *,
    position: str = "reprojection",
    variance: str = "reprojection_variance",
    n_std: float = 2.0,
    template: str = "{view}_labeled.mp4",
) -> dict[str, Path]:
    """Labeled videos of a smoothed (or any per-view) dataset, one per view in ``videos``.

    Args:
        smoothed: a dataset with ``position`` and ``variance`` variables of dims
            ``(view, time, keypoint, individual, image_space)`` (e.g. a smoothed dataset).
        videos: ``{view: video path}``; the dataset's ``time`` values are the video frames.
        directory: output folder (created if missing).
        position, variance: variable names to draw.
        n_std: ellipse size in standard deviations.
        template: output file name per view.

    Returns:
        ``{view: path}`` of the videos written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (position, variance):
        if name not in smoothed:
            raise ValueError(
                f"smoothed: expected a variable {name!r}, but the dataset has {sorted(smoothed.data_vars)}"
            )
    dims = ("time", "keypoint", "individual", "image_space")
    time = smoothed["time"].values
    if time.size and not np.array_equal(time, np.arange(time[0], time[0] + time.size)):
        raise ValueError("smoothed: expected consecutive frames along time to draw a video, but they have gaps")
    written = {}
    for view, video in videos.items():
        one = smoothed.sel(view=view)
        out = directory / template.format(view=view)
        write_labeled_video(
            out,
            video,
            one[position].transpose(*dims).values,
            one[variance].transpose(*dims).values,
            start=int(time[0]) if time.size else 0,
            n_std=n_std,
        )
        written[str(view)] = out
    return written
