"""``lp3d demo``: every part of lp3d on a synthetic session; ``--smoothing-only``: the 3D smoother alone.

The full demo (:func:`pipeline_demo`) writes a config (:func:`pipeline_demo_config`: a calibrated
3-camera synthetic session, tiny models, a few hundred steps) and runs ``lp3d pipeline`` on it:
an ensemble trains on the labeled frames, predicts every frame of the videos, the smoother
smooths them in 3D, the confident and diverse frames become pseudo-labels for a student, which
predicts and is smoothed again; the table compares the stages on held-out labeled frames. With
``animals=2`` the session has two animals of different colour and size (a light one and a larger
dark one, :mod:`lp3d_io.synthetic`) that approach, touch and hide each other: the models predict
both, the smoother smooths each, and the table gives every stage per animal, over both, and its
identity swaps.

The smoothing demo (:func:`smoothing_demo`) needs no training:

A ring of calibrated cameras films a simulated animal (:mod:`lp3d_io.synthetic`); an ensemble of
simulated networks reports its keypoints with correlated noise, planted single-view outliers and
missing detections. The demo smooths them exactly as ``lp3d smooth`` would, writes the same
outputs plus the inputs, the truth and a report, and compares against the truth:

- *before*: per-frame DLT triangulation of the ensemble medians (no smoothing, no outlier test);
- *after*: the calibrated ensemble Kalman smoother with variance inflation.

Rows of the table: 3D RMSE and 99th percentile of the error (world units: millimetres), the share
of true positions inside the 95% posterior ellipsoid, the planted outliers whose variance was
inflated, and the inflated observations that were not outliers (false alarms).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lp3d_io.files import is_occupied, staged_directory

from lp3d_workflows.errors import UserError, require_models
from lp3d_workflows.progress import ProgressCallback, report

if TYPE_CHECKING:
    from lp3d_eks import SmootherResult

    from lp3d_workflows.pipeline import PipelineResult

__all__ = [
    "DemoMetrics",
    "SmoothingDemoResult",
    "PipelineDemoResult",
    "compare_with_truth",
    "smoothing_demo",
    "pipeline_demo_config",
    "pipeline_demo",
]

log = logging.getLogger(__name__)

MARKER = ".lp3d-demo"


@dataclass(frozen=True)
class DemoMetrics:
    """Errors of one 3D estimate against the truth (NaN where it does not apply).

    Attributes:
        rmse: root mean square 3D error over the frames and keypoints both estimates have.
        p99: 99th percentile of the 3D error there.
        interval95: share of true coordinates inside their central 95% posterior interval.
        coverage95: share of true positions inside the 95% posterior ellipsoid (joint 3D).
        missing: share of (frame, keypoint) without an estimate.
        outliers_flagged: share of planted outlier observations whose variance was inflated.
        false_alarms: share of other observed entries whose variance was inflated.
    """

    rmse: float
    p99: float
    interval95: float
    coverage95: float
    missing: float
    outliers_flagged: float
    false_alarms: float


def compare_with_truth(
    estimate: np.ndarray,
    truth: np.ndarray,
    common: np.ndarray,
    *,
    covariance: np.ndarray | None = None,
    inflated: np.ndarray | None = None,
    outliers: np.ndarray | None = None,
    observed: np.ndarray | None = None,
) -> DemoMetrics:
    """Scores a 3D estimate.

    Args:
        estimate: ``(time, keypoint, 3)``, NaN where there is none.
        truth: ``(time, keypoint, 3)``.
        common: ``(time, keypoint)`` entries scored for the errors (where every method has one).
        covariance: ``(time, keypoint, 3, 3)`` posterior covariance, for the coverage.
        inflated: ``(view, time, keypoint)`` observations whose variance was inflated.
        outliers: ``(view, time, keypoint)`` planted outliers.
        observed: ``(view, time, keypoint)`` observations present.
    """
    from lp3d_eks import interval_coverage

    err = np.linalg.norm(estimate - truth, axis=-1)[common]
    coverage = interval = float("nan")
    if covariance is not None:
        found = interval_coverage(estimate[common], covariance[common], truth[common])
        interval, coverage = found.per_coordinate, found.joint
    flagged = alarms = float("nan")
    if inflated is not None and outliers is not None and observed is not None:
        flagged = float(inflated[outliers].mean()) if outliers.any() else float("nan")
        clean = observed & ~outliers
        alarms = float(inflated[clean].mean()) if clean.any() else float("nan")
    return DemoMetrics(
        rmse=float(np.sqrt(np.mean(err**2))),
        p99=float(np.percentile(err, 99)),
        interval95=interval,
        coverage95=coverage,
        missing=float(np.mean(~np.isfinite(estimate).all(axis=-1))),
        outliers_flagged=flagged,
        false_alarms=alarms,
    )


def _check_demo_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: expected a folder, but it is a file")
    if is_occupied(out) and not (out / MARKER).exists():
        raise UserError(f"--out {out}: exists and was not written by lp3d demo; expected a new or a demo folder")


@dataclass(frozen=True)
class SmoothingDemoResult:
    """What :func:`smoothing_demo` did and found.

    Attributes:
        out: the demo folder.
        before: per-frame triangulation of the ensemble medians against the truth.
        after: the smoother against the truth.
        n_entries: (frame, keypoint) positions both have (the errors are over these).
        n_observations: observed 2D positions (view, frame, keypoint).
        n_cameras, n_frames, n_keypoints, n_members: sizes of the simulated session.
        n_outliers, n_missing: planted outliers and missing detections.
        report: the report page.
        seconds: wall time.
    """

    out: Path
    before: DemoMetrics
    after: DemoMetrics
    n_entries: int
    n_observations: int
    n_cameras: int
    n_frames: int
    n_keypoints: int
    n_members: int
    n_outliers: int
    n_missing: int
    report: Path
    seconds: float


def smoothing_demo(
    out: Path, *, seed: int = 0, n_frames: int = 600, progress: ProgressCallback | None = None
) -> SmoothingDemoResult:
    """Runs the smoothing demo into ``out`` (replacing an earlier demo there); see the module docstring."""
    from lp3d_eks import ensemble_statistics, triangulate_observations
    from lp3d_io.csv import to_prediction_csvs
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    from lp3d_workflows.report import ReportData, write_report
    from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions, write_smoothed_outputs

    if n_frames < 10:
        raise UserError(f"--frames: expected at least 10 frames, but got {n_frames}")
    _check_demo_target(out)
    start = time.perf_counter()
    report(progress, "simulating a session")
    session = make_session(SyntheticConfig(n_frames=n_frames, seed=seed, session_name="synthetic"))
    simulated = make_ensemble_predictions(session, seed=seed)
    predictions = simulated.to_dataset()
    rig = session.rig
    report(progress, "smoothing in 3D")
    results, smoothed = smooth_predictions(predictions, rig, SmoothSettings())
    result: SmootherResult = results[0]
    stats = ensemble_statistics(simulated.position, simulated.confidence)
    baseline, _, _ = triangulate_observations(stats, rig)
    truth = session.motion.points3d
    common = np.isfinite(baseline).all(axis=-1) & np.isfinite(result.mean).all(axis=-1)
    observed = ~simulated.missing_mask
    before = compare_with_truth(baseline, truth, common)
    after = compare_with_truth(
        result.mean,
        truth,
        common,
        covariance=result.covariance,
        inflated=result.inflated,
        outliers=simulated.outlier_mask,
        observed=observed,
    )
    report(progress, "writing outputs and the report")
    with staged_directory(out) as tmp:
        name = str(predictions.attrs.get("session", "synthetic"))
        write_smoothed_outputs(tmp, name, predictions, smoothed, rig)
        rig.to_toml(tmp / "calibration.toml")
        to_prediction_csvs(predictions, tmp / "predictions")
        np.savez_compressed(
            tmp / "truth.npz",
            points3d=truth,
            points2d=simulated.truth,
            outlier_mask=simulated.outlier_mask,
            missing_mask=simulated.missing_mask,
        )
        (tmp / "report").mkdir()
        data = ReportData(smoothed.to_xarray(), predictions, (0, n_frames), n_frames, tmp / f"{name}.zarr")
        write_report(data, tmp / "report", title="lp3d demo: synthetic session")
        (tmp / MARKER).write_text("written by lp3d demo; lp3d demo replaces this folder\n")
    V, T, K = simulated.outlier_mask.shape
    return SmoothingDemoResult(
        out=out,
        before=before,
        after=after,
        n_entries=int(common.sum()),
        n_observations=int(observed.sum()),
        n_cameras=V,
        n_frames=T,
        n_keypoints=K,
        n_members=simulated.position.shape[0],
        n_outliers=int(simulated.outlier_mask.sum()),
        n_missing=int(simulated.missing_mask.sum()),
        report=out / "report" / "report.html",
        seconds=time.perf_counter() - start,
    )


def pipeline_demo_config(*, seed: int = 0, n_frames: int | None = None, animals: int = 1) -> dict[str, Any]:
    """The full demo's config: a calibrated 3-camera synthetic session and the tiny model
    (:data:`lp3d_models.config.TINY_MODEL`), tuned to finish in about 2.5 minutes on 2 CPU cores after set-up.
    KL heatmap loss (random initialization; MSE needs pretrained weights), the default coordinate
    loss, and calibration-aware training (3D augmentation and the triangulation loss): bench/RESULTS.md.
    ``animals``: animals in the arena (``data.synthetic.n_animals``; 1 writes no such key).

    Raises:
        UserError: too few frames for the labeled ones, or an unsupported number of animals.
    """
    from lp3d_io.synthetic import ANIMALS
    from lp3d_models.config import tiny_model

    if not 1 <= animals <= len(ANIMALS):
        raise UserError(f"--animals: expected 1 to {len(ANIMALS)} animals, but got {animals}")
    synthetic = {"n_views": 3, "width": 96, "height": 96, "n_frames": 400, "labeled_frames": 120, "seed": seed}
    if animals > 1:
        synthetic["n_animals"] = animals
    if n_frames is not None:
        if n_frames < 4 * synthetic["labeled_frames"]:
            raise UserError(f"--frames: expected at least {4 * synthetic['labeled_frames']} frames, but got {n_frames}")
        synthetic["n_frames"] = n_frames
    return tiny_model(
        run_dir="pipeline",
        data={"synthetic": synthetic, "val_fraction": 0.1, "test_fraction": 0.25},
        loss={"kind": "kl"},
        training={
            "seeds": [0, 1],
            "max_steps": 400,
            "batch_size": 8,
            "lr": 2e-3,
            "warmup_steps": 20,
            "val_every_steps": 100,
        },
        geometry={"enabled": True},
        distill={"n_frames": 120, "variance_quantile": 0.5, "seeds": [0], "max_steps": 400},
    )


@dataclass(frozen=True)
class PipelineDemoResult:
    """What :func:`pipeline_demo` did: its config, the pipeline's result, and the wall time."""

    out: Path
    config: Path
    pipeline: PipelineResult
    seconds: float


