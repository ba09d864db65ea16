"""``lp3d report``: diagnostic plots of a smoothed session and one self-contained HTML page.

For every keypoint (and individual) a figure shows, per view and image coordinate, the ensemble
members, the smoothed track with its 95% posterior band and the observations whose variance was
inflated (the smoother's outliers); with a calibration, the 3D coordinates follow with their
bands. A figure per view shows the distances between the ensemble center and the smoothed track
(inflated observations stacked in red). A table gives the numbers per keypoint. The HTML page
embeds every image, so it can be mailed or archived on its own.

Long sessions are plotted over a window of frames (``--frames``; the first
:data:`DEFAULT_MAX_FRAMES` by default); the statistics cover the same window.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from lp3d_eks import Z_95
from lp3d_io.dataset import motion_name
from lp3d_io.files import check_target, staged_directory
from lp3d_io.layout import PREDICTIONS, SMOOTHED, groups_of_kind

from lp3d_workflows.errors import UserError
from lp3d_workflows.frame_ranges import parse_frame_ranges, resolve_frame_ranges
from lp3d_workflows.html_page import embedded_image, html_page, html_table
from lp3d_workflows.progress import ProgressCallback, report
from lp3d_workflows.smoothing import SMOOTHER_LABELS

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "ReportData",
    "load_report_data",
    "keypoint_table",
    "write_report",
    "write_smoothing_report",
]

DEFAULT_MAX_FRAMES = 3000
_MEMBER_COLOR = "#b0b0b0"
_TRACK_COLOR = "#1f5fa8"
_BAND_COLOR = "#9cc3ea"
_INFLATED_COLOR = "#d62728"
_DPI = 90


@dataclass(frozen=True)
class ReportData:
    """What a report shows, restricted to its frame window.

    Attributes:
        smoothed: the smoothed dataset (loaded).
        predictions: the ensemble predictions (loaded), or None if the store has none.
        frames: ``(start, stop)`` of the window, and ``n_frames`` of the whole session.
        source: the store the data came from.
    """

    smoothed: xr.Dataset
    predictions: xr.Dataset | None
    frames: tuple[int, int]
    n_frames: int
    source: Path


def load_report_data(store: Path, frames: str | None = None) -> ReportData:
    """Reads the smoothed results (and predictions) of a store written by ``lp3d smooth``.

    Raises:
        UserError: not a store, no smoothed results, or a bad ``frames`` window.
    """
    from lp3d_io.store import list_groups, read_group

    if not store.exists():
        raise UserError(f"STORE {store}: no such store")
    groups = list_groups(store)
    smoothed_groups = groups_of_kind(groups, SMOOTHED)
    if not smoothed_groups:
        raise UserError(f"STORE {store}: expected smoothed results (run lp3d smooth first), but it has {groups}")
    smoothed = read_group(store, smoothed_groups[0])
    n_frames = smoothed.sizes["time"]
    ranges = parse_frame_ranges(frames, "--frames")
    if ranges is not None and len(ranges) != 1:
        raise UserError(f"--frames: expected one range START:STOP, but got {len(ranges)}")
    window = resolve_frame_ranges(ranges, n_frames, "--frames")
    start, stop = window[0] if window else (0, min(n_frames, DEFAULT_MAX_FRAMES))
    smoothed = smoothed.isel(time=slice(start, stop)).load()
    predictions = None
    prediction_groups = groups_of_kind(groups, PREDICTIONS)
    if prediction_groups:
        ds = read_group(store, prediction_groups[0])
        same = all(
            dim in ds.dims and list(ds[dim].values) == list(smoothed[dim].values)
            for dim in ("view", "keypoint", "individual")
        )
        if same and ds.sizes["time"] == n_frames:
            predictions = ds.isel(time=slice(start, stop)).load()
    return ReportData(smoothed, predictions, (start, stop), n_frames, store)


# --- numbers ----------------------------------------------------------------------------------------


def _reprojection_error(sm: xr.Dataset) -> np.ndarray:
    """``(view, time, keypoint, individual)`` pixels between ensemble center and smoothed track."""
    diff = sm["ensemble_center"].values - sm["reprojection"].values
    return np.sqrt((diff**2).sum(axis=-1))


def _nanmedian(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def keypoint_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-keypoint table (strings, ready to print)."""
    sm = data.smoothed
    views = [str(v) for v in sm["view"].values]
    err = _reprojection_error(sm)
    observed = np.isfinite(sm["ensemble_center"].values).all(axis=-1)
    inflated = (sm["inflation"].values > 1.0) & observed
    sd_units = "world" if sm.attrs["smoother"] == "calibrated" else "px"
    header = ["individual", "keypoint", "motion", "s", "noise scale"]
    header += [f"inflated {v}" for v in views] + [f"median error {v} (px)" for v in views]
    header.append(f"median posterior sd ({sd_units})")
    rows = []
    several = sm.sizes["individual"] > 1
    sd = np.sqrt(sm["position_variance"].values)  # (time, keypoint, individual, space) or (view, ...)
    for i, individual in enumerate(sm["individual"].values):
        for k, keypoint in enumerate(sm["keypoint"].values):
            row = [str(individual) if several else "", str(keypoint), motion_name(sm, k, i)]
            row.append(f"{float(sm['smoothing_parameter'].values[k, i]):.3g}")
            row.append(f"{float(sm['noise_scale'].values[k, i]):.3g}")
            for v in range(len(views)):
                n = max(int(observed[v, :, k, i].sum()), 1)
                row.append(f"{100 * inflated[v, :, k, i].sum() / n:.1f}%")
            row += [f"{_nanmedian(err[v, :, k, i]):.2f}" for v in range(len(views))]
            kp_sd = sd[:, k, i] if sm.attrs["smoother"] == "calibrated" else sd[:, :, k, i]
            row.append(f"{_nanmedian(kp_sd):.3g}")
            rows.append(row)
    if not several:
        header, rows = header[1:], [r[1:] for r in rows]
    return header, rows


