"""The smoothers against independent answers: dense Gaussian solves, the reference package's
single-camera smoother, an affine limit of the camera model, and simulated data with truth."""

import lp3d_eks
import numpy as np
import pytest
from lp3d_eks import Camera, CameraRig, EnsembleStatistics
from lp3d_eks.camera import matrix_to_rodrigues
from simulate import coverage, ring_rig, simulate

TOL = 1e-7
FIXTURES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"


def dense_posterior(y, r, H, b, m0, P0, s, Q):
    """Posterior of x_{0..T-1} for y_t = H x_t + b + e (rows with NaN skipped), by a dense solve.

    y, r: (T, n) ; H: (n, D) ; returns mean (T, D), cov (T, D, D), log marginal likelihood.
    """
    T, n = y.shape
    D = H.shape[1]
    N = T * D
    L = np.zeros((N, N))
    eta = np.zeros(N)
    P0i, Qi = np.linalg.inv(P0), np.linalg.inv(s * Q)
    L[:D, :D] += P0i
    eta[:D] += P0i @ m0
    for t in range(1, T):
        i, j = t * D, (t - 1) * D
        L[i : i + D, i : i + D] += Qi
        L[j : j + D, j : j + D] += Qi
        L[i : i + D, j : j + D] -= Qi
        L[j : j + D, i : i + D] -= Qi
    prior_cov = np.linalg.inv(L)
    prior_mean = prior_cov @ eta
    _rows, Hs, ys, rs = [], [], [], []
    for t in range(T):
        for c in range(n):
            if np.isfinite(y[t, c]):
                h = np.zeros(N)
                h[t * D : (t + 1) * D] = H[c]
                Hs.append(h)
                ys.append(y[t, c] - b[c])
                rs.append(r[t, c])
    Hm, ys, rs = np.array(Hs), np.array(ys), np.array(rs)
    Lpost = L + Hm.T @ (Hm / rs[:, None])
    C = np.linalg.inv(Lpost)
    mean = C @ (eta + Hm.T @ (ys / rs))
    S = Hm @ prior_cov @ Hm.T + np.diag(rs)
    res = ys - Hm @ prior_mean
    sign, logdet = np.linalg.slogdet(S)
    ll = -0.5 * (len(ys) * np.log(2 * np.pi) + logdet + res @ np.linalg.solve(S, res))
    cov = np.stack([C[t * D : (t + 1) * D, t * D : (t + 1) * D] for t in range(T)])
    return mean.reshape(T, D), cov, ll


def test_single_view_equals_dense_solve():
    rng = np.random.default_rng(0)
    T, K = 40, 2
    center = rng.normal(100, 10, size=(1, T, K, 2))
    variance = rng.uniform(0.5, 4.0, size=(1, T, K, 2))
    center[0, 5:9, 0] = np.nan
    center[0, 20, 1, 0] = np.nan  # one coordinate missing
    variance[np.isnan(center)] = np.nan
    obs = EnsembleStatistics(center, variance, 3)
    s = np.array([0.7, 3.0])
    m0 = rng.normal(100, 1, size=(K, 2))
    P0 = np.stack([np.diag([50.0, 60.0]), np.array([[40.0, 5.0], [5.0, 30.0]])])
    Q = np.array([[1.0, 0.3], [0.3, 2.0]])
    res = lp3d_eks.smooth_single_view(
        obs, s=s, noise_scale=1.0, prior_mean=m0, prior_covariance=P0, process_covariance=Q, inflate=False
    )
    for k in range(K):
        mean, cov, ll = dense_posterior(
            center[0, :, k], variance[0, :, k], np.eye(2), np.zeros(2), m0[k], P0[k], s[k], Q
        )
        np.testing.assert_allclose(res.mean[:, k], mean, atol=TOL)
        np.testing.assert_allclose(res.covariance[:, k], cov, atol=TOL)
        np.testing.assert_allclose(res.log_likelihood[k], ll, rtol=1e-9)
    np.testing.assert_allclose(res.reprojection[0], res.mean, atol=TOL)
    np.testing.assert_allclose(res.reprojection_variance[0], res.variance, atol=TOL)


