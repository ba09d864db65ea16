"""The one result type shared by all smoothers, and the ensemble statistics they consume.

Variances, precisely (all per coordinate, in the units named). Two questions, two bands:

- *Where is the keypoint?* ``covariance`` / ``variance``: posterior (co)variance of the **latent**
  given all observations: 3D world units squared for the calibrated smoother, pixels squared for
  single view, latent units squared (pixels, the loadings being orthonormal) for the linear
  multi-view smoother. ``reprojection_variance``: the same posterior seen in each view,
  ``diag(J P J^T)`` (pixels squared): the error bar of the smoothed 2D position. Its 95% interval
  ``reprojection +- Z_95 * sqrt(reprojection_variance)`` should hold the true position 95% of
  the time. Name it e.g. ``x_posterior_var`` / "posterior (smoothed position)".
- *Where would a detection fall?* ``predictive_variance`` = ``reprojection_variance`` +
  ``observation_noise``: the spread to expect of a *new* detection around the smoothed track
  (pixels squared), which includes the detector's own noise as the smoother fitted it. Use it to
  judge whether a detection is an outlier, never as the error bar of the track; name it e.g.
  ``x_predictive_var`` / "predictive (a new detection)".

The pieces: ``observation_variance`` is the ensemble variance (after the ``min_variance`` floor
and the shrinkage), before any scale; ``observation_noise`` =
``noise_scale * view_scale * inflation * observation_variance`` is the detection noise the model
used. With one member (single-model input, or labels) there is no ensemble spread:
``observation_variance`` is then only a relative weight (the floor, over the confidence), and the
fitted ``noise_scale`` and ``view_scale`` set the actual level.

Which view disagrees: ``view_scale`` (``(view, keypoint)``, > 1 where a view's observations
disagree with what the other data predict on most frames: its variances were scaled up) and
``view_disagreement`` (the median distance in pixels of a view's observations from that
leave-one-out prediction); :func:`lp3d_eks.describe_inconsistent_views` turns them into sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MOTIONS", "SMOOTHER_KINDS", "EnsembleStatistics", "SmootherResult", "motion_codes", "motion_names"]

SMOOTHER_KINDS = ("single_view", "linear", "calibrated")
"""The values of :attr:`SmootherResult.kind`: one view, several views through a linear latent, calibrated 3D."""

MOTIONS = ("random walk", "constant velocity")
"""The values of :attr:`SmootherResult.motion`, the motion models in order: ``MOTIONS[order - 1]`` is
the model whose state holds ``order`` derivatives (position; position and velocity)."""


def motion_codes(names) -> np.ndarray:
    """Motion names as the C++ core's and the store's codes: ``order`` (1 random walk, 2 constant
    velocity), 0 for ``""`` (a keypoint with no data)."""
    codes = {"": 0, **{name: i + 1 for i, name in enumerate(MOTIONS)}}
    return np.array([codes[str(name)] for name in np.asarray(names).reshape(-1)], dtype=np.int64)


def motion_names(codes) -> np.ndarray:
    """The inverse of :func:`motion_codes` (unknown codes: ``""``)."""
    names = np.array(["", *MOTIONS])
    codes = np.asarray(codes, dtype=np.int64)
    return np.where((codes >= 0) & (codes < len(names)), names[np.clip(codes, 0, len(names) - 1)], "")


@dataclass(frozen=True, eq=False)
class EnsembleStatistics:
    """Observations for the smoother: the ensemble center and its variance.

    Attributes:
        center: ``(view, time, keypoint, 2)`` pixels; NaN where no member gave a value.
        variance: ``(view, time, keypoint, 2)`` pixels squared (per coordinate).
        n_members: number of ensemble members they were computed from (1: a single model).
        typical_variance: ``(view, keypoint, 2)`` the typical variance the spread was shrunk
            towards (None: no shrinkage).
    """

    center: np.ndarray
    variance: np.ndarray
    n_members: int = 0
    typical_variance: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(view, time, keypoint)``."""
        return self.center.shape[:3]


