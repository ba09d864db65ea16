#include "lp3d_eks/camera.hpp"

#include <cmath>
#include <limits>

namespace lp3d {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Eigen::Vector2d distort_pinhole(const std::array<double, 5>& dist, const Eigen::Vector2d& xy, Eigen::Matrix2d* J) {
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

// theta_d(theta) of the fisheye model and its derivative.
inline double fisheye_theta_d(const std::array<double, 5>& k, double theta, double* derivative) {
  const double t2 = theta * theta;
  if (derivative) *derivative = 1.0 + t2 * (3.0 * k[0] + t2 * (5.0 * k[1] + t2 * (7.0 * k[2] + t2 * 9.0 * k[3])));
  return theta * (1.0 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))));
}

Eigen::Vector2d distort_fisheye(const std::array<double, 5>& k, const Eigen::Vector2d& xy, Eigen::Matrix2d* J) {
  const double r = xy.norm();
  if (!(r > 1e-8)) {  // OpenCV's cut-off: the distortion is the identity there
    if (J) J->setIdentity();
    return xy;
  }
  const double theta = std::atan(r);
  double dtheta_d = 0.0;
  const double c = fisheye_theta_d(k, theta, J ? &dtheta_d : nullptr) / r;  // (x_d, y_d) = c (x, y)
  if (J) {
    // d c / d r = (theta_d'(theta) / (1 + r^2) - c) / r; J = c I + (dc/dr / r) xy xy^T
    const double g = (dtheta_d / (1.0 + r * r) - c) / (r * r);
    *J = g * xy * xy.transpose();
    (*J)(0, 0) += c;
    (*J)(1, 1) += c;
  }
  return c * xy;
}

}  // namespace

Eigen::Vector2d Camera::distort(const Eigen::Vector2d& xy, Eigen::Matrix2d* J) const {
  return fisheye ? distort_fisheye(dist, xy, J) : distort_pinhole(dist, xy, J);
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
  if (fisheye) {
    // theta from theta_d by Newton's method, then (x, y) = tan(theta) / theta_d * target. Where
    // no theta in [0, pi/2) with an increasing theta_d maps to the pixel (beyond the lens model's
    // 90 degrees, or where it folds over) there is no ray: NaN (OpenCV clips theta_d to pi/2 and
    // returns a wrong ray there).
    const double theta_d = target.norm();
    if (!(theta_d > 0.0)) return target;
    double theta = std::min(theta_d, 1.5);
    double slope = 0.0;
    for (int it = 0; it < 50; ++it) {
      const double fix = (fisheye_theta_d(dist, theta, &slope) - theta_d) / slope;
      theta -= fix;
      if (!(std::abs(fix) > 1e-16 * theta)) break;
    }
    const double residual = fisheye_theta_d(dist, theta, &slope) - theta_d;
    if (!(theta >= 0.0 && theta < M_PI / 2.0 && slope > 0.0 && std::abs(residual) <= 1e-12 * theta_d))
      return Eigen::Vector2d(kNaN, kNaN);
    return target * (std::tan(theta) / theta_d);
  }
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
    const Eigen::Vector2d res = distort_pinhole(dist, xy, &Jd) - target;
    if (res.squaredNorm() < 1e-30) break;
    const double det = Jd.determinant();
    if (!std::isfinite(det) || std::abs(det) < 1e-12) break;
    xy -= Jd.inverse() * res;
  }
  return xy;
}

