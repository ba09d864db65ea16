"""``lp3d live``: 3D pose now, for closed-loop experiments.

Synchronized frame sets (OpenCV camera devices, or video files replayed at their frame rate to
stand in for cameras) go through the run's multi-view model (every view of a set in one forward
pass, :func:`lp3d_models.prediction.predict_batch`), then the fixed-lag smoother
(:class:`lp3d_eks.FixedLagSmoother`, one per individual), and out: one JSON line per frame (to a
callback: stdout, a local socket), and frames appended to a store in ``lp3d smooth``'s layout.

Threads and dropping: a capture thread delivers each synchronized set into a one-slot mailbox;
when the model is still busy with an earlier set, the set waiting there is replaced by the new
one, and the replaced one is *dropped*: whole sets are dropped, so views never drift apart. The
main thread runs model, smoother and output in order; a dropped set enters the smoother as a
frame with no observations (time advances; the posterior widens) and is marked ``dropped``. With
``realtime=False`` every set is processed (files replayed as fast as the model goes, nothing
dropped). A writer thread appends to the store every ``flush_every`` frames.

Parameters: given (``parameters``: a smoothed store of an earlier session of the rig, its ``s``,
noise and view scales and ensemble variances) or fitted once on the first ``fit_frames`` frames
(:func:`lp3d_eks.fit_fixed_lag`): until then frames are predicted and kept, then the fit runs and
the kept frames go through the smoother at once (their lines come late), and every later frame as
it arrives. This is exactly ``lp3d smooth STORE --lag L --fit-frames N`` on the stored predictions
(tested), so any session can be replayed and compared with the offline smoother.

Per frame line (JSON, NaN as null)::

    {"frame": 12, "capture_time": 1764489600.123, "dropped": false, "latency_ms": 183.4,
     "points": {"individual_0": {"nose": {"xyz": [x, y, z], "var": [vx, vy, vz], "inflated": ["cam1"]}}}}

``capture_time`` is the Unix time frame ``frame`` was captured (scheduled, for a replayed file),
``latency_ms`` the time from then to this line (the lag included: ``lag / fps`` of it), ``var``
the posterior variance of each coordinate, ``inflated`` the cameras whose detection was found
inconsistent.

Output folder::

    <session>.zarr   predictions/ensemble (every member's keypoints as predicted; NaN for dropped
                     sets), smoothed/eks (the fixed-lag posteriors; log_likelihood NaN), calibration
    frames.csv       per frame: capture time, dropped, wait / model / smoother / output ms of its
                     set, and the latency of its line
    live.json        the settings, the parameters, frames/s and per-stage latency percentiles
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lp3d_workflows.errors import UserError
from lp3d_workflows.progress import ProgressCallback, report

if TYPE_CHECKING:
    from lp3d_eks import FixedLagFrame, FixedLagParameters

__all__ = [
    "LiveSettings",
    "FrameSet",
    "VideoSource",
    "CameraSource",
    "StageLatency",
    "LiveResult",
    "LineServer",
    "parameters_from_store",
    "run_live",
    "STAGES",
]

log = logging.getLogger(__name__)

STAGES = ("wait", "model", "smoother", "output", "end_to_end")
"""Latency stages: capture -> model start (waiting for the model), the model, the smoother (with
the lines it emits), the output (the store's queue), and end to end (capture of a frame -> its
line, the lag included). The summary counts frames processed once the smoother runs (not the
frames kept for the fit, whose lines wait for it); ``frames.csv`` has every frame."""


@dataclass(frozen=True)
class LiveSettings:
    """How ``lp3d live`` runs (besides the run, the sources and the output folder).

    Attributes:
        calibration: anipose calibration of the cameras (one per view of the run).
        lag: frames ``L``: frame ``t``'s line comes once frame ``t + L`` is in (0: the filter).
        fit_frames: frames that fit the parameters (without ``parameters``).
        parameters: a smoothed store of an earlier session of the rig to take the parameters from.
        realtime: files replayed at their frame rate, sets dropped when the model cannot keep up;
            False: every set processed, as fast as the model goes.
        max_frames: stop after this many frames (None: the end of the files; cameras: Ctrl-C).
        device: where the model runs (``auto``, ``cpu``, ``cuda``, ...).
        checkpoint: ``best`` or ``last``.
        members: ensemble members to use (default all).
        ensemble, variance: the ensemble center and variance (as ``lp3d smooth``).
        window_passes: relinearization passes over the smoother's window per frame.
        flush_every: frames per store append.
        camera_fps: frame rate asked of camera devices (None: theirs).
        threads: torch's threads for a model on the CPU; None: all cores but one (the capture
            thread decodes on the other: on 2 shared cores, 2 torch threads were 10-50x slower).
    """

    calibration: Path
    lag: int = 5
    fit_frames: int = 250
    parameters: Path | None = None
    realtime: bool = True
    max_frames: int | None = None
    device: str = "auto"
    checkpoint: str = "best"
    members: tuple[str, ...] | None = None
    ensemble: str = "median"
    variance: str = "var"
    window_passes: int = 0
    flush_every: int = 64
    camera_fps: float | None = None
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("calibration", "parameters"):
            values[key] = None if values[key] is None else str(values[key])
        return values


@dataclass
class FrameSet:
    """One synchronized set: frame ``index`` of every view.

    Attributes:
        index: frame index (0 for the first set).
        capture_time: ``time.perf_counter()`` when it was captured (scheduled, for a replayed file).
        wall_time: the same moment as Unix time.
        frames: ``{view: (height, width, 3)}`` uint8 RGB.
    """

    index: int
    capture_time: float
    wall_time: float
    frames: dict[str, np.ndarray]


class _Mailbox:
    """Where the capture thread leaves sets for the model: one slot (a newer set replaces a waiting
    one, which is dropped), or with ``keep_all`` a short queue the capture thread waits on."""

    def __init__(self, keep_all: bool) -> None:
        self.keep_all = keep_all
        self._items: list[FrameSet | None] = []
        self._cond = threading.Condition()
        self.dropped: list[FrameSet] = []

    def put(self, item: FrameSet | None, stop: threading.Event) -> None:
        with self._cond:
            if self.keep_all:
                while len(self._items) >= 2 and not stop.is_set():
                    self._cond.wait(0.05)
            elif item is not None and self._items and self._items[-1] is not None:
                replaced = self._items.pop()
                replaced.frames = {}
                self.dropped.append(replaced)
            self._items.append(item)
            self._cond.notify_all()

    def get(self) -> FrameSet | None:
        """The next set (None: the source has ended)."""
        with self._cond:
            while not self._items:
                self._cond.wait(0.05)
            item = self._items.pop(0)
            self._cond.notify_all()
            return item

    def take_dropped(self) -> list[FrameSet]:
        with self._cond:
            out, self.dropped = self.dropped, []
            return out


class VideoSource:
    """Synchronized video files standing in for cameras: set ``i`` is captured at ``start + i / fps``
    (decoded just before; delivered then), or as soon as the model takes it without ``realtime``.

    Args:
        videos: ``{view: path}``; with ``crops``, the one video every view is cut from.
        crops: ``{view: (x, y, w, h)}`` boxes (a mirror rig), or None.
        max_frames: stop after this many sets.
    """

    def __init__(
        self,
        videos: dict[str, Path],
        *,
        crops: dict[str, Sequence[int]] | None = None,
        max_frames: int | None = None,
    ) -> None:
        from lp3d_io.video import SyncedVideos

        self.views = list(videos)
        self.crops = crops
        self.synced = SyncedVideos({"frame": next(iter(videos.values()))} if crops else videos)
        self.fps = self.synced.fps if self.synced.fps > 0 else 30.0
        self.n_frames = self.synced.frame_count if max_frames is None else min(max_frames, self.synced.frame_count)
        self.files = [str(p) for p in videos.values()]
        if crops:
            self.frame_sizes = {v: (h, w) for v, (x, y, w, h) in crops.items()}
        else:
            self.frame_sizes = {v: (r.size[1], r.size[0]) for v, r in self.synced.readers.items()}
        self.error: BaseException | None = None

    def close(self) -> None:
        self.synced.close()

    def run(self, mailbox: _Mailbox, stop: threading.Event, realtime: bool) -> None:
        start_perf, start_wall = time.perf_counter(), time.time()
        try:
            for i in range(self.n_frames):
                if stop.is_set():
                    break
                frames = self.synced.read(i)
                if self.crops:
                    whole = frames["frame"]
                    frames = {v: whole[y : y + h, x : x + w] for v, (x, y, w, h) in self.crops.items()}
                if realtime:
                    due = start_perf + i / self.fps
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    captured = max(due, start_perf)
                else:
                    captured = time.perf_counter()
                mailbox.put(FrameSet(i, captured, start_wall + (captured - start_perf), frames), stop)
        except BaseException as err:  # raised again by run_live, after the frames so far are out
            self.error = err
        finally:
            mailbox.put(None, stop)


class CameraSource:
    """OpenCV camera devices (``cv2.VideoCapture``), one per view: each set is taken by grabbing
    every camera, then decoding each (the grabs are as close in time as the driver allows). The
    cameras set the pace; a set the model cannot take in time is dropped whole.

    Args:
        devices: ``{view: device}`` (an index, or anything ``cv2.VideoCapture`` opens).
        fps: frame rate to ask for (None: the cameras').
        max_frames: stop after this many sets (None: until stopped).
    """

    def __init__(
        self, devices: dict[str, int | str], *, fps: float | None = None, max_frames: int | None = None
    ) -> None:
        import cv2

        self.views = list(devices)
        self.crops = None
        self.captures = {}
        for view, device in devices.items():
            cap = cv2.VideoCapture(device)
            if not cap.isOpened():
                self.close()
                raise UserError(f"camera {view}: OpenCV cannot open device {device!r}")
            if fps:
                cap.set(cv2.CAP_PROP_FPS, fps)
            self.captures[view] = cap
        first = next(iter(self.captures.values()))
        self.fps = float(fps or first.get(cv2.CAP_PROP_FPS) or 30.0)
        self.frame_sizes = {
            v: (int(c.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(c.get(cv2.CAP_PROP_FRAME_WIDTH)))
            for v, c in self.captures.items()
        }
        self.n_frames = max_frames
        self.files = [str(d) for d in devices.values()]
        self.error: BaseException | None = None

    def close(self) -> None:
        for cap in self.captures.values():
            cap.release()

    def run(self, mailbox: _Mailbox, stop: threading.Event, realtime: bool) -> None:
        import cv2

        start_perf, start_wall = time.perf_counter(), time.time()
        try:
            i = 0
            while not stop.is_set() and (self.n_frames is None or i < self.n_frames):
                if not all(cap.grab() for cap in self.captures.values()):
                    break
                captured = time.perf_counter()
                frames = {}
                for view, cap in self.captures.items():
                    ok, image = cap.retrieve()
                    if not ok:
                        return
                    frames[view] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                mailbox.put(FrameSet(i, captured, start_wall + (captured - start_perf), frames), stop)
                i += 1
        except BaseException as err:
            self.error = err
        finally:
            mailbox.put(None, stop)


class LineServer:
    """A local (Unix domain) socket that streams lines to every client connected: the rig's control
    software connects and reads one JSON line per frame. A client that does not keep up (its
    buffer full) is disconnected rather than slowing the loop.

    Args:
        path: the socket file (replaced if it exists).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_socket():
                raise UserError(f"--socket {self.path}: expected a free path or an old socket, but a file is there")
            self.path.unlink()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(8)
        self._server.settimeout(0.2)
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="lp3d-live-socket", daemon=True)
        self._thread.start()

    @property
    def n_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            client.setblocking(False)
            with self._lock:
                self._clients.append(client)

    def send(self, line: str) -> None:
        data = (line + "\n").encode()
        with self._lock:
            for client in list(self._clients):
                try:
                    client.sendall(data)
                except OSError:  # gone, or not reading (buffer full)
                    self._clients.remove(client)
                    client.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
        self._server.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class StageLatency:
    """Latency of one stage over the frames, milliseconds."""

    stage: str
    n: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, stage: str, values: Sequence[float]) -> StageLatency:
        x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
        if x.size == 0:
            return cls(stage, 0, *([math.nan] * 5))
        p50, p95, p99 = np.percentile(x, [50, 95, 99])
        return cls(stage, int(x.size), float(x.mean()), float(p50), float(p95), float(p99), float(x.max()))


