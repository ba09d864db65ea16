"""Synthetic sessions: determinism, geometry, pictures that agree with labels, planted errors, files."""

import csv
from itertools import groupby

import cv2
import numpy as np
import pytest
from lp3d_eks.camera import CameraRig
from lp3d_io.synthetic import (
    SyntheticConfig,
    make_ensemble_predictions,
    make_rig,
    make_session,
    render_views,
    simulate_motion,
    write_session,
)

TOL = 1e-6  # mm or px, for what must agree exactly
SMALL = SyntheticConfig(n_frames=60, seed=3)


@pytest.fixture(scope="module")
def session():
    return make_session(SMALL)


@pytest.fixture(scope="module")
def ensemble(session):
    return make_ensemble_predictions(session, seed=5)


def _inside(points2d, size):
    return ((points2d >= -0.5) & (points2d < np.array(size) - 0.5)).all(-1)


def test_same_seed_gives_the_same_session_and_another_seed_does_not(session):
    again = make_session(SMALL)
    np.testing.assert_array_equal(again.motion.points3d, session.motion.points3d)
    np.testing.assert_array_equal(again.points2d, session.points2d)
    np.testing.assert_array_equal(again.visible, session.visible)
    np.testing.assert_array_equal(again.render([0, 30]), session.render([0, 30]))
    other = make_session(SyntheticConfig(n_frames=60, seed=4))
    assert not np.allclose(other.motion.points3d, session.motion.points3d)
    assert not np.allclose(other.rig.cameras[0].tvec, session.rig.cameras[0].tvec)
    assert not np.array_equal(other.render([0]), session.render([0]))


def test_motion_keeps_bone_lengths_and_stays_in_the_arena():
    motion = simulate_motion(SyntheticConfig(n_frames=600, seed=1))
    pts = motion.points3d
    assert pts.shape == (600, len(motion.keypoint_names), 3)
    for i, j in motion.edges:
        length = np.linalg.norm(pts[:, i] - pts[:, j], axis=-1)
        assert np.ptp(length) < TOL
    assert np.hypot(pts[..., 0], pts[..., 1]).max() < SMALL.arena_radius
    assert pts[..., 2].min() > -3.0  # paws roughly on the floor
    speed = np.linalg.norm(np.diff(pts[:, 0, :2], axis=0), axis=-1) * motion.fps
    assert speed.max() <= SyntheticConfig().speed + TOL
    assert speed.mean() > 10.0  # the animal does walk around
    length = np.linalg.norm(pts[:, motion.keypoint_names.index("nose")] - pts[:, 0], axis=-1)
    assert 40.0 < length.mean() < 70.0


def test_rearing_bouts_lift_the_body_about_the_hips():
    walking = simulate_motion(SyntheticConfig(n_frames=900, seed=4))
    rearing = simulate_motion(SyntheticConfig(n_frames=900, seed=4, rearing=0.3))
    names = rearing.keypoint_names
    pts = rearing.points3d
    for i, j in rearing.edges:  # still rigid bones
        assert np.ptp(np.linalg.norm(pts[:, i] - pts[:, j], axis=-1)) < TOL
    assert pts[..., 2].min() > -3.0  # nothing sinks into the floor
    nose = pts[:, names.index("nose"), 2]
    up = nose > walking.points3d[:, names.index("nose"), 2].max() + 10.0  # higher than the animal ever walks
    assert 0.1 < up.mean() < 0.4  # about the share asked for, counting the rise and fall
    tail_base, hind = names.index("tail_base"), names.index("hind_left_paw")
    hips = pts[:, tail_base, :2]
    speed = np.linalg.norm(np.diff(hips, axis=0), axis=-1) * rearing.fps
    assert np.median(speed[up[1:]]) < 0.2 * np.median(speed[~up[1:]])  # it stands while rearing
    assert pts[up][:, hind, 2].max() < 10.0  # hind paws stay down
    assert np.abs(pts[up][:, tail_base, 2] - 20.0).max() < 6.0  # the hips stay at their height


def test_truth_projects_into_the_images_and_sometimes_hides(session):
    inside = _inside(session.points2d, SMALL.image_size)
    assert inside.mean(axis=(1, 2)).min() > 0.95
    assert not (session.visible & ~inside).any()
    assert 0.5 < session.visible.mean() < 0.95  # self-occlusion happens, but not mostly
    extent = np.ptp(session.points2d, axis=2).max(-1)  # (view, time) pixels
    assert np.median(extent) > 0.25 * min(SMALL.image_size)


