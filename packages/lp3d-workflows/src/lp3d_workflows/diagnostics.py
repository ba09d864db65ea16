"""Diagnostics of results: per keypoint and view statistics, worst frames, errors on labeled frames.

- :func:`source_statistics`: for one source (a store with a smoothed result), per keypoint and view:
  the share of inflated observations, the median ensemble and posterior variance, a histogram of the
  reprojection error (pixels between ensemble centre and smoothed track), and ``s``; read in one
  pass over the store, span by span of frames (:meth:`lp3d_workflows.viewer_data.SourceReader.spans`).
- the same pass ranks the **worst frames**: the most inconsistent across views (largest mean over
  keypoints of the worst view's reprojection error) and the most uncertain (largest mean over
  keypoints of the posterior variance: of the 3D position, summed over x, y, z, for the
  calibrated smoother; else of the worst view, summed over x and y; a keypoint without one counts 0).
- :func:`labeled_errors`: the pixel error on labeled frames, per model and stage (each source's
  members, ensemble centre and smoothed track), keypoint and view, as box-plot statistics (any
  number of models). The frames scored are a training run's held-out frames when the project has
  a run with a split (``split.json``, :data:`lp3d_io.layout.SPLIT_FILE`: its test frames, else
  its validation frames, which chose the checkpoints); without one, every labeled frame (which a
  model may have trained on). :class:`LabeledErrors` says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lp3d_io.dataset import motion_name
from lp3d_io.layout import SPLIT_FILE

from lp3d_workflows.project import Project, RunInfo, SourceInfo
from lp3d_workflows.viewer_data import SourceReader, coordinate_sum

__all__ = [
    "HISTOGRAM_BINS",
    "KeypointViewStats",
    "WorstFrame",
    "SourceStatistics",
    "source_statistics",
    "BoxStats",
    "box_stats",
    "ErrorGroup",
    "ScoredFrames",
    "LabeledErrors",
    "scored_frames",
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
        histogram: counts of the reprojection error in :data:`HISTOGRAM_BINS` bins over ``edges``
            (errors above the 99th percentile are counted in the last bin).
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
    """What :func:`source_statistics` found for one animal (``s`` and the motion prior per keypoint;
    the worst frames, worst first)."""

    source: str
    n_frames: int
    keypoints: list[str]
    views: list[str]
    s: dict[str, float]
    stats: list[KeypointViewStats]
    inconsistent: list[WorstFrame]
    uncertain: list[WorstFrame]
    individual: str = ""
    motion: dict[str, str] = field(default_factory=dict)


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _median(values: np.ndarray) -> float:
    finite = _finite(values)
    return float(np.median(finite)) if finite.size else float("nan")


def _top(score: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest finite scores, largest first (ties: the earlier frame first)."""
    score = np.where(np.isfinite(score), score, -np.inf)
    n = min(n, int(np.isfinite(score).sum()), score.size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-score, n - 1)[:n]
    return top[np.lexsort((top, -score[top]))]


