"""Pixel error on held-out labeled frames: per member, the ensemble, and a mean-pose baseline.

For each test frame (``split.json``), every member predicts all views; the ensemble is the median
of the members' positions. The error of a prediction is its Euclidean distance in the view's own
pixels to the label (unlabeled keypoints are skipped). The *mean pose* baseline predicts, for
every frame, each keypoint's mean training label in that view: a model that does not beat it has
learned nothing about the images. Every model is scored on the same labels: those the baseline
can predict (a keypoint never labeled in a view's training frames has no mean there; its test
labels are left out of every model's numbers, and counted in ``n`` of none).

``evaluate`` writes to ``<run_dir>/evaluation/``:

- ``errors.csv``: one row per (model, frame, view, keypoint) with the error in pixels (NaN where
  not scored);
- ``summary.csv``: mean, median and 90th percentile per (model, view, keypoint), with ``all``
  rows per view and overall;
- ``pixel_errors.png``: mean error per keypoint and view for the ensemble and the baseline;
- ``overlays/<image>.png``: per evaluated frame (the first ``overlays``), its views side by side
  with each label (ring) joined to the ensemble's prediction (dot) by a line, in the keypoint's
  colour, and the frame's error in the corner.

When test frames come from calibrated sessions (:mod:`lp3d_models.session_cameras`), the 3D error is
measured too: each model's positions in all views are triangulated (weighted by the confidence:
each member's own, the median of the members' for the ensemble, equal weights for the baseline)
and compared with the triangulated labels, in world units, for keypoints labeled in two views or
more. It goes to ``errors_3d.csv`` (model, frame, keypoint, error) and ``summary_3d.csv`` (mean,
median and 90th percentile per model and keypoint, with ``all`` rows). Calibrations are read for
this even when training did not use them (``geometry.enabled: false``); one that cannot be read
or does not match the views is then skipped with a warning, and only the pixel errors are given.

Several animals (:mod:`lp3d_models.individuals`): every table gains an ``individual`` column
(rows per individual, and ``all`` rows over the individuals), the baseline is each individual's
mean pose, and ``identity_swaps.csv`` counts, per model and view, the evaluated frames where
giving one animal's predictions to another would match the labels better
(:func:`identity_swaps`): the model followed the wrong animal.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lp3d_io.dataset import DEFAULT_INDIVIDUAL
from lp3d_io.layout import EVALUATION_DIR, SPLIT_FILE
from torch.utils.data import DataLoader

from lp3d_models.config import Config
from lp3d_models.data import LabeledData, PoseFrames, load_data, load_split
from lp3d_models.geometry import Cameras, cameras_from_batch, triangulate
from lp3d_models.individuals import from_channels
from lp3d_models.prediction import resolve_device
from lp3d_models.runs import load_run

__all__ = [
    "Evaluation",
    "evaluate",
    "pixel_errors",
    "identity_swaps",
    "errors_3d",
    "mean_pose_baseline",
    "Score",
    "score_positions",
    "score_individuals",
    "HeldOutFrames",
    "held_out_frames",
    "draw_overlays",
]

log = logging.getLogger(__name__)

BASELINE = "mean_pose_baseline"
ENSEMBLE = "ensemble"


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate` found.

    With several individuals every table has an ``individual`` column after ``model`` (rows per
    individual and ``all`` rows over them), and the positions are per channel
    (:mod:`lp3d_models.individuals`).

    Attributes:
        summary: one row per (model, view, keypoint), ``all`` rows included, with columns
            ``model, view, keypoint, n, mean, median, p90`` (pixels).
        errors: long table ``model, frame, view, keypoint, error``.
        predictions: ``{model: (view, frame, keypoint, 2)}`` positions on the evaluated frames.
        frames: the evaluated frame indices.
        out_dir: where the files went (None if not written).
        overlays: the overlay images written.
        summary_3d: one row per (model, keypoint), ``all`` rows included, with columns
            ``model, keypoint, n, mean, median, p90`` (world units); None when no evaluated frame
            is calibrated.
        errors_3d: long table ``model, frame, keypoint, error`` (world units), or None.
        identity: with several individuals, one row per (model, view), ``all`` rows included,
            with columns ``model, view, n, swaps, rate``: evaluated frames with two individuals or
            more labeled, and those with an identity swap (:func:`identity_swaps`); else None.
    """

    summary: pd.DataFrame
    errors: pd.DataFrame
    predictions: dict[str, np.ndarray]
    frames: np.ndarray
    out_dir: Path | None
    summary_3d: pd.DataFrame | None = None
    errors_3d: pd.DataFrame | None = None
    overlays: list[Path] = dataclasses.field(default_factory=list)
    identity: pd.DataFrame | None = None

    @property
    def individual_names(self) -> list[str]:
        """The individuals of the tables (empty for one animal)."""
        if "individual" not in self.summary.columns:
            return []
        return [str(i) for i in dict.fromkeys(self.summary.individual) if i != "all"]

    def count(self, model: str = ENSEMBLE, individual: str = "all") -> int:
        """Labels scored for ``model`` (of one ``individual``, or of all)."""
        return int(_row(self.summary, model, individual, view="all")["n"].iloc[0])

    def overall(self, model: str = ENSEMBLE, individual: str = "all") -> float:
        """Mean error over every view and keypoint of ``model`` (of one ``individual``, or of all)."""
        return float(_row(self.summary, model, individual, view="all")["mean"].iloc[0])

    def overall_3d(self, model: str = ENSEMBLE, individual: str = "all") -> float:
        """Mean 3D error over every keypoint of ``model`` (NaN without calibrated frames)."""
        if self.summary_3d is None:
            return float("nan")
        return float(_row(self.summary_3d, model, individual)["mean"].iloc[0])

    def swap_rate(self, model: str = ENSEMBLE) -> float:
        """Share of evaluated frames and views where ``model`` swapped identities (NaN for one animal)."""
        if self.identity is None:
            return float("nan")
        row = self.identity[(self.identity.model == model) & (self.identity.view == "all")]
        return float(row["rate"].iloc[0])

    def to_markdown_3d(self, models: tuple[str, ...] = (ENSEMBLE, BASELINE)) -> str:
        """Mean 3D error per keypoint (rows) and model (columns), as markdown ("" without calibrated frames)."""
        if self.summary_3d is None:
            return ""
        rows = _flat_keypoints(self.summary_3d[self.summary_3d.model.isin(models)])
        table = rows.pivot_table(index="keypoint", columns="model", values="mean", sort=False, dropna=False)
        table = table[[m for m in models if m in table.columns]]
        lines = [
            "| keypoint | " + " | ".join(f"{m} 3D" for m in table.columns) + " |",
            "|" + "---|" * (len(table.columns) + 1),
        ]
        for name, row in table.iterrows():
            lines.append(f"| {name} | " + " | ".join("" if np.isnan(x) else f"{x:.3g}" for x in row.values) + " |")
        return "\n".join(lines)

    def to_markdown(self, models: tuple[str, ...] = (ENSEMBLE, BASELINE)) -> str:
        """Mean error in pixels per keypoint (rows) and model and view (columns), as markdown."""
        rows = _flat_keypoints(self.summary[self.summary.model.isin(models)])
        table = rows.pivot_table(index="keypoint", columns=["model", "view"], values="mean", sort=False, dropna=False)
        header = "| keypoint | " + " | ".join(f"{m} {v}" for m, v in table.columns) + " |"
        lines = [header, "|" + "---|" * (len(table.columns) + 1)]
        for name, row in table.iterrows():
            lines.append(f"| {name} | " + " | ".join("" if np.isnan(x) else f"{x:.2f}" for x in row.values) + " |")
        return "\n".join(lines)