def test_rig_round_trips_through_toml_and_looks_at_the_centre(tmp_path):
    rig = make_rig(5, (160, 120), seed=2)
    rig.to_toml(tmp_path / "calibration.toml")
    back = CameraRig.from_toml(tmp_path / "calibration.toml")
    assert back.names == rig.names == ["cam0", "cam1", "cam2", "cam3", "cam4"]
    for a, b in zip(rig.cameras, back.cameras, strict=True):
        assert a.size == b.size == (160, 120)
        for field in ("matrix", "dist", "rvec", "tvec"):
            np.testing.assert_allclose(getattr(b, field), getattr(a, field), atol=TOL)
    centre = rig.project(np.array([0.0, 0.0, 15.0]))
    np.testing.assert_allclose(centre, [[79.5, 59.5]] * 5, atol=15.0)
    assert np.all(rig.project(np.zeros(3))[:, 1] > centre[:, 1])  # the floor is below
    assert make_rig(12, (64, 64)).names[:3] == ["cam00", "cam01", "cam02"]


def test_truth_triangulates_back_from_noiseless_pixels(session):
    points = session.rig.triangulate(session.points2d)
    np.testing.assert_allclose(points, session.motion.points3d, atol=TOL)


def test_keypoint_pixels_show_their_joint_colour(session):
    images = session.images
    assert images.shape == (4, 60, 128, 128, 3) and images.dtype == np.uint8
    colour = session.motion.skeleton.joint_color.astype(int)
    uv = np.rint(session.points2d).astype(int)
    inside = _inside(session.points2d, SMALL.image_size)
    v, t, k = np.nonzero(inside)
    pixels = images[v, t, uv[v, t, k, 1], uv[v, t, k, 0]].astype(int)
    match = np.zeros(inside.shape, dtype=bool)
    match[v, t, k] = np.abs(pixels - colour[k]).max(-1) <= 12
    assert match[session.visible].mean() > 0.95
    assert match[inside & ~session.visible].mean() < 0.2
    np.testing.assert_array_equal(
        render_views(session.rig, session.motion, frames=[7], seed=SMALL.seed)[:, 0], images[:, 7]
    )


def test_outliers_are_consistent_single_view_runs(ensemble, session):
    out = ensemble.outlier_mask
    assert abs(out.mean() - 0.01) < 0.002
    assert out.sum(axis=0).max() == 1  # one view at a time
    pos = ensemble.position[:, out]  # (member, n, 2)
    assert pos.std(axis=0).max() < 2.0  # members agree ...
    error = np.linalg.norm(pos.mean(axis=0) - ensemble.truth[out], axis=-1)
    assert error.min() > 10.0 and error.max() < 62.0  # ... on a wrong spot
    runs = [len(list(g)) for row in out.transpose(0, 2, 1).reshape(-1, out.shape[1]) for on, g in groupby(row) if on]
    assert 1 in runs and max(runs) > 1
    assert ensemble.confidence[:, out].mean() > 0.5  # confidently wrong


def test_missing_detections_are_nan_isolated_and_in_stretches(ensemble, session):
    miss = ensemble.missing_mask
    assert np.isnan(ensemble.position[:, miss]).all()
    assert np.isfinite(ensemble.position[:, ~miss]).all()
    outside = ~_inside(session.points2d, SMALL.image_size)
    assert (miss >= outside).all()
    assert 0.015 <= (miss & ~outside).mean() < 0.04
    runs = [len(list(g)) for row in miss.transpose(0, 2, 1).reshape(-1, miss.shape[1]) for on, g in groupby(row) if on]
    assert 1 in runs and max(runs) >= 5
    assert ensemble.confidence[:, miss].max() < 0.1
    assert not (ensemble.outlier_mask & miss).any()


