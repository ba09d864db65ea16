"""Video inference: synchronized videos (one per view) streamed through every member of a run.

Frames are decoded in batches (:class:`lp3d_io.video.SyncedVideos`; ``offsets`` for views that
started recording at different frames, ``shortest`` to end with the shortest view), each view
letterboxed into the model size, and every member's keypoints (in each video's own pixels) and
confidences appended to a zarr predictions group (:func:`lp3d_io.append_frames`): memory stays at
one batch whatever the video length, and a run that was stopped continues from the last frame it
committed. The group is then exported as one CSV per member and view
(:func:`lp3d_io.to_prediction_csvs`), readable back with :func:`lp3d_io.read_predictions`.

A run whose views are crops of one camera's frames (``data.crops``, a mirror rig) predicts from one
video per session: each frame is cut into the views, and the predictions stay in each view's own
(crop) pixels, views like any others for the smoother; the labeled video draws them back on the
whole frame. The store records the session (``<session>_<view>.mp4``, or ``<session>.mp4`` for
crops), which distillation uses to tell labeled frames apart.

A run of several animals (:mod:`lp3d_models.individuals`) fills the store's ``individual``
dimension with their names, and its CSVs have the 4-row multi-animal header.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lp3d_models.augment import letterbox_image, to_chw_float
from lp3d_models.individuals import from_channels
from lp3d_models.model import MultiViewPoseModel
from lp3d_models.runs import load_run

__all__ = [
    "PredictResult",
    "predict_batch",
    "predict_videos",
    "resolve_device",
    "session_of_videos",
    "videos_by_view",
    "write_prediction_videos",
]


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict_videos` wrote.

    Attributes:
        store: the zarr store.
        group: the predictions group in it.
        n_frames: frames in the group.
        csv_files: ``{(member, view): path}`` of the exported CSVs (empty if not exported).
        labeled_videos: the videos with the predictions drawn (empty if none were asked for).
    """

    store: Path
    group: str
    n_frames: int
    csv_files: dict[tuple[str, str], Path]
    labeled_videos: list[Path] = field(default_factory=list)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: the first GPU if there is one, else the CPU; otherwise ``torch.device(device)``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.inference_mode()