def source_statistics(
    reader: SourceReader, source_id: str, *, n_worst: int = 20, individual: str | None = None
) -> SourceStatistics:
    """Statistics and worst frames of a smoothed source (see the module docstring), for one animal
    (``individual``; None: the first).

    Raises:
        ValueError: the source has no smoothed result.
        UserError: ``individual`` is not one of the source's.
    """
    sm = reader.smoothed
    if sm is None:
        raise ValueError(
            f"source {source_id}: expected a smoothed result (smooth it first), but it has only predictions"
        )
    T, K, V = reader.n_frames, len(reader.keypoints), len(reader.views)  # noqa: N806
    i = reader.individual_index(individual)
    error = np.empty((K, V, T), dtype=np.float32)
    ensemble = np.empty((K, V, T), dtype=np.float32)
    posterior = np.empty((K, V, T), dtype=np.float32)
    inflated = np.zeros((K, V), dtype=np.int64)
    observed = np.zeros((K, V), dtype=np.int64)
    inconsistency = np.empty(T)
    uncertainty = np.empty(T)
    worst_error = np.zeros((T, 2), dtype=np.int64)  # keypoint, view
    worst_variance = np.zeros(T, dtype=np.int64)
    for span in reader.spans(i, members=False):
        t = slice(span.start, span.stop)
        layers = span.layers
        center, track = layers["center"], layers["smoothed"]  # (view, time, keypoint, 2)
        e = np.sqrt(coordinate_sum((center - track) ** 2))  # (view, time, keypoint)
        variance = coordinate_sum(layers["variance"])
        seen = np.isfinite(coordinate_sum(center))  # finite where both coordinates are
        error[:, :, t] = e.transpose(2, 0, 1)
        ensemble[:, :, t] = coordinate_sum(layers["ensemble_variance"]).transpose(2, 0, 1)
        posterior[:, :, t] = variance.transpose(2, 0, 1)
        inflated += ((layers["inflation"] > 1.0) & seen).sum(axis=1).T
        observed += seen.sum(axis=1).T
        # inconsistency: per keypoint the worst view's error, averaged over keypoints that have one
        filled = np.where(np.isfinite(e), e, -np.inf)
        view_max = filled.max(axis=0)  # (time, keypoint)
        has = np.isfinite(view_max)
        with np.errstate(invalid="ignore", divide="ignore"):
            inconsistency[t] = np.where(has, view_max, 0.0).sum(axis=1) / np.where(
                has.any(axis=1), has.sum(axis=1), np.nan
            )
        kp = view_max.argmax(axis=1)
        worst_error[t, 0] = kp
        worst_error[t, 1] = filled.argmax(axis=0)[np.arange(kp.size), kp]
        if reader.smoother == "calibrated":
            kp_var = coordinate_sum(layers["position_variance"])  # (time, keypoint)
        else:
            kp_var = np.where(np.isfinite(variance), variance, -np.inf).max(axis=0)
        kp_var = np.where(np.isfinite(kp_var), kp_var, 0.0)
        uncertainty[t] = kp_var.sum(axis=1) / max(K, 1)
        worst_variance[t] = kp_var.argmax(axis=1)
    stats, s, motion = [], {}, {}
    for k, keypoint in enumerate(reader.keypoints):
        s[keypoint] = float(np.asarray(sm.arrays["smoothing_parameter"][k, i]))
        motion[keypoint] = motion_name(sm.arrays, k, i)
        for v, view in enumerate(reader.views):
            e = _finite(error[k, v]).astype(np.float64)
            median, p95, top = (float(x) for x in np.percentile(e, [50, 95, 99])) if e.size else (np.nan, np.nan, 1.0)
            hist, edges = np.histogram(np.minimum(e, top), bins=HISTOGRAM_BINS, range=(0.0, max(top, 1e-6)))
            stats.append(
                KeypointViewStats(
                    keypoint=keypoint,
                    view=view,
                    inflated=float(inflated[k, v] / max(observed[k, v], 1)),
                    ensemble_variance=_median(ensemble[k, v].astype(np.float64)),
                    posterior_variance=_median(posterior[k, v].astype(np.float64)),
                    error_median=median,
                    error_p95=p95,
                    histogram=hist.astype(int).tolist(),
                    edges=edges.tolist(),
                    n_observed=int(observed[k, v]),
                )
            )
    frames = np.asarray(sm.arrays["time"][:])
    inconsistent = [
        WorstFrame(
            int(frames[t]),
            float(inconsistency[t]),
            reader.keypoints[worst_error[t, 0]],
            reader.views[worst_error[t, 1]],
        )
        for t in _top(inconsistency, n_worst)
    ]
    uncertain = [
        WorstFrame(int(frames[t]), float(uncertainty[t]), reader.keypoints[worst_variance[t]])
        for t in _top(uncertainty, n_worst)
    ]
    return SourceStatistics(
        source_id, T, reader.keypoints, reader.views[:V], s, stats, inconsistent, uncertain, reader.individuals[i],
        motion,
    )  # fmt: skip


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
    """Errors of one model (or stage) on the scored labeled frames.

    Attributes:
        model: e.g. ``"pipeline/smoothed/synthetic: EKS"``.
        source: the source id it comes from.
        stage: ``member``, ``ensemble`` or ``smoothed``.
        overall: every keypoint and view together.
        by_keypoint: ``{keypoint: BoxStats}`` over views.
        by_view: ``{view: BoxStats}`` over keypoints.
        n_frames: scored frames found in the source.
        individual: the animal scored, in a session of several (its name ends ``model`` too);
            None for one animal.
    """

    model: str
    source: str
    stage: str
    overall: BoxStats
    by_keypoint: dict[str, BoxStats] = field(default_factory=dict)
    by_view: dict[str, BoxStats] = field(default_factory=dict)
    n_frames: int = 0
    individual: str | None = None


