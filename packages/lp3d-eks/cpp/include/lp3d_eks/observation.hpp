// Observation models: how a keypoint's latent state maps to the 2D observation in each view.
//   IdentityModel    single view, latent = the 2D position itself (h(x) = x)
//   LinearModel      several views, latent z of any dimension, y_v = A_v z + b_v (per keypoint A, b)
//   CameraModel      calibrated views, latent = 3D world point, y_v = project_v(X) (nonlinear)
#pragma once

#include <vector>

#include "lp3d_eks/camera.hpp"

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
};

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
  const std::vector<Camera>& cameras() const { return cams_; }

 private:
  std::vector<Camera> cams_;
};

}  // namespace lp3d