@dataclass(frozen=True)
class LiveResult:
    """What a live run did.

    Attributes:
        out: the output folder; store: its ``<session>.zarr``.
        session: the session name.
        n_frames: frames captured (processed + dropped); n_dropped: sets dropped.
        seconds: from the first capture to the last line.
        source_fps: the sources' frame rate; processed_fps: sets through the model per second.
        lag: the lag in frames.
        device: where the model ran.
        latency: per stage (:data:`STAGES`).
        fitted: the parameters were fitted on the first frames (else read from a store).
        parameters: one :class:`lp3d_eks.FixedLagParameters` per individual.
    """

    out: Path
    store: Path
    session: str
    n_frames: int
    n_dropped: int
    seconds: float
    source_fps: float
    processed_fps: float
    lag: int
    device: str
    latency: dict[str, StageLatency]
    fitted: bool
    parameters: list[Any] = field(default_factory=list)


def parameters_from_store(
    path: str | os.PathLike,
    *,
    views: Sequence[str],
    keypoints: Sequence[str],
    individuals: Sequence[str],
    ensemble: dict[str, Any] | None = None,
) -> list[FixedLagParameters]:
    """The fixed-lag parameters of each individual from a smoothed store of an earlier session:
    its ``s``, noise scales, view scales (and the fit's view disagreement), and the typical
    ensemble variance of its predictions. No prior: each keypoint starts where it is first seen.

    Raises:
        UserError: not a calibrated smoothed store, or other views, keypoints or individuals.
    """
    from lp3d_eks import FixedLagParameters, ensemble_statistics
    from lp3d_io.dataset import motion_name
    from lp3d_io.layout import ENSEMBLE_GROUP, SMOOTHED_GROUP
    from lp3d_io.store import list_groups, read_group

    path = Path(path)
    groups = list_groups(path)
    if SMOOTHED_GROUP not in groups or ENSEMBLE_GROUP not in groups:
        raise UserError(f"--parameters {path}: expected a store written by lp3d smooth, but it has groups {groups}")
    smoothed, preds = read_group(path, SMOOTHED_GROUP), read_group(path, ENSEMBLE_GROUP)
    if smoothed.attrs.get("smoother") != "calibrated":
        raise UserError(
            f"--parameters {path}: expected calibrated 3D results, but got {smoothed.attrs.get('smoother')}"
        )
    for dim, want in (("view", views), ("keypoint", keypoints), ("individual", individuals)):
        got = [str(x) for x in smoothed[dim].values]
        if got != list(want):
            raise UserError(f"--parameters {path}: expected {dim}s {list(want)} (the run's), but got {got}")
    out = []
    for i in range(len(individuals)):
        one = smoothed.isel(individual=i)
        V, K = len(views), len(keypoints)
        view_scale = one["view_scale"].transpose("view", "keypoint").values if "view_scale" in one else np.ones((V, K))
        disagreement = (
            one["view_disagreement"].transpose("view", "keypoint").values if "view_disagreement" in one else None
        )
        position = preds["position"].isel(individual=i).transpose("member", "view", "time", "keypoint", "space")
        stats = ensemble_statistics(position.values[:, :, :20_000].astype(np.float64), **(ensemble or {}))
        out.append(
            FixedLagParameters(
                kind="calibrated",
                s=one["smoothing_parameter"].values,
                noise_scale=one["noise_scale"].values,
                view_scale=view_scale,
                typical_variance=stats.typical_variance,
                view_disagreement=disagreement,
                motion=[motion_name(smoothed, k, i) or "random walk" for k in range(K)],
            )
        )
    return out


