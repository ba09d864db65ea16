"""Robustness on real rigs (issue #12), against simulated truth and brute force: a camera that
disagrees with the others (rotation and translation error, label offset on some keypoints), single
model input, missing stretches, a point that must not freeze, robust triangulation, honest
intervals, and the interval helpers."""

import itertools
import math

import lp3d_eks
import numpy as np
import pytest
from simulate import (
    ROBUST_CASES,
    consistent_reprojection_error,
    ring_rig,
    rmse,
    simulate,
    without_bad_views,
)

TOL = 1e-9
THRESHOLD_PX = 10.0  # robust triangulation: a few times the 2-3 px error of the simulated detections
NAMES = [f"kp{k}" for k in range(6)]


@pytest.fixture(scope="module", params=list(ROBUST_CASES))
def robust_case(request):
    sim = simulate(n_frames=600, n_keypoints=6, n_views=4, seed=21, **ROBUST_CASES[request.param])
    assert sim.bad.any()
    return sim, lp3d_eks.smooth_calibrated(sim.predictions, sim.rig)


def test_3d_error_at_or_below_robust_triangulation(robust_case):
    sim, res = robust_case
    robust = lp3d_eks.triangulate_robust(
        lp3d_eks.ensemble_statistics(sim.predictions), sim.rig, threshold_px=THRESHOLD_PX
    )
    assert rmse(res.mean, sim.truth) <= rmse(robust.points, sim.truth)
    plain, _, _ = lp3d_eks.triangulate_observations(lp3d_eks.ensemble_statistics(sim.predictions), sim.rig)
    assert rmse(res.mean, sim.truth) < 0.7 * rmse(plain, sim.truth)


def test_consistent_cameras_reproject_no_worse_than_without_the_bad_camera(robust_case):
    sim, res = robust_case
    center = lp3d_eks.ensemble_statistics(sim.predictions).center
    oracle, _, _ = lp3d_eks.triangulate_observations(without_bad_views(sim, center), sim.rig)
    assert consistent_reprojection_error(res.mean, sim) <= consistent_reprojection_error(oracle, sim)


def test_the_bad_camera_is_named_and_no_other(robust_case):
    sim, res = robust_case
    np.testing.assert_array_equal(res.inconsistent_views, sim.bad)
    assert np.all(res.view_scale[~sim.bad] == 1.0) and np.all(res.view_scale[sim.bad] > 4.0)
    bad_view = int(np.flatnonzero(sim.bad.any(axis=1))[0])
    sentences = lp3d_eks.describe_inconsistent_views(res, sim.rig.names, NAMES)
    assert len(sentences) == 1 and sentences[0].startswith(f"{sim.rig.names[bad_view]}: median ")
    assert f"({sim.bad[bad_view].sum()} of 6 keypoints): check its calibration or labels." in sentences[0]
    # the disagreement in pixels: the bad view is far, the others at the detection noise (~2.7 px)
    assert np.all(res.view_disagreement[sim.bad] > 2 * res.view_disagreement[~sim.bad].max())
    assert np.all(res.view_disagreement[~sim.bad] < 4.0)


def test_intervals_cover_the_truth(robust_case):
    sim, res = robust_case
    coverage = lp3d_eks.interval_coverage(res.mean, res.covariance, sim.truth)
    assert 0.93 <= coverage.per_coordinate <= 0.97, coverage
    assert 0.90 <= coverage.joint <= 0.97, coverage


def test_views_that_agree_keep_scale_one():
    sim = simulate(n_frames=400, n_keypoints=4, seed=22)
    res = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, confidences=sim.confidences)
    np.testing.assert_array_equal(res.view_scale, 1.0)
    assert not res.inconsistent_views.any()
    assert lp3d_eks.describe_inconsistent_views(res, sim.rig.names, NAMES[:4]) == []
    off = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, inflate=False)  # no robust fit without inflation
    np.testing.assert_array_equal(off.view_scale, 1.0)


def test_single_model_noise_comes_from_fitted_scales():
    """One set of labels, one camera four times noisier than the others: its scale is fitted, the
    level comes from the fitted noise scale (not the variance floor), and the intervals are honest."""
    sim = simulate(n_frames=600, n_keypoints=6, n_members=1, shared_px=1.5, member_px=0.0, outlier_rate=0.0, seed=23)
    pred = sim.predictions.copy()
    pred[:, 3] += np.random.default_rng(23).normal(0, 6.0, size=pred[:, 3].shape)
    res = lp3d_eks.smooth_calibrated(pred, sim.rig)
    assert np.all(res.view_scale[3] > 4.0) and np.all(res.view_scale[:3] == 1.0)
    noise = res.observation_noise  # pixels squared: 1.5^2 in the good views, 1.5^2 + 6^2 in view 3
    assert 1.5 < np.nanmedian(noise[:3]) < 3.5 and 25 < np.nanmedian(noise[3]) < 55
    np.testing.assert_allclose(res.predictive_variance, res.reprojection_variance + noise, atol=TOL)
    coverage = lp3d_eks.interval_coverage(res.mean, res.covariance, sim.truth)
    assert 0.93 <= coverage.per_coordinate <= 0.97, coverage