def _row(summary: pd.DataFrame, model: str, individual: str, **where: str) -> pd.DataFrame:
    """The ``all`` row of ``model`` (of ``individual`` when the table has individuals)."""
    keep = (summary.model == model) & (summary.keypoint == "all")
    for column, value in where.items():
        keep &= summary[column] == value
    if "individual" in summary.columns:
        keep &= summary.individual == individual
    return summary[keep]


def _flat_keypoints(summary: pd.DataFrame) -> pd.DataFrame:
    """A summary with individuals as one without: ``<individual> <keypoint>`` keypoints, and the
    rows over all individuals left out."""
    if "individual" not in summary.columns:
        return summary
    rows = summary[summary.individual != "all"].copy()
    rows["keypoint"] = rows.individual + " " + rows.keypoint
    return rows.drop(columns="individual")


def identity_swaps(estimate: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where assigning the estimates to other individuals would be closer to the labels.

    For each entry of the leading axes (a view of a frame), the individuals labeled there (any
    keypoint) are matched with the estimated individuals: the cost of an assignment is the sum of
    the distances of the keypoints that every labeled individual has, both labeled and estimated.
    A *swap* is an entry where some other assignment costs less than the identity.

    Args:
        estimate: ``(..., keypoint, individual, 2)`` positions, NaN where missing.
        truth: labels of the same shape, NaN where unlabeled.

    Returns:
        ``swapped (...)`` and ``scored (...)`` (two individuals or more labeled, and a keypoint they
        all have, labeled and estimated), both bool.
    """
    from itertools import permutations

    estimate, truth = np.asarray(estimate, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if estimate.shape != truth.shape or estimate.ndim < 3 or estimate.shape[-1] != 2:
        raise ValueError(
            f"estimate: expected (..., keypoint, individual, 2) like the labels {truth.shape}, but got {estimate.shape}"
        )
    lead, (K, I) = truth.shape[:-3], truth.shape[-3:-1]  # noqa: E741
    est, tru = estimate.reshape(-1, K, I, 2), truth.reshape(-1, K, I, 2)
    labeled = np.isfinite(tru).all(-1)  # (N, K, I)
    present = labeled.any(1)  # (N, I)
    seen = np.isfinite(est).all(-1)
    usable = ((labeled & seen) | ~present[:, None, :]).all(-1) & (present.sum(-1) >= 2)[:, None]  # (N, K)
    use = usable[..., None] & present[:, None, :]  # (N, K, I)
    costs = []
    for order in permutations(range(I)):
        d = np.linalg.norm(est[:, :, list(order)] - tru, axis=-1)
        costs.append(np.where(use, np.nan_to_num(d, nan=np.inf), 0.0).sum((1, 2)))
    scored = usable.any(1)
    swapped = scored & (np.min(costs[1:], axis=0) < costs[0]) if I > 1 else np.zeros_like(scored)
    return swapped.reshape(lead), scored.reshape(lead)


def pixel_errors(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Euclidean errors ``(...)`` of positions ``(..., 2)``; NaN where the label is missing."""
    return np.linalg.norm(np.asarray(predicted, dtype=np.float64) - labels, axis=-1)


def errors_3d(
    predicted: np.ndarray, labels: np.ndarray, cameras: Cameras, confidence: np.ndarray | None = None
) -> np.ndarray:
    """3D errors ``(frame, keypoint)`` of triangulated predictions against triangulated labels.

    Args:
        predicted: ``(view, frame, keypoint, 2)`` positions in the cameras' pixels.
        labels: the same shape, NaN where unlabeled.
        cameras: the cameras ``(frame, view, ...)`` of each frame.
        confidence: ``(view, frame, keypoint)`` triangulation weights of the predictions (None: 1).

    Returns:
        Euclidean distances in world units; NaN where either side does not triangulate.
    """
    to_torch = lambda a: torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, 0, 1), dtype=np.float64))  # noqa: E731
    weights = None if confidence is None else to_torch(confidence)
    points = triangulate(to_torch(predicted), cameras, weights)
    truth = triangulate(to_torch(labels), cameras)
    return torch.linalg.vector_norm(points - truth, dim=-1).numpy()


