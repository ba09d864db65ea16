"""The fixed-lag smoother against independent answers: the offline smoother in its linear case
(to rounding), dense Gaussian solves of the frames seen so far, the offline calibrated smoother as
the lag grows, and simulated truth; causality by editing future frames."""

import numpy as np
import pytest
from lp3d_eks import (
    FixedLagParameters,
    FixedLagSmoother,
    ensemble_statistics,
    fit_fixed_lag,
    smooth_calibrated,
    smooth_fixed_lag,
    smooth_multiview,
    smooth_single_view,
    triangulate_observations,
)
from simulate import coverage, ring_rig, rmse, simulate
from test_smoother import dense_posterior

TOL = 1e-9


@pytest.fixture(scope="module")
def sim():
    return simulate(n_frames=240, n_keypoints=3, seed=4)


@pytest.fixture(scope="module")
def params(sim):
    return fit_fixed_lag(sim.predictions, sim.rig, n_frames=120)


def _close(a, b, tol=TOL):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.nanmax(np.abs(b)))))


@pytest.mark.parametrize("kind", ["linear", "single_view"])
def test_linear_models_equal_the_offline_smoother(sim, kind):
    """Same parameters, no inflation, a lag covering the session: the offline result to rounding."""
    if kind == "linear":
        obs = ensemble_statistics(sim.predictions)
        offline = smooth_multiview(obs, inflate=False)
    else:
        obs = ensemble_statistics(sim.predictions[:, :1])
        offline = smooth_single_view(obs)
    params = FixedLagParameters.from_result(offline, prior=True)
    T = obs.shape[1]
    result = smooth_fixed_lag(obs, lag=T, parameters=params, inflate=False)
    for name in ("mean", "covariance", "reprojection", "reprojection_variance", "log_likelihood"):
        _close(getattr(result, name), getattr(offline, name))
    assert result.kind == kind and not result.inflated.any()


def test_each_frame_is_the_dense_posterior_of_the_frames_so_far():
    """Frame t at lag L: the posterior of x_t given frames 0..t+L (a dense solve), the filter at L = 0."""
    from lp3d_eks import EnsembleStatistics

    rng = np.random.default_rng(2)
    T = 30
    center = np.cumsum(rng.normal(0, 1, size=(1, T, 1, 2)), axis=1) + rng.normal(0, 0.5, size=(1, T, 1, 2))
    center[0, 7] = np.nan
    center[0, 12, 0, 1] = np.nan
    variance = rng.uniform(0.2, 0.6, size=center.shape)
    obs = EnsembleStatistics(center, variance)
    m0, P0 = np.array([0.3, -0.2]), np.diag([2.0, 3.0])
    params = FixedLagParameters(
        "single_view", s=[0.8], noise_scale=[1.3], view_scale=[[1.0]], prior_mean=[m0], prior_covariance=[P0]
    )
    for lag in (0, 4):
        result = smooth_fixed_lag(obs, lag=lag, parameters=params, inflate=False)
        for t in (0, 5, 7, 12, 20, T - 1):
            n = min(T, t + lag + 1)
            y = center[0, :n, 0]
            r = 1.3 * variance[0, :n, 0]
            mean, cov, _ = dense_posterior(y, r, np.eye(2), np.zeros(2), m0, P0, 0.8, np.eye(2))
            _close(result.mean[t, 0], mean[t])
            _close(result.covariance[t, 0], cov[t])


def test_output_does_not_change_when_later_frames_change(sim, params):
    """Causality: frame t's output uses frames up to t + L only (parameters held fixed)."""
    lag, t = 5, 100
    base = smooth_fixed_lag(sim.predictions, sim.rig, lag=lag, parameters=params)
    edited = sim.predictions.copy()
    rng = np.random.default_rng(9)
    edited[:, :, t + lag + 1 :] += rng.normal(0, 40, size=edited[:, :, t + lag + 1 :].shape)
    edited[:, 1, t + lag + 3 :, 0] = np.nan
    changed = smooth_fixed_lag(edited, sim.rig, lag=lag, parameters=params)
    for name in ("mean", "covariance"):  # (time, ...)
        np.testing.assert_array_equal(getattr(changed, name)[: t + 1], getattr(base, name)[: t + 1])
    for name in ("reprojection", "reprojection_variance", "inflation"):  # (view, time, ...)
        np.testing.assert_array_equal(getattr(changed, name)[:, : t + 1], getattr(base, name)[:, : t + 1])
    assert not np.array_equal(changed.mean[t + 1], base.mean[t + 1])  # frame t + 1 does see frame t + 1 + L


