// Calibrated cameras, exactly as OpenCV evaluates anipose calibration files: the pinhole model
// with 5-coefficient distortion (k1, k2, p1, p2, k3) of cv2.projectPoints, or the fisheye model
// of cv2.fisheye.projectPoints (k1, k2, k3, k4). Projection with its analytic Jacobian, undistortion
// to machine precision, weighted DLT triangulation and robust (view-dropping) triangulation.
//
//   X_c = R X + t,  x = X_c.x / X_c.z,  y = X_c.y / X_c.z,  r2 = x^2 + y^2
// pinhole:
//   radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3
//   x_d = x radial + 2 p1 x y + p2 (r2 + 2 x^2)
//   y_d = y radial + p1 (r2 + 2 y^2) + 2 p2 x y
// fisheye (equidistant with a polynomial in the angle; OpenCV's cv::fisheye):
//   r = sqrt(r2),  theta = atan(r),  theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
//   (x_d, y_d) = (theta_d / r) (x, y)          ((x, y) itself when r <= 1e-8, as OpenCV)
// both:
//   u = fx x_d + cx,  v = fy y_d + cy            (the skew entry K[0,1] is ignored, as in OpenCV)
#pragma once

#include <Eigen/Dense>
#include <array>
#include <cstdint>
#include <vector>

namespace lp3d {

struct Camera {
  Eigen::Matrix3d K = Eigen::Matrix3d::Identity();  // intrinsic matrix
  std::array<double, 5> dist{{0, 0, 0, 0, 0}};      // pinhole: k1, k2, p1, p2, k3; fisheye: k1..k4, 0
  bool fisheye = false;                             // the lens model (see the header comment)
  Eigen::Matrix3d R = Eigen::Matrix3d::Identity();  // world -> camera rotation
  Eigen::Vector3d t = Eigen::Vector3d::Zero();      // world -> camera translation

  // Projects a world point to pixels. If J is given, fills d(u, v)/dX (2x3).
  // Returns false when the point is not in front of the camera (z <= 1e-12); uv is still filled.
  bool project(const Eigen::Vector3d& X, Eigen::Vector2d& uv,
               Eigen::Matrix<double, 2, 3>* J = nullptr) const;

  // Applies the lens distortion to normalized coordinates (x, y); optionally its 2x2 Jacobian.
  Eigen::Vector2d distort(const Eigen::Vector2d& xy, Eigen::Matrix2d* J = nullptr) const;

  // Pixel -> undistorted normalized coordinates (inverse of distort + intrinsics), to machine
  // precision: pinhole by fixed-point iteration then Newton steps, fisheye by Newton's method on
  // theta_d(theta) (NaN where the fisheye model has no inverse: the solution flips sign, as
  // OpenCV reports).
  Eigen::Vector2d undistort(const Eigen::Vector2d& uv) const;
};

// Weighted DLT triangulation of one point from the views where `valid[v]` is true, using
// undistorted normalized coordinates; row pairs are scaled by weights[v] (e.g. a confidence).
// Returns NaN when fewer than two views are valid.
Eigen::Vector3d triangulate_dlt(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                const std::vector<double>& weights, const std::vector<bool>& valid);

// Robust triangulation of one point: the views that agree.
// Every pair of valid views is a hypothesis (DLT of the two, in front of both cameras); its
// consensus is the valid views whose reprojection error is below `threshold` pixels. The largest
// consensus wins (ties: the smallest sum of squared errors over it); the point is then the DLT of
// its consensus, and the consensus is recomputed around it until it stops changing (at most 5
// times). On return `used[v]` marks the views of the final consensus and `error[v]` holds every
// valid view's reprojection error (pixels, NaN for invalid views or without a point). NaN
// when no two views agree within the threshold.
Eigen::Vector3d triangulate_robust(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                   const std::vector<bool>& valid, double threshold, std::vector<uint8_t>& used,
                                   std::vector<double>& error);

}  // namespace lp3d
