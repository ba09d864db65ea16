"""lp3d_workflows.diagnostics against brute-force numpy on the store read whole: statistics per
keypoint and view, the worst frames, box plots, and the errors on the scored labeled frames (a run's
held-out frames when there is one)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from lp3d_io.layout import labels_file
from lp3d_io.store import read_group
from lp3d_workflows.diagnostics import HISTOGRAM_BINS, box_stats, labeled_errors, scored_frames, source_statistics
from lp3d_workflows.project import describe_project
from lp3d_workflows.viewer_data import SourceReader

TOL = {"rtol": 1e-5, "atol": 1e-5}  # statistics of float32 copies of the store's values


@pytest.fixture(scope="module")
def store(viewer_project):
    return viewer_project / "smoothed" / "synthetic" / "synthetic.zarr"


@pytest.fixture(scope="module")
def statistics(store):
    reader = SourceReader(store, "predictions/ensemble", "smoothed/eks", True)
    return source_statistics(reader, "src-x", n_worst=7)


def test_worst_frames_match_a_brute_force_ranking(store, statistics):
    sm = read_group(store, "smoothed/eks").isel(individual=0).load()
    center = sm["ensemble_center"].transpose("view", "time", "keypoint", "image_space").values
    track = sm["reprojection"].transpose("view", "time", "keypoint", "image_space").values
    error = np.sqrt(((center - track) ** 2).sum(-1))  # (view, time, keypoint)
    keypoints, views = list(sm["keypoint"].values), list(sm["view"].values)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        view_max = np.nanmax(error, axis=0)  # (time, keypoint)
        inconsistency = np.nanmean(view_max, axis=1)
    order = sorted(range(300), key=lambda t: (-np.nan_to_num(inconsistency[t], nan=-np.inf), t))[:7]
    assert [w.frame for w in statistics.inconsistent] == order
    np.testing.assert_allclose([w.score for w in statistics.inconsistent], inconsistency[order], **TOL)
    for w in statistics.inconsistent:
        k = int(np.nanargmax(view_max[w.frame]))
        assert w.keypoint == keypoints[k] and w.view == views[int(np.nanargmax(error[:, w.frame, k]))]
    variance = np.nan_to_num(sm["position_variance"].sum("space").transpose("time", "keypoint").values)
    uncertainty = variance.mean(axis=1)
    order = sorted(range(300), key=lambda t: (-uncertainty[t], t))[:7]
    assert [w.frame for w in statistics.uncertain] == order
    np.testing.assert_allclose([w.score for w in statistics.uncertain], uncertainty[order], **TOL)
    assert [w.keypoint for w in statistics.uncertain] == [keypoints[int(np.argmax(variance[t]))] for t in order]


def test_statistics_per_keypoint_and_view_match_brute_force(store, statistics):
    sm = read_group(store, "smoothed/eks").isel(individual=0).load()
    assert len(statistics.stats) == 11 * 3 and statistics.n_frames == 300
    for st in statistics.stats:
        one = sm.sel(keypoint=st.keypoint, view=st.view)
        center, track = one["ensemble_center"].values, one["reprojection"].values
        error = np.sqrt(((center - track) ** 2).sum(-1))
        seen = np.isfinite(center).all(-1)
        finite = error[np.isfinite(error)]
        assert st.n_observed == seen.sum() and sum(st.histogram) == finite.size and len(st.histogram) == HISTOGRAM_BINS
        assert st.inflated == pytest.approx(((one["inflation"].values > 1) & seen).sum() / seen.sum())
        np.testing.assert_allclose(
            [st.error_median, st.error_p95, st.edges[-1]],
            [np.median(finite), np.percentile(finite, 95), np.percentile(finite, 99)],
            **TOL,
        )
        ens = one["ensemble_variance"].values.sum(-1)
        post = one["reprojection_variance"].values.sum(-1)
        np.testing.assert_allclose(
            [st.ensemble_variance, st.posterior_variance], [np.nanmedian(ens), np.nanmedian(post)], **TOL
        )
    assert statistics.s == {
        k: pytest.approx(float(v)) for k, v in zip(sm["keypoint"].values, sm["smoothing_parameter"].values, strict=True)
    }


def test_statistics_need_a_smoothed_result(store):
    with pytest.raises(ValueError, match="expected a smoothed result"):
        source_statistics(SourceReader(store, "predictions/ensemble", None), "src-p")


def test_box_stats_by_hand():
    box = box_stats(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 100, np.nan]))
    # quartiles of 1..9, 100 (numpy's linear interpolation): 3.25, 5.5, 7.75; whiskers within 1.5 IQR
    assert (box.n, box.mean, box.q1, box.median, box.q3, box.low, box.high) == (10, 14.5, 3.25, 5.5, 7.75, 1, 9)
    assert box_stats(np.array([np.nan])).n == 0 and np.isnan(box_stats(np.array([])).median)


def labels_of(root, views):
    """The label files read by hand: ``{image path of the first view: (view, keypoint, 2)}``."""
    import csv

    by_view = []
    for view in views:
        with open(root / labels_file(view), newline="") as f:
            rows = list(csv.reader(f))[3:]
        by_view.append({r[0]: np.array(r[1:], dtype=float).reshape(-1, 2) for r in rows})
    first = list(by_view[0])
    return {path: np.stack([list(b.values())[i] for b in by_view]) for i, path in enumerate(first)}


def brute_force_errors(root, store, frames_of_paths):
    sm = read_group(store, "smoothed/eks").isel(individual=0).load()
    views = [str(v) for v in sm["view"].values]
    labels = labels_of(root, views)
    truth = np.stack([labels[p] for p in frames_of_paths])  # (n, view, keypoint, 2)
    frames = [int(p.rsplit("img", 1)[1].split(".")[0]) for p in frames_of_paths]
    estimate = sm["reprojection"].isel(time=frames).transpose("time", "view", "keypoint", "image_space").values
    return np.sqrt(((estimate - truth) ** 2).sum(-1))


def test_without_a_run_every_labeled_frame_is_scored(viewer_project, store):
    project = describe_project(viewer_project)
    scored = scored_frames(project)
    assert scored.part == "all" and scored.run is None and scored.description.startswith("every labeled frame (12;")
    readers = {s.id: SourceReader(s.store, s.predictions, s.smoothed, s.calibrated) for s in project.sources}
    found = labeled_errors(project, readers)
    eks = next(g for g in found.groups if g.model == "smoothed/synthetic: EKS")
    paths = list(labels_of(viewer_project, project.views))
    error = brute_force_errors(viewer_project, store, paths)
    assert eks.n_frames == 12 and eks.stage == "smoothed"
    assert eks.overall.median == pytest.approx(np.median(error)) and eks.overall.n == error.size
    assert eks.by_view["cam1"].mean == pytest.approx(error[:, 1].mean())
    models = {g.model for g in found.groups}
    assert {"smoothed/synthetic: member_0", "smoothed/synthetic: ensemble centre", "old: EKS"} <= models


@pytest.mark.parametrize("part", ["test", "val"])
def test_a_runs_held_out_frames_are_scored(viewer_project, tmp_path, part):
    root = tmp_path / "p"
    shutil.copytree(viewer_project, root, ignore=shutil.ignore_patterns("old"))
    project = describe_project(root)
    paths = list(labels_of(root, project.views))
    run = root / "runs" / "teacher"
    run.mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"views": project.views, "keypoints": project.keypoints, "members": ["seed_0"]})
    )
    held = paths[1::4]  # 3 frames
    split = {
        "train": {"frames": [], "images": paths[0::4]},
        "val": {"frames": [], "images": held if part == "val" else paths[2::4]},
    }
    split["test"] = {"frames": [], "images": held if part == "test" else []}
    (run / "split.json").write_text(json.dumps(split))
    project = describe_project(root)
    scored = scored_frames(project)
    assert (
        scored.part == part
        and scored.run == "runs/teacher"
        and scored.description.startswith(
            f"the 3 held-out {'test' if part == 'test' else 'validation'} frames of run runs/teacher"
        )
    )
    readers = {s.id: SourceReader(s.store, s.predictions, s.smoothed, s.calibrated) for s in project.sources}
    eks = next(g for g in labeled_errors(project, readers).groups if g.stage == "smoothed")
    error = brute_force_errors(root, root / "smoothed/synthetic/synthetic.zarr", held)
    assert eks.n_frames == 3 and eks.overall.mean == pytest.approx(error.mean())
