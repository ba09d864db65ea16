"""Distillation's parts on hand-made smoothed sessions: frame selection (lp3d_models.frame_selection) and
writing pseudo-labels (lp3d_models.pseudo_labels)."""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_models.frame_selection import (
    SmoothedSession,
    candidate_frames,
    frame_variance,
    label_poses,
    novelty,
    pose_features,
    select_frames,
    session_quotas,
)
from lp3d_models.pseudo_labels import confidence_weights, labeled_frame_ids, write_pseudo_labels

TOL = 1e-9


def make_session(
    name: str = "s", n_frames: int = 60, n_views: int = 2, n_keypoints: int = 4, seed: int = 0, calibrated: bool = True
) -> SmoothedSession:
    """Random poses with a known frame variance: frame ``t`` has variance ``(t + 1) / n_frames``."""
    rng = np.random.default_rng(seed)
    position = rng.normal(size=(n_frames, n_keypoints, 3)) * 10.0 + rng.normal(size=(n_frames, 1, 3)) * 50.0
    variance = np.broadcast_to(((np.arange(n_frames) + 1.0) / n_frames)[:, None, None], position.shape).copy()
    reprojection = rng.uniform(10, 50, size=(n_views, n_frames, n_keypoints, 2))
    return SmoothedSession(
        name=name,
        view_names=[f"cam{v}" for v in range(n_views)],
        keypoint_names=[f"k{k}" for k in range(n_keypoints)],
        frames=np.arange(n_frames),
        reprojection=reprojection,
        reprojection_variance=np.broadcast_to(variance.mean(-1)[None, ..., None], reprojection.shape).copy(),
        inflated=np.zeros((n_views, n_frames, n_keypoints), dtype=bool),
        position=position if calibrated else None,
        position_variance=variance if calibrated else None,
    )