def pipeline_demo(
    out: Path,
    *,
    seed: int = 0,
    n_frames: int | None = None,
    animals: int = 1,
    show_progress: bool = False,
    progress: ProgressCallback | None = None,
) -> PipelineDemoResult:
    """Runs the full demo in ``out`` (an earlier full demo there with the same settings is resumed);
    ``animals``: 1, or 2 (a light and a larger dark animal; see the module docstring)."""
    import yaml

    from lp3d_workflows.pipeline import run_pipeline

    require_models()
    _check_demo_target(out)
    values = pipeline_demo_config(seed=seed, n_frames=n_frames, animals=animals)
    synthetic = values["data"]["synthetic"]
    config = out / "lp3d.yaml"
    if (out / MARKER).exists() and not config.is_file():  # a smoothing-only demo: replaced
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by lp3d demo; lp3d demo replaces this folder\n")
    config.write_text(yaml.safe_dump(values, sort_keys=False))
    t = values["training"]
    log.info(
        f"lp3d demo: a synthetic session{f' of {animals} animals' if animals > 1 else ''} filmed by "
        f"{synthetic['n_views']} calibrated cameras ({synthetic['n_frames']} "
        f"frames, {synthetic['labeled_frames']} labeled). Stages: train {len(t['seeds'])} tiny models "
        f"({t['max_steps']} steps each) -> predict every frame -> smooth in 3D (EKS) -> pseudo-label "
        f"{values['distill']['n_frames']} confident, diverse frames -> train a student (from a teacher's weights) "
        f"-> predict -> smooth. Config: {config}"
    )
    start = time.perf_counter()
    result = run_pipeline(config, show_progress=show_progress, progress=progress)
    return PipelineDemoResult(out, config, result, time.perf_counter() - start)
