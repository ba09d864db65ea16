"""The linear latent of the multi-view smoother without calibration.

Per keypoint, the ``2V`` stacked ensemble centers ``y_t`` of frames where every view is present
and the ensemble is confident are fit by PCA: ``y_t ~ A z_t + b`` with ``A`` the top ``n_latent``
principal directions (orthonormal columns, so the latent is in pixels) and ``b`` the mean. A
pinhole camera is locally affine, so three latent dimensions describe a 3D point seen from any
number of views up to perspective effects. The nominal latent track is the least-squares
``z_t = A_o^+ (y_o - b_o)`` over the observed rows ``o`` of each frame (NaN when fewer than
``n_latent`` rows are observed).
"""

from __future__ import annotations

import numpy as np

from lp3d_eks.result import EnsembleStatistics


def fit_linear_latent(
    obs: EnsembleStatistics, n_latent: int, confident_quantile: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA loadings ``A (K, 2V, D)``, offsets ``b (K, 2V)`` and nominal latents ``(T, K, D)``."""
    V, T, K = obs.shape
    if not (1 <= n_latent <= 2 * V):
        raise ValueError(f"n_latent: expected 1..{2 * V} for {V} views, but got {n_latent}")
    if not (0.0 < confident_quantile <= 1.0):
        raise ValueError(f"confident_quantile: expected a value in (0, 1], but got {confident_quantile}")
    Y = obs.center.transpose(2, 1, 0, 3).reshape(K, T, 2 * V)  # (K, T, 2V): view-major, x then y
    R = obs.variance.transpose(2, 1, 0, 3).reshape(K, T, 2 * V)
    A = np.zeros((K, 2 * V, n_latent))
    b = np.zeros((K, 2 * V))
    nominal = np.full((T, K, n_latent), np.nan)
    for k in range(K):
        complete = np.isfinite(Y[k]).all(axis=1)
        if complete.sum() <= n_latent:
            continue  # not enough frames with all views: this keypoint stays NaN
        maxvar = R[k].max(axis=1)
        confident = complete & (maxvar <= np.quantile(maxvar[complete], confident_quantile))
        if confident.sum() <= n_latent:
            confident = complete
        Yc = Y[k][confident]
        b[k] = Yc.mean(axis=0)
        _, _, vt = np.linalg.svd(Yc - b[k], full_matrices=False)
        A[k] = vt[:n_latent].T
        finite = np.isfinite(Y[k])
        for t in np.flatnonzero(finite.sum(axis=1) >= n_latent):
            rows = finite[t]
            nominal[t, k] = np.linalg.lstsq(A[k][rows], Y[k, t, rows] - b[k][rows], rcond=None)[0]
    return A, b, nominal
