"""Posterior intervals: normal and chi-square quantiles, and how often intervals cover the truth.

A smoother's 95% interval for one coordinate is ``mean +- Z_95 * sqrt(variance)``; for a point of
``D`` coordinates, the 95% ellipsoid is ``(x - mean)^T covariance^{-1} (x - mean) <=
chi2_quantile(0.95, D)``. Honest intervals hold the truth that often: per coordinate and jointly.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

__all__ = ["Z_95", "Coverage", "chi2_quantile", "interval_coverage", "normal_quantile"]


def normal_quantile(p: float) -> float:
    """The standard normal quantile (inverse CDF) at probability ``p`` in (0, 1)."""
    if not (0.0 < p < 1.0):
        raise ValueError(f"p: expected a probability in (0, 1), but got {p}")
    return NormalDist().inv_cdf(p)


Z_95 = 1.959963984540054
"""The two-sided 95% normal quantile, ``normal_quantile(0.975)``."""


def _chi2_cdf(x: float, dof: int) -> float:
    """Chi-square CDF for an integer number of degrees of freedom (closed form by recursion)."""
    if x <= 0.0:
        return 0.0
    half = x / 2.0
    if dof % 2 == 0:  # P(2) = 1 - e^{-x/2}; P(k + 2) = P(k) - (x/2)^{k/2} e^{-x/2} / (k/2)!
        cdf, term, k = 1.0 - math.exp(-half), math.exp(-half), 2
    else:  # P(1) = erf(sqrt(x/2)); P(k + 2) = P(k) - (x/2)^{k/2} e^{-x/2} / Gamma(k/2 + 1)
        cdf, term, k = math.erf(math.sqrt(half)), math.sqrt(half) * math.exp(-half) / math.gamma(1.5), 1
    while k < dof:
        cdf -= term
        k += 2
        term *= half / (k / 2.0)
    return cdf


def chi2_quantile(p: float, dof: int) -> float:
    """The chi-square quantile at probability ``p`` for ``dof`` (integer) degrees of freedom."""
    if not (0.0 < p < 1.0):
        raise ValueError(f"p: expected a probability in (0, 1), but got {p}")
    if int(dof) != dof or dof < 1:
        raise ValueError(f"dof: expected a positive integer, but got {dof}")
    lo, hi = 0.0, max(1.0, 2.0 * dof)
    while _chi2_cdf(hi, int(dof)) < p:
        hi *= 2.0
    for _ in range(200):  # bisection to double precision
        mid = 0.5 * (lo + hi)
        if _chi2_cdf(mid, int(dof)) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


class Coverage(NamedTuple):
    """How often posterior intervals hold the truth (fractions in [0, 1]).

    Attributes:
        per_coordinate: share of coordinates inside their central interval.
        joint: share of points inside their ellipsoid (all coordinates together).
        n: number of points compared (finite mean, covariance and truth).
    """

    per_coordinate: float
    joint: float
    n: int


def interval_coverage(mean: np.ndarray, covariance: np.ndarray, truth: np.ndarray, *, level: float = 0.95) -> Coverage:
    """Coverage of the central ``level`` posterior intervals, per coordinate and jointly.

    Args:
        mean: ``(..., D)`` posterior means.
        covariance: ``(..., D, D)`` posterior covariances.
        truth: ``(..., D)`` true values; points where any of the three is not finite are left out.
        level: the intervals' probability.

    Returns:
        :class:`Coverage`.
    """
    mean, cov, truth = (np.asarray(x, dtype=np.float64) for x in (mean, covariance, truth))
    D = mean.shape[-1]
    if truth.shape != mean.shape or cov.shape != mean.shape + (D,):
        raise ValueError(
            f"expected mean (..., D), covariance (..., D, D) and truth (..., D) of one shape, but got "
            f"{mean.shape}, {cov.shape} and {truth.shape}"
        )
    ok = np.isfinite(mean).all(-1) & np.isfinite(truth).all(-1) & np.isfinite(cov).all((-1, -2))
    err = (mean - truth)[ok]
    cov = cov[ok]
    if not len(err):
        return Coverage(float("nan"), float("nan"), 0)
    z = normal_quantile(0.5 + level / 2.0)
    inside = np.abs(err) <= z * np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    m2 = np.einsum("nd,nd->n", err, np.linalg.solve(cov, err[..., None])[..., 0])
    return Coverage(float(inside.mean()), float(np.mean(m2 <= chi2_quantile(level, D))), len(err))