def mean_pose_baseline(train_labels: np.ndarray, n_frames: int) -> np.ndarray:
    """Predicts each keypoint's mean training position: ``(view, frame, keypoint, 2)`` from
    training labels ``(view, train frame, keypoint, 2)`` (per channel: each individual's mean pose)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a keypoint never labeled: NaN mean, on purpose
        mean = np.nanmean(train_labels, axis=1)  # (view, keypoint, 2)
    return np.repeat(mean[:, None], n_frames, axis=1)


def _stats(group: pd.DataFrame) -> dict[str, float]:
    e = group["error"].dropna().to_numpy()
    if not e.size:
        return {"n": 0, "mean": np.nan, "median": np.nan, "p90": np.nan}
    return {"n": int(e.size), "mean": e.mean(), "median": np.median(e), "p90": np.percentile(e, 90)}


def _by_individual(by_model: pd.DataFrame) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """``[({}, rows)]`` without individuals, else each individual's rows and all of them."""
    if "individual" not in by_model.columns:
        return [({}, by_model)]
    parts = [({"individual": str(i)}, rows) for i, rows in by_model.groupby("individual", sort=False)]
    return [*parts, ({"individual": "all"}, by_model)]


def _columns(errors: pd.DataFrame, *keys: str) -> list[str]:
    return ["model", *(["individual"] if "individual" in errors.columns else []), *keys, "n", "mean", "median", "p90"]