def test_multiview_linear_equals_dense_solve():
    rng = np.random.default_rng(1)
    T, K, V, D = 60, 2, 3, 3
    z = np.cumsum(rng.normal(0, 2, size=(T, K, D)), axis=0)
    A_true = rng.normal(size=(K, 2 * V, D))
    y = np.einsum("kcd,tkd->tkc", A_true, z) + rng.normal(0, 1, size=(T, K, 2 * V))
    center = y.reshape(T, K, V, 2).transpose(2, 0, 1, 3).copy()
    center[1, 10:15, 0] = np.nan
    variance = np.where(np.isnan(center), np.nan, rng.uniform(0.5, 2.0, size=center.shape))
    obs = EnsembleStatistics(center, variance, 5)
    res = lp3d_eks.smooth_multiview(obs, n_latent=D, s=2.0, noise_scale=1.0, inflate=False)
    for k in range(K):
        Yk = center[:, :, k].transpose(1, 0, 2).reshape(T, 2 * V)
        Rk = variance[:, :, k].transpose(1, 0, 2).reshape(T, 2 * V)
        # the default prior, rebuilt: first nominal latent, variance of the nominal track
        first = res.mean[:, k]  # only used for shape
        A, b = res.loadings[k], res.offset[k]
        # nominal latent: least squares on the observed rows of every frame with >= D of them
        nominal = np.stack(
            [
                np.linalg.lstsq(A[np.isfinite(y_t)], (y_t - b)[np.isfinite(y_t)], rcond=None)[0]
                for y_t in Yk
                if np.isfinite(y_t).sum() >= D
            ]
        )
        m0 = nominal[0]
        P0 = np.diag(np.maximum(nominal.var(axis=0), 1e-4 * nominal.var(axis=0).mean()))
        mean, cov, ll = dense_posterior(Yk, Rk, A, b, m0, P0, 2.0, np.eye(D))
        assert first.shape == mean.shape
        np.testing.assert_allclose(res.mean[:, k], mean, atol=1e-6)
        np.testing.assert_allclose(res.covariance[:, k], cov, atol=1e-6)
    # orthonormal loadings; reprojection = A z + b
    np.testing.assert_allclose(
        np.einsum("kcd,kce->kde", res.loadings, res.loadings), np.broadcast_to(np.eye(D), (K, D, D)), atol=1e-10
    )
    rep = np.einsum("kcd,tkd->tkc", res.loadings, res.mean) + res.offset[None]
    np.testing.assert_allclose(res.reprojection, rep.reshape(T, K, V, 2).transpose(2, 0, 1, 3), atol=TOL)


def test_matches_reference_single_camera_smoother():
    """eks 4.6.2 singlecam with fixed s, the same ensemble statistics and prior (fixture)."""
    f = np.load(FIXTURES / "eks462_singlecam.npz")
    obs = EnsembleStatistics(f["ens_median"][None], f["ens_var"][None], 3)
    res = lp3d_eks.smooth_single_view(
        obs,
        s=f["s"],
        noise_scale=1.0,
        prior_mean=f["m0"] + f["center"],
        prior_covariance=f["S0"],
        process_covariance=f["Q"][0],
        inflate=False,
    )
    np.testing.assert_allclose(res.mean, f["post_mean_f64"], atol=1e-6)
    np.testing.assert_allclose(res.variance, f["post_var_f64"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.log_likelihood, -f["nll_f64"], rtol=1e-7)


def _affine_rig(V: int, distance: float = 1e7) -> CameraRig:
    """Cameras so far away (with focal lengths scaled up) that projection is affine to ~1e-7."""
    cams = []
    for v in range(V):
        angle = 2 * np.pi * v / V
        center = distance * np.array([np.cos(angle), np.sin(angle), 0.3])
        zax = -center / np.linalg.norm(center)
        xax = np.cross(zax, [0.0, 0.0, 1.0])
        xax /= np.linalg.norm(xax)
        R = np.stack([xax, np.cross(zax, xax), zax])
        f = distance / 500.0 * 600.0
        cams.append(
            Camera(
                f"c{v}", (640, 480), [[f, 0, 320], [0, f, 240], [0, 0, 1]], [0] * 5, matrix_to_rodrigues(R), -R @ center
            )
        )
    return CameraRig(tuple(cams))


def test_calibrated_with_affine_cameras_equals_linear_solve():
    rng = np.random.default_rng(2)
    T, K, V = 50, 1, 3
    rig = _affine_rig(V)
    X = np.cumsum(rng.normal(0, 1.0, size=(T, K, 3)), axis=0)
    center = rig.project(X) + rng.normal(0, 1.0, size=(V, T, K, 2))
    center[2, 20:30] = np.nan
    variance = np.where(np.isnan(center), np.nan, rng.uniform(0.5, 2.0, size=center.shape))
    obs = EnsembleStatistics(center, variance, 5)
    m0 = np.zeros((K, 3))
    P0 = np.eye(3)[None] * 100.0
    res = lp3d_eks.smooth_calibrated(
        obs, rig, s=1.5, noise_scale=1.0, inflate=False, prior_mean=m0, prior_covariance=P0
    )
    # the affine map: J at the origin and the image of the origin
    uv0, J = (
        np.stack([c.project_with_jacobian(np.zeros(3))[0] for c in rig.cameras]),
        np.stack([c.project_with_jacobian(np.zeros(3))[1] for c in rig.cameras]),
    )
    H = J.reshape(2 * V, 3)
    b = uv0.reshape(2 * V)
    Y = center[:, :, 0].transpose(1, 0, 2).reshape(T, 2 * V)
    Rr = variance[:, :, 0].transpose(1, 0, 2).reshape(T, 2 * V)
    mean, cov, _ = dense_posterior(Y, Rr, H, b, m0[0], P0[0], 1.5, np.eye(3))
    np.testing.assert_allclose(res.mean[:, 0], mean, atol=1e-4)
    np.testing.assert_allclose(res.covariance[:, 0], cov, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def simulated():
    sim = simulate(n_frames=600, n_keypoints=4, n_views=4, n_members=5, seed=11)
    return sim, lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, confidences=sim.confidences)


def test_3d_beats_triangulation_of_the_median(simulated):
    sim, res = simulated
    assert np.isfinite(res.mean).all() and np.isfinite(res.covariance).all()
    obs = lp3d_eks.ensemble_statistics(sim.predictions)
    tri, _, _ = lp3d_eks.triangulate_observations(obs, sim.rig)
    rmse = np.sqrt(np.mean(np.sum((res.mean - sim.truth) ** 2, axis=-1)))
    rmse_tri = np.sqrt(np.nanmean(np.sum((tri - sim.truth) ** 2, axis=-1)))
    assert rmse < 0.6 * rmse_tri, (rmse, rmse_tri)


def test_inflation_flags_planted_outliers(simulated):
    sim, res = simulated
    assert sim.outliers.sum() > 20
    detected = res.inflated[sim.outliers].mean()
    clean = ~sim.outliers & ~sim.missing
    false_alarms = res.inflated[clean].mean()
    assert detected > 0.9, detected
    assert false_alarms < 0.01, false_alarms
    # a missing observation is never inflated
    assert not res.inflated[sim.missing].any()


def test_posterior_intervals_cover_the_truth(simulated):
    sim, res = simulated
    cov95 = coverage(res.mean, res.variance, sim.truth)
    assert 0.92 <= cov95 <= 0.99, cov95


def test_automatic_s_lands_near_the_simulated_one():
    sim = simulate(n_frames=1500, n_keypoints=2, outlier_rate=0.0, missing_rate=0.0, n_gaps=0, seed=12)
    res = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, inflate=False)
    true_s = sim.step_mm**2
    assert np.all(res.s > true_s / 1.5) and np.all(res.s < true_s * 1.5), (res.s, true_s)


