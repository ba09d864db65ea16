// The fixed-lag smoother: with a linear model, the same parameters, no inflation and a lag covering
// the whole track it is the offline smoother to rounding; at lag L frame t is the Kalman + RTS
// posterior of frames 0..t+L (itself checked against a dense solve in test_kalman); the online
// object gives exactly what the whole-array function gives; a calibrated track stays within a
// tiny fraction of a posterior standard deviation of the offline one; planted outliers are inflated.
#include <random>

#include "check.hpp"
#include "outputs.hpp"
#include "lp3d_eks/fixed_lag.hpp"
#include "lp3d_eks/kalman.hpp"
#include "lp3d_eks/smoother.hpp"

namespace {

using lp3d_test::Outputs;

// The fixed-lag options of the offline smoother's parameters (s, a, b, prior, inflation, threads) at lag L.
lp3d::FixedLagOptions same_parameters(const lp3d::SmootherOptions& off, int lag) {
  lp3d::FixedLagOptions fl;
  fl.s = off.s;
  fl.noise_scale = off.noise_scale;
  fl.view_scale = off.view_scale;
  fl.m0 = off.m0;
  fl.P0 = off.P0;
  fl.inflate = off.inflate;
  fl.n_threads = off.n_threads;
  fl.lag = lag;
  return fl;
}

// Keypoint k's observations (y, r: (V, T, K, 2)) of a linear model, as the offline filter sees them.
lp3d::LinearizedObs linearized(const lp3d::ObservationModel& model, const std::vector<double>& y,
                               const std::vector<double>& r, int T, int K, int k) {
  const int V = model.views(), D = model.dim();
  lp3d::LinearizedObs obs;
  obs.resize(T, V, D);
  std::vector<double> zero(D, 0.0), J(2 * D);
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) {
      double h[2];
      model.evaluate(k, v, zero.data(), h, J.data());
      obs.ok[obs.tv(t, v)] = 1;
      for (int c = 0; c < 2; ++c) {
        const size_t src = ((static_cast<size_t>(v) * T + t) * K + k) * 2 + c, i = obs.tv(t, v) * 2 + c;
        obs.y[i] = y[src];
        obs.r[i] = r[src];
        obs.c[i] = h[c];
        for (int d = 0; d < D; ++d) obs.J[i * D + d] = J[c * D + d];
      }
    }
  return obs;
}

// At fl.lag = L, frame t of the stream of a linear model (3 latent dims, its state N = 3 or 6 with a
// velocity) is the Kalman + RTS posterior of frames 0..t+L, the prior m0 = 0.5, P0 = 4 I (the
// velocity's: 0 and the position's covariance); returns the stream's outputs.
template <int N>
Outputs check_lag(const lp3d::ObservationModel& model, const std::vector<double>& y, const std::vector<double>& r,
                  int T, int K, const lp3d::FixedLagOptions& fl) {
  constexpr int D = 3;
  const int V = model.views(), L = fl.lag;
  Outputs out;
  lp3d::fixed_lag_keypoints(model, y.data(), r.data(), T, K, fl, out.ptrs(T, K, V, D));
  for (int k = 0; k < K; ++k) {
    const lp3d::LinearizedObs obs = linearized(model, y, r, T, K, k);
    lp3d::VecD<N> m0 = lp3d::VecD<N>::Zero();
    m0.template head<D>().setConstant(0.5);
    const lp3d::MatD<N> P0 = 4.0 * lp3d::MatD<N>::Identity();
    const lp3d::MatD<N> Q = lp3d::process_covariance<N>(Eigen::Matrix3d::Identity(), N / D);
    const std::vector<double> bv(fl.view_scale.begin() + k * V, fl.view_scale.begin() + (k + 1) * V);
    for (int t : {0, 7, 30, T - L - 1, T - 1}) {
      const int n = std::min(T, t + L + 1);
      std::vector<double> m(n * N), P(n * N * N);
      lp3d::kalman_filter<D, N>(obs, 0, n, fl.s[k], Q, m0, P0, fl.noise_scale[k], nullptr, bv.data(), m.data(),
                                P.data());
      lp3d::rts_smoother<N>(n, N, fl.s[k], Q, m.data(), P.data(), D);
      for (int d = 0; d < D; ++d) {
        CHECK_NEAR(out.mean[(t * K + k) * D + d], m[t * N + d], 1e-9);
        for (int e = 0; e < D; ++e) CHECK_NEAR(out.cov[((t * K + k) * D + d) * D + e], P[(t * N + d) * N + e], 1e-9);
      }
    }
  }
  return out;
}

