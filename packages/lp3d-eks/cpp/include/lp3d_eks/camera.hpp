// Pinhole camera with OpenCV's 5-coefficient distortion (k1, k2, p1, p2, k3), exactly the model
// cv2.projectPoints evaluates for anipose calibration files, plus its analytic Jacobian,
// iterative undistortion and weighted DLT triangulation.
//
//   X_c = R X + t,  x = X_c.x / X_c.z,  y = X_c.y / X_c.z,  r2 = x^2 + y^2
//   radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3
//   x_d = x radial + 2 p1 x y + p2 (r2 + 2 x^2)
//   y_d = y radial + p1 (r2 + 2 y^2) + 2 p2 x y
//   u = fx x_d + cx,  v = fy y_d + cy            (the skew entry K[0,1] is ignored, as in OpenCV)
#pragma once

#include <Eigen/Dense>
#include <array>
#include <vector>

namespace lp3d {

struct Camera {
  Eigen::Matrix3d K = Eigen::Matrix3d::Identity();  // intrinsic matrix
  std::array<double, 5> dist{{0, 0, 0, 0, 0}};      // k1, k2, p1, p2, k3
  Eigen::Matrix3d R = Eigen::Matrix3d::Identity();  // world -> camera rotation
  Eigen::Vector3d t = Eigen::Vector3d::Zero();      // world -> camera translation

  // Projects a world point to pixels. If J is given, fills d(u, v)/dX (2x3).
  // Returns false when the point is not in front of the camera (z <= 1e-12); uv is still filled.
  bool project(const Eigen::Vector3d& X, Eigen::Vector2d& uv,
               Eigen::Matrix<double, 2, 3>* J = nullptr) const;

  // Applies the distortion to normalized coordinates (x, y); optionally its 2x2 Jacobian.
  Eigen::Vector2d distort(const Eigen::Vector2d& xy, Eigen::Matrix2d* J = nullptr) const;

  // Pixel -> undistorted normalized coordinates (inverse of distort + intrinsics), solved by
  // fixed-point iteration followed by Newton steps to machine precision.
  Eigen::Vector2d undistort(const Eigen::Vector2d& uv) const;
};

// Weighted DLT triangulation of one point from the views where `valid[v]` is true, using
// undistorted normalized coordinates; row pairs are scaled by weights[v] (e.g. a confidence).
// Returns NaN when fewer than two views are valid.
Eigen::Vector3d triangulate_dlt(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                const std::vector<double>& weights, const std::vector<bool>& valid);

}  // namespace lp3d