namespace {

// DLT from undistorted normalized coordinates xy of the views with a positive weight.
// A stacks two rows per view, A [X; 1] = 0. With the last homogeneous coordinate fixed to 1,
// least squares is the 3x3 system (A^T A)[0:3, 0:3] X = -(A^T A)[0:3, 3]: the same point as the
// homogeneous (SVD) solution for exact data, far cheaper, and never a point at infinity.
Eigen::Vector3d dlt_normalized(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& xy,
                               const std::vector<double>& weights) {
  Eigen::Matrix4d AtA = Eigen::Matrix4d::Zero();
  int n = 0;
  for (size_t v = 0; v < cams.size(); ++v) {
    const double w = weights[v];
    if (!(w > 0.0)) continue;
    const Camera& c = cams[v];
    Eigen::Matrix<double, 3, 4> P;
    P << c.R, c.t;
    const Eigen::RowVector4d r0 = w * (xy[v].x() * P.row(2) - P.row(0));
    const Eigen::RowVector4d r1 = w * (xy[v].y() * P.row(2) - P.row(1));
    AtA.noalias() += r0.transpose() * r0 + r1.transpose() * r1;
    ++n;
  }
  if (n < 2) return Eigen::Vector3d::Constant(kNaN);
  const Eigen::LDLT<Eigen::Matrix3d> ldlt(AtA.topLeftCorner<3, 3>());
  if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().minCoeff() > 1e-14 * ldlt.vectorD().maxCoeff()))
    return Eigen::Vector3d::Constant(kNaN);
  return ldlt.solve(-AtA.topRightCorner<3, 1>());
}

}  // namespace

Eigen::Vector3d triangulate_dlt(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                const std::vector<double>& weights, const std::vector<bool>& valid) {
  std::vector<Eigen::Vector2d> xy(cams.size(), Eigen::Vector2d::Zero());
  std::vector<double> w(cams.size(), 0.0);
  for (size_t v = 0; v < cams.size(); ++v) {
    if (!valid[v]) continue;
    xy[v] = cams[v].undistort(uv[v]);
    if (xy[v].allFinite()) w[v] = weights[v];
  }
  return dlt_normalized(cams, xy, w);
}

Eigen::Vector3d triangulate_robust(const std::vector<Camera>& cams, const std::vector<Eigen::Vector2d>& uv,
                                   const std::vector<bool>& valid, double threshold, std::vector<uint8_t>& used,
                                   std::vector<double>& error) {
  const size_t V = cams.size();
  used.assign(V, 0);
  error.assign(V, kNaN);
  std::vector<Eigen::Vector2d> xy(V, Eigen::Vector2d::Zero());
  std::vector<uint8_t> ok(V, 0);
  for (size_t v = 0; v < V; ++v) {
    if (!valid[v]) continue;
    xy[v] = cams[v].undistort(uv[v]);
    ok[v] = xy[v].allFinite();
  }
  // reprojection errors of every usable view (infinite behind a camera); returns the consensus
  std::vector<double> err(V);
  auto consensus = [&](const Eigen::Vector3d& X, std::vector<double>& w, double& sse) {
    int count = 0;
    sse = 0.0;
    for (size_t v = 0; v < V; ++v) {
      w[v] = 0.0;
      err[v] = kNaN;
      if (!ok[v]) continue;
      Eigen::Vector2d p;
      err[v] = cams[v].project(X, p) ? (p - uv[v]).norm() : std::numeric_limits<double>::infinity();
      if (err[v] < threshold) {
        w[v] = 1.0;
        sse += err[v] * err[v];
        ++count;
      }
    }
    return count;
  };
  std::vector<double> pair(V, 0.0), w(V), best(V, 0.0);
  int best_count = 0;
  double best_sse = 0.0;
  for (size_t i = 0; i < V; ++i) {
    if (!ok[i]) continue;
    for (size_t j = i + 1; j < V; ++j) {
      if (!ok[j]) continue;
      pair[i] = pair[j] = 1.0;
      const Eigen::Vector3d X = dlt_normalized(cams, xy, pair);
      pair[i] = pair[j] = 0.0;
      if (!X.allFinite()) continue;
      double sse;
      const int count = consensus(X, w, sse);
      if (count >= 2 && (count > best_count || (count == best_count && sse < best_sse))) {
        best_count = count;
        best_sse = sse;
        best = w;
      }
    }
  }
  if (best_count < 2) return Eigen::Vector3d::Constant(kNaN);
  Eigen::Vector3d X = dlt_normalized(cams, xy, best);
  for (int it = 0; it < 5; ++it) {
    double sse;
    if (consensus(X, w, sse) < 2 || w == best) break;
    best = w;
    X = dlt_normalized(cams, xy, best);
  }
  if (!X.allFinite()) return X;
  double sse;
  consensus(X, w, sse);
  for (size_t v = 0; v < V; ++v) {
    used[v] = best[v] > 0.0;
    error[v] = err[v];
  }
  return X;
}

}  // namespace lp3d
