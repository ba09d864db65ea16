"""Frames to label: uniform, k-means on frames or motion energy, and the frames a smoothed result
found most uncertain / inconsistent, pre-filled with it; checked against the videos and the store."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from lp3d_workflows.errors import UserError
from lp3d_workflows.frame_extraction import extract_frames, kmeans_pick, spaced_top, uniform_frames
from lp3d_workflows.labeling import list_frames, read_queue
from lp3d_workflows.project import describe_project


def test_uniform_frames_are_evenly_spaced_and_avoid_the_excluded():
    np.testing.assert_array_equal(uniform_frames(100, 5), np.round(np.linspace(0, 99, 5)))
    excluded = list(range(0, 100, 3))
    got = uniform_frames(100, 10, excluded)
    assert got.size == 10 and not set(got.tolist()) & set(excluded) and np.all(np.diff(got) > 0)
    assert np.diff(got).max() - np.diff(got).min() <= 3
    assert uniform_frames(10, 20, [1, 2]).tolist() == [0, 3, 4, 5, 6, 7, 8, 9]
    assert uniform_frames(10, 0).size == 0 and uniform_frames(3, 2, [0, 1, 2]).size == 0


def test_spaced_top_takes_the_best_frames_apart_from_each_other():
    frames = np.arange(20)
    scores = np.zeros(20)
    scores[[5, 6, 15, 3, 9, 12]] = [10, 9, 8, 7, 6, 5]
    scores[11] = np.nan
    # 5; 6 and 3 too close to 5; 15; 9 (4 from 5, 6 from 15); 12 too close to 9 and 15
    assert spaced_top(frames, scores, 3, min_gap=3).tolist() == [5, 15, 9]
    assert spaced_top(frames, scores, 3, min_gap=3, exclude=[5]).tolist() == [6, 15, 3]
    assert spaced_top(frames, scores, 10, min_gap=1).tolist()[:6] == [5, 6, 15, 3, 9, 12]
    assert 11 not in spaced_top(frames, scores, 20, min_gap=1).tolist()


def test_kmeans_picks_one_frame_per_cluster_nearest_its_centre():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.integers(0, 3, 90)
    x = centres[labels] + rng.normal(0, 0.5, (90, 2))
    picks = kmeans_pick(x, 3, seed=1)
    assert sorted(labels[picks].tolist()) == [0, 1, 2]
    for p in picks:  # the member nearest its own cluster's mean
        members = np.flatnonzero(labels == labels[p])
        mean = x[members].mean(axis=0)
        assert p == members[np.argmin(np.linalg.norm(x[members] - mean, axis=1))]
    assert kmeans_pick(np.ones((5, 2)), 3).tolist() == [0]  # one distinct row: one cluster


@pytest.fixture
def project(viewer_project, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(viewer_project, root, ignore=shutil.ignore_patterns(".lp3d-app", "old"))
    return describe_project(root)


def decoded(path, frames):
    capture = cv2.VideoCapture(str(path))
    out, t = {}, 0
    while t <= max(frames):
        ok, image = capture.read()
        assert ok
        if t in frames:
            out[t] = image
        t += 1
    capture.release()
    return out


def labeled_frames(project) -> set[int]:
    return {e.frame for e in list_frames(project) if e.row is not None}


def test_uniform_extraction_writes_the_videos_frames_and_queues_them(project):
    session = project.sessions[0]
    taken = labeled_frames(project)
    assert len(taken) == 12
    found = extract_frames(project, session.id, "uniform", 6)
    assert found.frames == uniform_frames(300, 6, sorted(taken)).tolist()
    for view in project.views:
        want = decoded(session.videos[view].path, found.frames)
        for t, relative in zip(found.frames, found.images[view], strict=True):
            assert relative == f"labeled-data/synthetic_{view}/img{t:05d}.png"
            assert np.array_equal(cv2.imread(str(project.data_root / relative)), want[t])
    queue = read_queue(project)
    assert [(q.frame, q.method, q.prefill) for q in queue] == [(t, "uniform", None) for t in found.frames]
    again = extract_frames(project, session.id, "uniform", 6)  # never the same frames twice
    assert not set(again.frames) & (set(found.frames) | taken)
    entries = [e for e in list_frames(project) if e.row is None]
    assert [e.frame for e in entries] == found.frames + again.frames


@pytest.mark.parametrize("method", ["kmeans", "motion"])
def test_diverse_frames_are_distinct_and_new(project, method, monkeypatch):
    import functools

    from lp3d_workflows import frame_extraction

    fewer = functools.partial(frame_extraction.video_features, max_samples=60)  # seeking is slow on 2 cores
    monkeypatch.setattr(frame_extraction, "video_features", fewer)
    taken = labeled_frames(project)
    found = extract_frames(project, project.sessions[0].id, method, 5, seed=2)
    assert len(found.frames) == len(set(found.frames)) == 5 and not set(found.frames) & taken
    assert all((project.data_root / p).is_file() for p in found.images["cam1"])
    assert {q.method for q in read_queue(project)} == {method}


def test_kmeans_on_motion_finds_the_moments_something_moves(tmp_path):
    """A video still but for two bursts of motion: motion-energy k-means picks frames of both bursts."""
    from lp3d_workflows.frame_extraction import video_features

    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    bursts = (range(20, 30), range(70, 80))
    for t in range(100):
        image = np.full((48, 64, 3), 40, np.uint8)
        x = 10 + (3 * (t % 10) if any(t in b for b in bursts) else 0)
        image[20:30, x : x + 8] = 220 if t < 50 else 120
        writer.write(image)
    writer.release()
    sampled, features = video_features({"v": path}, 100, motion=True)
    picks = sampled[kmeans_pick(features, 3, seed=0)]
    moving = [t for t in picks if any(t in b or t - 1 in b for b in bursts)]
    assert {0 if t < 50 else 1 for t in moving} == {0, 1}


def greedy(frames: np.ndarray, scores: np.ndarray, n: int, gap: int, exclude: set[int]) -> list[int]:
    """The test's own choice: best first, ``gap`` apart, not excluded."""
    out: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        f = int(frames[i])
        if f not in exclude and all(abs(f - o) >= gap for o in out):
            out.append(f)
        if len(out) == n:
            break
    return out


