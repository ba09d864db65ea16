// End-to-end C++ smoother on simulated data: Brent's search, the chi-square quantile, the 3D
// smoother beating per-frame triangulation, planted outliers getting inflated, missing frames.
#include <random>

#include "check.hpp"
#include "outputs.hpp"
#include "lp3d_eks/smoother.hpp"
#include "lp3d_eks/smoothing_param.hpp"

using lp3d_test::Outputs;

int main() {
  // Brent on a concave function.
  int evals = 0;
  const double xmax = lp3d::brent_maximize([](double x) { return -(x - 1.234) * (x - 1.234); }, -10, 10, 1e-8, 100, &evals);
  CHECK_NEAR(xmax, 1.234, 1e-6);
  CHECK(evals < 40);
  CHECK_NEAR(lp3d::chi2_2dof_quantile(0.95), 5.991464547107979, 1e-12);

  // Three cameras looking at the origin from 4 m.
  std::vector<lp3d::Camera> cams(3);
  for (int v = 0; v < 3; ++v) {
    cams[v].K << 500, 0, 320, 0, 500, 240, 0, 0, 1;
    cams[v].R = Eigen::AngleAxisd(-0.8 + 0.8 * v, Eigen::Vector3d::UnitY()).toRotationMatrix();
    cams[v].t = Eigen::Vector3d(0, 0, 4.0);
  }
  const lp3d::CameraModel model(cams);
  const int T = 400, K = 2, V = 3;
  std::mt19937 rng(7);
  std::normal_distribution<double> N01(0.0, 1.0);
  std::vector<double> truth(T * K * 3), y(V * T * K * 2), r(V * T * K * 2, 4.0), nominal(T * K * 3);
  for (int k = 0; k < K; ++k) {
    Eigen::Vector3d X(0.1 * k, 0, 0);
    for (int t = 0; t < T; ++t) {
      X += 0.01 * Eigen::Vector3d(N01(rng), N01(rng), N01(rng));
      for (int d = 0; d < 3; ++d) truth[(t * K + k) * 3 + d] = X(d);
      std::vector<Eigen::Vector2d> pts(V);
      for (int v = 0; v < V; ++v) {
        Eigen::Vector2d uv;
        cams[v].project(X, uv);
        uv += 2.0 * Eigen::Vector2d(N01(rng), N01(rng));
        if (v == 1 && t % 50 == 10) uv += Eigen::Vector2d(60, -40);  // planted consistent outlier
        if (k == 1 && t >= 100 && t < 130) uv.setConstant(std::nan(""));  // missing stretch
        pts[v] = uv;
        for (int c = 0; c < 2; ++c) y[((v * T + t) * K + k) * 2 + c] = uv(c);
      }
      std::vector<bool> valid(V);
      for (int v = 0; v < V; ++v) valid[v] = std::isfinite(pts[v](0));
      const Eigen::Vector3d Xd = lp3d::triangulate_dlt(cams, pts, {1, 1, 1}, valid);
      for (int d = 0; d < 3; ++d) nominal[(t * K + k) * 3 + d] = Xd(d);
    }
  }
  lp3d::SmootherOptions opt;
  opt.n_threads = 2;
  Outputs o;
  const lp3d::SmootherOutputs out = o.ptrs(T, K, V, 3);
  lp3d::smooth_keypoints(model, y.data(), r.data(), nominal.data(), T, K, opt, out);

  double err_smooth = 0, err_tri = 0;
  int n_tri = 0, flagged = 0, planted = 0, false_alarm = 0;
  for (int k = 0; k < K; ++k)
    for (int t = 0; t < T; ++t) {
      for (int d = 0; d < 3; ++d) {
        const size_t i = (t * K + k) * 3 + d;
        CHECK(std::isfinite(o.mean[i]));
        err_smooth += (o.mean[i] - truth[i]) * (o.mean[i] - truth[i]);
        if (std::isfinite(nominal[i])) err_tri += (nominal[i] - truth[i]) * (nominal[i] - truth[i]);
      }
      n_tri += std::isfinite(nominal[(t * K + k) * 3]) ? 1 : 0;
      for (int v = 0; v < V; ++v) {
        const bool is_planted = v == 1 && t % 50 == 10 && !(k == 1 && t >= 100 && t < 130);
        const bool is_flagged = o.infl[(v * T + t) * K + k] > 1.0;
        planted += is_planted;
        flagged += is_planted && is_flagged;
        false_alarm += !is_planted && is_flagged;
      }
    }
  const double rmse_smooth = std::sqrt(err_smooth / (T * K)), rmse_tri = std::sqrt(err_tri / n_tri);
  std::printf("rmse smooth %.5f tri %.5f; flagged %d/%d planted, %d false alarms; s = %g %g; a = %g %g; iters %d %d\n",
              rmse_smooth, rmse_tri, flagged, planted, false_alarm, o.s[0], o.s[1], o.a[0], o.a[1], o.it[0], o.it[1]);
  CHECK(rmse_smooth < 0.6 * rmse_tri);
  CHECK(flagged >= planted * 9 / 10);
  CHECK(false_alarm <= T * K * V / 100);
  for (int k = 0; k < K; ++k) CHECK(o.s[k] > 1e-5 && o.s[k] < 1e-3);  // simulated s = 1e-4
  // no view scale without fitting; disagreement ~ the 2 px noise (x sqrt(2) for the 2D distance)
  for (int i = 0; i < V * K; ++i) {
    CHECK(o.b[i] == 1.0);
    CHECK(o.dis[i] > 1.0 && o.dis[i] < 5.0);
  }

  // A camera whose observations of keypoint 0 are 25 px off on every frame: its view scale is
  // fitted (the others keep 1), and the track is as good as without that camera's offset. (Off
  // across the epipolar lines: with three cameras, an offset along the epipolar line of the two
  // others is as well explained by any one of the three being off.)
  std::vector<double> y_bad = y;
  for (int t = 0; t < T; ++t) {
    y_bad[((2 * T + t) * K + 0) * 2] += 7.0;
    y_bad[((2 * T + t) * K + 0) * 2 + 1] += 24.0;
  }
  opt.fit_view_scale = true;
  lp3d::smooth_keypoints(model, y_bad.data(), r.data(), nominal.data(), T, K, opt, out);
  double err_bad = 0;
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < 3; ++d) err_bad += std::pow(o.mean[t * K * 3 + d] - truth[t * K * 3 + d], 2);
  const double rmse_bad = std::sqrt(err_bad / T);
  std::printf("bad view: scales %g %g %g (keypoint 0), disagreement %g px, rmse %.5f\n", o.b[0], o.b[K],
              o.b[2 * K], o.dis[2 * K], rmse_bad);
  CHECK(o.b[2 * K] > 20.0);
  CHECK(o.b[0] == 1.0 && o.b[K] == 1.0);
  for (int v = 0; v < V; ++v) CHECK(o.b[v * K + 1] == 1.0);  // keypoint 1 untouched
  CHECK_NEAR(o.dis[2 * K], 25.0, 5.0);
  CHECK(rmse_bad < 1.5 * rmse_smooth);
  TEST_MAIN_END();
}
