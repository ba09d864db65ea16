"""Diagnostics of results: per keypoint and view statistics, worst frames, errors on labeled frames.

- :func:`source_statistics`: for one source (a store with a smoothed result), per keypoint and view:
  the share of inflated observations, the median ensemble and posterior variance, a histogram of the
  reprojection error (pixels between ensemble centre and smoothed track), and ``s``; read keypoint by
  keypoint (the store's chunks), never the whole session at once.
- the same pass ranks the **worst frames**: the most inconsistent across views (largest mean over
  keypoints of the worst view's reprojection error) and the highest posterior variance (largest
  mean over keypoints of the posterior variance, summed over coordinates).
- :func:`labeled_errors`: the pixel error on the labeled frames of the project, per model and
  stage (each source's members, ensemble centre and smoothed track), keypoint and view, as box-plot
  statistics (any number of models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lp3d_workflows.project import Project, SourceInfo
from lp3d_workflows.viewer_data import SourceReader

__all__ = [
    "HISTOGRAM_BINS",
    "KeypointViewStats",
    "WorstFrame",
    "SourceStatistics",
    "source_statistics",
    "BoxStats",
    "box_stats",
    "ErrorGroup",
    "labeled_errors",
]

HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class KeypointViewStats:
    """One keypoint in one view.

    Attributes:
        keypoint, view: names.
        inflated: share of observed frames whose variance was inflated.
        ensemble_variance, posterior_variance: medians (pixels², x + y).
        error_median, error_p95: reprojection error (pixels).
        histogram: counts of the reprojection error in :data:`HISTOGRAM_BINS` bins over ``edges``.
        edges: bin edges (pixels).
        n_observed: frames with an observation.
    """

    keypoint: str
    view: str
    inflated: float
    ensemble_variance: float
    posterior_variance: float
    error_median: float
    error_p95: float
    histogram: list[int]
    edges: list[float]
    n_observed: int


@dataclass(frozen=True)
class WorstFrame:
    """A frame, its score, and the keypoint (and view) that contributes most."""

    frame: int
    score: float
    keypoint: str
    view: str | None = None


@dataclass(frozen=True)
class SourceStatistics:
    """What :func:`source_statistics` found (``s`` per keypoint; the worst frames, worst first)."""

    source: str
    n_frames: int
    keypoints: list[str]
    views: list[str]
    s: dict[str, float]
    stats: list[KeypointViewStats]
    inconsistent: list[WorstFrame]
    uncertain: list[WorstFrame]


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _median(values: np.ndarray) -> float:
    finite = _finite(values)
    return float(np.median(finite)) if finite.size else float("nan")


def _top(score: np.ndarray, n: int) -> np.ndarray:
    score = np.where(np.isfinite(score), score, -np.inf)
    n = min(n, int(np.isfinite(score).sum()), score.size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-score, n - 1)[:n]
    return top[np.argsort(-score[top], kind="stable")]


def source_statistics(reader: SourceReader, source_id: str, *, n_worst: int = 20) -> SourceStatistics:
    """Statistics and worst frames of a smoothed source (see the module docstring).

    Raises:
        ValueError: the source has no smoothed result.
    """
    sm = reader.smoothed
    if sm is None:
        raise ValueError(f"source {source_id}: expected a smoothed result (smooth it first), but it has only predictions")
    T, V = reader.n_frames, len(reader.views)
    sum_error = np.zeros(T)  # per frame: sum over keypoints of the worst view's error
    sum_variance = np.zeros(T)
    count = np.zeros(T)
    worst_error = np.full(T, -np.inf)
    worst_error_kp = np.zeros(T, dtype=np.int64)
    worst_error_view = np.zeros(T, dtype=np.int64)
    worst_var = np.full(T, -np.inf)
    worst_var_kp = np.zeros(T, dtype=np.int64)
    stats, s = [], {}
    for k, keypoint in enumerate(reader.keypoints):
        center = sm.keypoint_range("ensemble_center", k, 0, T)[:, :, 0]  # (time, view, 2)
        track = sm.keypoint_range("reprojection", k, 0, T)[:, :, 0]
        variance = sm.keypoint_range("reprojection_variance", k, 0, T)[:, :, 0].sum(axis=-1)  # (time, view)
        ensemble = sm.keypoint_range("ensemble_variance", k, 0, T)[:, :, 0].sum(axis=-1)
        inflation = sm.keypoint_range("inflation", k, 0, T)[:, :, 0]
        s[keypoint] = float(np.asarray(sm.arrays["smoothing_parameter"][k, 0]))
        error = np.sqrt(((center - track) ** 2).sum(axis=-1))  # (time, view)
        observed = np.isfinite(center).all(axis=-1)
        for v, view in enumerate(reader.views):
            e = _finite(error[:, v])
            top = float(np.percentile(e, 99)) if e.size else 1.0
            hist, edges = np.histogram(np.minimum(e, top), bins=HISTOGRAM_BINS, range=(0.0, max(top, 1e-6)))
            n_obs = int(observed[:, v].sum())
            stats.append(
                KeypointViewStats(
                    keypoint=keypoint,
                    view=view,
                    inflated=float(((inflation[:, v] > 1.0) & observed[:, v]).sum() / max(n_obs, 1)),
                    ensemble_variance=_median(ensemble[:, v]),
                    posterior_variance=_median(variance[:, v]),
                    error_median=float(np.median(e)) if e.size else float("nan"),
                    error_p95=float(np.percentile(e, 95)) if e.size else float("nan"),
                    histogram=hist.astype(int).tolist(),
                    edges=edges.tolist(),
                    n_observed=n_obs,
                )
            )
        filled = np.where(np.isfinite(error), error, -np.inf)
        view_max = filled.max(axis=1)
        has = np.isfinite(view_max)
        sum_error += np.where(has, view_max, 0.0)
        count += has
        better = view_max > worst_error
        worst_error = np.where(better, view_max, worst_error)
        worst_error_kp = np.where(better, k, worst_error_kp)
        worst_error_view = np.where(better, filled.argmax(axis=1), worst_error_view)
        if reader.smoother == "calibrated":
            kp_var = sm.keypoint_range("position_variance", k, 0, T)[:, 0].sum(axis=-1)
        else:
            kp_var = np.where(np.isfinite(variance), variance, -np.inf).max(axis=1)
        kp_var = np.where(np.isfinite(kp_var), kp_var, 0.0)
        sum_variance += kp_var
        better = kp_var > worst_var
        worst_var = np.where(better, kp_var, worst_var)
        worst_var_kp = np.where(better, k, worst_var_kp)
    with np.errstate(invalid="ignore", divide="ignore"):
        inconsistency = np.where(count > 0, sum_error / np.maximum(count, 1), np.nan)
    uncertainty = sum_variance / max(len(reader.keypoints), 1)
    frames = np.asarray(sm.arrays["time"][:])
    inconsistent = [
        WorstFrame(int(frames[t]), float(inconsistency[t]), reader.keypoints[worst_error_kp[t]], reader.views[worst_error_view[t]])
        for t in _top(inconsistency, n_worst)
    ]
    uncertain = [
        WorstFrame(int(frames[t]), float(uncertainty[t]), reader.keypoints[worst_var_kp[t]]) for t in _top(uncertainty, n_worst)
    ]
    return SourceStatistics(source_id, T, reader.keypoints, reader.views[:V], s, stats, inconsistent, uncertain)


# --- errors on labeled frames ------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxStats:
    """Box-plot numbers of a set of errors: quartiles, whiskers (1.5 IQR), the mean and the count."""

    n: int
    mean: float
    low: float
    q1: float
    median: float
    q3: float
    high: float


def box_stats(values: np.ndarray) -> BoxStats:
    """Box-plot statistics of the finite ``values`` (NaN everywhere when there are none)."""
    v = _finite(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        nan = float("nan")
        return BoxStats(0, nan, nan, nan, nan, nan, nan)
    q1, median, q3 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    iqr = q3 - q1
    low = float(v[v >= q1 - 1.5 * iqr].min())
    high = float(v[v <= q3 + 1.5 * iqr].max())
    return BoxStats(int(v.size), float(v.mean()), low, q1, median, q3, high)


@dataclass(frozen=True)
class ErrorGroup:
    """Errors of one model (or stage) on the labeled frames.

    Attributes:
        model: e.g. ``"pipeline/smoothed/synthetic: EKS"``.
        source: the source id it comes from.
        stage: ``member``, ``ensemble`` or ``smoothed``.
        overall: every keypoint and view together.
        by_keypoint: ``{keypoint: BoxStats}`` over views.
        by_view: ``{view: BoxStats}`` over keypoints.
        n_frames: labeled frames found in the source.
    """

    model: str
    source: str
    stage: str
    overall: BoxStats
    by_keypoint: dict[str, BoxStats] = field(default_factory=dict)
    by_view: dict[str, BoxStats] = field(default_factory=dict)
    n_frames: int = 0


def _labels_by_session(project: Project) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{session: (frames (n,), labels (view, n, keypoint, 2))}`` of the project's label files."""
    files = project.label_files()
    if not files:
        return {}
    from lp3d_io.grouping import read_labels
    from lp3d_io.layout import frame_id

    ds = read_labels(files, list(files))
    paths = ds["image_path"].values  # (view, frame)
    position = ds["position"].isel(individual=0).transpose("view", "frame", "keypoint", "space").values
    view = str(ds["view"].values[0])
    out: dict[str, tuple[list[int], list[int]]] = {}
    for row in range(paths.shape[1]):
        found = frame_id(str(paths[0, row]), view)
        if found is not None:
            session, frame = found
            rows, frames = out.setdefault(session, ([], []))
            rows.append(row)
            frames.append(frame)
    return {s: (np.array(frames), position[:, rows]) for s, (rows, frames) in out.items()}