def test_a_moving_point_is_never_returned_frozen():
    """Single-model labels, a camera 3 degrees off, body parts oscillating 2 mm around a fixed
    place: the likelihood's best explanation without a guard is a static point with huge noise."""
    sim = simulate(
        n_frames=600, n_keypoints=6, n_members=1, shared_px=3.0, member_px=0.0, outlier_rate=0.0, missing_rate=0.09,
        n_gaps=0, seed=0, oscillation=(2.0, 50.0), bad_view=1, rotation_deg=3.0,
    )  # fmt: skip

    def motion(res):  # spread of the smoothed track over time, relative to the truth's
        return res.mean.std(axis=0).mean(-1) / sim.truth.std(axis=0).mean(-1)

    unguarded = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, view_scale=1.0, min_motion=0.0)
    assert np.all(motion(unguarded) < 0.01)  # frozen: the failure the guard exists for
    guarded = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, view_scale=1.0)
    assert np.all(motion(guarded) > 0.4) and np.all(guarded.s > 100 * unguarded.s)
    res = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig)  # the defaults: the view is scaled too
    assert np.all(motion(res) > 0.7)
    assert rmse(res.mean, sim.truth) < 0.2 * rmse(unguarded.mean, sim.truth)
    # a point that does not move may stay still
    still = simulate(n_frames=600, n_keypoints=2, n_members=1, outlier_rate=0.0, seed=4, oscillation=(0.0, 50.0))
    res = lp3d_eks.smooth_calibrated(still.predictions, still.rig)
    assert np.all(res.mean.std(axis=0) < 0.3)


# --- robust triangulation -------------------------------------------------------------------------


def _brute_force(uv, rig, threshold):
    """The largest subset of views whose DLT reprojects within the threshold in all of them."""
    V = len(rig)
    seen = [v for v in range(V) if np.isfinite(uv[v]).all()]
    for size in range(len(seen), 1, -1):
        best = None
        for subset in itertools.combinations(seen, size):
            w = np.zeros(V)
            w[list(subset)] = 1.0
            X = rig.triangulate(np.nan_to_num(uv)[:, None], w[:, None])[0]
            err = np.linalg.norm(rig.project(X) - uv, axis=-1)
            if np.all(err[list(subset)] < threshold):
                sse = np.sum(err[list(subset)] ** 2)
                if best is None or sse < best[0]:
                    best = (sse, X, subset)
        if best is not None:
            return best[1], best[2]
    return np.full(3, np.nan), ()


@pytest.mark.parametrize("n_views", [3, 4, 6])
def test_robust_triangulation_equals_brute_force_over_subsets(n_views):
    rng = np.random.default_rng(n_views)
    rig = ring_rig(n_views, seed=n_views)
    X = rng.uniform(-40, 40, size=(60, 3))
    uv = rig.project(X) + rng.normal(0, 0.5, size=(n_views, 60, 2))
    for i in range(60):  # up to n_views - 2 views planted 30-80 px off, and some missing
        bad = rng.choice(n_views, size=rng.integers(0, n_views - 1), replace=False)
        angle = rng.uniform(0, 2 * np.pi, len(bad))
        uv[bad, i] += rng.uniform(30, 80, (len(bad), 1)) * np.stack([np.cos(angle), np.sin(angle)], -1)
        if i % 7 == 0:
            uv[rng.integers(n_views), i] = np.nan
    res = lp3d_eks.triangulate_robust(uv[:, :, None], rig, threshold_px=THRESHOLD_PX)
    for i in range(60):
        expected, subset = _brute_force(uv[:, i], rig, THRESHOLD_PX)
        np.testing.assert_allclose(res.points[i, 0], expected, atol=TOL)
        assert sorted(np.flatnonzero(res.used[:, i, 0])) == list(subset)
    np.testing.assert_array_equal(res.n_used[:, 0], res.used[:, :, 0].sum(axis=0))
    seen = np.isfinite(uv).all(-1) & np.isfinite(res.points[:, 0]).all(-1)
    np.testing.assert_allclose(
        res.error[:, :, 0][seen], np.linalg.norm(rig.project(res.points[:, 0]) - uv, axis=-1)[seen], atol=1e-6
    )