@pytest.mark.parametrize("case", ["isolated", "stretch", "view", "all_members_frame", "single_model"])
def test_missing_data_never_breaks_a_track(case):
    sim = simulate(n_frames=200, n_keypoints=2, n_views=3, outlier_rate=0.0, missing_rate=0.0, n_gaps=0, seed=13)
    pred = sim.predictions.copy()
    rng = np.random.default_rng(0)
    if case == "isolated":
        mask = rng.random(pred.shape[:4]) < 0.1
        pred[mask] = np.nan
    elif case == "stretch":
        pred[:, :, 50:90, 0] = np.nan  # every view: nothing at all for 40 frames
    elif case == "view":
        pred[:, 2] = np.nan  # one camera never sees anything
    elif case == "all_members_frame":
        pred[:, 1, 100] = np.nan
        pred[:, 0, 101] = np.nan
    elif case == "single_model":
        pred = pred[:1].copy()
        pred[:, :, 30:40, 1] = np.nan
    res = lp3d_eks.smooth_calibrated(pred, sim.rig)
    assert np.isfinite(res.mean).all() and np.isfinite(res.covariance).all()
    assert np.isfinite(res.reprojection).all()
    err = np.linalg.norm(res.mean - sim.truth, axis=-1)
    assert np.sqrt(np.mean(err**2)) < 3 * sim.step_mm
    if case == "stretch":
        var = res.variance[..., 0].sum(-1)
        assert var[50:90].mean() > 5 * var[:40].mean()  # honest: much less certain while missing


def test_single_view_and_multiview_outputs_everywhere_with_missing():
    sim = simulate(n_frames=150, n_keypoints=2, n_views=2, seed=14)
    res2 = lp3d_eks.smooth_multiview(sim.predictions, n_latent=3)
    assert res2.kind == "linear" and np.isfinite(res2.reprojection).all()
    res1 = lp3d_eks.smooth_single_view(sim.predictions[:, :1])
    assert res1.kind == "single_view" and np.isfinite(res1.mean).all()
    assert res1.mean.shape == (150, 2, 2)


