"""Video inference: synchronized videos (one per view) streamed through every member of a run.

Frames are decoded in batches (:class:`lp3d_io.video.SyncedVideos`), each view resized to the
model size, and every member's keypoints (in each video's own pixels) and confidences appended
to a zarr predictions group (:func:`lp3d_io.append_frames`): memory stays at one batch whatever
the video length, and a run that was stopped continues from the last frame it committed. The
group is then exported as one CSV per member and view (:func:`lp3d_io.to_prediction_csvs`),
readable back with :func:`lp3d_io.read_predictions`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lp3d_models.augment import resize_image, to_chw_float
from lp3d_models.model import MultiViewPoseModel
from lp3d_models.runs import load_run

__all__ = ["PredictResult", "predict_batch", "predict_videos", "resolve_device"]


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict_videos` wrote.

    Attributes:
        store: the zarr store.
        group: the predictions group in it.
        n_frames: frames in the group.
        csv_files: ``{(member, view): path}`` of the exported CSVs (empty if not exported).
    """

    store: Path
    group: str
    n_frames: int
    csv_files: dict[tuple[str, str], Path]


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
        Positions ``(member, view, B, keypoint, 2)`` in each view's pixels and confidences
        ``(member, view, B, keypoint)``, float32.
    """
    first = models[0]
    height, width = first.image_size
    images = np.stack(
        [np.stack([to_chw_float(resize_image(frame, (width, height))) for frame in view]) for view in views], axis=1
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


def _videos_by_view(videos: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], views: list[str]):
    if isinstance(videos, Mapping):
        missing = [v for v in views if v not in videos]
        if missing:
            raise ValueError(f"videos: expected one video per view {views}, but views {missing} have none")
        return {v: Path(videos[v]) for v in views}
    paths = [Path(p) for p in videos]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: video not found")
    if len(paths) != len(views):
        raise ValueError(f"videos: expected one video per view {views}, but got {len(paths)} files")
    from lp3d_io.grouping import group_view_files

    return group_view_files(paths, views)


def predict_videos(
    run_dir: str | os.PathLike,
    videos: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    *,
    group: str | None = None,
    csv_dir: str | os.PathLike | None = None,
    export_csv: bool = True,
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
            names (``session_top.mp4``).
        out: the zarr store (created if missing).
        group: predictions group (default ``predictions/<run folder name>``).
        csv_dir: where the CSVs go (default ``<store folder>/<store name>_csv``).
        export_csv: write the CSVs.
        batch_size: frames per batch.
        members: which members (default all).
        checkpoint: ``"best"`` or ``"last"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        offsets: ``{view: frame}`` of each video that is session frame 0.
        shortest: end with the shortest video instead of failing on unequal lengths.
        overwrite: replace an existing group (else a group is continued where it stopped).
        progress: show a progress bar.

    Returns:
        A :class:`PredictResult`.

    Raises:
        FileNotFoundError: a missing video or run.
        ValueError: videos that do not match the views, or an existing group of other members,
            views or keypoints.
    """
    from lp3d_io import append_frames, list_groups, open_store, predictions_dataset, read_group, to_prediction_csvs
    from lp3d_io.video import SyncedVideos
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive number, but got {batch_size}")
    run = load_run(run_dir, members, checkpoint)
    group = group or f"predictions/{Path(run.run_dir).name}"
    by_view = _videos_by_view(videos, run.view_names)
    store = open_store(out)
    names = list(run.members)
    if group in list_groups(store) and overwrite:
        shutil.rmtree(store.path / group)
    start = 0
    if group in list_groups(store):
        stored = read_group(store, group)
        for dim, want in (("member", names), ("view", run.view_names), ("keypoint", run.keypoint_names)):
            got = [str(x) for x in stored[dim].values]
            if got != want:
                raise ValueError(
                    f"{store.path}/{group}: expected {dim} {got} to continue it, but this run has {want} "
                    f"(pass --overwrite to replace it, or another group)"
                )
        start = int(stored.sizes["time"])
    dev = resolve_device(device)
    models = [m.to(dev) for m in run.members.values()]
    with SyncedVideos(by_view, offsets=offsets, on_mismatch="shortest" if shortest else "error") as synced:
        total = synced.frame_count
        bar = tqdm(total=total, initial=start, unit="frame", desc="predict", disable=not progress)
        for indices, frames in synced.batches(batch_size, start=start):
            position, confidence = predict_batch(models, [frames[v] for v in run.view_names], dev)
            chunk = predictions_dataset(
                position,
                confidence,
                view_names=run.view_names,
                keypoint_names=run.keypoint_names,
                member_names=names,
                fps=synced.fps if synced.fps > 0 else None,
                source_software="lp3d",
                source_files=[str(by_view[v]) for v in run.view_names],
                time=indices,
            )
            append_frames(store, group, chunk)
            bar.update(len(indices))
        bar.close()
    n_frames = int(read_group(store, group).sizes["time"]) if group in list_groups(store) else 0
    csv_files: dict[tuple[str, str], Path] = {}
    if export_csv and n_frames:
        folder = Path(csv_dir) if csv_dir is not None else store.path.parent / f"{store.path.stem}_csv"
        csv_files = to_prediction_csvs(read_group(store, group), folder)
    return PredictResult(store.path, group, n_frames, csv_files)