# --- figures ----------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_keypoint(data: ReportData, keypoint: str, individual: str, path: Path) -> None:
    """The figure of one keypoint: members, smoothed track with band, inflated observations."""
    plt = _pyplot()
    sm = data.smoothed.sel(keypoint=keypoint, individual=individual)
    views = [str(v) for v in sm["view"].values]
    calibrated = sm.attrs["smoother"] == "calibrated"
    frames = sm["time"].values
    rows = 2 * len(views) + (3 if calibrated else 0)
    height = 1.45 * rows + 1.2
    fig, axes = plt.subplots(rows, 1, figsize=(11, height), sharex=True, squeeze=False)
    # Fixed margins in inches (tight_layout is slow): title and legend on top, frame axis below.
    fig.subplots_adjust(left=0.08, right=0.99, top=1 - 0.75 / height, bottom=0.45 / height, hspace=0.12)
    axes = axes[:, 0]
    members = None
    if data.predictions is not None:
        members = data.predictions["position"].sel(keypoint=keypoint, individual=individual)
    inflated_any = (sm["inflation"].values > 1.0).any(axis=0)  # (time,)
    row = 0
    for v, view in enumerate(views):
        inflated = sm["inflation"].values[v] > 1.0
        for c, coord in enumerate(("x", "y")):
            ax = axes[row]
            if members is not None:
                for m in range(members.sizes["member"]):
                    ax.plot(
                        frames,
                        members.values[m, v, :, c],
                        color=_MEMBER_COLOR,
                        lw=0.6,
                        label="ensemble members" if m == 0 else None,
                    )
            track = sm["reprojection"].values[v, :, c]
            half = Z_95 * np.sqrt(sm["reprojection_variance"].values[v, :, c])
            ax.fill_between(frames, track - half, track + half, color=_BAND_COLOR, lw=0, label="95% posterior band")
            ax.plot(frames, track, color=_TRACK_COLOR, lw=1.1, label="smoothed")
            center = sm["ensemble_center"].values[v, :, c]
            ax.plot(
                frames[inflated],
                center[inflated],
                ls="none",
                marker="x",
                ms=4,
                color=_INFLATED_COLOR,
                label="inflated observation",
            )
            ax.set_ylabel(f"{view}\n{coord} (px)", fontsize=8)
            row += 1
    if calibrated:
        for c, coord in enumerate(("x", "y", "z")):
            ax = axes[row]
            pos = sm["position"].values[:, c]
            half = Z_95 * np.sqrt(sm["position_variance"].values[:, c])
            ax.fill_between(frames, pos - half, pos + half, color=_BAND_COLOR, lw=0)
            ax.plot(frames, pos, color=_TRACK_COLOR, lw=1.1)
            lower = (pos - half)[np.isfinite(pos - half)]
            if lower.size and inflated_any.any():
                lo = float(lower.min())
                ax.plot(
                    frames[inflated_any],
                    np.full(int(inflated_any.sum()), lo),
                    ls="none",
                    marker="|",
                    ms=6,
                    color=_INFLATED_COLOR,
                    label="frame with an inflated view" if c == 0 else None,
                )
            ax.set_ylabel(f"3D\n{coord} (world)", fontsize=8)
            if c == 0 and inflated_any.any():
                ax.legend(loc="upper right", fontsize=7, frameon=False)
            row += 1
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25, lw=0.5)
    axes[-1].set_xlabel("frame")
    axes[0].legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4, fontsize=8, frameon=False)
    s = float(sm["smoothing_parameter"].values)
    who = f"{individual} / " if data.smoothed.sizes["individual"] > 1 else ""
    fig.suptitle(
        f"{who}{keypoint}   (s = {s:.3g})",
        x=0.01,
        y=1 - 0.1 / height,
        ha="left",
        va="top",
        fontsize=11,
        fontweight="bold",
    )
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def plot_errors(data: ReportData, path: Path) -> None:
    """Histograms, per view, of the distance between ensemble center and smoothed track."""
    plt = _pyplot()
    sm = data.smoothed
    views = [str(v) for v in sm["view"].values]
    err = _reprojection_error(sm)
    inflated = sm["inflation"].values > 1.0
    width = 3.6 * len(views) + 0.6
    fig, axes = plt.subplots(1, len(views), figsize=(width, 3.2), squeeze=False, sharey=True)
    fig.subplots_adjust(left=0.6 / width, right=1 - 0.1 / width, top=0.9, bottom=0.16, wspace=0.08)
    finite_all = err[np.isfinite(err)]
    positive = finite_all[finite_all > 0]
    lo = max(float(positive.min()) if positive.size else 1e-2, 1e-3)
    hi = max(float(finite_all.max()) if finite_all.size else 1.0, lo * 10)
    bins = np.geomspace(lo, hi, 40)
    for v, view in enumerate(views):
        ax = axes[0, v]
        e, f = err[v], inflated[v]
        ok = np.isfinite(e)
        kept, flagged = np.clip(e[ok & ~f], lo, hi), np.clip(e[ok & f], lo, hi)
        ax.hist(
            [kept, flagged],
            bins=bins,
            stacked=True,
            color=[_TRACK_COLOR, _INFLATED_COLOR],
            label=["observations (not inflated)", "inflated observations"],
        )
        median, p95 = _nanmedian(e), float(np.percentile(e[ok], 95)) if ok.any() else float("nan")
        ax.axvline(median, color="black", ls="--", lw=1, label="median")
        ax.axvline(p95, color="black", ls=":", lw=1, label="95th percentile")
        ax.set_xscale("log")
        ax.set_title(f"{view}: median {median:.2f} px, 95th pct {p95:.2f} px", fontsize=9)
        ax.set_xlabel("ensemble center to smoothed track (px)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("observations (all keypoints)", fontsize=8)
    axes[0, -1].legend(fontsize=7, frameon=False)
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


# --- the page ---------------------------------------------------------------------------------------


def _summary(data: ReportData) -> dict[str, str]:
    sm = data.smoothed
    out = {
        "session": str(sm.attrs.get("session", data.source.stem)),
        "store": str(data.source),
        "smoother": SMOOTHER_LABELS.get(sm.attrs["smoother"], sm.attrs["smoother"]),
        "frames": f"{data.n_frames} (plotted and counted here: {data.frames[0]}..{data.frames[1] - 1})",
        "views": ", ".join(str(v) for v in sm["view"].values),
        "keypoints": str(sm.sizes["keypoint"]),
    }
    if data.predictions is not None:
        out["ensemble members"] = ", ".join(str(m) for m in data.predictions["member"].values)
    if "fps" in sm.attrs:
        out["fps"] = f"{sm.attrs['fps']:g}"
    if "lp3d_options" in sm.attrs:
        options = {k: v for k, v in json.loads(sm.attrs["lp3d_options"]).items() if v is not None}
        out["options"] = ", ".join(f"{k}={v}" for k, v in options.items())
    return out


def views_that_disagree(data: ReportData) -> list[str]:
    """One sentence per view (and individual) that disagrees with the others over the session
    (from the store's ``view_scale`` and ``view_disagreement``; empty when it has none)."""
    from types import SimpleNamespace

    from lp3d_eks import describe_inconsistent_views

    sm = data.smoothed
    if "view_scale" not in sm or "view_disagreement" not in sm:
        return []
    views = [str(v) for v in sm["view"].values]
    keypoints = [str(k) for k in sm["keypoint"].values]
    individuals = [str(i) for i in sm["individual"].values]
    scale = sm["view_scale"].transpose("view", "keypoint", "individual").values
    disagreement = sm["view_disagreement"].transpose("view", "keypoint", "individual").values
    sentences = []
    for i, individual in enumerate(individuals):
        found = SimpleNamespace(view_disagreement=disagreement[..., i], inconsistent_views=scale[..., i] > 1.0)
        prefix = f"{individual}: " if len(individuals) > 1 else ""
        sentences += [prefix + s for s in describe_inconsistent_views(found, views, keypoints)]
    return sentences


def _views_section(data: ReportData) -> list[str]:
    """The report's section on views that disagree (sentences and the per-view table)."""
    sm = data.smoothed
    if "view_disagreement" not in sm:
        return []
    sentences = views_that_disagree(data)
    views = [str(v) for v in sm["view"].values]
    individuals = [str(i) for i in sm["individual"].values]
    header = (["individual"] if len(individuals) > 1 else []) + ["keypoint"]
    header += [f"{v}: px (scale)" for v in views]
    rows = []
    for i, individual in enumerate(individuals):
        for k, keypoint in enumerate(sm["keypoint"].values):
            row = [individual] if len(individuals) > 1 else []
            row.append(str(keypoint))
            for v in range(len(views)):
                d = float(sm["view_disagreement"].values[v, k, i])
                a = float(sm["view_scale"].values[v, k, i])
                row.append(("—" if not np.isfinite(d) else f"{d:.1f}") + (f" (x{a:.3g})" if a > 1.0 else ""))
            rows.append(row)
    verdict = (
        "<ul>" + "".join(f"<li><b>{html.escape(s)}</b></li>" for s in sentences) + "</ul>"
        if sentences
        else "<p>Every view agrees with the others.</p>"
    )
    return [
        "<h2>Views that disagree with the others</h2>",
        "<p class='note'>Per view and keypoint: the median distance (px) of the view's observations from where "
        "the other views and the neighbouring frames put the keypoint; a view that disagrees over the whole "
        "session has its variances scaled (the factor in brackets), so it no longer drags the 3D track. A "
        "view named here has a calibration or labels to check.</p>",
        verdict,
        html_table(header, rows),
    ]


def write_report(
    data: ReportData, directory: Path, title: str | None = None, *, progress: ProgressCallback | None = None
) -> Path:
    """Writes the PNGs and ``report.html`` into ``directory``; returns the page's path."""
    sm = data.smoothed
    keypoints = [str(k) for k in sm["keypoint"].values]
    individuals = [str(i) for i in sm["individual"].values]
    jobs = [(i, k) for i in individuals for k in keypoints]
    figures: list[tuple[str, Path]] = []
    report(progress, "plotting", 0, len(jobs) + 1)
    errors_png = directory / "reprojection_errors.png"
    plot_errors(data, errors_png)
    for j, (individual, keypoint) in enumerate(jobs):
        report(progress, "plotting", j + 1, len(jobs) + 1)
        prefix = f"{_safe(individual)}_" if len(individuals) > 1 else ""
        path = directory / f"keypoint_{prefix}{_safe(keypoint)}.png"
        plot_keypoint(data, keypoint, individual, path)
        figures.append((f"{individual} / {keypoint}" if prefix else keypoint, path))
    summary = _summary(data)
    header, rows = keypoint_table(data)
    title = title or f"lp3d report: {summary['session']}"
    parts = [
        "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in summary.items()) + "</dl>",
        "<h2>Numbers per keypoint</h2>",
        "<p class='note'>s: smoothing parameter (process noise per frame); inflated: share of a view's "
        "observations whose variance was inflated (outliers); error: distance between the ensemble center and "
        "the smoothed track; posterior sd: of the smoothed position.</p>",
        html_table(header, rows),
        *_views_section(data),
        "<h2>Ensemble center to smoothed track, per view</h2>",
        embedded_image(errors_png, "reprojection error histograms"),
        "<h2>Keypoints</h2>",
        "<p class='note'>Grey: ensemble members; blue: the smoothed track with its 95% posterior band (the "
        "posterior variance of the track, the CSVs' x_posterior_var: where the animal's keypoint is); red x: "
        "observations whose variance was inflated. A new detection is judged against the wider predictive "
        "variance (x_predictive_var: the posterior plus the observation noise).</p>",
    ]
    for name, path in figures:
        parts.append(f"<h3>{html.escape(name)}</h3>{embedded_image(path, name)}")
    page = directory / "report.html"
    page.write_text(html_page(title, parts), encoding="utf-8")
    return page


def write_smoothing_report(
    store: Path,
    out: Path,
    *,
    overwrite: bool = False,
    frames: str | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """The report of a smoothed store (``lp3d report``): written into the folder ``out`` atomically.

    Args:
        store: a store written by ``lp3d smooth``.
        out: the report folder (PNGs and ``report.html``).
        overwrite: replace an existing ``out``.
        frames: the window plotted and counted, ``START:STOP`` (default the first
            :data:`DEFAULT_MAX_FRAMES`).
        progress: called as figures are drawn.

    Returns:
        The page, ``out/report.html``.
    """
    check_target(out, overwrite)
    data = load_report_data(store, frames)
    with staged_directory(out) as tmp:
        page = write_report(data, tmp, progress=progress)
    return out / page.name
