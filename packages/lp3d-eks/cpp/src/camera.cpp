#include "lp3d_eks/camera.hpp"

#include <cmath>
#include <limits>

namespace lp3d {

Eigen::Vector2d Camera::distort(const Eigen::Vector2d& xy, Eigen::Matrix2d* J) const {
  const double k1 = dist[0], k2 = dist[1], p1 = dist[2], p2 = dist[3], k3 = dist[4];
  const double x = xy.x(), y = xy.y();
  const double r2 = x * x + y * y;
  const double radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
  Eigen::Vector2d out(x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                      y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y);
  if (J) {
    const double dradial_dr2 = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2);
    const double drx = 2.0 * x * dradial_dr2, dry = 2.0 * y * dradial_dr2;  // d radial / dx, dy
    (*J)(0, 0) = radial + x * drx + 2.0 * p1 * y + 6.0 * p2 * x;
    (*J)(0, 1) = x * dry + 2.0 * p1 * x + 2.0 * p2 * y;
    (*J)(1, 0) = y * drx + 2.0 * p1 * x + 2.0 * p2 * y;
    (*J)(1, 1) = radial + y * dry + 6.0 * p1 * y + 2.0 * p2 * x;
  }
  return out;
}

bool Camera::project(const Eigen::Vector3d& X, Eigen::Vector2d& uv,
                     Eigen::Matrix<double, 2, 3>* J) const {
  const Eigen::Vector3d Xc = R * X + t;
  const double z = Xc.z();
  const bool in_front = z > 1e-12;
  const double iz = 1.0 / (std::abs(z) > 1e-300 ? z : 1e-300);
  const Eigen::Vector2d xy(Xc.x() * iz, Xc.y() * iz);
  Eigen::Matrix2d Jd;
  const Eigen::Vector2d d = distort(xy, J ? &Jd : nullptr);
  const double fx = K(0, 0), fy = K(1, 1);
  uv << fx * d.x() + K(0, 2), fy * d.y() + K(1, 2);
  if (J) {
    // d(xy)/dX = d(xy)/dXc * R with d(xy)/dXc = [[1/z, 0, -x/z], [0, 1/z, -y/z]];
    // then d(uv)/dX = diag(fx, fy) * Jd * d(xy)/dX, written out for 2x2 and 2x3 blocks.
    const Eigen::RowVector3d gx = (R.row(0) - xy.x() * R.row(2)) * iz;
    const Eigen::RowVector3d gy = (R.row(1) - xy.y() * R.row(2)) * iz;
    J->row(0) = fx * (Jd(0, 0) * gx + Jd(0, 1) * gy);
    J->row(1) = fy * (Jd(1, 0) * gx + Jd(1, 1) * gy);
  }
  return in_front;
}

Eigen::Vector2d Camera::undistort(const Eigen::Vector2d& uv) const {
  const Eigen::Vector2d target((uv.x() - K(0, 2)) / K(0, 0), (uv.y() - K(1, 2)) / K(1, 1));
  const double k1 = dist[0], k2 = dist[1], p1 = dist[2], p2 = dist[3], k3 = dist[4];
  Eigen::Vector2d xy = target;
  // Fixed-point iteration (as in OpenCV) gets close ...
  for (int it = 0; it < 3; ++it) {
    const double x = xy.x(), y = xy.y(), r2 = x * x + y * y;
    const double icdist = 1.0 / (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)));
    const double dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
    const double dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
    xy << (target.x() - dx) * icdist, (target.y() - dy) * icdist;
  }
  // ... and Newton's method on distort(xy) = target finishes to machine precision.
  for (int it = 0; it < 10; ++it) {
    Eigen::Matrix2d Jd;
    const Eigen::Vector2d res = distort(xy, &Jd) - target;
    if (res.squaredNorm() < 1e-30) break;
    const double det = Jd.determinant();
    if (!std::isfinite(det) || std::abs(det) < 1e-12) break;
    xy -= Jd.inverse() * res;
  }
  return xy;
}

Eigen::Vector3d triangulate_dlt(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                const std::vector<double>& weights, const std::vector<bool>& valid) {
  // A stacks two rows per view, A [X; 1] = 0. With the last homogeneous coordinate fixed to 1,
  // least squares is the 3x3 system (A^T A)[0:3, 0:3] X = -(A^T A)[0:3, 3]: the same point as the
  // homogeneous (SVD) solution for exact data, far cheaper, and never a point at infinity.
  Eigen::Matrix4d AtA = Eigen::Matrix4d::Zero();
  int n = 0;
  for (size_t v = 0; v < cams.size(); ++v) {
    if (!valid[v]) continue;
    const Camera& c = cams[v];
    Eigen::Matrix<double, 3, 4> P;
    P << c.R, c.t;
    const Eigen::Vector2d xy = c.undistort(uv[v]);
    const double w = weights[v];
    const Eigen::RowVector4d r0 = w * (xy.x() * P.row(2) - P.row(0));
    const Eigen::RowVector4d r1 = w * (xy.y() * P.row(2) - P.row(1));
    AtA.noalias() += r0.transpose() * r0 + r1.transpose() * r1;
    ++n;
  }
  if (n < 2) return Eigen::Vector3d::Constant(std::numeric_limits<double>::quiet_NaN());
  const Eigen::LDLT<Eigen::Matrix3d> ldlt(AtA.topLeftCorner<3, 3>());
  if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().minCoeff() > 1e-14 * ldlt.vectorD().maxCoeff()))
    return Eigen::Vector3d::Constant(std::numeric_limits<double>::quiet_NaN());
  return ldlt.solve(-AtA.topRightCorner<3, 1>());
}

}  // namespace lp3d