@dataclass(frozen=True)
class ScoredFrames:
    """Which labeled frames are scored.

    Attributes:
        part: ``test`` or ``val`` (a run's held-out frames), or ``all`` (every labeled frame).
        run: the run whose split it is (its name in the project), or None.
        description: one line for a page.
        frames: ``{session: (frames (n,), labels (view, n, individual, keypoint, 2))}``, views in the
            project's order.
        individuals: the label files' individuals (one, whatever its name, for a single animal).
    """

    part: str
    run: str | None
    description: str
    frames: dict[str, tuple[np.ndarray, np.ndarray]]
    individuals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LabeledErrors:
    """What :func:`labeled_errors` found: the groups, and which frames they score."""

    groups: list[ErrorGroup]
    scored: ScoredFrames


def _labels_by_session(project: Project) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """``{session: (frames (n,), labels (view, n, individual, keypoint, 2))}`` of the project's label
    files, and their individuals."""
    files = project.label_files()
    if not files:
        return {}, []
    from lp3d_io.grouping import read_labels
    from lp3d_io.layout import frame_id

    ds = read_labels(files, list(files))
    paths = ds["image_path"].values  # (view, frame)
    position = ds["position"].transpose("view", "frame", "individual", "keypoint", "space").values
    individuals = [str(i) for i in ds["individual"].values]
    view = str(ds["view"].values[0])
    out: dict[str, tuple[list[int], list[int]]] = {}
    for row in range(paths.shape[1]):
        found = frame_id(str(paths[0, row]), view)
        if found is not None:
            session, frame = found
            rows, frames = out.setdefault(session, ([], []))
            rows.append(row)
            frames.append(frame)
    found = {s: (np.array(frames, dtype=np.int64), position[:, rows]) for s, (rows, frames) in out.items()}
    return found, individuals


def _held_out(run: RunInfo) -> tuple[str, set[tuple[str, int]]] | None:
    """A run's held-out frames ``(part, {(session, frame)})``: its test frames, else its validation
    frames; None without a readable split or held-out frames."""
    from lp3d_io.layout import frame_id

    try:
        split = json.loads((run.path / SPLIT_FILE).read_text())
    except (OSError, ValueError):
        return None
    view = run.views[0] if run.views else None
    for part in ("test", "val"):
        images = split.get(part, {}).get("images", []) if isinstance(split.get(part), dict) else []
        ids = {found for image in images if (found := frame_id(str(image), view)) is not None}
        if ids:
            return part, ids
    return None


def scored_frames(project: Project) -> ScoredFrames:
    """The labeled frames to score: the held-out frames of the project's first run with a split
    (runs in the order :func:`lp3d_workflows.project.describe_project` lists them), else all."""
    labels, individuals = _labels_by_session(project)
    n_all = sum(f.size for f, _ in labels.values())
    for run in project.runs:
        held = _held_out(run)
        if held is None:
            continue
        part, ids = held
        kept = {}
        for session, (frames, truth) in labels.items():
            keep = np.array([(session, int(f)) in ids for f in frames], dtype=bool)
            if keep.any():
                kept[session] = (frames[keep], truth[:, keep])
        n = sum(f.size for f, _ in kept.values())
        if part == "test":
            description = f"the {n} held-out test frames of run {run.name}"
        else:
            description = (
                f"the {n} held-out validation frames of run {run.name} (it has no test frames; these chose its "
                "checkpoints, so they flatter its models)"
            )
        return ScoredFrames(part, run.name, description, kept, individuals)
    description = "every labeled frame"
    if n_all:
        description += (
            f" ({n_all}; no training run with held-out frames in the project, so models may have trained on them)"
        )
    return ScoredFrames("all", None, description, labels, individuals)


