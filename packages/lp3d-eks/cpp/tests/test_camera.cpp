// Camera model (pinhole and fisheye): analytic Jacobian vs finite differences, undistortion
// inverts distortion, DLT recovers exactly projected points, robust triangulation drops a bad view.
#include <random>

#include "check.hpp"
#include "lp3d_eks/camera.hpp"

using lp3d::Camera;

static Camera make_camera(double angle, double k1, bool fisheye = false) {
  Camera c;
  c.K << 800, 0, 320, 0, 780, 240, 0, 0, 1;
  c.dist = {k1, 0.05, 0.001, -0.002, 0.01};
  c.fisheye = fisheye;
  c.R = Eigen::AngleAxisd(angle, Eigen::Vector3d::UnitY()).toRotationMatrix();
  c.t = Eigen::Vector3d(0.1, -0.05, 5.0);
  return c;
}

int main() {
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> U(-0.5, 0.5);
  for (const Camera& cam : {make_camera(0.3, -0.2), make_camera(0.3, 0.05, true)}) {

  // Jacobian vs central differences.
  for (int i = 0; i < 20; ++i) {
    const Eigen::Vector3d X(U(rng), U(rng), U(rng));
    Eigen::Vector2d uv;
    Eigen::Matrix<double, 2, 3> J;
    CHECK(cam.project(X, uv, &J));
    for (int d = 0; d < 3; ++d) {
      Eigen::Vector3d dx = Eigen::Vector3d::Zero();
      dx(d) = 1e-6;
      Eigen::Vector2d up, um;
      cam.project(X + dx, up);
      cam.project(X - dx, um);
      const Eigen::Vector2d num = (up - um) / 2e-6;
      CHECK_NEAR(J(0, d), num(0), 1e-4 * (1 + std::abs(num(0))));
      CHECK_NEAR(J(1, d), num(1), 1e-4 * (1 + std::abs(num(1))));
    }
    // undistort(project(X)) = normalized camera coordinates of X
    const Eigen::Vector3d Xc = cam.R * X + cam.t;
    const Eigen::Vector2d xy = cam.undistort(uv);
    CHECK_NEAR(xy(0), Xc(0) / Xc(2), 1e-12);
    CHECK_NEAR(xy(1), Xc(1) / Xc(2), 1e-12);
  }

  // Behind the camera is reported.
  Eigen::Vector2d uv;
  CHECK(!cam.project(Eigen::Vector3d(0, 0, -10), uv));
  }

  // DLT from exact projections recovers the point; fewer than two views gives NaN.
  std::vector<Camera> cams = {make_camera(-0.6, -0.2), make_camera(0.0, 0.1), make_camera(0.7, -0.05)};
  for (int i = 0; i < 20; ++i) {
    const Eigen::Vector3d X(U(rng), U(rng), U(rng));
    std::vector<Eigen::Vector2d> pts(3);
    for (int v = 0; v < 3; ++v) cams[v].project(X, pts[v]);
    const Eigen::Vector3d Xh = lp3d::triangulate_dlt(cams, pts, {1.0, 2.0, 0.5}, {true, true, true});
    CHECK((Xh - X).norm() < 1e-9);
    const Eigen::Vector3d X2 = lp3d::triangulate_dlt(cams, pts, {1.0, 1.0, 1.0}, {true, false, true});
    CHECK((X2 - X).norm() < 1e-9);
  }
  const Eigen::Vector3d Xn = lp3d::triangulate_dlt(cams, std::vector<Eigen::Vector2d>(3, Eigen::Vector2d(1, 1)),
                                                   {1, 1, 1}, {true, false, false});
  CHECK(std::isnan(Xn(0)));

  // Robust triangulation: a view 40 px off is dropped and the point is exact from the others.
  cams.push_back(make_camera(0.35, 0.02, true));
  for (int i = 0; i < 20; ++i) {
    const Eigen::Vector3d X(U(rng), U(rng), U(rng));
    std::vector<Eigen::Vector2d> pts(4);
    for (int v = 0; v < 4; ++v) cams[v].project(X, pts[v]);
    const int bad = i % 4;
    pts[bad] += Eigen::Vector2d(24.0, -32.0);
    std::vector<uint8_t> used;
    std::vector<double> err;
    const Eigen::Vector3d Xr = lp3d::triangulate_robust(cams, pts, {true, true, true, true}, 10.0, used, err);
    CHECK((Xr - X).norm() < 1e-9);
    for (int v = 0; v < 4; ++v) CHECK(used[v] == (v != bad));
    CHECK_NEAR(err[bad], 40.0, 1e-6);
    // only two views, and they disagree: no point
    const Eigen::Vector3d X2 = lp3d::triangulate_robust(cams, pts, {bad == 0, bad != 0, false, false}, 10.0, used, err);
    CHECK(!X2.allFinite() || bad != 0);
  }
  TEST_MAIN_END();
}
