// Observation models: how a keypoint's latent state maps to the 2D observation in each view.
//   IdentityModel    single view, latent = the 2D position itself (h(x) = x)
//   LinearModel      several views, latent z of any dimension, y_v = A_v z + b_v (per keypoint A, b)
//   CameraModel      calibrated views, latent = 3D world point, y_v = project_v(X) (nonlinear)
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "lp3d_eks/camera.hpp"
#include "lp3d_eks/kalman.hpp"

namespace lp3d {

class ObservationModel {
 public:
  virtual ~ObservationModel() = default;
  virtual int dim() const = 0;
  virtual int views() const = 0;
  virtual bool is_linear() const = 0;
  // Evaluates view v for keypoint k at latent x: h (2) and the Jacobian J (2 x dim, row-major).
  // Returns false where the observation is undefined (a point behind the camera).
  virtual bool evaluate(int k, int v, const double* x, double* h, double* J) const = 0;
  // A latent point from one frame's observations of keypoint k alone (y, r: (V, 2), NaN where
  // missing; a view counts with both coordinates): the observation itself, the weighted
  // least-squares latent, or the DLT triangulation (in front of every camera that saw it).
  // Returns false when they do not determine one (too few views). The fixed-lag smoother starts
  // a keypoint there when no prior is given.
  virtual bool initial_point(int k, const double* y, const double* r, double* x) const = 0;
};

// Linearizes frame t of keypoint k's observations at the latent x (dim): J and c of each view
// with data (a finite coordinate and variance), ok = whether the model is defined there; a view
// without data gets ok = 0. `J` is scratch of size 2 * dim. Shared by the offline and the
// fixed-lag smoother, so both linearize a frame alike.
inline void linearize_frame(const ObservationModel& model, int k, int t, const double* x, LinearizedObs& obs,
                            double* J) {
  const int dim = obs.D;
  double h[2];
  for (int v = 0; v < obs.V; ++v) {
    const size_t tv = obs.tv(t, v);
    const double* yy = &obs.y[tv * 2];
    const double* rr = &obs.r[tv * 2];
    const bool any = (std::isfinite(yy[0]) && std::isfinite(rr[0]) && rr[0] >= 0.0) ||
                     (std::isfinite(yy[1]) && std::isfinite(rr[1]) && rr[1] >= 0.0);
    if (!any) {
      obs.ok[tv] = 0;
      continue;
    }
    obs.ok[tv] = model.evaluate(k, v, x, h, J) ? 1 : 0;
    for (int c = 0; c < 2; ++c) {
      double jx = 0.0;
      for (int d = 0; d < dim; ++d) {
        obs.J[(tv * 2 + c) * dim + d] = J[c * dim + d];
        jx += J[c * dim + d] * x[d];
      }
      obs.c[tv * 2 + c] = h[c] - jx;
    }
  }
}

class IdentityModel final : public ObservationModel {
 public:
  int dim() const override { return 2; }
  int views() const override { return 1; }
  bool is_linear() const override { return true; }
  bool evaluate(int, int, const double* x, double* h, double* J) const override {
    h[0] = x[0]; h[1] = x[1];
    J[0] = 1.0; J[1] = 0.0; J[2] = 0.0; J[3] = 1.0;
    return true;
  }
  bool initial_point(int, const double* y, const double*, double* x) const override {
    if (!std::isfinite(y[0]) || !std::isfinite(y[1])) return false;
    x[0] = y[0]; x[1] = y[1];
    return true;
  }
};

class LinearModel final : public ObservationModel {
 public:
  // A: (K, 2V, D) row-major, b: (K, 2V); copied.
  LinearModel(const double* A, const double* b, int K, int V, int D)
      : A_(A, A + static_cast<size_t>(K) * 2 * V * D), b_(b, b + static_cast<size_t>(K) * 2 * V), V_(V), D_(D) {}
  int dim() const override { return D_; }
  int views() const override { return V_; }
  bool is_linear() const override { return true; }
  bool evaluate(int k, int v, const double* x, double* h, double* J) const override {
    for (int c = 0; c < 2; ++c) {
      const size_t row = static_cast<size_t>(k) * 2 * V_ + 2 * v + c;
      const double* a = &A_[row * D_];
      double acc = b_[row];
      for (int d = 0; d < D_; ++d) {
        J[c * D_ + d] = a[d];
        acc += a[d] * x[d];
      }
      h[c] = acc;
    }
    return true;
  }
  bool initial_point(int k, const double* y, const double* r, double* x) const override {
    // weighted least squares over the observed rows: (A^T W A) x = A^T W (y - b), W = 1 / r
    Eigen::MatrixXd AtWA = Eigen::MatrixXd::Zero(D_, D_);
    Eigen::VectorXd AtWy = Eigen::VectorXd::Zero(D_);
    int rows = 0;
    for (int v = 0; v < V_; ++v) {
      if (!std::isfinite(y[2 * v]) || !std::isfinite(y[2 * v + 1])) continue;
      for (int c = 0; c < 2; ++c) {
        const size_t row = static_cast<size_t>(k) * 2 * V_ + 2 * v + c;
        const Eigen::Map<const Eigen::VectorXd> a(&A_[row * D_], D_);
        const double w = (r[2 * v + c] > 0.0 && std::isfinite(r[2 * v + c])) ? 1.0 / r[2 * v + c] : 1.0;
        AtWA.noalias() += w * a * a.transpose();
        AtWy.noalias() += w * a * (y[2 * v + c] - b_[row]);
        ++rows;
      }
    }
    if (rows < D_) return false;
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(AtWA);
    const Eigen::VectorXd d = ldlt.vectorD();
    if (ldlt.info() != Eigen::Success || !(d.minCoeff() > 1e-12 * std::max(d.maxCoeff(), 1e-300))) return false;
    Eigen::Map<Eigen::VectorXd>(x, D_) = ldlt.solve(AtWy);
    return true;
  }