def predict_batch(
    models: Sequence[MultiViewPoseModel], views: Sequence[np.ndarray], device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of a batch of frames from every model.

    Args:
        models: the ensemble members (same views and keypoints; already on ``device``).
        views: ``V`` arrays ``(B, H_v, W_v, 3)`` uint8 RGB, one per view, any sizes.
        device: where the models are.

    Returns:
        Positions ``(member, view, B, channel, 2)`` in each view's pixels and confidences
        ``(member, view, B, channel)``, float32 (a channel per keypoint of each individual:
        :func:`lp3d_models.individuals.from_channels` splits them).
    """
    first = models[0]
    height, width = first.image_size
    images = np.stack(
        [np.stack([to_chw_float(letterbox_image(frame, (width, height))) for frame in view]) for view in views], axis=1
    )  # (B, V, 3, H, W)
    sizes = torch.tensor([[v.shape[2], v.shape[1]] for v in views], dtype=torch.float32, device=device)
    x = torch.from_numpy(images).to(device)
    device = torch.device(device)
    positions, confidences = [], []
    for model in models:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(x, image_sizes=sizes)
        positions.append(out.keypoints.float().permute(1, 0, 2, 3))
        confidences.append(out.confidence.float().permute(1, 0, 2))
    return torch.stack(positions).cpu().numpy(), torch.stack(confidences).cpu().numpy()


def videos_by_view(
    videos: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], views: list[str], cropped: bool
) -> dict[str, Path]:
    """``{view: video}``: a mapping taken as it is, a list of files matched to the views by name
    (:func:`lp3d_io.grouping.group_view_files`); with ``cropped`` (views cut from one camera's frames,
    ``data.crops``) one video, every view's.

    Raises:
        FileNotFoundError: a listed file that is missing.
        ValueError: not one video per view (or not one video for cropped views), or names that match no view.
    """
    if isinstance(videos, Mapping):
        missing = [v for v in views if v not in videos]
        if missing:
            raise ValueError(f"videos: expected one video per view {views}, but views {missing} have none")
        by_view = {v: Path(videos[v]) for v in views}
        if cropped and len(set(by_view.values())) != 1:
            raise ValueError(f"videos: expected one video whose frames hold every view {views}, but got {by_view}")
        return by_view
    paths = [Path(p) for p in videos]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: video not found")
    if cropped:
        if len(paths) != 1:
            raise ValueError(
                f"videos: expected one video whose frames hold every view {views} (data.crops), but got {len(paths)}"
            )
        return {v: paths[0] for v in views}
    if len(paths) != len(views):
        raise ValueError(f"videos: expected one video per view {views}, but got {len(paths)} files")
    from lp3d_io.grouping import group_view_files

    return group_view_files(paths, views)


def session_of_videos(by_view: Mapping[str, Path], views: list[str], cropped: bool) -> str | None:
    """The session the videos' names give (:func:`lp3d_io.layout.find_video_sessions`), or None when
    they name none or several."""
    from lp3d_io.layout import find_video_sessions

    try:
        sessions = find_video_sessions(sorted(set(by_view.values())), views, cropped=cropped)
    except (ValueError, OSError):
        return None
    return next(iter(sessions)) if len(sessions) == 1 else None


class _Frames:
    """Synchronized frames of every view: one video per view, or one video cut into the crops."""

    def __init__(
        self,
        by_view: Mapping[str, Path],
        crops: Mapping[str, Sequence[int]] | None,
        offsets: Mapping[str, int] | None,
        shortest: bool,
    ) -> None:
        from lp3d_io.video import SyncedVideos

        self.crops = crops
        if crops:
            if offsets:
                raise ValueError("offsets: expected none for views cropped from one video, but got some")
            self.synced = SyncedVideos({"frame": next(iter(by_view.values()))})
            width, height = self.synced.readers["frame"].size
            for view, (x, y, w, h) in crops.items():
                if x + w > width or y + h > height:
                    self.synced.close()
                    raise ValueError(
                        f"data.crops.{view}.box: expected a box inside the {width}x{height} frames of "
                        f"{self.synced.readers['frame'].path}, but got {[x, y, w, h]}"
                    )
        else:
            self.synced = SyncedVideos(by_view, offsets=offsets, on_mismatch="shortest" if shortest else "error")
        self.frame_count, self.fps = self.synced.frame_count, self.synced.fps

    def batches(self, batch_size: int, start: int):
        for indices, frames in self.synced.batches(batch_size, start=start):
            if self.crops:
                whole = frames["frame"]
                frames = {v: whole[:, y : y + h, x : x + w] for v, (x, y, w, h) in self.crops.items()}
            yield indices, frames

    def close(self) -> None:
        self.synced.close()


def predict_videos(
    run_dir: str | os.PathLike,
    videos: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    *,
    group: str | None = None,
    csv_dir: str | os.PathLike | None = None,
    export_csv: bool = True,
    labeled_videos: str | os.PathLike | None = None,
    batch_size: int = 16,
    members: list[str] | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    offsets: Mapping[str, int] | None = None,
    shortest: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> PredictResult:
    """Predicts every frame of synchronized videos with a run's members.

    Args:
        run_dir: a training run directory.
        videos: one video per view: ``{view: path}``, or paths whose file names contain the view
            names (``session_top.mp4``); for a run of cropped views (``data.crops``), the one video
            whose frames hold them all.
        out: the zarr store (created if missing).
        group: predictions group (default ``predictions/<run folder name>``).
        csv_dir: where the CSVs go (default ``<store folder>/<store name>_csv``).
        export_csv: write the CSVs.
        labeled_videos: a folder for the videos with the ensemble's predictions drawn
            (:func:`write_prediction_videos`); None: none.
        batch_size: frames per batch.
        members: which members (default all).
        checkpoint: ``"best"`` or ``"last"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        offsets: ``{view: frame}`` of each video that is session frame 0 (views that started
            recording at different frames; the others start at 0).
        shortest: end with the shortest video instead of failing on unequal lengths.
        overwrite: replace an existing group (else a group is continued where it stopped).
        progress: show a progress bar.

    Returns:
        A :class:`PredictResult`.

    Raises:
        FileNotFoundError: a missing video or run.
        ValueError: videos that do not match the views, unequal lengths (without ``offsets`` that
            even them out, or ``shortest``), or an existing group of other members, views or keypoints.
    """
    from lp3d_io import append_frames, list_groups, open_store, predictions_dataset, read_group, to_prediction_csvs
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive number, but got {batch_size}")
    run = load_run(run_dir, members, checkpoint)
    crops = run.config.data.crops
    boxes = {v: list(crops[v].box) for v in run.view_names} if crops else None
    group = group or f"predictions/{Path(run.run_dir).name}"
    by_view = videos_by_view(videos, run.view_names, cropped=bool(crops))
    session = session_of_videos(by_view, run.view_names, cropped=bool(crops))
    store = open_store(out)
    names = list(run.members)
    if group in list_groups(store) and overwrite:
        shutil.rmtree(store.path / group)
    start = 0
    if group in list_groups(store):
        stored = read_group(store, group)
        checked = (
            ("member", names),
            ("view", run.view_names),
            ("keypoint", run.keypoint_names),
            ("individual", run.individual_names),
        )
        for dim, want in checked:
            got = [str(x) for x in stored[dim].values]
            if got != want:
                raise ValueError(
                    f"{store.path}/{group}: expected {dim} {got} to continue it, but this run has {want} "
                    f"(pass --overwrite to replace it, or another group)"
                )
        start = int(stored.sizes["time"])
    dev = resolve_device(device)
    models = [m.to(dev) for m in run.members.values()]
    synced = _Frames(by_view, boxes, offsets, shortest)
    try:
        total = synced.frame_count
        bar = tqdm(total=total, initial=start, unit="frame", desc="predict", disable=not progress)
        for indices, frames in synced.batches(batch_size, start=start):
            position, confidence = predict_batch(models, [frames[v] for v in run.view_names], dev)
            n = len(run.individual_names)
            chunk = predictions_dataset(
                from_channels(position, n, axis=3),  # (member, view, time, keypoint, individual, 2)
                from_channels(confidence, n, axis=3),
                view_names=run.view_names,
                keypoint_names=run.keypoint_names,
                individual_names=run.individual_names,
                member_names=names,
                fps=synced.fps if synced.fps > 0 else None,
                source_software="lp3d",
                source_files=[str(by_view[v]) for v in run.view_names],
                session=session,
                time=indices,
            )
            append_frames(store, group, chunk)
            bar.update(len(indices))
        bar.close()
    finally:
        synced.close()
    n_frames = int(read_group(store, group).sizes["time"]) if group in list_groups(store) else 0
    csv_files: dict[tuple[str, str], Path] = {}
    if export_csv and n_frames:
        folder = Path(csv_dir) if csv_dir is not None else store.path.parent / f"{store.path.stem}_csv"
        csv_files = to_prediction_csvs(read_group(store, group), folder)
    drawn: list[Path] = []
    if labeled_videos is not None and n_frames:
        drawn = write_prediction_videos(read_group(store, group), by_view, labeled_videos, crops=boxes, offsets=offsets)
    return PredictResult(store.path, group, n_frames, csv_files, drawn)


def write_prediction_videos(
    predictions: Any,
    videos: Mapping[str, str | os.PathLike],
    folder: str | os.PathLike,
    *,
    crops: Mapping[str, Sequence[int]] | None = None,
    offsets: Mapping[str, int] | None = None,
) -> list[Path]:
    """Videos with the ensemble's predictions drawn (:func:`lp3d_io.video.write_labeled_video`): the
    members' median as dots, their spread (variance over members, 2 standard deviations) as ellipses.

    Args:
        predictions: a predictions dataset ``(member, view, time, keypoint, individual, space)``
            whose ``time`` are consecutive session frames.
        videos: ``{view: video}`` it was predicted from.
        folder: output folder: ``<view>_labeled.mp4`` per view, or for cropped views one
            ``<video name>_labeled.mp4`` with every view drawn on the whole frame.
        crops: ``{view: [x, y, width, height]}`` of cropped views.
        offsets: ``{view: frame}`` of each video that is session frame 0.

    Returns:
        The videos written.
    """
    import warnings

    from lp3d_io.video import keypoint_colors, write_labeled_video

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    views = [str(v) for v in predictions["view"].values]
    dims = ("member", "view", "time", "keypoint", "individual", "space")
    position = predictions["position"].transpose(*dims).values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN keypoints: nothing to draw, on purpose
        centre = np.nanmedian(position, axis=0)  # (view, time, keypoint, individual, 2)
        spread = np.nanvar(position, axis=0) if position.shape[0] > 1 else None
    V, T, K, I = centre.shape[:4]  # noqa: E741
    colors = np.broadcast_to(keypoint_colors(K)[:, None], (K, I, 3))  # a keypoint's colour in every view

    def flat(values: np.ndarray) -> np.ndarray:  # (view, time, K, I, 2) -> (time, view K I, 2)
        return np.moveaxis(values, 0, 1).reshape(T, -1, 2)

    start = int(predictions["time"].values[0])
    if crops:
        shift = np.array([crops[v][:2] for v in views], dtype=np.float64)[:, None, None, None, :]
        source = Path(videos[views[0]])
        path = folder / f"{source.stem}_labeled.mp4"
        variance = None if spread is None else flat(spread)
        write_labeled_video(
            path, source, flat(centre + shift), variance, start=start, colors=np.tile(colors.reshape(-1, 3), (V, 1))
        )
        return [path]
    out = []
    for v, view in enumerate(views):
        path = folder / f"{view}_labeled.mp4"
        first = start + int((offsets or {}).get(view, 0))
        variance = None if spread is None else flat(spread[v : v + 1])
        write_labeled_video(
            path, videos[view], flat(centre[v : v + 1]), variance, start=first, colors=colors.reshape(-1, 3)
        )
        out.append(path)
    return out
