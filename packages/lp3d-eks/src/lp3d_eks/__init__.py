"""lp3d-eks: the ensemble Kalman smoother for multi-view pose tracks (numpy-only API).

Smoothers (one argument order: data, then model, then keyword options; one result type)::

    from lp3d_eks import CameraRig, smooth_calibrated
    rig = CameraRig.from_toml("calibration.toml")
    result = smooth_calibrated(predictions, rig)     # predictions (member, view, time, keypoint, 2)
    result.mean                                      # (time, keypoint, 3) smoothed 3D

Online, with bounded latency (:mod:`lp3d_eks.fixed_lag`)::

    smoother = FixedLagSmoother(fit_fixed_lag(first_frames, rig), rig, lag=5)
    out = smoother.push(frame)                       # frame (member, view, keypoint, 2) -> frame t - 5 or None
"""

from lp3d_eks.camera import Camera, CameraRig
from lp3d_eks.consistency import describe_inconsistent_views
from lp3d_eks.ensemble import ensemble_statistics
from lp3d_eks.fixed_lag import (
    FixedLagFrame,
    FixedLagParameters,
    FixedLagSmoother,
    fit_fixed_lag,
    smooth_fixed_lag,
)
from lp3d_eks.intervals import Z_95, Coverage, chi2_quantile, interval_coverage, normal_quantile
from lp3d_eks.result import MOTIONS, SMOOTHER_KINDS, EnsembleStatistics, SmootherResult, motion_codes, motion_names
from lp3d_eks.smoother import (
    SmoothOptions,
    smooth,
    smooth_calibrated,
    smooth_multiview,
    smooth_single_view,
)
from lp3d_eks.triangulation import RobustTriangulation, triangulate_observations, triangulate_robust

__version__ = "0.1.0"

__all__ = [
    "MOTIONS",
    "SMOOTHER_KINDS",
    "Z_95",
    "Camera",
    "CameraRig",
    "Coverage",
    "EnsembleStatistics",
    "FixedLagFrame",
    "FixedLagParameters",
    "FixedLagSmoother",
    "RobustTriangulation",
    "SmoothOptions",
    "SmootherResult",
    "chi2_quantile",
    "describe_inconsistent_views",
    "ensemble_statistics",
    "fit_fixed_lag",
    "interval_coverage",
    "motion_codes",
    "motion_names",
    "normal_quantile",
    "smooth",
    "smooth_calibrated",
    "smooth_fixed_lag",
    "smooth_multiview",
    "smooth_single_view",
    "triangulate_observations",
    "triangulate_robust",
]