 private:
  std::vector<double> A_, b_;
  int V_, D_;
};

class CameraModel final : public ObservationModel {
 public:
  explicit CameraModel(std::vector<Camera> cams) : cams_(std::move(cams)) {}
  int dim() const override { return 3; }
  int views() const override { return static_cast<int>(cams_.size()); }
  bool is_linear() const override { return false; }
  bool evaluate(int, int v, const double* x, double* h, double* J) const override {
    Eigen::Vector2d uv;
    Eigen::Matrix<double, 2, 3> Jm;
    const bool ok = cams_[v].project(Eigen::Vector3d(x[0], x[1], x[2]), uv, &Jm);
    h[0] = uv.x(); h[1] = uv.y();
    for (int c = 0; c < 2; ++c)
      for (int d = 0; d < 3; ++d) J[c * 3 + d] = Jm(c, d);
    return ok;
  }
  bool initial_point(int, const double* y, const double*, double* x) const override {
    const int V = views();
    std::vector<Eigen::Vector2d> uv(V);
    std::vector<bool> valid(V);
    int n = 0;
    for (int v = 0; v < V; ++v) {
      uv[v] = Eigen::Vector2d(y[2 * v], y[2 * v + 1]);
      valid[v] = std::isfinite(uv[v].x()) && std::isfinite(uv[v].y());
      n += valid[v];
    }
    if (n < 2) return false;
    const Eigen::Vector3d X = triangulate_dlt(cams_, uv, std::vector<double>(V, 1.0), valid);
    if (!X.allFinite()) return false;
    for (int v = 0; v < V; ++v)
      if (valid[v] && !((cams_[v].R.row(2).dot(X) + cams_[v].t.z()) > 0.0)) return false;  // behind a camera
    for (int d = 0; d < 3; ++d) x[d] = X(d);
    return true;
  }
  const std::vector<Camera>& cameras() const { return cams_; }

 private:
  std::vector<Camera> cams_;
};

}  // namespace lp3d