def labeled_errors(project: Project, readers: dict[str, SourceReader]) -> list[ErrorGroup]:
    """Pixel errors of every source on the labeled frames of its session (see the module docstring).

    Args:
        project: the project (its label files).
        readers: ``{source id: reader}`` of the sources to score.
    """
    labels = _labels_by_session(project)
    groups = []
    for source in project.sources:
        reader = readers.get(source.id)
        if reader is None or source.session not in labels:
            continue
        frames, truth = labels[source.session]
        keep = frames < reader.n_frames
        frames, truth = frames[keep], truth[:, keep]
        if frames.size == 0 or reader.keypoints != project.keypoints:
            continue
        v_idx = [reader.views.index(v) for v in project.views if v in reader.views]
        truth = truth[[project.views.index(reader.views[v]) for v in v_idx]]
        overlays = [reader.frame(int(f)) for f in frames]
        estimates: list[tuple[str, str, np.ndarray]] = []
        if overlays[0].members is not None:
            members = np.stack([o.members for o in overlays], axis=2)  # (member, view, n, keypoint, 2)
            for m, member in enumerate(reader.members):
                estimates.append((f"{_short(project, source)}: {member}", "member", members[m][v_idx]))
        estimates.append((f"{_short(project, source)}: ensemble centre", "ensemble", np.stack([o.center for o in overlays], axis=1)[v_idx]))
        if overlays[0].smoothed is not None:
            estimates.append((f"{_short(project, source)}: EKS", "smoothed", np.stack([o.smoothed for o in overlays], axis=1)[v_idx]))
        views = [reader.views[v] for v in v_idx]
        for model, stage, estimate in estimates:
            error = np.sqrt(((estimate - truth) ** 2).sum(axis=-1))  # (view, n, keypoint)
            groups.append(
                ErrorGroup(
                    model=model,
                    source=source.id,
                    stage=stage,
                    overall=box_stats(error),
                    by_keypoint={kp: box_stats(error[:, :, k]) for k, kp in enumerate(reader.keypoints)},
                    by_view={view: box_stats(error[j]) for j, view in enumerate(views)},
                    n_frames=int(frames.size),
                )
            )
    return groups


def _short(project: Project, source: SourceInfo) -> str:
    folder = project.relative(Path(source.store).parent)
    return folder if folder != "." else source.store.name