double max_abs_diff(const std::vector<double>& x, const std::vector<double>& y) {
  double d = 0.0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}

}  // namespace

int main() {
  std::mt19937 rng(11);
  std::normal_distribution<double> N01(0.0, 1.0);

  // --- a linear model: 3 views, 3 latent dims, 2 keypoints ---------------------------------------
  {
    const int T = 60, K = 2, V = 3, D = 3;
    std::vector<double> A(K * 2 * V * D), b(K * 2 * V);
    for (auto& x : A) x = N01(rng);
    for (auto& x : b) x = 10 * N01(rng);
    const lp3d::LinearModel model(A.data(), b.data(), K, V, D);
    std::vector<double> y(V * T * K * 2), r(V * T * K * 2), nominal(T * K * D, 0.0);
    for (int k = 0; k < K; ++k) {
      std::vector<double> z(D, 0.0);
      for (int t = 0; t < T; ++t) {
        for (auto& x : z) x += 0.5 * N01(rng);
        double h[2], J[2 * D];
        for (int v = 0; v < V; ++v) {
          model.evaluate(k, v, z.data(), h, J);
          for (int c = 0; c < 2; ++c) {
            const size_t i = ((v * T + t) * K + k) * 2 + c;
            y[i] = h[c] + N01(rng);
            r[i] = 0.5 + 0.1 * (t % 7);
            if ((t * 3 + v) % 17 == 5) y[i] = std::nan("");  // missing coordinates and views
          }
        }
      }
    }
    lp3d::SmootherOptions off;
    off.s = {0.3, 0.2};
    off.noise_scale = {1.1, 0.9};
    off.view_scale = {1.0, 2.0, 1.0, 1.0, 1.0, 3.0};
    off.m0.assign(K * D, 0.5);
    off.P0.assign(K * D * D, 0.0);
    for (int k = 0; k < K; ++k)
      for (int d = 0; d < D; ++d) off.P0[(k * D + d) * D + d] = 4.0;
    off.inflate = false;
    off.n_threads = 1;
    Outputs o1;
    lp3d::smooth_keypoints(model, y.data(), r.data(), nominal.data(), T, K, off, o1.ptrs(T, K, V, D));

    lp3d::FixedLagOptions fl = same_parameters(off, T);  // a lag of at least the whole track
    Outputs o2;
    lp3d::fixed_lag_keypoints(model, y.data(), r.data(), T, K, fl, o2.ptrs(T, K, V, D));
    CHECK(max_abs_diff(o1.mean, o2.mean) < 1e-9);
    CHECK(max_abs_diff(o1.cov, o2.cov) < 1e-9);
    CHECK(max_abs_diff(o1.rep, o2.rep) < 1e-9);
    CHECK(max_abs_diff(o1.repv, o2.repv) < 1e-9);
    for (int k = 0; k < K; ++k) CHECK_NEAR(o1.ll[k], o2.ll[k], 1e-9 * std::abs(o1.ll[k]));

    // lag L: frame t is the RTS posterior of frames 0..t+L
    for (int L : {0, 3, 10}) {
      fl.lag = L;
      const Outputs o3 = check_lag<3>(model, y, r, T, K, fl);
      // the online object: frame by frame, (V, 1, K, 2) inputs, the same numbers bit for bit
      lp3d::FixedLagSmoother online(model, K, fl);
      Outputs o4;
      const lp3d::SmootherOutputs p4 = o4.ptrs(T, K, V, D);
      std::vector<double> yf(V * K * 2), rf(V * K * 2);
      int64_t expected = 0;
      for (int t = 0; t < T; ++t) {
        for (int v = 0; v < V; ++v)
          for (int i = 0; i < K * 2; ++i) {
            yf[v * K * 2 + i] = y[(v * T + t) * K * 2 + i];
            rf[v * K * 2 + i] = r[(v * T + t) * K * 2 + i];
          }
        const int64_t out = online.push(yf.data(), rf.data(), 1, 0, p4, T, std::max(0, t - L));
        CHECK(out == (t >= L ? expected++ : -1));
      }
      CHECK(online.flush(p4, T, T - std::min(T, L)) == std::min(T, L));
      CHECK(online.frames_out() == T && online.buffered() == 0);
      CHECK(max_abs_diff(o3.mean, o4.mean) == 0.0);
      CHECK(max_abs_diff(o3.cov, o4.cov) == 0.0);
      CHECK(max_abs_diff(o3.rep, o4.rep) == 0.0);
    }

    // constant velocity (the state holds the velocity too): the same identities, against the
    // order-2 filter + RTS with the velocity's prior the position's (as both smoothers start it)
    off.motion = 2;
    fl.motion.assign(K, 2);
    fl.lag = T;
    Outputs o5, o6;
    lp3d::smooth_keypoints(model, y.data(), r.data(), nominal.data(), T, K, off, o5.ptrs(T, K, V, D));
    lp3d::fixed_lag_keypoints(model, y.data(), r.data(), T, K, fl, o6.ptrs(T, K, V, D));
    CHECK(max_abs_diff(o5.mean, o6.mean) < 1e-9);
    CHECK(max_abs_diff(o5.cov, o6.cov) < 1e-9);
    CHECK(max_abs_diff(o5.mean, o1.mean) > 1e-3);  // a different motion: a different track
    for (int L : {0, 3, 10}) {
      fl.lag = L;
      check_lag<6>(model, y, r, T, K, fl);
    }
  }

  // --- calibrated: three cameras 4 m away, one planted outlier every 50 frames ------------------
  {
    std::vector<lp3d::Camera> cams(3);
    for (int v = 0; v < 3; ++v) {
      cams[v].K << 500, 0, 320, 0, 500, 240, 0, 0, 1;
      cams[v].dist = {-0.1, 0.01, 0.001, -0.001, 0.0};
      cams[v].R = Eigen::AngleAxisd(-0.8 + 0.8 * v, Eigen::Vector3d::UnitY()).toRotationMatrix();
      cams[v].t = Eigen::Vector3d(0, 0, 4.0);
    }
    const lp3d::CameraModel model(cams);
    const int T = 300, K = 1, V = 3, D = 3;
    std::vector<double> y(V * T * K * 2), clean(V * T * K * 2), r(V * T * K * 2, 4.0), nominal(T * K * 3),
        truth(T * 3);
    Eigen::Vector3d X(0.1, 0, 0);
    for (int t = 0; t < T; ++t) {
      X += 0.01 * Eigen::Vector3d(N01(rng), N01(rng), N01(rng));
      for (int d = 0; d < 3; ++d) truth[t * 3 + d] = X(d);
      std::vector<Eigen::Vector2d> pts(V);
      for (int v = 0; v < V; ++v) {
        cams[v].project(X, pts[v]);
        pts[v] += 2.0 * Eigen::Vector2d(N01(rng), N01(rng));
        if (t >= 100 && t < 120 && v > 0) pts[v].setConstant(std::nan(""));  // one view only for a while
        for (int c = 0; c < 2; ++c) clean[((v * T + t) * K) * 2 + c] = pts[v](c);
        if (v == 1 && t % 50 == 10) pts[v] += Eigen::Vector2d(60, -40);  // planted outliers (not at t = 110)
        for (int c = 0; c < 2; ++c) y[((v * T + t) * K) * 2 + c] = pts[v](c);
      }
      const Eigen::Vector3d Xd = lp3d::triangulate_dlt(cams, pts, {1, 1, 1}, {true, true, true});
      for (int d = 0; d < 3; ++d) nominal[t * 3 + d] = Xd(d);
    }
    lp3d::SmootherOptions off;
    off.s = {1e-4};
    off.noise_scale = {1.0};
    off.m0 = {truth[0], truth[1], truth[2]};
    off.P0 = {0.01, 0, 0, 0, 0.01, 0, 0, 0, 0.01};
    off.inflate = false;
    off.relinearize_tol = 1e-9;
    off.n_threads = 1;
    Outputs o1;
    lp3d::smooth_keypoints(model, clean.data(), r.data(), nominal.data(), T, K, off, o1.ptrs(T, K, V, D));
    lp3d::FixedLagOptions fl = same_parameters(off, T);
    // in posterior standard deviations, the largest difference from the offline track
    auto worst_difference = [&](const Outputs& o2) {
      double worst = 0.0;
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < 3; ++d)
          worst = std::max(worst, std::abs(o1.mean[t * 3 + d] - o2.mean[t * 3 + d]) / std::sqrt(o1.cov[t * 9 + d * 4]));
      return worst;
    };
    Outputs o2;
    lp3d::fixed_lag_keypoints(model, clean.data(), r.data(), T, K, fl, o2.ptrs(T, K, V, D));
    const double filtered_linearization = worst_difference(o2);
    std::printf("linearized at the filtered means: %.3g posterior sd from the offline track\n", filtered_linearization);
    CHECK(filtered_linearization < 0.05);
    // window passes relinearize at the smoothed means: the offline iterated smoother
    fl.window_iterations = 50;
    fl.relinearize_tol = 1e-10;
    lp3d::fixed_lag_keypoints(model, clean.data(), r.data(), T, K, fl, o2.ptrs(T, K, V, D));
    const double relinearized = worst_difference(o2);
    std::printf("with window passes: %.3g posterior sd\n", relinearized);
    // (the offline smoother keeps the linearization of frames that moved < 1e-4 sd: its own precision)
    CHECK(relinearized < 1e-5);
    // and a short lag with window passes is still causal and bounded: frames move little
    fl.lag = 10;
    fl.window_iterations = 2;
    fl.relinearize_tol = 1e-4;
    lp3d::fixed_lag_keypoints(model, clean.data(), r.data(), T, K, fl, o2.ptrs(T, K, V, D));
    CHECK(worst_difference(o2) < 3.0);

    // online inflation flags the planted outliers of the second view (and little else)
    fl.inflate = true;
    fl.lag = 5;
    fl.window_iterations = 0;
    fl.m0.clear();  // a diffuse start
    fl.P0.clear();
    Outputs o3;
    lp3d::fixed_lag_keypoints(model, y.data(), r.data(), T, K, fl, o3.ptrs(T, K, V, D));
    int planted = 0, other = 0;
    for (int t = 0; t < T; ++t)
      for (int v = 0; v < V; ++v) {
        if (!(o3.infl[v * T + t] > 1.0)) continue;
        if (v == 1 && t % 50 == 10) ++planted;
        else ++other;
      }
    CHECK(planted == 5);
    CHECK(other <= 3);
    double se = 0.0;
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < 3; ++d) se += std::pow(o3.mean[t * 3 + d] - truth[t * 3 + d], 2);
    CHECK(std::sqrt(se / (3 * T)) < 0.01);  // within 1 cm on a 4 m rig with 2 px noise
  }
  TEST_MAIN_END();
}