def test_robust_triangulation_names_the_camera_that_disagrees():
    sim = simulate(n_frames=200, n_keypoints=6, seed=24, **ROBUST_CASES["rotation 2 deg"])
    res = lp3d_eks.triangulate_robust(lp3d_eks.ensemble_statistics(sim.predictions), sim.rig, threshold_px=THRESHOLD_PX)
    np.testing.assert_array_equal(res.inconsistent_views, sim.bad)
    assert np.all(res.view_disagreement[sim.bad] > 15) and np.all(res.view_disagreement[~sim.bad] < 5)
    sentences = lp3d_eks.describe_inconsistent_views(res, sim.rig.names, NAMES)
    assert len(sentences) == 1 and sentences[0].startswith("cam1: median ")
    # a frame with fewer than two views, or two that disagree, has no point
    center = np.full((4, 1, 1, 2), np.nan)
    center[0, 0, 0] = sim.rig.project(np.zeros(3))[0]
    assert np.isnan(lp3d_eks.triangulate_robust(center, sim.rig).points).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"threshold_px": 0.0}, "threshold_px: expected a positive number"), ({}, r"expected shape \(4, time")],
)
def test_robust_triangulation_bad_input(kwargs, message):
    rig = ring_rig(4)
    points = np.zeros((4, 5, 2, 2)) if kwargs else np.zeros((3, 5, 2, 2))
    with pytest.raises(ValueError, match=message):
        lp3d_eks.triangulate_robust(points, rig, **kwargs)


# --- intervals and names --------------------------------------------------------------------------


def test_quantiles_and_coverage():
    assert lp3d_eks.Z_95 == pytest.approx(lp3d_eks.normal_quantile(0.975), abs=TOL)
    assert lp3d_eks.chi2_quantile(0.999, 2) == pytest.approx(-2 * math.log(0.001), rel=TOL)
    assert lp3d_eks.chi2_quantile(0.95, 1) == pytest.approx(lp3d_eks.Z_95**2, rel=TOL)
    assert lp3d_eks.chi2_quantile(0.95, 3) == pytest.approx(7.814727903251178, rel=TOL)
    assert lp3d_eks.chi2_quantile(0.5, 5) == pytest.approx(4.351460191095526, rel=TOL)
    rng = np.random.default_rng(25)
    A = rng.normal(size=(3, 3))
    cov = A @ A.T + np.eye(3)
    truth = rng.multivariate_normal(np.zeros(3), cov, size=40_000)
    coverage = lp3d_eks.interval_coverage(np.zeros_like(truth), np.broadcast_to(cov, (40_000, 3, 3)), truth)
    assert abs(coverage.per_coordinate - 0.95) < 0.005 and abs(coverage.joint - 0.95) < 0.005
    assert coverage.n == 40_000
    with pytest.raises(ValueError, match="p: expected a probability"):
        lp3d_eks.normal_quantile(1.0)


def test_kinds_and_result_fields():
    sim = simulate(n_frames=60, n_keypoints=2, n_views=3, seed=26)
    for res in (
        lp3d_eks.smooth_calibrated(sim.predictions, sim.rig),
        lp3d_eks.smooth_multiview(sim.predictions),
        lp3d_eks.smooth_single_view(sim.predictions[:, :1]),
    ):
        assert res.kind in lp3d_eks.SMOOTHER_KINDS
        V = res.reprojection.shape[0]
        assert res.view_scale.shape == res.view_disagreement.shape == (V, 2)
        np.testing.assert_allclose(
            res.observation_noise,
            res.noise_scale[None, None, :, None]
            * res.view_scale[:, None, :, None]
            * res.inflation[..., None]
            * res.observation_variance,
            rtol=TOL,
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"view_scale": "fit"}, "view_scale: expected 'auto'"),
        (
            {"view_scale": np.ones((2, 2))},
            r"view_scale: expected a positive number or positive values of shape \(3, 1\)",
        ),
        ({"view_threshold": 1.0}, "view_threshold: expected a number > 1"),
        ({"min_motion": 2.0}, r"min_motion: expected a fraction in \[0, 1\]"),
    ],
)
def test_bad_robust_options(kwargs, message):
    sim = simulate(n_frames=20, n_keypoints=1, n_views=3, seed=0)
    with pytest.raises(ValueError, match=message):
        lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, **kwargs)


def test_sentences_name_clear_disagreement_only():
    class Result:  # any result with the two (view, keypoint) arrays
        view_disagreement = np.array([[1.0, np.nan, 1.1], [9.0, np.nan, 1.9], [1.2, 3.0, 1.0]])
        inconsistent_views = np.array([[0, 0, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)

    # view b on k1: 9 px against ~1.1 px elsewhere; on k3, 1.9 px against ~1.05: flagged, not named;
    # view c on k2: no other view saw it, nothing to compare with
    assert lp3d_eks.describe_inconsistent_views(Result(), ["a", "b", "c"], ["k1", "k2", "k3"]) == [
        "b: median 9 px from the other views on k1 (9 px) (1 of 3 keypoints): check its calibration or labels."
    ]
    with pytest.raises(ValueError, match=r"expected view_disagreement and inconsistent_views of shape"):
        lp3d_eks.describe_inconsistent_views(Result(), ["a", "b"], ["k1", "k2", "k3"])


def test_sentences_for_a_single_view_are_empty():
    class Result:  # one view: nothing to disagree with, even when flagged
        view_disagreement = np.array([[5.0, np.nan]])
        inconsistent_views = np.array([[1, 0]], dtype=bool)

    assert lp3d_eks.describe_inconsistent_views(Result(), ["a"], ["k1", "k2"]) == []
