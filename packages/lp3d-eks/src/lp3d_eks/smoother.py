"""The ensemble Kalman smoothers: single view, multi-view linear latent, calibrated 3D.

Model, per keypoint (keypoints are independent and run in parallel in the C++ core)::

    x_0 ~ N(m0, P0)
    x_t = x_{t-1} + w_t,            w_t ~ N(0, s Q)                  (random walk, Q = I by default)
    y_tv = h_v(x_t) + e_tv,         e_tv ~ N(0, a * b_v * f_tv * diag(r_tv))

or with constant velocity (``motion``) the state also holds the velocity ``u``, which takes the
random steps: ``x_t = x_{t-1} + u_{t-1} + w_t``, ``u_t = u_{t-1} + w'_t`` with ``(w, w') ~ N(0,
s [[Q/3, Q/2], [Q/2, Q]])`` (the integrated random walk). ``motion="auto"`` gives a keypoint
constant velocity where its marginal likelihood is higher and its smoothed residuals look like
independent noise over time (see ``cpp/src/smoother.cpp``: smooth_one).

``y_tv`` is the ensemble center in view ``v`` and ``r_tv`` the ensemble variance (see
:mod:`lp3d_eks.ensemble`), ``a`` a noise scale (1, or fitted), ``b_v`` the view scale (1 unless
the view disagrees with the others on most frames), ``f_tv`` the variance inflation factor (1
unless that observation was found inconsistent). The latent ``x`` and ``h_v`` are

- single view: ``x`` is the 2D position, ``h(x) = x``;
- multi-view linear: ``x`` of ``n_latent`` dims, ``h_v(x) = A_v x + b_v`` with ``A, b`` from PCA
  of the stacked 2V-dim ensemble centers on confident frames (no calibration needed);
- calibrated: ``x`` is the 3D world point, ``h_v`` the camera projection with distortion
  (pinhole or fisheye).

Missing observations (NaN) skip the update, so every frame gets a position with an honestly
larger variance. ``s`` (and ``a`` if ``noise_scale="auto"``) maximize the marginal likelihood of
the observations with the per-frame variances (a Brent search on log s; ``a`` is profiled out in
closed form); a point whose nominal track demonstrably moves is never returned frozen (the
likelihood's degenerate "static point, huge noise" maximum): ``s`` is raised until the smoothed
track keeps ``min_motion`` of that motion. The calibrated smoother is an iterated extended Kalman
smoother initialized from DLT triangulation. Inconsistent observations are found by comparing
each one with its leave-one-out prediction from all other data (see
``cpp/include/lp3d_eks/inflation.hpp``): a view whose median over frames is far beyond the model
gets a view scale ``b_v`` (disagreement that persists: a wrong calibration entry, a mislabeled
camera), and single observations beyond a chi-square quantile get their variance inflated
(occasional outliers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lp3d_eks import _core
from lp3d_eks._validate import as_observations, frame_ranges, per_keypoint
from lp3d_eks.camera import CameraRig
from lp3d_eks.ensemble import ensemble_statistics
from lp3d_eks.latent import fit_linear_latent
from lp3d_eks.result import MOTIONS, EnsembleStatistics, SmootherResult, motion_names
from lp3d_eks.triangulation import _triangulate

__all__ = [
    "SmoothOptions",
    "smooth",
    "smooth_single_view",
    "smooth_multiview",
    "smooth_calibrated",
]


_MOTION_OPTIONS = ("auto", *MOTIONS)
"""The ``motion`` option's values, in the C++ core's numbering (0: chosen per keypoint, else the order)."""


@dataclass(frozen=True)
class SmoothOptions:
    """Options shared by every smoother (keyword arguments of the ``smooth_*`` functions).

    Attributes:
        center, variance, min_variance, min_confidence, variance_prior_weight: how the ensemble
            becomes observations; see :func:`lp3d_eks.ensemble_statistics`.
        s: smoothing parameter: None (automatic per keypoint), a number, or one per keypoint
            (NaN = automatic for that one).
        s_frames: ``[(start, stop), ...]`` frames for the automatic search (default: all frames,
            or for tracks longer than ``s_max_frames`` ten evenly spaced blocks of that many).
        s_max_frames: see ``s_frames``.
        noise_scale: ``"auto"`` (fit the scale of the ensemble variances by maximum likelihood)
            or a number (1: the ensemble variance at face value), or one per keypoint.
        view_scale: ``"auto"``: with variance inflation on and at least 3 views, a view whose
            observations disagree with what the other data predict on most frames gets its
            variances scaled by a fitted factor, per keypoint (1 for the others); with fewer views
            or without inflation, 1. Or fixed scales: a number, or ``(view, keypoint)`` values.
        view_threshold: a view is scaled when the median of its squared leave-one-out distances
            is this many times its expected value, or the median over the views; a view whose
            fitted scale ends below it keeps 1.
        motion: the motion prior. ``"random walk"``: the position takes independent steps (s is
            their variance); ``"constant velocity"``: the velocity does (s is the variance of its
            steps; the integrated random walk, for motion smoother than a random walk, where it
            gives lower errors and intervals that are not too wide); ``"auto"``: per keypoint,
            constant velocity where its marginal likelihood is clearly higher and its smoothed
            residuals look like independent noise over time (see the lp3d-eks README; a keypoint
            with a fixed ``s`` is a random walk).
        min_motion: a keypoint whose nominal (triangulated) track demonstrably moves keeps at least
            this fraction of that motion in its smoothed track (median squared displacement over
            16 frames, beyond that over 4 frames): the automatic ``s`` is raised until it does,
            so a moving point is never smoothed into a static one. 0 turns the guard off.
        inflate: variance inflation; None: on for several views, off for a single view.
        inflate_quantile: chi-square (2 dof) quantile of the inconsistency test.
        inflate_factor: minimum multiplier of an inconsistent observation's variance per round.
        inflate_max_iter: inflation rounds per parameter fit.
        prior_mean: ``(keypoint, D)`` prior mean (default: the first nominal latent).
        prior_covariance: ``(keypoint, D, D)`` (default: variance of the nominal latent track).
        process_covariance: ``(D, D)`` shape ``Q`` of the process noise ``s Q`` (default: I).
        n_threads: threads of the C++ core (0: all cores).
    """

    center: str = "median"
    variance: str = "var"
    min_variance: float = 0.25
    min_confidence: float | None = None
    variance_prior_weight: float = 4.0
    s: float | Sequence[float] | None = None
    s_frames: Sequence[tuple[int, int]] | None = None
    s_max_frames: int = 5000
    noise_scale: float | Sequence[float] | str = "auto"
    view_scale: float | np.ndarray | str = "auto"
    view_threshold: float = 1.5
    motion: str = "auto"
    min_motion: float = 0.25
    inflate: bool | None = None
    inflate_quantile: float = 0.999
    inflate_factor: float = 4.0
    inflate_max_iter: int = 10
    prior_mean: np.ndarray | None = None
    prior_covariance: np.ndarray | None = None
    process_covariance: np.ndarray | None = None
    n_threads: int = 0

    def observations(self, data, confidences, typical_variance: np.ndarray | None = None) -> EnsembleStatistics:
        """The ensemble statistics to smooth (computed, or validated when given); ``typical_variance``
        holds the shrinkage target fixed (see :func:`lp3d_eks.ensemble_statistics`)."""
        if isinstance(data, EnsembleStatistics):
            if confidences is not None:
                raise ValueError("confidences: pass them to ensemble_statistics, not with precomputed statistics")
            c, v = as_observations(data.center, data.variance)
            return EnsembleStatistics(c, v, data.n_members, data.typical_variance)
        return ensemble_statistics(
            data,
            confidences,
            center=self.center,
            variance=self.variance,
            min_variance=self.min_variance,
            min_confidence=self.min_confidence,
            variance_prior_weight=self.variance_prior_weight,
            typical_variance=typical_variance,
            n_threads=self.n_threads,
        )

    def inflation(self, inflate_default: bool) -> dict:
        """Validated variance-inflation options for the C++ core (the offline and fixed-lag smoothers')."""
        if not (0.5 < self.inflate_quantile < 1.0):
            raise ValueError(f"inflate_quantile: expected a probability in (0.5, 1), but got {self.inflate_quantile}")
        if not (self.inflate_factor > 1.0):
            raise ValueError(f"inflate_factor: expected a number > 1, but got {self.inflate_factor}")
        return {
            "inflate": inflate_default if self.inflate is None else bool(self.inflate),
            "inflate_threshold": float(_core.chi2_2dof_quantile(self.inflate_quantile)),
            "inflate_factor": float(self.inflate_factor),
            "inflate_max_iter": int(self.inflate_max_iter),
        }

    def core(self, K: int, T: int, V: int, dim: int, inflate_default: bool) -> dict:
        """Validated options for the C++ core, for K keypoints, T frames, V views and a D-dim latent."""
        inflation = self.inflation(inflate_default)
        if isinstance(self.noise_scale, str):
            if self.noise_scale != "auto":
                raise ValueError(f"noise_scale: expected a positive number or 'auto', but got {self.noise_scale!r}")
            a = np.full(K, np.nan)
        else:
            a = per_keypoint(self.noise_scale, K, "noise_scale")
        if not (self.view_threshold > 1.0):
            raise ValueError(f"view_threshold: expected a number > 1, but got {self.view_threshold}")
        if not (0.0 <= self.min_motion <= 1.0):
            raise ValueError(f"min_motion: expected a fraction in [0, 1], but got {self.min_motion}")
        if self.motion not in _MOTION_OPTIONS:
            raise ValueError(
                f"motion: expected one of {', '.join(map(repr, _MOTION_OPTIONS))}, but got {self.motion!r}"
            )
        if isinstance(self.view_scale, str):
            if self.view_scale != "auto":
                raise ValueError(
                    f"view_scale: expected 'auto', a positive number or (view, keypoint) values, "
                    f"but got {self.view_scale!r}"
                )
            view_scale = None
        else:
            b = np.asarray(self.view_scale, dtype=np.float64)
            b = np.full((V, K), float(b)) if b.ndim == 0 else b
            if b.shape != (V, K) or not np.all(np.isfinite(b)) or np.any(b <= 0):
                raise ValueError(
                    f"view_scale: expected a positive number or positive values of shape ({V}, {K}) "
                    f"(view, keypoint), but got {np.asarray(self.view_scale).tolist()}"
                )
            view_scale = np.ascontiguousarray(b.T)  # (keypoint, view) for the core
        opts: dict = {
            "s": per_keypoint(self.s, K, "s"),
            "noise_scale": a,
            "view_scale": view_scale,
            "fit_view_scale": view_scale is None and inflation["inflate"] and V >= 3,
            "view_threshold": float(self.view_threshold),
            "min_motion": float(self.min_motion),
            "motion": _MOTION_OPTIONS.index(self.motion),
            "s_blocks": frame_ranges(self.s_frames, T),
            "s_max_frames": int(self.s_max_frames),
            **inflation,
            "n_threads": int(self.n_threads),
        }
        if self.process_covariance is not None:
            Q = np.asarray(self.process_covariance, dtype=np.float64)
            if Q.shape != (dim, dim) or not np.allclose(Q, Q.T) or np.linalg.eigvalsh(Q).min() <= 0:
                raise ValueError(f"process_covariance: expected a symmetric positive definite ({dim}, {dim}) matrix")
            opts["Q"] = Q
        if self.prior_mean is not None:
            m0 = np.asarray(self.prior_mean, dtype=np.float64)
            if m0.shape != (K, dim) or not np.all(np.isfinite(m0)):
                raise ValueError(f"prior_mean: expected finite values of shape ({K}, {dim}), but got {m0.shape}")
            opts["m0"] = m0
        if self.prior_covariance is not None:
            P0 = np.asarray(self.prior_covariance, dtype=np.float64)
            if P0.shape != (K, dim, dim) or not np.all(np.isfinite(P0)):
                raise ValueError(
                    f"prior_covariance: expected finite values of shape ({K}, {dim}, {dim}), but got {P0.shape}"
                )
            opts["P0"] = P0
        return opts


def _result(kind: str, out: dict, obs: EnsembleStatistics, **extra) -> SmootherResult:
    return SmootherResult(
        kind=kind,
        mean=out["mean"],
        covariance=out["covariance"],
        reprojection=out["reprojection"],
        reprojection_variance=out["reprojection_variance"],
        observation=obs.center,
        observation_variance=obs.variance,
        inflation=out["inflation"],
        s=out["s"],
        noise_scale=out["noise_scale"],
        log_likelihood=out["log_likelihood"],
        iterations=out["iterations"],
        view_scale=out["view_scale"],
        view_disagreement=out.get("view_disagreement"),
        prior_mean=out.get("prior_mean"),
        prior_covariance=out.get("prior_covariance"),
        motion=None if "motion" not in out else motion_names(out["motion"]),
        **extra,
    )


def smooth_single_view(data, *, confidences: np.ndarray | None = None, **options) -> SmootherResult:
    """Smooths one view: the latent is the 2D position of each keypoint.

    Args:
        data: ensemble predictions ``(member, view, time, keypoint, 2)`` in pixels with a single
            view (NaN where a model gave nothing; one model is ``member`` of size 1), or
            precomputed :class:`EnsembleStatistics`. Call it per view for several views.
        confidences: ``(member, view, time, keypoint)``, optional.
        **options: :class:`SmoothOptions` fields. Variance inflation is off by default here
            (with one view it can only flag jumps in time).

    Returns:
        :class:`SmootherResult` with a 2D latent.
    """
    opt = SmoothOptions(**options)
    obs = opt.observations(data, confidences)
    V, T, K = obs.shape
    if V != 1:
        raise ValueError(f"data: expected a single view for smooth_single_view, but got {V} views")
    out = _core.smooth(
        "single_view",
        {},
        obs.center,
        obs.variance,
        np.ascontiguousarray(obs.center[0]),
        opt.core(K, T, V, 2, inflate_default=False),
    )
    return _result("single_view", out, obs)


def smooth_multiview(
    data,
    *,
    confidences: np.ndarray | None = None,
    n_latent: int = 3,
    confident_quantile: float = 0.95,
    **options,
) -> SmootherResult:
    """Smooths several views without calibration through a linear latent (PCA).

    ``n_latent`` latent dimensions (3 for a point seen by pinhole cameras, approximately) are
    found per keypoint by PCA of the stacked ``2 * view`` ensemble centers on confident frames:
    all views present and the largest ensemble variance below its ``confident_quantile``.

    Args:
        data, confidences: as for :func:`smooth_single_view`, with two views or more.
        n_latent: latent dimensions.
        confident_quantile: frames whose largest ensemble variance is below this quantile fit the PCA.
        **options: :class:`SmoothOptions` fields.

    Returns:
        :class:`SmootherResult` with ``loadings`` and ``offset`` of the linear model.
    """
    opt = SmoothOptions(**options)
    obs = opt.observations(data, confidences)
    V, T, K = obs.shape
    if V < 2:
        raise ValueError("data: expected at least 2 views for smooth_multiview (use smooth_single_view)")
    A, b, nominal = fit_linear_latent(obs, n_latent, confident_quantile)
    out = _core.smooth(
        "linear", {"A": A, "b": b}, obs.center, obs.variance, nominal, opt.core(K, T, V, n_latent, inflate_default=True)
    )
    return _result("linear", out, obs, loadings=A, offset=b)


def smooth_calibrated(data, rig: CameraRig, *, confidences: np.ndarray | None = None, **options) -> SmootherResult:
    """Smooths calibrated views in 3D: an iterated extended Kalman smoother.

    The views of ``data`` are the cameras of ``rig`` in order. The first linearization is the
    per-frame (plain) DLT triangulation of the ensemble centers, gaps filled by interpolation;
    the smoother then relinearizes around its own smoothed track until it stops changing.

    Args:
        data, confidences: as for :func:`smooth_single_view`, one view per camera.
        rig: the calibrated cameras.
        **options: :class:`SmoothOptions` fields.

    Returns:
        :class:`SmootherResult` with a 3D latent in the rig's world units.
    """
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig: expected a CameraRig, but got {type(rig).__name__}")
    opt = SmoothOptions(**options)
    obs = opt.observations(data, confidences)
    V, T, K = obs.shape
    if V != len(rig):
        raise ValueError(f"data: expected {len(rig)} views (cameras {rig.names}), but got {V}")
    if V < 2:
        raise ValueError("rig: expected at least 2 cameras for 3D smoothing")
    nominal = _triangulate(obs.center, rig, opt.n_threads)
    out = _core.smooth(
        "calibrated", rig._model_arrays(), obs.center, obs.variance, nominal, opt.core(K, T, V, 3, inflate_default=True)
    )
    return _result("calibrated", out, obs)


def smooth(data, rig: CameraRig | None = None, **options) -> SmootherResult:
    """Picks the smoother: calibrated 3D with a rig, multi-view linear without, single view for one view."""
    n_views = data.shape[0] if isinstance(data, EnsembleStatistics) else np.shape(data)[1]
    if rig is not None:
        return smooth_calibrated(data, rig, **options)
    if n_views > 1:
        return smooth_multiview(data, **options)
    return smooth_single_view(data, **options)
