"""``lp3d smooth`` for one session: read, smooth with lp3d-eks, write everything atomically.

The smoother follows from the data (:func:`lp3d_eks.smooth`): a calibration gives the nonlinear
3D smoother, several views without one the multi-view linear smoother, one view the single-view
smoother. Each individual is smoothed on its own. A session's output folder holds::

    <session>.zarr/                      lp3d store: predictions/ensemble (the inputs used),
                                         smoothed/eks (results, inflation, s), calibration
    multicam_<view>_results.csv          per view, eks columns (singlecam_<view>_... for one view)
    multicam_3d_results.csv              with a calibration: x, y, z and their posterior variances

and appears whole or not at all (:mod:`lp3d_io.files`). Datasets travel in lp3d-io's numpy form
(:class:`lp3d_io.dataset.NumpyDataset`), so a session of prediction files is read, smoothed and written
without importing xarray, zarr or pyarrow.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lp3d_io.files import staged_directory
from lp3d_io.layout import ENSEMBLE_GROUP, SMOOTHED_GROUP

from lp3d_workflows import __version__
from lp3d_workflows.errors import UserError, failure_fields
from lp3d_workflows.frame_ranges import FrameRange, resolve_frame_ranges
from lp3d_workflows.sessions import PredictionSession, load_predictions

if TYPE_CHECKING:
    import xarray as xr
    from lp3d_eks import CameraRig, SmootherResult
    from lp3d_io.dataset import NumpyDataset

__all__ = [
    "SmoothSettings",
    "SmoothingSummary",
    "SMOOTHER_LABELS",
    "smoothed_csv_names",
    "load_rig",
    "select_keypoints",
    "smooth_predictions",
    "write_smoothed_outputs",
    "smooth_session",
    "smooth_session_safely",
    "inconsistent_view_sentences",
]

log = logging.getLogger(__name__)

SMOOTHER_LABELS = {"calibrated": "calibrated 3D", "linear": "multi-view linear", "single_view": "single view"}
"""What to call each smoother kind (:attr:`lp3d_eks.SmootherResult.kind`) in tables and pages."""


@dataclass(frozen=True)
class SmoothSettings:
    """What to smooth and how, the same for every session of a run (``lp3d smooth``'s options, the
    app's smoothing form); the smoother's own numeric options are :class:`lp3d_eks.SmoothOptions`.

    Attributes:
        calibration: anipose calibration file (nonlinear 3D smoother), or None; for a batch also a
            folder of ``<session>.toml`` or a ``session,file`` CSV, one file per session
            (:func:`lp3d_workflows.batch.session_calibrations`).
        views: views to use, in order (default: the calibration's cameras, or one view).
        keypoints: keypoints to smooth (default all).
        s: smoothing parameter: None (automatic per keypoint), one value, or one per keypoint.
        s_frames: frames used to choose ``s`` automatically (default all).
        inflate: variance inflation on/off; None: the smoother's default (on for several views).
        motion: the motion prior, ``"auto"`` or one of ``lp3d_eks.MOTIONS`` (see
            :class:`lp3d_eks.SmoothOptions`; with ``lag``, chosen on the first ``fit_frames``).
        ensemble: ensemble center, ``"median"`` or ``"mean"``.
        variance: ensemble variance, ``"var"`` or ``"confidence-weighted"``.
        n_threads: threads of the smoother (0: all cores).
        lag: fixed-lag smoothing (:func:`lp3d_eks.smooth_fixed_lag`): frame t from frames up to
            t + lag only, exactly what a live run gives; parameters not given are fitted on the
            first ``fit_frames`` frames only. None: the offline smoother.
        fit_frames: with ``lag``, the frames that fit the parameters.
    """

    calibration: Path | None = None
    views: tuple[str, ...] | None = None
    keypoints: tuple[str, ...] | None = None
    s: tuple[float, ...] | None = None
    s_frames: tuple[FrameRange, ...] | None = None
    inflate: bool | None = None
    motion: str = "auto"
    ensemble: str = "median"
    variance: str = "var"
    n_threads: int = 0
    lag: int | None = None
    fit_frames: int = 250

    def to_json(self) -> str:
        """The settings as JSON (stored with the results)."""
        values = asdict(self)
        values["calibration"] = None if self.calibration is None else str(self.calibration)
        return json.dumps(values)


@dataclass(frozen=True)
class SmoothingSummary:
    """What happened to one session (small and picklable: it comes back from dask workers).

    Attributes:
        session: session name.
        out: its output folder.
        smoother: ``"calibrated"``, ``"linear"`` or ``"single_view"`` (None if it failed early).
        n_frames, n_views, n_members: sizes of the input.
        keypoints: keypoint names.
        individuals: individual names.
        s: ``(individual, keypoint)`` smoothing parameters.
        motion: ``(individual, keypoint)`` the motion prior each keypoint was smoothed with
            (``lp3d_eks.MOTIONS``: ``"random walk"`` or ``"constant velocity"``; ``""``: no data).
        inflated: ``(individual, keypoint)`` share of observed entries whose variance was inflated.
        inconsistent_views: one sentence per view (and individual) that disagrees with the others
            over the session, naming its keypoints and by how much
            (:func:`lp3d_eks.describe_inconsistent_views`); empty when the views agree.
        seconds: wall time for the session.
        error: one-line error message if the session failed, else None.
        user_error: whether ``error`` is a user error (bad input) rather than a bug.
        traceback: the traceback of a failure (shown with ``--debug``).
    """

    session: str
    out: Path
    smoother: str | None = None
    n_frames: int = 0
    n_views: int = 0
    n_members: int = 0
    keypoints: tuple[str, ...] = ()
    individuals: tuple[str, ...] = ()
    s: list[list[float]] = field(default_factory=list)
    motion: list[list[str]] = field(default_factory=list)
    inflated: list[list[float]] = field(default_factory=list)
    inconsistent_views: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    user_error: bool = True
    traceback: str | None = None


def load_rig(path: Path, views: Sequence[str] | None = None) -> CameraRig:
    """Reads the calibration; with ``views``, only those cameras, in that order.

    Raises:
        ValueError: the file is missing or malformed, or lacks one of ``views`` (one line).
    """
    from lp3d_io.calibration import check_views, from_anipose_toml

    if not path.is_file():
        raise UserError(f"--calibration {path}: no such file")
    rig = from_anipose_toml(path)
    if views:
        rig = check_views(rig, views, source=f"--calibration {path}", allow_extra=True)
    return rig


def select_keypoints(ds: NumpyDataset, keypoints: Sequence[str] | None) -> NumpyDataset:
    """The dataset restricted to ``keypoints`` (all if None), in that order."""
    if not keypoints:
        return ds
    have = [str(k) for k in ds["keypoint"].values]
    unknown = [k for k in keypoints if k not in have]
    if unknown:
        raise UserError(f"--keypoints: expected names from {have}, but got {unknown}")
    return ds.sel(keypoint=list(keypoints))


def _ensemble_confidence(confidence: np.ndarray) -> np.ndarray | None:
    """Mean confidence over members ``(view, time, keypoint, individual)``; None if there is none."""
    finite = np.isfinite(confidence)
    if not finite.any():
        return None
    count = finite.sum(axis=0)
    total = np.where(finite, confidence, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _check_s(s: Sequence[float] | None, keypoints: Sequence[str]) -> np.ndarray | float | None:
    """``--s`` as the smoother takes it: None, one value, or one per keypoint (checked)."""
    if s is None:
        return None
    values = np.asarray(s, dtype=np.float64)
    if values.size == 1:
        return float(values[0])
    if values.size != len(keypoints):
        raise UserError(
            f"--s: expected one value or {len(keypoints)} (one per keypoint: {', '.join(keypoints)}), "
            f"but got {values.size}"
        )
    return values


def smooth_predictions(
    predictions: NumpyDataset | xr.Dataset, rig: CameraRig | None, settings: SmoothSettings
) -> tuple[list[SmootherResult], NumpyDataset]:
    """Smooths every individual of a predictions dataset.

    Args:
        predictions: ``(member, view, time, keypoint, individual, space)`` predictions (either form).
        rig: calibration with one camera per view, in view order; None for no calibration.
        settings: what to smooth and how (``s``, ``s_frames``, ...).

    Returns:
        One :class:`lp3d_eks.SmootherResult` per individual, and the smoothed dataset (numpy form;
        ``.to_xarray()`` gives the xarray one).
    """
    from lp3d_eks import smooth
    from lp3d_io.dataset import as_numpy, smoothed_arrays

    predictions = as_numpy(predictions)
    keypoints = [str(k) for k in predictions["keypoint"].values]
    views = [str(v) for v in predictions["view"].values]
    individuals = [str(i) for i in predictions["individual"].values]
    n_frames = predictions.sizes["time"]
    if rig is not None and rig.names != views:
        raise UserError(f"calibration: expected cameras {views} (the views of the data), but got {rig.names}")
    if rig is not None and len(views) < 2:
        raise UserError(f"--views: expected at least 2 cameras for 3D smoothing with --calibration, but got {views}")
    if n_frames < 2:
        raise UserError(f"predictions: expected at least 2 frames to smooth, but got {n_frames}")
    position = predictions["position"].values  # (member, view, time, keypoint, individual, space)
    confidence = predictions["confidence"].values  # (member, view, time, keypoint, individual)
    has_confidence = bool(np.isfinite(confidence).any())
    if settings.variance == "confidence-weighted" and not has_confidence:
        raise UserError("--variance confidence-weighted: expected likelihood columns in the inputs, but they have none")
    kwargs: dict[str, Any] = {
        "center": settings.ensemble,
        "variance": settings.variance,
        "s": _check_s(settings.s, keypoints),
        "s_frames": resolve_frame_ranges(settings.s_frames, n_frames),
        "n_threads": settings.n_threads,
        "motion": settings.motion,
    }
    if settings.inflate is not None:
        kwargs["inflate"] = settings.inflate
    smoother = smooth
    if settings.lag is not None:  # as a live stream would (lp3d_eks.fixed_lag)
        from functools import partial

        from lp3d_eks import smooth_fixed_lag

        if settings.s_frames:
            raise UserError("--s-frames: expected none with --lag (parameters are fitted on the first --fit-frames)")
        smoother = partial(smooth_fixed_lag, lag=settings.lag, fit_frames=settings.fit_frames)
    results = []
    for i in range(len(individuals)):
        conf = confidence[..., i] if has_confidence else None
        results.append(smoother(position[..., i, :].astype(np.float64), rig, confidences=conf, **kwargs))
    smoothed = smoothed_arrays(
        results,
        view_names=views,
        keypoint_names=keypoints,
        individual_names=individuals,
        time=predictions["time"].values,
        fps=predictions.attrs.get("fps"),
        source_files=predictions.attrs.get("source_files"),
        session=predictions.attrs.get("session"),
        ensemble_confidence=_ensemble_confidence(confidence) if has_confidence else None,
    )
    smoothed.attrs["lp3d_version"] = __version__
    smoothed.attrs["lp3d_options"] = settings.to_json()
    return results, smoothed


def smoothed_csv_names(smoother: str, views: Sequence[str]) -> dict[str, str]:
    """Output CSV file names by view (and ``"3d"``), as the reference eks names them."""
    prefix = "singlecam" if smoother == "single_view" else "multicam"
    names = {view: f"{prefix}_{view}_results.csv" for view in views}
    if smoother == "calibrated":
        names["3d"] = "multicam_3d_results.csv"
    return names


def write_smoothed_outputs(
    directory: Path,
    session: str,
    predictions: NumpyDataset | xr.Dataset,
    smoothed: NumpyDataset | xr.Dataset,
    rig: CameraRig | None,
) -> None:
    """Writes the store and the eks-style CSVs of one session into ``directory``.

    One after the other: a second thread for the store's small files was slower (fly: 0.12-0.14 s
    against 0.04 + 0.04 s), both writers being mostly Python that holds the GIL.
    """
    from lp3d_io.csv import to_eks_3d_csv, to_eks_csv
    from lp3d_io.dataset import as_numpy

    predictions, smoothed = as_numpy(predictions), as_numpy(smoothed)
    _write_store(directory / f"{session}.zarr", session, predictions, smoothed, rig)
    views = [str(v) for v in smoothed["view"].values]
    for key, name in smoothed_csv_names(smoothed.attrs["smoother"], views).items():
        if key == "3d":
            to_eks_3d_csv(directory / name, smoothed)
        else:
            to_eks_csv(directory / name, smoothed, key)


def _write_store(
    path: Path, session: str, predictions: NumpyDataset, smoothed: NumpyDataset, rig: CameraRig | None
) -> None:
    from lp3d_io.store import open_store, write_calibration, write_group

    store = open_store(path, session=session)
    write_group(store, ENSEMBLE_GROUP, predictions)
    write_group(store, SMOOTHED_GROUP, smoothed)
    if rig is not None:
        write_calibration(store, rig)


def _inflated_share(result: SmootherResult) -> np.ndarray:
    """``(keypoint,)`` share of observed (view, frame) entries whose variance was inflated."""
    observed = np.isfinite(result.observation).all(axis=-1)  # (view, time, keypoint)
    n = np.maximum(observed.sum(axis=(0, 1)), 1)
    return (result.inflated & observed).sum(axis=(0, 1)) / n


def inconsistent_view_sentences(
    results: Sequence[SmootherResult], views: Sequence[str], keypoints: Sequence[str], individuals: Sequence[str]
) -> list[str]:
    """What the smoother found about views that disagree with the others, one sentence per view and
    individual (prefixed with the individual when there are several)."""
    from lp3d_eks import describe_inconsistent_views

    sentences = []
    for individual, result in zip(individuals, results, strict=True):
        if result.view_scale is None:
            continue
        prefix = f"{individual}: " if len(individuals) > 1 else ""
        sentences += [prefix + s for s in describe_inconsistent_views(result, views, keypoints)]
    return sentences


def smooth_session(session: PredictionSession, settings: SmoothSettings, out: Path) -> SmoothingSummary:
    """Smooths one session and writes its outputs to ``out`` (replacing it if it exists).

    The caller has checked that ``out`` may be written. Raises on any error; nothing is left in
    ``out`` then.
    """
    start = time.perf_counter()
    rig = load_rig(settings.calibration, settings.views) if settings.calibration is not None else None
    predictions = load_predictions(session, view_names=settings.views, rig=rig)
    predictions = select_keypoints(predictions, settings.keypoints)
    log.debug(
        f"{session.name}: views {[str(v) for v in predictions['view'].values]}, members "
        f"{[str(m) for m in predictions['member'].values]}, {predictions.sizes['time']} frames "
        f"(read in {time.perf_counter() - start:.2f} s)"
    )
    lap = time.perf_counter()
    results, smoothed = smooth_predictions(predictions, rig, settings)
    log.debug(f"{session.name}: {SMOOTHER_LABELS[results[0].kind]} smoother ran in {time.perf_counter() - lap:.2f} s")
    lap = time.perf_counter()
    with staged_directory(out) as tmp:
        write_smoothed_outputs(tmp, session.name, predictions, smoothed, rig)
    log.debug(f"{session.name}: outputs written in {time.perf_counter() - lap:.2f} s")
    return SmoothingSummary(
        session=session.name,
        out=out,
        smoother=results[0].kind,
        n_frames=predictions.sizes["time"],
        n_views=predictions.sizes["view"],
        n_members=predictions.sizes["member"],
        keypoints=tuple(str(k) for k in predictions["keypoint"].values),
        individuals=tuple(str(i) for i in predictions["individual"].values),
        s=[r.s.tolist() for r in results],
        motion=[[str(m) for m in r.motion] if r.motion is not None else [] for r in results],
        inflated=[_inflated_share(r).tolist() for r in results],
        inconsistent_views=inconsistent_view_sentences(
            results,
            [str(v) for v in predictions["view"].values],
            [str(k) for k in predictions["keypoint"].values],
            [str(i) for i in predictions["individual"].values],
        ),
        seconds=time.perf_counter() - start,
    )


def smooth_session_safely(session: PredictionSession, settings: SmoothSettings, out: Path) -> SmoothingSummary:
    """:func:`smooth_session` that reports a failure in its result instead of raising (batches)."""
    start = time.perf_counter()
    try:
        return smooth_session(session, settings, out)
    except Exception as err:  # one bad session must not stop the others
        return SmoothingSummary(
            session=session.name,
            out=out,
            seconds=time.perf_counter() - start,
            **failure_fields(err),
        )
