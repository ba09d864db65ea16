"""Video frames by index as JPEG: one open reader per video, sequential reads, a small cache.

A viewer that plays asks for frame ``t``, then ``t + 1``, ...: each video keeps one OpenCV reader
open, which decodes the next frame without seeking (:class:`lp3d_io.video.VideoReader`); a jump
seeks. Encoded frames are kept in a small cache (stepping back and forth costs nothing). Readers
of different views decode in parallel (OpenCV releases the GIL); one reader serves one request
at a time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["FrameServer"]


class FrameServer:
    """JPEG frames of the project's videos.

    Args:
        cache_frames: encoded frames kept (all videos together).
        quality: JPEG quality.
    """

    def __init__(self, cache_frames: int = 512, quality: int = 80) -> None:
        self.cache_frames = cache_frames
        self.quality = quality
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._readers: dict[str, tuple[object, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _reader(self, path: Path):
        from lp3d_io.video import VideoReader

        key = str(path)
        with self._lock:
            entry = self._readers.get(key)
            if entry is None:
                entry = (VideoReader(path, rgb=False), threading.Lock())
                self._readers[key] = entry
            return entry

    def jpeg(self, path: Path, frame: int) -> bytes:
        """Frame ``frame`` of the video at ``path`` as JPEG bytes.

        Raises:
            IndexError: no such frame.
        """
        import cv2

        key = (str(path), int(frame))
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
                return data
        reader, lock = self._reader(path)
        with lock:
            image = reader.read(frame)  # BGR, as imencode expects
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"{path.name}: frame {frame} could not be encoded")
        data = encoded.tobytes()
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.cache_frames:
                self._cache.popitem(last=False)
        return data

    def close(self) -> None:
        with self._lock:
            for reader, _ in self._readers.values():
                reader.close()  # type: ignore[attr-defined]
            self._readers.clear()