@pytest.mark.parametrize("noise_px", [1.0, 3.0])
def test_noise_level_matches_the_config_and_the_spread_under_reports_it(session, noise_px):
    ens = make_ensemble_predictions(session, noise_px=noise_px, outlier_rate=0.0, missing_rate=0.0, seed=1)
    plain = ens.visible & ~ens.missing_mask
    error = ens.position - ens.truth
    assert abs(error[:, plain].std() / noise_px - 1.0) < 0.1
    hidden = ~ens.visible & ~ens.missing_mask
    assert error[:, hidden].std() > 1.5 * noise_px
    spread = ens.position.var(axis=0, ddof=1)[plain].mean()
    mean_error = ((ens.position.mean(axis=0) - ens.truth)[plain] ** 2).mean()
    assert spread < 0.8 * mean_error
    assert ens.confidence[:, plain].mean() > ens.confidence[:, hidden].mean() + 0.2


def test_ensemble_from_a_truth_array_is_seeded():
    truth = np.random.default_rng(0).uniform(0.0, 100.0, (3, 50, 4, 2))
    a = make_ensemble_predictions(truth, n_members=3, seed=2)
    b = make_ensemble_predictions(truth, n_members=3, seed=2)
    c = make_ensemble_predictions(truth, n_members=3, seed=3)
    assert a.position.shape == (3, 3, 50, 4, 2) and a.confidence.shape == (3, 3, 50, 4)
    np.testing.assert_array_equal(a.position, b.position)
    assert not np.array_equal(a.position, c.position, equal_nan=True)
    assert a.view_names == ["view0", "view1", "view2"] and a.keypoint_names[0] == "keypoint0"
    with pytest.raises(ValueError, match="expected finite pixels"):
        make_ensemble_predictions(truth[..., 0])