@dataclass(frozen=True, eq=False)
class SmootherResult:
    """Result of every lp3d-eks smoother (see the module docstring for which variance is which).

    Attributes:
        kind: one of :data:`SMOOTHER_KINDS`: ``"single_view"``, ``"linear"`` or ``"calibrated"``.
        mean: ``(time, keypoint, D)`` posterior mean of the latent (D = 2, n_latent or 3).
        covariance: ``(time, keypoint, D, D)`` posterior covariance of the latent.
        reprojection: ``(view, time, keypoint, 2)`` the smoothed latent seen in each view (pixels).
        reprojection_variance: ``(view, time, keypoint, 2)`` posterior variance of the smoothed 2D
            position, ``diag(J P J^T)``, pixels squared: the error bar of the smoothed track.
        observation: ``(view, time, keypoint, 2)`` the ensemble center that was smoothed.
        observation_variance: ``(view, time, keypoint, 2)`` ensemble variance (floored, shrunk),
            before the noise scale, the view scale and inflation.
        inflation: ``(view, time, keypoint)`` per-frame variance inflation factors (1 = not inflated).
        s: ``(keypoint,)`` smoothing parameter: the process noise ``s * Q`` per frame of the
            position (random walk) or of the velocity (constant velocity), see ``motion``.
        noise_scale: ``(keypoint,)`` scale ``a`` of the observation variances
            (noise = ``a * view_scale * inflation * observation_variance``).
        log_likelihood: ``(keypoint,)`` marginal log-likelihood of the observations at the
            final parameters.
        iterations: ``(keypoint,)`` smoothing passes run (relinearization, view scales, inflation).
        loadings: ``(keypoint, 2 * view, D)`` linear model ``A`` (linear kind only).
        offset: ``(keypoint, 2 * view)`` linear model ``b`` (linear kind only).
        view_scale: ``(view, keypoint)`` scale ``b`` of each view's variances: 1, or > 1 where the
            view's observations disagree with what the other data predict on most frames
            (None: all 1, for results made elsewhere).
        view_disagreement: ``(view, keypoint)`` median over frames of the distance, in pixels,
            between a view's observation and its leave-one-out prediction (what all the other
            data, other views and neighbouring frames, say it should be); NaN where a view never
            saw the keypoint (None: not computed).
        prior_mean: ``(keypoint, D)`` the prior mean of frame 0 the smoother used (None: not
            recorded, or a fixed-lag smoother that started each keypoint where it first saw it).
        prior_covariance: ``(keypoint, D, D)`` its covariance.
        motion: ``(keypoint,)`` the motion model of each keypoint: ``"random walk"`` (the
            position takes independent steps) or ``"constant velocity"`` (the velocity does: a
            smoother motion), chosen by marginal likelihood unless fixed; ``""`` for a keypoint
            with no data (None: not recorded).
    """

    kind: str
    mean: np.ndarray
    covariance: np.ndarray
    reprojection: np.ndarray
    reprojection_variance: np.ndarray
    observation: np.ndarray
    observation_variance: np.ndarray
    inflation: np.ndarray
    s: np.ndarray
    noise_scale: np.ndarray
    log_likelihood: np.ndarray
    iterations: np.ndarray
    loadings: np.ndarray | None = None
    offset: np.ndarray | None = None
    view_scale: np.ndarray | None = None
    view_disagreement: np.ndarray | None = None
    prior_mean: np.ndarray | None = None
    prior_covariance: np.ndarray | None = None
    motion: np.ndarray | None = None

    @property
    def variance(self) -> np.ndarray:
        """``(time, keypoint, D)`` posterior variance of each latent coordinate."""
        return np.diagonal(self.covariance, axis1=-2, axis2=-1)

    @property
    def observation_noise(self) -> np.ndarray:
        """``(view, time, keypoint, 2)`` variance of the detection noise the model used, pixels squared:
        ``noise_scale * view_scale * inflation * observation_variance``."""
        scale = self.noise_scale[None, None, :, None] * self.inflation[..., None]
        if self.view_scale is not None:
            scale = scale * self.view_scale[:, None, :, None]
        return scale * self.observation_variance

    @property
    def predictive_variance(self) -> np.ndarray:
        """``(view, time, keypoint, 2)`` variance of a new detection around the smoothed track:
        ``reprojection_variance + observation_noise``, pixels squared (not the track's error bar)."""
        return self.reprojection_variance + self.observation_noise

    @property
    def inflated(self) -> np.ndarray:
        """``(view, time, keypoint)`` True where an observation's variance was inflated."""
        return self.inflation > 1.0

    @property
    def inconsistent_views(self) -> np.ndarray:
        """``(view, keypoint)`` True where a view disagreed with the other data on most frames
        (its ``view_scale`` is above 1)."""
        if self.view_scale is None:
            return np.zeros(self.reprojection.shape[:1] + self.mean.shape[1:2], dtype=bool)
        return self.view_scale > 1.0