def test_fitted_parameters_use_the_first_frames_only(sim):
    """With parameters fitted on the first N frames, frames after max(t + L, N - 1) do not matter."""
    lag, n_fit, t = 3, 100, 60
    base = smooth_fixed_lag(sim.predictions, sim.rig, lag=lag, fit_frames=n_fit)
    edited = sim.predictions.copy()
    edited[:, :, n_fit:] += 25.0
    changed = smooth_fixed_lag(edited, sim.rig, lag=lag, fit_frames=n_fit)
    np.testing.assert_array_equal(changed.mean[: t + 1], base.mean[: t + 1])
    np.testing.assert_array_equal(changed.s, base.s)
    direct = fit_fixed_lag(sim.predictions[:, :, :n_fit], sim.rig, n_frames=n_fit)
    from_edited = fit_fixed_lag(edited, sim.rig, n_frames=n_fit)
    for name in ("s", "noise_scale", "view_scale", "prior_mean", "prior_covariance", "typical_variance"):
        np.testing.assert_array_equal(getattr(direct, name), getattr(from_edited, name))
    assert direct.typical_variance.shape == (4, 3, 2)


def test_calibrated_approaches_the_offline_smoother_as_the_lag_grows():
    """Same parameters, no inflation (and no outliers): the gap to the offline track shrinks with L; at
    L = the session it is the linearization (filtered vs smoothed means), and window passes close it."""
    sim = simulate(n_frames=240, n_keypoints=3, seed=4, outlier_rate=0.0)
    offline = smooth_calibrated(sim.predictions, sim.rig, inflate=False)
    params = FixedLagParameters.from_result(offline, prior=True)
    obs = ensemble_statistics(sim.predictions)
    sd = np.sqrt(offline.variance)
    gaps = []
    T = obs.shape[1]
    for lag in (0, 2, 5, 15, T):
        result = smooth_fixed_lag(obs, sim.rig, lag=lag, parameters=params, inflate=False)
        gaps.append(float(np.max(np.abs(result.mean - offline.mean) / sd)))
    assert all(b <= a * 1.05 for a, b in zip(gaps, gaps[1:], strict=False)), gaps
    assert gaps[0] > 0.5 and gaps[-1] < 0.02, gaps
    passes = smooth_fixed_lag(obs, sim.rig, lag=T, parameters=params, inflate=False, window_passes=20)
    assert np.max(np.abs(passes.mean - offline.mean) / sd) < 1e-5  # the offline relinearization's tolerance
    _close(passes.covariance, offline.covariance, 1e-5)


def test_online_object_gives_the_batch_numbers_exactly(sim, params):
    """Frame by frame (a fisheye camera, dropped frames as NaN) = smooth_fixed_lag, bit for bit."""
    fish = simulate(n_frames=80, n_keypoints=2, seed=5)
    rig = ring_rig(4, seed=5, fisheye=[False, True, False, True])
    pred = fish.predictions.copy()
    pred[:, :, 30:33] = np.nan  # a dropped synchronized set: every view missing
    p = fit_fixed_lag(pred, rig, n_frames=60)
    lag = 4
    batch = smooth_fixed_lag(pred, rig, lag=lag, parameters=p)
    smoother = FixedLagSmoother(p, rig, lag=lag)
    frames = []
    for t in range(pred.shape[2]):
        out = smoother.push(pred[:, :, t])
        assert (out is None) == (t < lag)
        if out is not None:
            frames.append(out)
    assert smoother.frames_in == 80 and smoother.frames_out == 80 - lag
    frames += smoother.finish()
    assert [f.index for f in frames] == list(range(80))
    for name in ("mean", "covariance"):
        np.testing.assert_array_equal(np.stack([getattr(f, name) for f in frames]), getattr(batch, name))
    for name in ("reprojection", "reprojection_variance", "inflation", "observation", "observation_variance"):
        np.testing.assert_array_equal(np.stack([getattr(f, name) for f in frames], axis=1), getattr(batch, name))
    np.testing.assert_array_equal(smoother.log_likelihood, batch.log_likelihood)