def blobs(centres: np.ndarray, n: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = np.repeat(np.arange(len(centres)), n)
    return centres[label] + spread * rng.normal(size=(len(label), centres.shape[1])), label


def test_pose_features_ignore_position_and_scale():
    pose = np.random.default_rng(3).normal(size=(1, 5, 3))
    moved = 3.0 * pose + np.array([100.0, -4.0, 2.0])
    np.testing.assert_allclose(pose_features(moved), pose_features(pose), atol=TOL)
    views = np.stack([pose[..., :2], 2.0 * pose[..., :2] + 7.0])  # (view, time, keypoint, 2)
    f = pose_features(views)
    np.testing.assert_allclose(f[:, :10], f[:, 10:], atol=TOL)


@pytest.mark.parametrize("calibrated", [True, False])
def test_candidates_respect_the_variance_quantile_inflation_and_labels(calibrated):
    s = make_session(calibrated=calibrated)
    mask = candidate_frames(s, 0.5)
    score = frame_variance(s)
    assert mask.sum() == 30 and score[mask].max() <= np.quantile(score, 0.5) + TOL
    s.inflated[1, 3, 2] = True  # one inflated view of frame 3
    mask = candidate_frames(s, 0.5, exclude={0, 7})
    assert not mask[[0, 3, 7]].any() and mask.sum() == 27
    assert candidate_frames(s, 1.0).sum() == 59


def test_session_quotas_spread_frames():
    np.testing.assert_array_equal(session_quotas([90, 10, 0], 10), [9, 1, 0])
    np.testing.assert_array_equal(session_quotas([1000, 1, 1], 3), [1, 1, 1])
    np.testing.assert_array_equal(session_quotas([5, 2], 20), [5, 2])
    assert session_quotas([50, 30, 20], 17).sum() == 17


def test_selection_excludes_labeled_frames_and_is_deterministic():
    sessions = [make_session("a", seed=1), make_session("b", seed=2)]
    labeled = {("a", f) for f in range(0, 30, 2)} | {("b", 1)}
    first = select_frames(sessions, 12, variance_quantile=0.5, seed=3, labeled=labeled)
    again = select_frames(sessions, 12, variance_quantile=0.5, seed=3, labeled=labeled)
    assert {k: v.tolist() for k, v in first.items()} == {k: v.tolist() for k, v in again.items()}
    assert sum(len(f) for f in first.values()) == 12
    assert not {("a", int(f)) for f in first["a"]} & labeled and 1 not in first["b"]
    assert all(f < 30 for frames in first.values() for f in frames)  # below the median variance
    other = select_frames(sessions, 12, variance_quantile=0.5, seed=4, labeled=labeled)
    assert any(first[k].tolist() != other[k].tolist() for k in first)


def test_selection_spreads_across_sessions():
    sessions = [make_session("big", n_frames=200, seed=1), make_session("small", n_frames=20, seed=2)]
    chosen = select_frames(sessions, 5, variance_quantile=0.5)
    assert len(chosen["big"]) == 4 and len(chosen["small"]) == 1


def test_selection_picks_the_frame_nearest_each_pose_cluster():
    s = make_session(n_frames=40, n_keypoints=3)
    shapes = np.random.default_rng(5).normal(size=(2, 3, 3)) * 10.0
    rng = np.random.default_rng(6)
    cluster = np.arange(40) % 2
    s.position[:] = shapes[cluster] + 0.3 * rng.normal(size=(40, 3, 3)) + rng.normal(size=(40, 1, 3)) * 100.0
    chosen = select_frames([s], 2, variance_quantile=1.0)["s"]
    assert sorted(cluster[chosen]) == [0, 1]  # one frame of each pose
    features = pose_features(s.position)
    for frame in chosen:
        same = np.flatnonzero(cluster == cluster[frame])
        centre = features[same].mean(axis=0)
        d = ((features[same] - centre) ** 2).sum(axis=1)
        assert frame == same[d.argmin()]


def test_confidence_weights():
    variance = np.array([1.0, 4.0, 0.25, np.nan, 1.0])[None, :, None, None].repeat(2, -1)
    w = confidence_weights(variance)[0, :, 0]
    np.testing.assert_allclose(w, [1 / 2, 1 / 5, 4 / 5, 0.0, 1 / 2], atol=TOL)  # tau^2 = median = 1
    np.testing.assert_allclose(confidence_weights(np.zeros((1, 3, 1, 2))), 1.0, atol=TOL)


def test_labeled_frame_ids_follow_the_lp_layout():
    paths = ["labeled-data/mouse1_top/img00012.png", "labeled-data/mouse2_top/img3.png", "labeled-data/x/readme"]
    assert labeled_frame_ids(paths, "top") == {("mouse1", 12), ("mouse2", 3)}
    assert labeled_frame_ids(["labeled-data/s3/top/img00004.png"], "top") == {("s3", 4)}


def test_pseudo_labels_are_written_in_the_project_layout(tmp_path):
    from lp3d_io import from_pose_csv
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    session = make_session(SyntheticConfig(n_views=2, image_size=(48, 48), n_frames=12, seed=1, session_name="ses"))
    paths = write_session(session, tmp_path / "project", labeled_frames=2)
    truth = session.points2d
    variance = np.full(truth.shape, 2.0)
    variance[:, 5, 0] = 8.0
    smoothed = SmoothedSession(
        name="ses",
        view_names=session.view_names,
        keypoint_names=session.keypoint_names,
        frames=np.arange(12),
        reprojection=truth,
        reprojection_variance=variance,
        inflated=np.zeros(truth.shape[:3], dtype=bool),
        videos={v: paths[f"video/{v}"] for v in session.view_names},
        rig=session.rig,
    )
    out = tmp_path / "pseudo"
    assert write_pseudo_labels(out, [smoothed], {"ses": np.array([3, 5])}) == 2
    for v, view in enumerate(session.view_names):
        labels = from_pose_csv(out / f"CollectedData_{view}.csv")
        weights = from_pose_csv(out / f"weights_{view}.csv")
        assert list(labels.index) == [f"labeled-data/ses_{view}/img00003.png", f"labeled-data/ses_{view}/img00005.png"]
        assert list(weights.index) == list(labels.index)
        inside = np.isfinite(labels.position[:, :, 0, 0])
        np.testing.assert_allclose(labels.position[:, :, 0, :2][inside], truth[v, [3, 5]][inside], atol=1e-3)
        w = weights.position[:, :, 0, 0]
        np.testing.assert_allclose(weights.position[:, :, 0, 1], w)
        assert ((w >= 0) & (w <= 1)).all() and (w[~inside] == 0).all()
        assert w[1, 0] < w[0, 0] or not inside[1, 0]  # the uncertain keypoint weighs less
        for image in labels.index:
            assert (out / image).is_file()
    assert (out / "calibration.toml").is_file()
    assert (out / "selection.csv").read_text().splitlines()[0] == "session,frame,frame_variance,mean_weight"


def test_novelty_is_the_distance_to_the_nearest_labeled_pose():
    s = make_session(n_frames=30, n_keypoints=4)
    reference = s.position[[3, 17]]
    distance = novelty(s, reference, block=7)  # several blocks
    features, ref = pose_features(s.position), pose_features(reference)
    brute = np.array([min(np.linalg.norm(f - r) for r in ref) for f in features])
    np.testing.assert_allclose(distance, brute, atol=1e-6)
    assert distance[3] < 1e-6 and distance[17] < 1e-6
    with pytest.raises(ValueError, match="at least one labeled pose with every keypoint"):
        novelty(s, np.full((2, 4, 3), np.nan))


def test_label_poses_triangulate_with_the_cameras_or_stay_2d():
    from lp3d_io.synthetic import make_rig

    rig = make_rig(3, (64, 64), seed=2)
    points = np.random.default_rng(4).normal(scale=20.0, size=(5, 4, 3)) + [0.0, 0.0, 20.0]
    labels = rig.project(points)  # (view, frame, keypoint, 2)
    np.testing.assert_allclose(label_poses(labels, rig), points, atol=1e-4)
    assert label_poses(labels).shape == labels.shape


def test_novel_selection_keeps_the_poses_far_from_the_labels():
    s = make_session(n_frames=80, n_keypoints=4)
    reference = s.position[:10]  # the labels resemble the first frames
    distance = novelty(s, reference)
    chosen = select_frames([s], 8, variance_quantile=1.0, novelty_quantile=0.5, reference=[reference])["s"]
    assert len(chosen) == 8 and (distance[chosen] >= np.quantile(distance, 0.5) - TOL).all()
    with pytest.raises(ValueError, match="labeled poses of every session"):
        select_frames([s], 8, novelty_quantile=0.5)
    with pytest.raises(ValueError, match="novelty_quantile: expected a share in"):
        select_frames([s], 8, novelty_quantile=1.0, reference=[reference])


def test_confident_pick_takes_the_lowest_variance_frame_of_each_cluster():
    s = make_session(n_frames=40, n_keypoints=3)
    shapes = np.random.default_rng(5).normal(size=(2, 3, 3)) * 10.0
    cluster = np.arange(40) % 2
    s.position[:] = shapes[cluster] + 0.3 * np.random.default_rng(6).normal(size=(40, 3, 3))
    chosen = select_frames([s], 2, variance_quantile=1.0, pick="confident")["s"]
    variance = frame_variance(s)
    for frame in chosen:  # frame t has variance (t + 1) / n: the first frame of its cluster
        same = np.flatnonzero(cluster == cluster[frame])
        assert frame == same[variance[same].argmin()]