def test_ensemble_converts_to_a_predictions_dataset(ensemble, session):
    ds = ensemble.to_dataset()
    assert ds.sizes["member"] == 5 and ds.sizes["view"] == 4 and ds.sizes["time"] == 60
    assert list(ds["view"].values) == session.view_names
    assert list(ds["keypoint"].values) == session.keypoint_names
    np.testing.assert_array_equal(ds["position"].values[..., 0, :], ensemble.position)
    assert ds.attrs["fps"] == SMALL.fps


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_write_session_lays_out_a_lightning_pose_directory(tmp_path):
    pytest.importorskip("lp3d_io.csv")
    sess = make_session(SyntheticConfig(n_views=3, image_size=(96, 80), n_frames=24, seed=1))
    paths = write_session(sess, tmp_path, labeled_frames=5)
    labeled = [0, 6, 12, 17, 23]
    assert all(p.exists() for p in paths.values())
    rig = CameraRig.from_toml(paths["calibration"])
    assert rig.names == sess.view_names == ["cam0", "cam1", "cam2"]
    truth = np.load(paths["truth"])
    np.testing.assert_array_equal(truth["points3d"], sess.motion.points3d)
    np.testing.assert_array_equal(truth["points2d"], sess.points2d)
    assert list(truth["labeled_frames"]) == labeled
    images = sess.render(labeled)
    tables = [_read_csv(paths[f"labels/{view}"]) for view in sess.view_names]
    for v, (view, table) in enumerate(zip(sess.view_names, tables, strict=True)):
        video = cv2.VideoCapture(str(paths[f"video/{view}"]))
        assert paths[f"video/{view}"].name == f"synthetic_{view}.mp4"
        assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
        assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96, 80)
        video.release()
        assert [row[0] for row in table[:3]] == ["scorer", "bodyparts", "coords"]
        assert table[1][1::2] == sess.keypoint_names
        rows = table[-len(labeled) :]
        assert [row[0] for row in rows] == [f"labeled-data/synthetic_{view}/img{t:05d}.png" for t in labeled]
        for row, t, image in zip(rows, labeled, images[v], strict=True):
            png = cv2.imread(str(tmp_path / row[0]))
            assert png.shape == (80, 96, 3)
            np.testing.assert_array_equal(png, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            xy = np.array([float(x) if x else np.nan for x in row[1:]]).reshape(-1, 2)
            expect = np.where(_inside(sess.points2d[v, t], (96, 80))[:, None], sess.points2d[v, t], np.nan)
            np.testing.assert_allclose(xy, expect, atol=1e-3)
    assert len({len(t) for t in tables}) == 1
    assert len({tuple(r[0].rsplit("/", 1)[1] for r in t[3:]) for t in tables}) == 1  # same rows
    assert not (tmp_path / "labeled-data" / "synthetic_cam0" / "img00001.png").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": (8, 128)}, "image_size"),
        ({"n_views": 1}, "n_views"),
        ({"skeleton": "octopus"}, "skeleton: expected one of"),
        ({"session_name": "a/b"}, "session_name"),
        ({"n_frames": 0}, "n_frames"),
        ({"rearing": 1.0}, "rearing: expected a share of the time in"),
        ({"n_animals": 0}, "n_animals: expected 1 to 3 animals, but got 0"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**kwargs)


@pytest.mark.parametrize(
    ("labeled_frames", "message"), [(100, "a count in"), ([1, 1], "distinct"), ([0, 99], "indices in")]
)
def test_bad_labeled_frames_is_a_clear_error(session, tmp_path, labeled_frames, message):
    pytest.importorskip("lp3d_io.csv")
    with pytest.raises(ValueError, match=message):
        write_session(session, tmp_path, labeled_frames=labeled_frames)
    assert not (tmp_path / "calibration.toml").exists()


# --- several animals ----------------------------------------------------------------------------------

PAIR = SyntheticConfig(n_frames=240, seed=3, n_animals=2, rearing=0.2)


@pytest.fixture(scope="module")
def pair():
    return make_session(PAIR)


def test_two_animals_of_different_size_share_the_arena_touching_but_apart(pair):
    pts = pair.motion.points3d
    assert pts.shape == (240, 11, 2, 3) and pair.individual_names == ["light", "dark"]
    alone = simulate_motion(SyntheticConfig(n_frames=240, seed=3, rearing=0.2))
    np.testing.assert_array_equal(pts[:, :, 0], alone.points3d)  # the first animal walks as if alone
    for i, j in pair.motion.edges:
        length = np.linalg.norm(pts[:, i] - pts[:, j], axis=-1)  # (time, individual)
        assert np.ptp(length, axis=0).max() < TOL
        assert abs(length[0, 1] / length[0, 0] - 1.2) < TOL  # the dark one is larger
    back = pair.motion.skeleton.index("back")
    gap = np.linalg.norm(pts[:, back, 0, :2] - pts[:, back, 1, :2], axis=-1)
    assert np.quantile(gap, 0.02) > 40.0  # bodies do not pass through each other ...
    nearest = np.linalg.norm(pts[:, :, None, 0] - pts[:, None, :, 1], axis=-1).min(axis=(1, 2))
    assert 0.1 < (nearest < 15.0).mean() < 0.9  # ... but touch, and part
    assert gap.max() > 90.0
    assert np.hypot(pts[..., 0], pts[..., 1]).max() < PAIR.arena_radius
    assert pts[..., 2].max() > simulate_motion(SyntheticConfig(n_frames=240, seed=3)).points3d[..., 2].max() + 10.0


def test_one_animal_hides_parts_of_the_other_and_pictures_show_each_ones_colours(pair):
    alone = make_session(SyntheticConfig(n_frames=240, seed=3, rearing=0.2))
    np.testing.assert_array_equal(pair.points2d[..., 0, :], alone.points2d)
    hidden_by_other = alone.visible & ~pair.visible[..., 0]
    assert 0.01 < hidden_by_other.mean() < 0.2
    assert not (pair.visible[..., 0] & ~alone.visible).any()
    frames = np.arange(0, 240, 8)
    images = pair.render(frames)
    uv = np.rint(pair.points2d[:, frames]).astype(int)
    visible = pair.visible[:, frames]
    v, t, k, i = np.nonzero(visible)
    pixels = images[v, t, uv[v, t, k, i, 1], uv[v, t, k, i, 0]].astype(int)
    colours = np.stack([a.joint_color for a in pair.motion.animals], axis=1).astype(int)  # (K, individual, 3)
    own = np.abs(pixels - colours[k, i]).max(-1) <= 12
    other = np.abs(pixels - colours[k, 1 - i]).max(-1) <= 12
    assert own.mean() > 0.9 and other.mean() < 0.05
    np.testing.assert_array_equal(render_views(pair.rig, pair.motion, frames=[8], seed=PAIR.seed)[:, 0], images[:, 1])


def test_two_animals_write_four_row_labels_that_read_back_with_their_individuals(tmp_path):
    from lp3d_io import read_labels

    sess = make_session(SyntheticConfig(n_views=2, image_size=(96, 80), n_frames=12, seed=1, n_animals=2))
    paths = write_session(sess, tmp_path, labeled_frames=4)
    table = _read_csv(paths["labels/cam0"])
    assert [row[0] for row in table[:4]] == ["scorer", "individuals", "bodyparts", "coords"]
    assert table[1][1:3] == ["light", "light"] and table[1][-1] == "dark"
    labels = read_labels({v: paths[f"labels/{v}"] for v in sess.view_names}, sess.view_names)
    assert list(labels["individual"].values) == ["light", "dark"]
    got = labels["position"].transpose("view", "frame", "keypoint", "individual", "space").values
    expect = sess.points2d[:, [0, 4, 7, 11]]
    expect = np.where(_inside(expect, (96, 80))[..., None], expect, np.nan)
    np.testing.assert_allclose(got, expect, atol=1e-3)
    truth = np.load(paths["truth"])
    assert truth["points3d"].shape == (12, 11, 2, 3) and list(truth["individual_names"]) == ["light", "dark"]


def test_planted_identity_swaps_exchange_two_animals_in_one_view(pair):
    ens = make_ensemble_predictions(pair, identity_swap_rate=0.03, outlier_rate=0.0, missing_rate=0.0, seed=2)
    plain = make_ensemble_predictions(pair, outlier_rate=0.0, missing_rate=0.0, seed=2)
    swaps = ens.swap_mask
    assert swaps.shape == (4, 240, 2) and plain.swap_mask is not None and not plain.swap_mask.any()
    swapped = swaps.any(-1)  # (view, time)
    assert abs(swapped.mean() - 0.03) < 0.005 and swapped.sum(axis=0).max() == 1  # one view at a time
    np.testing.assert_array_equal(swaps[..., 0], swaps[..., 1])
    v, t = np.nonzero(swapped)
    np.testing.assert_array_equal(ens.position[:, v, t, :, 0], plain.position[:, v, t, :, 1])
    np.testing.assert_array_equal(ens.position[:, ~swapped], plain.position[:, ~swapped])
    truth = pair.points2d[v, t]  # (n, keypoint, individual, 2)
    to_own = np.nanmean(np.linalg.norm(ens.position[:, v, t] - truth, axis=-1))
    to_other = np.nanmean(np.linalg.norm(ens.position[:, v, t] - truth[..., ::-1, :], axis=-1))
    assert to_other < 0.5 * to_own
    ds = ens.to_dataset()
    assert list(ds["individual"].values) == ["light", "dark"] and ds.sizes["keypoint"] == 11
    with pytest.raises(ValueError, match="identity_swap_rate: expected 0 for a session of one animal"):
        make_ensemble_predictions(make_session(SMALL), identity_swap_rate=0.1)


def test_predictions_of_two_animals_round_trip_through_four_row_csvs(pair, tmp_path):
    from lp3d_io import read_labels, read_predictions, to_label_csvs, to_prediction_csvs
    from lp3d_io.dataset import labels_dataset

    ens = make_ensemble_predictions(pair, n_members=2, identity_swap_rate=0.02, seed=4)
    files = to_prediction_csvs(ens.to_dataset(), tmp_path / "predictions")
    with open(files[("member_0", "cam0")]) as f:
        assert [f.readline().split(",")[0] for _ in range(4)] == ["scorer", "individuals", "bodyparts", "coords"]
    back = read_predictions(tmp_path / "predictions", pair.view_names)
    assert list(back["individual"].values) == ["light", "dark"]
    position = back["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values
    np.testing.assert_allclose(position, ens.position, atol=TOL)
    confidence = back["confidence"].transpose("member", "view", "time", "keypoint", "individual").values
    np.testing.assert_allclose(confidence, ens.confidence, atol=TOL)
    paths = np.array([[f"labeled-data/{v}/img{t:05d}.png" for t in range(5)] for v in pair.view_names])
    labels = labels_dataset(
        pair.points2d[:, :5],
        paths,
        view_names=pair.view_names,
        keypoint_names=pair.keypoint_names,
        individual_names=pair.individual_names,
    )
    written = to_label_csvs(labels, tmp_path / "labels")
    again = read_labels(written, pair.view_names)
    assert list(again["individual"].values) == ["light", "dark"]
    got = again["position"].transpose("view", "frame", "keypoint", "individual", "space").values
    np.testing.assert_allclose(got, pair.points2d[:, :5], atol=1e-3)  # float32 labels
