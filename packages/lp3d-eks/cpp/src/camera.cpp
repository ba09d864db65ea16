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
    // d(xy)/dXc = [[1/z, 0, -x/z], [0, 1/z, -y/z]]; chain: diag(f) * Jd * dxy/dXc * R
    Eigen::Matrix<double, 2, 3> dxy;
    dxy << iz, 0.0, -xy.x() * iz, 0.0, iz, -xy.y() * iz;
    Eigen::Matrix2d F = Eigen::Vector2d(fx, fy).asDiagonal();
    *J = F * Jd * dxy * R;
  }
  return in_front;
}

Eigen::Vector2d Camera::undistort(const Eigen::Vector2d& uv) const {
  const Eigen::Vector2d target((uv.x() - K(0, 2)) / K(0, 0), (uv.y() - K(1, 2)) / K(1, 1));
  const double k1 = dist[0], k2 = dist[1], p1 = dist[2], p2 = dist[3], k3 = dist[4];
  Eigen::Vector2d xy = target;
  // Fixed-point iteration (as in OpenCV) gets close ...
  for (int it = 0; it < 8; ++it) {
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
    if (res.norm() < 1e-15) break;
    const double det = Jd.determinant();
    if (!std::isfinite(det) || std::abs(det) < 1e-12) break;
    xy -= Jd.inverse() * res;
  }
  return xy;
}

Eigen::Vector3d triangulate_dlt(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                const std::vector<double>& weights, const std::vector<bool>& valid) {
  const int V = static_cast<int>(cams.size());
  int n = 0;
  for (int v = 0; v < V; ++v) n += valid[v] ? 1 : 0;
  if (n < 2) return Eigen::Vector3d::Constant(std::numeric_limits<double>::quiet_NaN());
  Eigen::MatrixXd A(2 * n, 4);
  int row = 0;
  for (int v = 0; v < V; ++v) {
    if (!valid[v]) continue;
    const Camera& c = cams[v];
    Eigen::Matrix<double, 3, 4> P;
    P << c.R, c.t;
    const Eigen::Vector2d xy = c.undistort(uv[v]);
    const double w = weights[v];
    A.row(row++) = w * (xy.x() * P.row(2) - P.row(0));
    A.row(row++) = w * (xy.y() * P.row(2) - P.row(1));
  }
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(A, Eigen::ComputeFullV);
  const Eigen::Vector4d h = svd.matrixV().col(3);
  if (std::abs(h(3)) < 1e-300) return Eigen::Vector3d::Constant(std::numeric_limits<double>::quiet_NaN());
  return h.head<3>() / h(3);
}

}  // namespace lp3d