def test_accuracy_against_the_truth(sim, params):
    """Better than per-frame triangulation at every lag, better with a lag than without; 95% coverage;
    planted outliers flagged online."""
    dlt = rmse(triangulate_observations(ensemble_statistics(sim.predictions), sim.rig)[0], sim.truth)
    filtered = smooth_fixed_lag(sim.predictions, sim.rig, lag=0, parameters=params)
    lagged = smooth_fixed_lag(sim.predictions, sim.rig, lag=15, parameters=params)
    assert rmse(lagged.mean, sim.truth) < rmse(filtered.mean, sim.truth) < dlt
    assert 0.92 <= coverage(lagged.mean, lagged.variance, sim.truth) <= 0.975
    assert 0.90 <= coverage(filtered.mean, filtered.variance, sim.truth) <= 0.975
    flagged = lagged.inflated[sim.outliers]
    assert flagged.mean() > 0.8
    clean = ~sim.outliers & ~sim.missing
    assert lagged.inflated[clean].mean() < 0.01


def test_a_keypoint_starts_where_it_is_first_seen(sim):
    """Without a prior, a keypoint not seen yet is NaN, and frames before its start within the lag get
    its start propagated back."""
    pred = sim.predictions.copy()
    pred[:, :, :20, 1] = np.nan
    params = fit_fixed_lag(pred, sim.rig, n_frames=120)
    diffuse = FixedLagParameters(
        "calibrated", params.s, params.noise_scale, params.view_scale, typical_variance=params.typical_variance
    )
    lag = 5
    result = smooth_fixed_lag(pred, sim.rig, lag=lag, parameters=diffuse)
    assert np.isnan(result.mean[: 20 - lag, 1]).all()
    assert np.isfinite(result.mean[20 - lag :, 1]).all() and np.isfinite(result.mean[:, 0]).all()
    # frame 15 is out when frame 20 arrives: the start, filtered, propagated back 5 frames
    filtered = smooth_fixed_lag(pred, sim.rig, lag=0, parameters=diffuse)
    np.testing.assert_array_equal(result.mean[20 - lag, 1], filtered.mean[20, 1])
    np.testing.assert_allclose(result.variance[20 - lag, 1], filtered.variance[20, 1] + lag * params.s[1], rtol=TOL)
    assert np.all(np.diff(result.variance[20 - lag : 21, 1, 0]) < 0)  # narrowing towards the start
    assert rmse(result.mean[40:], sim.truth[40:]) < 3.0


def _unseen(predictions, keypoint):
    out = predictions.copy()
    out[..., keypoint, :] = np.nan
    return out


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s, p: smooth_fixed_lag(s.predictions, s.rig, lag=-1, parameters=p),
            "lag: expected a number of frames >= 0",
        ),
        (
            lambda s, p: smooth_fixed_lag(s.predictions, s.rig, lag=2, parameters=p, s=3.0),
            "s: expected in the FixedLagParameters",
        ),
        (
            lambda s, p: smooth_fixed_lag(s.predictions[:, :3], s.rig, lag=2, parameters=p),
            "data: expected 4 views and 3 keypoints",
        ),
        (lambda s, p: smooth_fixed_lag(s.predictions, None, lag=2, parameters=p), "rig: expected a CameraRig"),
        (
            lambda s, p: FixedLagSmoother(p, s.rig, lag=1).push(s.predictions[:, :, 0, :2]),
            "frame: expected shape (member, 4, 3, 2)",
        ),
        (lambda s, p: FixedLagSmoother(p, s.rig, lag=1).push(s.predictions[0]), "but got (4, 240, 3, 2)"),
        (lambda s, p: FixedLagParameters("calibrated", [1.0], [1.0], [[1.0], [-1.0]]), "view_scale: expected positive"),
        (lambda s, p: fit_fixed_lag(_unseen(s.predictions, keypoint=2), s.rig), "keypoints [2] are not"),
    ],
)
def test_bad_inputs_are_one_line_errors(sim, params, call, message):
    with pytest.raises((ValueError, TypeError)) as err:
        call(sim, params)
    assert message in str(err.value) and "\n" not in str(err.value)