def _summary(errors: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for model, by_model in errors.groupby("model", sort=False):
        for who, part in _by_individual(by_model):
            for view, by_view in part.groupby("view", sort=False):
                if not who.get("individual") == "all":
                    for keypoint, one in by_view.groupby("keypoint", sort=False):
                        rows.append({"model": model, **who, "view": view, "keypoint": keypoint, **_stats(one)})
                rows.append({"model": model, **who, "view": view, "keypoint": "all", **_stats(by_view)})
            rows.append({"model": model, **who, "view": "all", "keypoint": "all", **_stats(part)})
    return pd.DataFrame(rows, columns=_columns(errors, "view", "keypoint"))


def _summary_3d(errors: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for model, by_model in errors.groupby("model", sort=False):
        for who, part in _by_individual(by_model):
            if not who.get("individual") == "all":
                for keypoint, one in part.groupby("keypoint", sort=False):
                    rows.append({"model": model, **who, "keypoint": keypoint, **_stats(one)})
            rows.append({"model": model, **who, "keypoint": "all", **_stats(part)})
    return pd.DataFrame(rows, columns=_columns(errors, "keypoint"))


def _plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    part = _flat_keypoints(summary[(summary.keypoint != "all") & summary.model.isin([ENSEMBLE, BASELINE])])
    views = list(dict.fromkeys(part.view))
    fig, axes = plt.subplots(len(views), 1, figsize=(max(6.0, 0.5 * part.keypoint.nunique() + 2), 2.6 * len(views)))
    axes = np.atleast_1d(axes)
    for ax, view in zip(axes, views, strict=True):
        rows = part[part.view == view]
        keypoints = list(dict.fromkeys(rows.keypoint))
        x = np.arange(len(keypoints))
        for offset, model in ((-0.2, ENSEMBLE), (0.2, BASELINE)):
            values = rows[rows.model == model].set_index("keypoint").reindex(keypoints)["mean"]
            ax.bar(x + offset, values.to_numpy(), width=0.4, label=model.replace("_", " "))
        ax.set_xticks(x, keypoints, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("mean error (px)")
        ax.set_title(f"view {view}", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.inference_mode()
def evaluate(
    run_dir: str | os.PathLike,
    *,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int = 8,
    device: str = "auto",
    write: bool = True,
    overlays: int = 50,
) -> Evaluation:
    """Pixel error of a run on its held-out labeled frames (see the module docstring).

    Args:
        run_dir: a training run directory.
        split: ``"test"`` (default), ``"val"`` or ``"train"``.
        checkpoint: ``"best"`` or ``"last"``.
        batch_size: frames per forward pass.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        write: write the tables, the plot and the overlays to ``<run_dir>/evaluation``.
        overlays: overlay images of at most this many frames (0: none).

    Raises:
        ValueError: an empty split (e.g. ``data.test_fraction`` was 0) or an unknown one.
    """
    run = load_run(run_dir, checkpoint=checkpoint)
    data = _labeled_frames(run.config, run.run_dir)
    parts = load_split(run.run_dir / SPLIT_FILE, data)
    if split not in parts:
        raise ValueError(f"split: expected one of {sorted(parts)}, but got {split!r}")
    frames = parts[split]
    if not frames.size:
        other = " (try --split val)" if split == "test" and parts.get("val", np.zeros(0)).size else ""
        raise ValueError(
            f"{run.run_dir}: expected {split} frames to evaluate, but the split holds out none "
            f"(data.{split}_fraction was 0 and data.split.{split} names none){other}"
        )
    size = (run.config.model.height, run.config.model.width)
    geometry = dataclasses.replace(run.config.geometry, enabled=True)  # the cameras, whatever training used
    dataset = PoseFrames(data, frames, size, augment=None, cache=False, geometry=geometry)
    loader = DataLoader(dataset, batch_size=batch_size)
    dev = resolve_device(device)
    predictions: dict[str, list[np.ndarray]] = {name: [] for name in run.members}
    confidences: dict[str, list[np.ndarray]] = {name: [] for name in run.members}
    cameras: list[Cameras] = []
    calibrated: list[np.ndarray] = []
    for name, model in run.members.items():
        model.to(dev)
        for batch in loader:
            out = model(batch["images"].to(dev), image_sizes=batch["image_sizes"].to(dev))
            predictions[name].append(out.keypoints.float().cpu().numpy().transpose(1, 0, 2, 3))
            confidences[name].append(out.confidence.float().cpu().numpy().transpose(1, 0, 2))
            if name == next(iter(run.members)) and "calibrated" in batch:  # the frames' cameras, once
                cameras.append(cameras_from_batch(batch))
                calibrated.append(batch["calibrated"].numpy())
    positions = {name: np.concatenate(parts_, axis=1) for name, parts_ in predictions.items()}
    confidence = {name: np.concatenate(parts_, axis=1) for name, parts_ in confidences.items()}
    if len(positions) > 1:
        positions[ENSEMBLE] = np.median(np.stack(list(positions.values())), axis=0)
    else:
        positions[ENSEMBLE] = next(iter(positions.values()))
    confidence[ENSEMBLE] = np.median(np.stack([confidence[name] for name in run.members]), axis=0)
    positions[BASELINE] = mean_pose_baseline(data.keypoints[:, parts["train"]], len(frames))
    # The same labels for every model: those the baseline can predict (module docstring).
    scored = np.isfinite(positions[BASELINE]).all(-1, keepdims=True)
    labels = np.where(scored, data.keypoints[:, frames], np.nan)  # (view, frame, channel, 2)
    individuals = data.individual_names
    several = len(individuals) > 1
    # a channel per keypoint of each individual, individual-major (lp3d_models.individuals)
    who = ([individuals] if several else []) + [data.keypoint_names]
    keys = (["individual"] if several else []) + ["keypoint"]
    index = pd.MultiIndex.from_product([frames, data.view_names, *who], names=["frame", "view", *keys])
    tables = []
    for name, pos in positions.items():
        err = pixel_errors(pos, labels).transpose(1, 0, 2).reshape(-1)  # (frame, view, channel)
        tables.append(pd.DataFrame({"model": name, "error": err}, index=index).reset_index())
    errors = pd.concat(tables, ignore_index=True)[["model", "frame", "view", *keys, "error"]]
    summary = _summary(errors)
    identity = _identity_table(positions, labels, data.view_names, len(individuals)) if several else None
    table_3d = summary_3d = None
    if calibrated and np.concatenate(calibrated).any():
        keep = np.concatenate(calibrated)
        rig = Cameras(*(torch.cat(parts_)[torch.from_numpy(keep)] for parts_ in zip(*cameras, strict=True)))
        index_3d = pd.MultiIndex.from_product([frames[keep], *who], names=["frame", *keys])
        tables = []
        for name, pos in positions.items():
            conf = confidence[name][:, keep] if name in confidence else None
            err = errors_3d(pos[:, keep], labels[:, keep], rig, conf).reshape(-1)
            tables.append(pd.DataFrame({"model": name, "error": err}, index=index_3d).reset_index())
        table_3d = pd.concat(tables, ignore_index=True)[["model", "frame", *keys, "error"]]
        summary_3d = _summary_3d(table_3d)
    out_dir, drawn = None, []
    if write:
        out_dir = run.run_dir / EVALUATION_DIR
        out_dir.mkdir(exist_ok=True)
        errors.to_csv(out_dir / "errors.csv", index=False)
        summary.to_csv(out_dir / "summary.csv", index=False)
        _plot(summary, out_dir / "pixel_errors.png")
        for old in ("errors_3d.csv", "summary_3d.csv", IDENTITY_FILE):
            (out_dir / old).unlink(missing_ok=True)
        if table_3d is not None and summary_3d is not None:
            table_3d.to_csv(out_dir / "errors_3d.csv", index=False)
            summary_3d.to_csv(out_dir / "summary_3d.csv", index=False)
        if identity is not None:
            identity.to_csv(out_dir / IDENTITY_FILE, index=False)
        shutil.rmtree(out_dir / OVERLAYS_DIR, ignore_errors=True)
        chosen = np.arange(min(overlays, len(frames)))
        drawn = draw_overlays(data, frames[chosen], positions[ENSEMBLE][:, chosen], out_dir / OVERLAYS_DIR)
    return Evaluation(summary, errors, positions, frames, out_dir, summary_3d, table_3d, drawn, identity)


IDENTITY_FILE = "identity_swaps.csv"


def _identity_table(
    positions: dict[str, np.ndarray], labels: np.ndarray, views: list[str], n_individuals: int
) -> pd.DataFrame:
    """Identity swaps per model and view, ``all`` rows included (:class:`Evaluation`'s ``identity``)."""
    truth = from_channels(labels, n_individuals, axis=2)  # (view, frame, keypoint, individual, 2)
    rows = []
    for name, pos in positions.items():
        swapped, scored = identity_swaps(from_channels(pos, n_individuals, axis=2), truth)  # (view, frame)
        for v, view in [*enumerate(views), (slice(None), "all")]:
            n, k = int(scored[v].sum()), int(swapped[v].sum())
            rows.append({"model": name, "view": view, "n": n, "swaps": k, "rate": k / n if n else np.nan})
    return pd.DataFrame(rows, columns=["model", "view", "n", "swaps", "rate"])


def _labeled_frames(config: Config, run_dir: Path) -> LabeledData:
    """The run's labeled frames with their cameras; without them (and a warning) when training did
    not use cameras and they cannot be read (module docstring)."""
    try:
        return load_data(config.data, run_dir)
    except (ValueError, OSError) as err:
        if config.geometry.enabled:
            raise
        log.warning(f"no 3D errors: {' '.join(str(err).split())}")
        return load_data(config.data, run_dir, cameras=False)


OVERLAYS_DIR = "overlays"


def draw_overlays(
    data: LabeledData, frames: np.ndarray, predicted: np.ndarray, folder: str | os.PathLike
) -> list[Path]:
    """Overlay images of labeled frames: per frame, its views side by side (each in its own pixels),
    every label a ring joined by a line to its prediction, a dot, in the keypoint's colour
    (:func:`lp3d_io.video.keypoint_colors`), and the frame's mean error in the corner.

    Args:
        data: the labeled frames.
        frames: ``(frame,)`` which (indices into ``data``).
        predicted: ``(view, frame, channel, 2)`` the predictions in each view's pixels.
        folder: output folder (created): ``<image path with / as __>.png`` per frame.

    Returns:
        The images written.
    """
    import cv2
    from lp3d_io.video import draw_keypoints, keypoint_colors

    from lp3d_models.data import read_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    colors = np.tile(keypoint_colors(len(data.keypoint_names)), (len(data.individual_names), 1))  # per channel
    out = []
    for i, frame in enumerate(np.asarray(frames, dtype=np.int64)):
        panels, errors = [], []
        for v, view in enumerate(data.view_names):
            image = read_image(data.root / data.image_paths[v, frame])
            if data.crops is not None:
                x, y, w, h = data.crops[view]
                image = image[y : y + h, x : x + w]
            labels, guess = data.keypoints[v, frame].astype(np.float64), predicted[v, i]
            image = draw_keypoints(image, guess, colors=colors, radius=2)
            for k, (label, point) in enumerate(zip(labels, guess, strict=True)):
                if not np.isfinite(label).all():
                    continue
                color = tuple(int(c) for c in colors[k])
                centre = tuple(int(round(c)) for c in label)
                cv2.circle(image, centre, 5, color, 1, cv2.LINE_AA)
                if np.isfinite(point).all():
                    cv2.line(image, centre, tuple(int(round(c)) for c in point), color, 1, cv2.LINE_AA)
                    errors.append(float(np.linalg.norm(point - label)))
            cv2.putText(image, view, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            panels.append(image)
        height = max(p.shape[0] for p in panels)
        row = np.concatenate([np.pad(p, ((0, height - p.shape[0]), (0, 2), (0, 0))) for p in panels], axis=1)
        text = f"mean error {np.mean(errors):.1f} px" if errors else "no labels"
        cv2.putText(row, text, (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
        name = str(data.image_paths[0, frame]).replace("\\", "/").replace("/", "__")
        path = folder / f"{Path(name).stem}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(row, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write the overlay image")
        out.append(path)
    return out


# --- scores of positions from anywhere (a pipeline's stages) ------------------------------------------


@dataclass(frozen=True)
class Score:
    """Errors of one set of positions (a model, an ensemble, a smoother) on labeled frames.

    Attributes:
        name: what was scored.
        pixel_mean, pixel_median: 2D error in pixels over (frame, view, keypoint) with a label.
        n: labeled positions scored.
        world_mean: 3D error against the triangulated labels (world units; NaN without calibration).
        individual: with several animals, the one scored, or ``"all"``; ``""`` for one animal.
        swap_rate: with several animals, in the ``"all"`` row, the share of scored (frame, view)
            with an identity swap (:func:`identity_swaps`); else NaN.
    """

    name: str
    pixel_mean: float
    pixel_median: float
    n: int
    world_mean: float = float("nan")
    individual: str = ""
    swap_rate: float = float("nan")


def score_positions(
    name: str,
    estimate: np.ndarray,
    truth: np.ndarray,
    points3d: np.ndarray | None = None,
    truth3d: np.ndarray | None = None,
) -> Score:
    """Scores ``estimate`` against ``truth`` (any matching shapes ``(..., 2)``), and with both 3D
    arrays ``(..., 3)`` the 3D error; entries missing on either side are skipped."""
    err = np.linalg.norm(estimate - truth, axis=-1)
    err = err[np.isfinite(err)]
    world = float("nan")
    if points3d is not None and truth3d is not None:
        e3 = np.linalg.norm(points3d - truth3d, axis=-1)
        e3 = e3[np.isfinite(e3)]
        world = float(e3.mean()) if e3.size else float("nan")
    if not err.size:
        return Score(name, float("nan"), float("nan"), 0, world)
    return Score(name, float(err.mean()), float(np.median(err)), int(err.size), world)


def score_individuals(
    name: str,
    estimate: np.ndarray,
    truth: np.ndarray,
    individual_names: Sequence[str],
    points3d: np.ndarray | None = None,
    truth3d: np.ndarray | None = None,
) -> list[Score]:
    """Scores ``estimate`` against ``truth`` ``(view, frame, keypoint, individual, 2)`` (3D:
    ``(frame, keypoint, individual, 3)``): for one animal :func:`score_positions` alone; for
    several, a row over all of them (with the identity-swap rate) and one per individual."""
    if len(individual_names) == 1:
        one = [None if a is None else a[..., 0, :] for a in (points3d, truth3d)]
        return [score_positions(name, estimate[..., 0, :], truth[..., 0, :], *one)]
    swapped, scored = identity_swaps(estimate, truth)
    rate = float(swapped.sum() / scored.sum()) if scored.any() else float("nan")
    overall = score_positions(name, estimate, truth, points3d, truth3d)
    rows = [dataclasses.replace(overall, individual="all", swap_rate=rate)]
    for i, individual in enumerate(individual_names):
        one = [None if a is None else a[..., i, :] for a in (points3d, truth3d)]
        score = score_positions(name, estimate[..., i, :], truth[..., i, :], *one)
        rows.append(dataclasses.replace(score, individual=str(individual)))
    return rows


@dataclass(frozen=True, eq=False)
class HeldOutFrames:
    """A run's held-out labeled frames that are frames of given sessions' videos.

    Attributes:
        labels: ``(view, frame, channel, 2)`` the labels of every held-out frame (pixels; a channel
            per keypoint of each individual, :mod:`lp3d_models.individuals`).
        rows: ``{session: (rows of labels, frame indices in the session's videos)}``.
        part: which frames: ``"test"``, or ``"val"`` when the run holds out no test frame
            (they chose the checkpoints, so their errors flatter the model), or ``""`` for none.
        individual_names: ``(individual,)`` of the labels.
    """

    labels: np.ndarray
    rows: dict[str, tuple[np.ndarray, np.ndarray]]
    part: str = "test"
    individual_names: list[str] = dataclasses.field(default_factory=lambda: [DEFAULT_INDIVIDUAL])


def held_out_frames(
    run_dir: str | os.PathLike,
    sessions: Sequence[str],
    *,
    split: dict[str, np.ndarray] | None = None,
    config: Config | None = None,
) -> HeldOutFrames:
    """The held-out frames of a run (``split.json``: its test frames, else its validation frames)
    that lie in the videos of ``sessions``, found by their image paths (:func:`lp3d_io.layout.frame_id`).

    Args:
        run_dir: the run directory.
        sessions: the sessions whose videos are predicted.
        split, config: the split and config of a run not trained yet (what it will hold out);
            default: the run's own.

    Returns:
        :class:`HeldOutFrames`; ``part`` is ``""`` (and ``rows`` empty) when the run holds out nothing.
    """
    from lp3d_io.layout import CONFIG_FILE

    from lp3d_models.config import load_config
    from lp3d_models.runs import read_run_info

    run_dir = Path(run_dir)
    if config is None:
        read_run_info(run_dir)  # a run directory, or a one-line error
        config = load_config(run_dir / CONFIG_FILE)
    data = load_data(config.data, run_dir, cameras=False)
    parts = load_split(run_dir / SPLIT_FILE, data) if split is None else split
    part = "test" if parts["test"].size else "val" if parts["val"].size else ""
    held = parts[part] if part else np.zeros(0, dtype=np.int64)
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for row, ident in enumerate(data.frame_ids(held)):
        if ident is not None and ident[0] in sessions:
            rows.setdefault(ident[0], ([], []))[0].append(row)
            rows[ident[0]][1].append(ident[1])
    return HeldOutFrames(
        data.keypoints[:, held].astype(np.float64),
        {s: (np.asarray(r), np.asarray(f)) for s, (r, f) in rows.items()},
        part,
        list(data.individual_names),
    )