def test_clean_labels_triangulate_like_plain_dlt():
    rng = np.random.default_rng(15)
    rig = ring_rig(3, seed=15)
    X = np.cumsum(rng.normal(0, 2.0, size=(100, 2, 3)), axis=0)
    exact = rig.project(X)[None]  # one "model", no noise
    res = lp3d_eks.smooth_calibrated(exact, rig)
    dlt = rig.triangulate(exact[0])
    np.testing.assert_allclose(dlt, X, atol=1e-8)
    assert np.max(np.abs(res.mean - X)) < 1e-3  # mm: the smoother does not bend exact data


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p[..., 0], r"expected shape \(member, view, time, keypoint, 2\)"),
        (lambda p: np.where(np.arange(p.shape[2])[None, None, :, None, None] == 3, np.inf, p), "got inf"),
        (lambda p: p[:, :2], r"expected 3 views \(cameras"),
    ],
)
def test_bad_inputs_give_clear_errors(make, message):
    sim = simulate(n_frames=20, n_keypoints=1, n_views=3, seed=0)
    with pytest.raises(ValueError, match=message):
        lp3d_eks.smooth_calibrated(make(sim.predictions), sim.rig)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"s": -1.0}, "s: expected positive"),
        ({"s": [1.0, 2.0]}, "one per keypoint"),
        ({"s_frames": [(5, 500)]}, "s_frames: expected 0 <= start < stop"),
        ({"noise_scale": "big"}, "noise_scale"),
        ({"inflate_factor": 0.5}, "inflate_factor"),
        ({"confidences": np.ones((1, 2, 3))}, "confidences: expected shape"),
        ({"variance": "mad"}, "variance: expected one of"),
    ],
)
def test_bad_options_give_clear_errors(kwargs, message):
    sim = simulate(n_frames=20, n_keypoints=1, n_views=3, seed=0)
    with pytest.raises(ValueError, match=message):
        lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, **kwargs)


def test_s_frames_subset_and_fixed_values():
    sim = simulate(n_frames=300, n_keypoints=2, seed=16)
    full = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, inflate=False)
    part = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, inflate=False, s_frames=[(0, 150)])
    assert not np.allclose(full.s, part.s)
    assert np.all(np.abs(np.log(part.s / full.s)) < 1.0)
    fixed = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, inflate=False, s=[3.0, np.nan], noise_scale=1.0)
    assert fixed.s[0] == 3.0 and fixed.s[1] != 3.0


def test_ensemble_statistics_match_numpy():
    rng = np.random.default_rng(17)
    pred = rng.normal(size=(5, 2, 30, 3, 2))
    pred[1, 0, 3] = np.nan
    conf = rng.uniform(0.1, 1, size=pred.shape[:4])
    st = lp3d_eks.ensemble_statistics(pred, min_variance=1e-12, variance_prior_weight=0)
    np.testing.assert_allclose(st.center, np.nanmedian(pred, axis=0), atol=1e-12)
    np.testing.assert_allclose(st.variance, np.maximum(np.nanvar(pred, axis=0), 1e-12), atol=1e-12)
    st = lp3d_eks.ensemble_statistics(
        pred, conf, center="mean", variance="confidence-weighted", min_variance=1e-12, variance_prior_weight=0
    )
    w = np.where(np.isnan(pred[..., 0]), 0.0, conf)[..., None]
    mean = np.nansum(w * pred, axis=0) / w.sum(axis=0)
    np.testing.assert_allclose(st.center, mean, atol=1e-12)
    var = np.nansum(w * (pred - mean) ** 2, axis=0) / w.sum(axis=0)
    np.testing.assert_allclose(st.variance, np.maximum(var, 1e-12), atol=1e-12)


def test_variance_shrinks_towards_the_typical_value():
    rng = np.random.default_rng(18)
    pred = rng.normal(size=(5, 2, 40, 3, 2))
    pred[1:, 1, 7, 2] = np.nan  # one member left: no spread there, the typical value is used
    raw = lp3d_eks.ensemble_statistics(pred, min_variance=1e-12, variance_prior_weight=0).variance
    shrunk = lp3d_eks.ensemble_statistics(pred, min_variance=1e-12, variance_prior_weight=4).variance
    n = np.isfinite(pred).sum(axis=0)
    dof = n - 1.0
    typical = np.nanmedian(np.where(dof > 0, raw, np.nan), axis=1, keepdims=True)
    expected = (4 * typical + dof * raw) / (4 + dof)
    np.testing.assert_allclose(shrunk, expected, atol=1e-12)
    np.testing.assert_allclose(shrunk[1, 7, 2], typical[1, 0, 2], atol=1e-12)
