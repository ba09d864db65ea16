"""Pixel error on held-out labeled frames: per member, the ensemble, and a mean-pose baseline.

For each test frame (``split.json``), every member predicts all views; the ensemble is the median
of the members' positions. The error of a prediction is its Euclidean distance in the view's own
pixels to the label (unlabeled keypoints are skipped). The *mean pose* baseline predicts, for
every frame, each keypoint's mean training label in that view: a model that does not beat it has
learned nothing about the images.

``evaluate`` writes to ``<run_dir>/evaluation/``:

- ``errors.csv``: one row per (model, frame, view, keypoint) with the error in pixels;
- ``summary.csv``: mean, median and 90th percentile per (model, view, keypoint), with ``all``
  rows per view and overall;
- ``pixel_errors.png``: mean error per keypoint and view for the ensemble and the baseline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from lp3d_models.data import PoseFrames, load_data, load_split
from lp3d_models.prediction import resolve_device
from lp3d_models.runs import load_run

__all__ = ["Evaluation", "evaluate", "pixel_errors", "mean_pose_baseline"]

BASELINE = "mean_pose_baseline"
ENSEMBLE = "ensemble"


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate` found.

    Attributes:
        summary: one row per (model, view, keypoint), ``all`` rows included, with columns
            ``model, view, keypoint, n, mean, median, p90`` (pixels).
        errors: long table ``model, frame, view, keypoint, error``.
        predictions: ``{model: (view, frame, keypoint, 2)}`` positions on the evaluated frames.
        frames: the evaluated frame indices.
        out_dir: where the files went (None if not written).
    """

    summary: pd.DataFrame
    errors: pd.DataFrame
    predictions: dict[str, np.ndarray]
    frames: np.ndarray
    out_dir: Path | None

    def overall(self, model: str = ENSEMBLE) -> float:
        """Mean error over every view and keypoint of ``model``."""
        row = self.summary[(self.summary.model == model) & (self.summary.view == "all")]
        return float(row["mean"].iloc[0])

    def to_markdown(self, models: tuple[str, ...] = (ENSEMBLE, BASELINE)) -> str:
        """Mean error in pixels per keypoint (rows) and model and view (columns), as markdown."""
        rows = self.summary[self.summary.model.isin(models)]
        table = rows.pivot_table(index="keypoint", columns=["model", "view"], values="mean", sort=False, dropna=False)
        header = "| keypoint | " + " | ".join(f"{m} {v}" for m, v in table.columns) + " |"
        lines = [header, "|" + "---|" * (len(table.columns) + 1)]
        for name, row in table.iterrows():
            lines.append(f"| {name} | " + " | ".join("" if np.isnan(x) else f"{x:.2f}" for x in row.values) + " |")
        return "\n".join(lines)


def pixel_errors(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Euclidean errors ``(...)`` of positions ``(..., 2)``; NaN where the label is missing."""
    return np.linalg.norm(np.asarray(predicted, dtype=np.float64) - labels, axis=-1)


def mean_pose_baseline(train_labels: np.ndarray, n_frames: int) -> np.ndarray:
    """Predicts each keypoint's mean training position: ``(view, frame, keypoint, 2)`` from
    training labels ``(view, train frame, keypoint, 2)``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a keypoint never labeled: NaN mean, on purpose
        mean = np.nanmean(train_labels, axis=1)  # (view, keypoint, 2)
    return np.repeat(mean[:, None], n_frames, axis=1)


def _summary(errors: pd.DataFrame) -> pd.DataFrame:
    def stats(group: pd.DataFrame) -> dict[str, float]:
        e = group["error"].dropna().to_numpy()
        if not e.size:
            return {"n": 0, "mean": np.nan, "median": np.nan, "p90": np.nan}
        return {"n": int(e.size), "mean": e.mean(), "median": np.median(e), "p90": np.percentile(e, 90)}

    rows = []
    for model, by_model in errors.groupby("model", sort=False):
        for view, by_view in by_model.groupby("view", sort=False):
            for keypoint, part in by_view.groupby("keypoint", sort=False):
                rows.append({"model": model, "view": view, "keypoint": keypoint, **stats(part)})
            rows.append({"model": model, "view": view, "keypoint": "all", **stats(by_view)})
        rows.append({"model": model, "view": "all", "keypoint": "all", **stats(by_model)})
    return pd.DataFrame(rows, columns=["model", "view", "keypoint", "n", "mean", "median", "p90"])


def _plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    part = summary[(summary.keypoint != "all") & summary.model.isin([ENSEMBLE, BASELINE])]
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
) -> Evaluation:
    """Pixel error of a run on its held-out labeled frames (see the module docstring).

    Args:
        run_dir: a training run directory.
        split: ``"test"`` (default), ``"val"`` or ``"train"``.
        checkpoint: ``"best"`` or ``"last"``.
        batch_size: frames per forward pass.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        write: write the tables and the plot to ``<run_dir>/evaluation``.

    Raises:
        ValueError: an empty split (e.g. ``data.test_fraction`` was 0) or an unknown one.
    """
    run = load_run(run_dir, checkpoint=checkpoint)
    data = load_data(run.config.data, run.run_dir)
    parts = load_split(run.run_dir / "split.json", data)
    if split not in parts:
        raise ValueError(f"split: expected one of {sorted(parts)}, but got {split!r}")
    frames = parts[split]
    if not frames.size:
        raise ValueError(f"{run.run_dir}: the {split} split has no frames (data.{split}_fraction was 0)")
    size = (run.config.model.height, run.config.model.width)
    loader = DataLoader(PoseFrames(data, frames, size, augment=None, cache=False), batch_size=batch_size)
    dev = resolve_device(device)
    predictions: dict[str, list[np.ndarray]] = {name: [] for name in run.members}
    for name, model in run.members.items():
        model.to(dev)
        for batch in loader:
            out = model(batch["images"].to(dev), image_sizes=batch["image_sizes"].to(dev))
            predictions[name].append(out.keypoints.float().cpu().numpy().transpose(1, 0, 2, 3))
    positions = {name: np.concatenate(parts_, axis=1) for name, parts_ in predictions.items()}
    if len(positions) > 1:
        positions[ENSEMBLE] = np.median(np.stack(list(positions.values())), axis=0)
    else:
        positions[ENSEMBLE] = next(iter(positions.values()))
    positions[BASELINE] = mean_pose_baseline(data.keypoints[:, parts["train"]], len(frames))
    labels = data.keypoints[:, frames]  # (view, frame, keypoint, 2)
    index = pd.MultiIndex.from_product(
        [frames, data.view_names, data.keypoint_names], names=["frame", "view", "keypoint"]
    )
    tables = []
    for name, pos in positions.items():
        err = pixel_errors(pos, labels).transpose(1, 0, 2).reshape(-1)  # (frame, view, keypoint)
        tables.append(pd.DataFrame({"model": name, "error": err}, index=index).reset_index())
    errors = pd.concat(tables, ignore_index=True)[["model", "frame", "view", "keypoint", "error"]]
    summary = _summary(errors)
    out_dir = None
    if write:
        out_dir = run.run_dir / "evaluation"
        out_dir.mkdir(exist_ok=True)
        errors.to_csv(out_dir / "errors.csv", index=False)
        summary.to_csv(out_dir / "summary.csv", index=False)
        _plot(summary, out_dir / "pixel_errors.png")
    return Evaluation(summary, errors, positions, frames, out_dir)