def _open_source(
    sources: Sequence[str | os.PathLike], views: list[str], crops: dict | None, settings: LiveSettings
) -> VideoSource | CameraSource:
    """Camera devices (every source an integer), else video files matched to the views by name."""
    texts = [str(s) for s in sources]
    if texts and all(t.isdigit() for t in texts):
        if crops:
            if len(texts) != 1:
                raise UserError(f"cameras: expected one device whose frames hold every view {views}, but got {texts}")
            raise UserError("cameras: views cropped from one camera (data.crops) are read from video files only")
        if len(texts) != len(views):
            raise UserError(f"cameras: expected one device per view {views}, but got {texts}")
        return CameraSource(
            dict(zip(views, (int(t) for t in texts), strict=True)),
            fps=settings.camera_fps,
            max_frames=settings.max_frames,
        )
    from lp3d_models.prediction import videos_by_view

    for path in map(Path, texts):  # checked here: a missing file may be a mistyped camera index
        if not path.is_file():
            raise UserError(f"{path}: no such video (or camera index)")
    return VideoSource(videos_by_view(texts, views, cropped=bool(crops)), crops=crops, max_frames=settings.max_frames)


class _StoreWriter:
    """Appends predictions and smoothed frames to the store on its own thread, in chunks."""

    def __init__(self, store, info: dict[str, Any]) -> None:
        self.store = store
        self.info = info
        self._queue: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lp3d-live-store", daemon=True)
        self._thread.start()

    def put(self, kind: str, payload: Any) -> None:
        self._queue.put((kind, payload))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        from lp3d_io.store import append_frames

        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                kind, payload = item
                group, chunk = self._predictions(*payload) if kind == "predictions" else self._smoothed(payload)
                append_frames(self.store, group, chunk)
            except BaseException as err:  # reported by close(): the loop goes on
                log.error(f"store: {err}")
                self.error = err

    def _predictions(self, index: np.ndarray, position: np.ndarray, confidence: np.ndarray):
        from lp3d_io import predictions_dataset
        from lp3d_io.layout import ENSEMBLE_GROUP

        i = self.info
        chunk = predictions_dataset(
            position,  # (member, view, time, keypoint, individual, 2)
            confidence,
            view_names=i["views"],
            keypoint_names=i["keypoints"],
            individual_names=i["individuals"],
            member_names=i["members"],
            fps=i["fps"],
            source_software="lp3d live",
            source_files=i["files"],
            session=i["session"],
            time=index,
        )
        return ENSEMBLE_GROUP, chunk

    def _smoothed(self, frames: list[list[FixedLagFrame]]):
        """``frames[individual]``: consecutive frames of each individual."""
        from lp3d_eks import SmootherResult
        from lp3d_io.dataset import smoothed_arrays
        from lp3d_io.layout import SMOOTHED_GROUP

        i = self.info
        results = []
        for individual, params in zip(frames, i["parameters"], strict=True):
            K = params.n_keypoints

            def stack(name: str, axis: int, individual=individual) -> np.ndarray:
                return np.stack([getattr(f, name) for f in individual], axis=axis)

            results.append(
                SmootherResult(
                    kind="calibrated",
                    mean=stack("mean", 0),
                    covariance=stack("covariance", 0),
                    reprojection=stack("reprojection", 1),
                    reprojection_variance=stack("reprojection_variance", 1),
                    observation=stack("observation", 1),
                    observation_variance=stack("observation_variance", 1),
                    inflation=stack("inflation", 1),
                    s=np.asarray(params.s),
                    noise_scale=np.asarray(params.noise_scale),
                    log_likelihood=np.full(K, np.nan),  # not known until the end
                    iterations=None,  # type: ignore[arg-type]  # (not written)
                    view_scale=np.asarray(params.view_scale),
                    view_disagreement=None
                    if params.view_disagreement is None
                    else np.asarray(params.view_disagreement),
                    motion=None if params.motion is None else np.asarray(params.motion),
                )
            )
        ds = smoothed_arrays(
            results,
            view_names=i["views"],
            keypoint_names=i["keypoints"],
            individual_names=i["individuals"],
            time=np.array([f.index for f in frames[0]]),
            fps=i["fps"],
            source_files=i["files"],
            session=i["session"],
        )
        ds.attrs["lp3d_options"] = json.dumps(i["options"])
        return SMOOTHED_GROUP, ds.to_xarray()