def test_uncertain_frames_are_the_stores_most_uncertain_and_come_prefilled(project):
    from lp3d_io.store import read_group

    source = next(s for s in project.sources if s.smoothed is not None)
    eks = read_group(source.store, "smoothed/eks").isel(individual=0)
    variance = eks["position_variance"].sum("space").fillna(0.0).mean("keypoint").values  # (time,)
    taken = labeled_frames(project)
    found = extract_frames(project, project.sessions[0].id, "uncertain", 4, source=source.id, min_gap=20)
    assert found.frames == greedy(np.arange(300), variance, 4, 20, taken)
    queue = {q.frame: q for q in read_queue(project)}
    for t in found.frames:
        q = queue[t]
        assert q.method == "uncertain" and q.score == pytest.approx(variance[t], rel=1e-4)
        assert q.source == source.label
        for view in project.views:
            want = eks["reprojection"].sel(view=view, time=t).sel(keypoint=project.keypoints).values
            got = np.array([[np.nan, np.nan] if p is None else p for p in q.prefill[view]], dtype=float)
            np.testing.assert_allclose(got, want, atol=1e-3)


def test_inconsistent_frames_are_where_the_views_disagree_most(project):
    from lp3d_io.store import read_group

    source = next(s for s in project.sources if s.smoothed is not None)
    eks = read_group(source.store, "smoothed/eks").isel(individual=0)
    error = np.sqrt(((eks["ensemble_center"] - eks["reprojection"]) ** 2).sum("image_space", skipna=False))
    score = error.max("view").mean("keypoint").values  # (time,)
    found = extract_frames(project, project.sessions[0].id, "inconsistent", 3, source=source.id, min_gap=5)
    assert found.frames == greedy(np.arange(300), score, 3, 5, labeled_frames(project))
    assert [q.score for q in read_queue(project)] == pytest.approx([score[t] for t in found.frames], rel=1e-4)


def test_bad_extractions_are_user_errors(project, tmp_path):
    session = project.sessions[0].id
    for kwargs, message in [
        ({"method": "random", "n": 2}, "method: expected one of uniform, kmeans"),
        ({"method": "uniform", "n": 0}, "n: expected 1 to 500 frames"),
        ({"method": "uncertain", "n": 2}, "source: expected a smoothed result of session synthetic"),
    ]:
        with pytest.raises(UserError, match=message):
            extract_frames(project, session, **kwargs)
    with pytest.raises(KeyError):
        extract_frames(project, "nope", "uniform", 2)
    # a view shorter than the others: the session's views disagree
    video = project.sessions[0].videos["cam1"].path
    capture = cv2.VideoCapture(str(video))
    writer = cv2.VideoWriter(str(tmp_path / "short.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (96, 80))
    for _ in range(250):
        writer.write(capture.read()[1])
    writer.release()
    capture.release()
    shutil.move(tmp_path / "short.mp4", video)
    changed = describe_project(project.root)
    with pytest.raises(UserError, match=r"expected the same number of frames in every view, but got .*cam1: 250"):
        extract_frames(changed, session, "uniform", 2)
    assert read_queue(changed) == []