def labeled_errors(project: Project, readers: dict[str, SourceReader]) -> LabeledErrors:
    """Pixel errors of every source on the scored labeled frames of its session (see the module
    docstring and :func:`scored_frames`), per animal in a session of several (an animal of the
    source matched to the label files' by name; one animal each matches whatever the names).

    Args:
        project: the project (its label files and runs).
        readers: ``{source id: reader}`` of the sources to score.
    """
    scored = scored_frames(project)
    groups = []
    for source in project.sources:
        reader = readers.get(source.id)
        if reader is None or source.session not in scored.frames:
            continue
        frames, truth = scored.frames[source.session]
        keep = frames < reader.n_frames
        frames, truth = frames[keep], truth[:, keep]
        if frames.size == 0 or reader.keypoints != project.keypoints:
            continue
        v_idx = [reader.views.index(v) for v in project.views if v in reader.views]
        truth = truth[[project.views.index(reader.views[v]) for v in v_idx]]  # (view, n, individual, keypoint, 2)
        several = len(reader.individuals) > 1
        for individual in reader.individuals:
            if not several and len(scored.individuals) == 1:
                label_index = 0
            elif individual in scored.individuals:
                label_index = scored.individuals.index(individual)
            else:
                continue
            name = _short(project, source) + (f" ({individual})" if several else "")
            overlays = [reader.frame(int(f), individual, read_ahead=False) for f in frames]
            animal = individual if several else None
            groups += _error_groups(name, source.id, reader, overlays, truth[:, :, label_index], v_idx, animal)
    return LabeledErrors(groups, scored)


def _error_groups(
    name: str,
    source: str,
    reader: SourceReader,
    overlays: list,
    truth: np.ndarray,
    v_idx: list[int],
    individual: str | None,
) -> list[ErrorGroup]:
    """One animal's :class:`ErrorGroup` of each member, the ensemble centre and the smoothed track;
    ``truth`` is ``(view, n, keypoint, 2)`` in the views ``v_idx`` of the reader."""
    estimates: list[tuple[str, str, np.ndarray]] = []
    if overlays[0].members is not None:
        members = np.stack([o.members for o in overlays], axis=2)  # (member, view, n, keypoint, 2)
        for m, member in enumerate(reader.members):
            estimates.append((f"{name}: {member}", "member", members[m][v_idx]))
    estimates.append((f"{name}: ensemble centre", "ensemble", np.stack([o.center for o in overlays], axis=1)[v_idx]))
    if overlays[0].smoothed is not None:
        estimates.append((f"{name}: EKS", "smoothed", np.stack([o.smoothed for o in overlays], axis=1)[v_idx]))
    views = [reader.views[v] for v in v_idx]
    groups = []
    for model, stage, estimate in estimates:
        error = np.sqrt(((estimate - truth) ** 2).sum(axis=-1))  # (view, n, keypoint)
        groups.append(
            ErrorGroup(
                model=model,
                source=source,
                stage=stage,
                overall=box_stats(error),
                by_keypoint={kp: box_stats(error[:, :, k]) for k, kp in enumerate(reader.keypoints)},
                by_view={view: box_stats(error[j]) for j, view in enumerate(views)},
                n_frames=len(overlays),
                individual=individual,
            )
        )
    return groups


def _short(project: Project, source: SourceInfo) -> str:
    folder = project.relative(Path(source.store).parent)
    return folder if folder != "." else source.store.name