def _json_number(x: float) -> float | None:
    return round(float(x), 6) if math.isfinite(x) else None


def run_live(
    run_dir: str | os.PathLike,
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    settings: LiveSettings,
    *,
    on_line: Callable[[str], None] | None = None,
    overwrite: bool = False,
    stop: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> LiveResult:
    """Tracks live: sources -> model -> fixed-lag smoother -> lines and store (see the module docstring).

    Args:
        run_dir: a training run (lp3d train).
        sources: one video file per view (names containing the view names), the one video of a
            cropped-views run, or camera device indices in the run's view order.
        out: the output folder (created; replaced only with ``overwrite``).
        settings: :class:`LiveSettings`.
        on_line: called with each frame's JSON line, in frame order.
        overwrite: replace an existing output folder.
        stop: set it to end the run (as at the end of the files); Ctrl-C does the same.
        progress: called as frames are processed.

    Returns:
        :class:`LiveResult` (also in ``live.json``).

    Raises:
        UserError / ValueError / OSError: bad run, sources, calibration or output (before any capture).
    """
    from lp3d_workflows.errors import require_models

    require_models()
    import torch
    from lp3d_eks import FixedLagSmoother, fit_fixed_lag
    from lp3d_io.files import check_target
    from lp3d_io.store import open_store, write_calibration
    from lp3d_models.individuals import from_channels
    from lp3d_models.prediction import predict_batch, resolve_device, session_of_videos
    from lp3d_models.runs import load_run

    from lp3d_workflows.smoothing import load_rig

    if settings.lag < 0:
        raise UserError(f"--lag: expected a number of frames >= 0, but got {settings.lag}")
    if settings.fit_frames < 2:
        raise UserError(f"--fit-frames: expected at least 2 frames, but got {settings.fit_frames}")
    if settings.flush_every < 1:
        raise UserError(f"flush_every: expected a positive number of frames, but got {settings.flush_every}")
    out = Path(out)
    check_target(out, overwrite)
    run = load_run(run_dir, list(settings.members) if settings.members else None, settings.checkpoint)
    views, keypoints, individuals = run.view_names, run.keypoint_names, run.individual_names
    rig = load_rig(Path(settings.calibration), views)
    crops = run.config.data.crops
    boxes = {v: list(crops[v].box) for v in views} if crops else None
    options = {"center": settings.ensemble, "variance": settings.variance}
    fixed = None
    if settings.parameters is not None:
        fixed = parameters_from_store(
            settings.parameters, views=views, keypoints=keypoints, individuals=individuals, ensemble=options
        )
    device = resolve_device(settings.device)
    models = [m.to(device) for m in run.members.values()]
    source = _open_source(sources, views, boxes, settings)
    try:
        if out.exists():
            import shutil

            shutil.rmtree(out)
        out.mkdir(parents=True)
        session = (
            session_of_videos(dict(zip(views, map(Path, source.files), strict=True)), views, bool(crops))
            if isinstance(source, VideoSource)
            else None
        ) or "live"
        store = open_store(out / f"{session}.zarr", session=session)
        write_calibration(store, rig)
    except BaseException:
        source.close()
        raise
    M, V, K, I = len(models), len(views), len(keypoints), len(individuals)  # noqa: E741
    info: dict[str, Any] = {
        "views": views,
        "keypoints": keypoints,
        "individuals": individuals,
        "members": list(run.members),
        "fps": source.fps,
        "files": source.files,
        "session": session,
        "parameters": fixed,
        "options": {**settings.to_dict(), "run": str(run.run_dir)},
    }
    writer = _StoreWriter(store, info)
    mailbox = _Mailbox(keep_all=not settings.realtime)
    stop = stop or threading.Event()
    capture = threading.Thread(
        target=source.run, args=(mailbox, stop, settings.realtime), name="lp3d-live-capture", daemon=True
    )

    smoothers: list[FixedLagSmoother] = []
    kept: list[tuple[np.ndarray, np.ndarray]] = []  # predictions before the parameters exist
    timing: dict[int, dict[str, Any]] = {}  # per frame, until its set is processed and its line out
    latency: dict[str, list[float]] = {s: [] for s in STAGES}
    pending_pred: list[tuple[int, np.ndarray, np.ndarray]] = []
    pending_smooth: list[list[FixedLagFrame]] = [[] for _ in range(I)]
    frames_file = (out / "frames.csv").open("w", newline="")
    rows = csv.writer(frames_file)
    rows.writerow(["frame", "capture_time", "dropped", "wait_ms", "model_ms", "smoother_ms", "output_ms", "latency_ms"])
    n_dropped = n_processed = 0
    first_capture = last_line = math.nan

    def ms(t: dict[str, Any], key: str) -> str:
        return f"{1e3 * t[key]:.3f}" if math.isfinite(t.get(key, math.nan)) else ""

    def row_done(index: int) -> None:
        """Writes frame ``index``'s row once its set is processed and its line is out."""
        t = timing[index]
        if "processed" in t and "latency" in t:
            del timing[index]
            wall = f"{t['wall']:.6f}" if math.isfinite(t["wall"]) else ""
            rows.writerow(
                [index, wall, int(t["dropped"])]
                + [ms(t, s) for s in ("wait", "model", "smoother", "output", "latency")]
            )

    def flush_predictions() -> None:
        if pending_pred:
            index = np.array([p[0] for p in pending_pred])
            position = np.stack([p[1] for p in pending_pred], 2)  # (member, view, time, keypoint, individual, 2)
            confidence = np.stack([p[2] for p in pending_pred], 2)
            writer.put("predictions", (index, position, confidence))
            pending_pred.clear()

    def flush_smoothed() -> None:
        if pending_smooth[0]:
            writer.put("smoothed", [list(p) for p in pending_smooth])
            for p in pending_smooth:
                p.clear()

    def emit(frames: list[FixedLagFrame]) -> None:
        """The line of one frame (a FixedLagFrame per individual)."""
        nonlocal last_line
        index = frames[0].index
        t = timing[index]
        points = {}
        for name, frame in zip(individuals, frames, strict=True):
            inflated, variance = frame.inflated, frame.variance
            points[name] = {
                kp: {
                    "xyz": [_json_number(x) for x in frame.mean[k]],
                    "var": [_json_number(x) for x in variance[k]],
                    "inflated": [views[v] for v in np.flatnonzero(inflated[:, k])],
                }
                for k, kp in enumerate(keypoints)
            }
        t["latency"] = time.perf_counter() - t["capture"]
        line = json.dumps(
            {
                "frame": index,
                "capture_time": _json_number(t["wall"]),
                "dropped": bool(t["dropped"]),
                "latency_ms": _json_number(1e3 * t["latency"]),
                "points": points,
            }
        )
        if on_line is not None:
            on_line(line)
        last_line = time.perf_counter()
        if t.get("steady"):
            latency["end_to_end"].append(1e3 * t["latency"])
        row_done(index)
        for i, frame in enumerate(frames):
            pending_smooth[i].append(frame)
        if len(pending_smooth[0]) >= settings.flush_every:
            flush_smoothed()

    def push(position: np.ndarray, confidence: np.ndarray) -> None:
        """One frame ``(member, view, keypoint, individual, 2)`` through every individual's smoother."""
        outs = [s.push(position[..., i, :], confidence[..., i]) for i, s in enumerate(smoothers)]
        if outs[0] is not None:
            emit(outs)

    def start_smoothers() -> None:
        """Parameters (fitted on the frames kept, unless given), then the kept frames through."""
        nonlocal fixed
        if fixed is None:
            pos = np.stack([k[0] for k in kept], 2)  # (member, view, time, keypoint, individual, 2)
            conf = np.stack([k[1] for k in kept], 2)
            fixed = [
                fit_fixed_lag(pos[..., i, :], rig, confidences=conf[..., i], n_frames=settings.fit_frames, **options)
                for i in range(I)
            ]
            info["parameters"] = fixed
        smoothers.extend(
            FixedLagSmoother(p, rig, lag=settings.lag, window_passes=settings.window_passes, **options) for p in fixed
        )
        for position, confidence in kept:
            push(position, confidence)
        kept.clear()

    def take(index: int, position: np.ndarray, confidence: np.ndarray) -> None:
        """Frame ``index``'s predictions (as float64) into the smoothers, or kept until the parameters exist."""
        timing[index]["steady"] = bool(smoothers) or fixed is not None
        pending_pred.append((index, position.astype(np.float32), confidence.astype(np.float32)))
        if smoothers:
            push(position, confidence)
        else:
            kept.append((position, confidence))
            if len(kept) >= settings.fit_frames or fixed is not None:
                start_smoothers()

    # A dropped set: no observation of any view (as the store will say: NaN).
    nan_position, nan_confidence = np.full((M, V, K, I, 2), np.nan), np.full((M, V, K, I), np.nan)
    next_index = 0
    torch_threads = torch.get_num_threads()
    try:
        if device.type == "cpu":
            torch.set_num_threads(settings.threads or max(1, (os.cpu_count() or 2) - 1))
        # One forward pass before the first capture: a model's first call is slow (allocation, kernels).
        predict_batch(models, [np.zeros((1, h, w, 3), np.uint8) for h, w in source.frame_sizes.values()], device)
        capture.start()
        while True:
            try:
                item = mailbox.get()
                dropped = {d.index: d for d in mailbox.take_dropped()}
                upto = item.index if item is not None else max([next_index, *(i + 1 for i in dropped)])
                for index in range(next_index, upto):  # whole sets the model had no time for
                    d = dropped.get(index)
                    timing[index] = {
                        "capture": d.capture_time if d else math.nan,
                        "wall": d.wall_time if d else math.nan,
                        "dropped": True,
                    }
                    n_dropped += 1
                    t0 = time.perf_counter()
                    take(index, nan_position, nan_confidence)
                    timing[index].update(smoother=time.perf_counter() - t0, processed=True)
                    row_done(index)
                next_index = max(next_index, upto)
                if item is None:
                    break
                if math.isnan(first_capture):
                    first_capture = item.capture_time
                t = timing[item.index] = {"capture": item.capture_time, "wall": item.wall_time, "dropped": False}
                t0 = time.perf_counter()
                t["wait"] = t0 - item.capture_time
                position, confidence = predict_batch(models, [item.frames[v][None] for v in views], device)
                position = from_channels(position, I, axis=3)[:, :, 0].astype(np.float64)  # (M, V, K, I, 2)
                confidence = from_channels(confidence, I, axis=3)[:, :, 0].astype(np.float64)
                t1 = time.perf_counter()
                t["model"] = t1 - t0
                take(item.index, position, confidence)
                t2 = time.perf_counter()
                t["smoother"] = t2 - t1
                if len(pending_pred) >= settings.flush_every:
                    flush_predictions()
                t["output"] = time.perf_counter() - t2
                if t["steady"]:
                    for stage in ("wait", "model", "smoother", "output"):
                        latency[stage].append(1e3 * t[stage])
                t["processed"] = True
                row_done(item.index)
                next_index = item.index + 1
                n_processed += 1
                report(progress, "frames", next_index, source.n_frames)
            except KeyboardInterrupt:  # Ctrl-C: end as at the end of the files
                stop.set()
        if not smoothers and kept:  # a stream shorter than the fit: fit on what came
            start_smoothers()
        for frames in zip(*(s.finish() for s in smoothers), strict=True):
            emit(list(frames))
    finally:
        stop.set()
        if capture.is_alive():
            capture.join()
        source.close()
        torch.set_num_threads(torch_threads)
        flush_predictions()
        flush_smoothed()
        frames_file.close()
        writer.close()
    if source.error is not None:
        raise source.error
    seconds = last_line - first_capture if math.isfinite(last_line - first_capture) else 0.0
    result = LiveResult(
        out=out,
        store=store.path,
        session=session,
        n_frames=next_index,
        n_dropped=n_dropped,
        seconds=seconds,
        source_fps=source.fps,
        processed_fps=n_processed / seconds if seconds > 0 else math.nan,
        lag=settings.lag,
        device=str(device),
        latency={s: StageLatency.of(s, latency[s]) for s in STAGES},
        fitted=settings.parameters is None,
        parameters=list(fixed or []),
    )
    _write_summary(out / "live.json", result, settings, keypoints, views)
    return result


def _write_summary(path: Path, result: LiveResult, settings: LiveSettings, keypoints, views) -> None:
    def arr(x):
        return None if x is None else np.asarray(x).tolist()

    doc = {
        "settings": settings.to_dict(),
        "session": result.session,
        "device": result.device,
        "frames": result.n_frames,
        "dropped": result.n_dropped,
        "seconds": result.seconds,
        "source_fps": result.source_fps,
        "processed_fps": result.processed_fps,
        "lag_frames": result.lag,
        "latency_ms": {s: asdict(v) for s, v in result.latency.items()},
        "parameters": {
            "fitted_on_first_frames": result.fitted,
            "keypoints": list(keypoints),
            "views": list(views),
            "individuals": [
                {
                    "s": arr(p.s),
                    "noise_scale": arr(p.noise_scale),
                    "view_scale": arr(p.view_scale),
                    "view_disagreement": arr(p.view_disagreement),
                    "motion": None if p.motion is None else [str(m) for m in p.motion],
                }
                for p in result.parameters
            ],
        },
    }
    path.write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
