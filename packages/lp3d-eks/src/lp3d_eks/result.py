"""The one result type shared by all smoothers, and the ensemble statistics they consume.

Variances, precisely (all per coordinate, in the units named):

- ``covariance`` / ``variance``: posterior (co)variance of the **latent** given all observations:
  3D world units squared for the calibrated smoother, pixels squared for single view, latent
  units squared (pixels, the loadings being orthonormal) for the linear multi-view smoother.
- ``reprojection_variance``: the latent posterior mapped into each view, ``diag(J P J^T)``: how
  uncertain the smoothed 2D position is (pixels squared). Use this for error bars on the
  smoothed 2D track.
- ``predictive_variance``: ``reprojection_variance`` plus the observation noise actually used,
  ``noise_scale * inflation * observation_variance``: the spread to expect of a *new* detection
  around the smoothed track (pixels squared). Use this to judge whether a detection is an outlier.
- ``observation_variance``: the ensemble variance (after the ``min_variance`` floor), before the
  noise scale and inflation are applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EnsembleStatistics", "SmootherResult"]


@dataclass(frozen=True, eq=False)
class EnsembleStatistics:
    """Observations for the smoother: the ensemble center and its variance.

    Attributes:
        center: ``(view, time, keypoint, 2)`` pixels; NaN where no member gave a value.
        variance: ``(view, time, keypoint, 2)`` pixels squared (per coordinate).
        n_members: number of ensemble members they were computed from (1: a single model).
    """

    center: np.ndarray
    variance: np.ndarray
    n_members: int = 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(view, time, keypoint)``."""
        return self.center.shape[:3]


@dataclass(frozen=True, eq=False)
class SmootherResult:
    """Result of every lp3d-eks smoother.

    Attributes:
        kind: ``"single_view"``, ``"linear"`` or ``"calibrated"``.
        mean: ``(time, keypoint, D)`` posterior mean of the latent (D = 2, n_latent or 3).
        covariance: ``(time, keypoint, D, D)`` posterior covariance of the latent.
        reprojection: ``(view, time, keypoint, 2)`` the smoothed latent seen in each view (pixels).
        reprojection_variance: ``(view, time, keypoint, 2)`` ``diag(J P J^T)``, pixels squared.
        observation: ``(view, time, keypoint, 2)`` the ensemble center that was smoothed.
        observation_variance: ``(view, time, keypoint, 2)`` ensemble variance (floored).
        inflation: ``(view, time, keypoint)`` variance inflation factors (1 = not inflated).
        s: ``(keypoint,)`` smoothing parameter (process noise ``s * Q`` per frame).
        noise_scale: ``(keypoint,)`` scale ``a`` of the observation variances
            (noise = ``a * inflation * observation_variance``).
        log_likelihood: ``(keypoint,)`` marginal log-likelihood of the observations at the
            final parameters.
        iterations: ``(keypoint,)`` smoothing passes run (relinearization and inflation).
        loadings: ``(keypoint, 2 * view, D)`` linear model ``A`` (linear kind only).
        offset: ``(keypoint, 2 * view)`` linear model ``b`` (linear kind only).
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

    @property
    def variance(self) -> np.ndarray:
        """``(time, keypoint, D)`` posterior variance of each latent coordinate."""
        return np.diagonal(self.covariance, axis1=-2, axis2=-1)

    @property
    def predictive_variance(self) -> np.ndarray:
        """``(view, time, keypoint, 2)`` variance of a new detection around the smoothed track."""
        noise = self.noise_scale[None, None, :, None] * self.inflation[..., None] * self.observation_variance
        return self.reprojection_variance + noise

    @property
    def inflated(self) -> np.ndarray:
        """``(view, time, keypoint)`` True where an observation's variance was inflated."""
        return self.inflation > 1.0
