// The Kalman filter + RTS smoother equal a dense solve of the joint Gaussian posterior, and the
// filter's log-likelihood equals the dense marginal likelihood, on small random problems, for
// both motions (random walk; constant velocity, whose state holds the latent and its velocity).
// The robust search's innovation gate: an outlier assimilated first in a frame under a wide prior
// does not lock out the frame's good scalars and the frames after it.
#include <random>

#include "check.hpp"
#include "lp3d_eks/kalman.hpp"

template <int D, int N = D>
static void compare_with_dense(int dim, int T, int V, unsigned seed, int order = 1) {
  const int n_state = order * dim;
  std::mt19937 rng(seed);
  std::normal_distribution<double> N01(0.0, 1.0);
  std::uniform_real_distribution<double> U(0.2, 2.0);
  lp3d::LinearizedObs obs;
  obs.resize(T, V, dim);
  for (size_t i = 0; i < obs.J.size(); ++i) obs.J[i] = N01(rng);
  for (size_t i = 0; i < obs.y.size(); ++i) {
    obs.y[i] = 3.0 * N01(rng);
    obs.r[i] = U(rng);
    obs.c[i] = N01(rng);
  }
  for (size_t i = 0; i < obs.ok.size(); ++i) obs.ok[i] = (i % 5 == 3) ? 0 : 1;  // some missing views
  std::vector<double> infl(static_cast<size_t>(T) * V, 1.0);
  infl[1] = 3.0;
  std::vector<double> view_scale(V);
  for (int v = 0; v < V; ++v) view_scale[v] = 1.0 + 0.5 * v;
  const double s = 0.7, a = 1.3;
  Eigen::MatrixXd A = Eigen::MatrixXd::Random(dim, dim);
  const Eigen::MatrixXd Qd = A * A.transpose() + Eigen::MatrixXd::Identity(dim, dim);
  const lp3d::MatD<N> Q = lp3d::process_covariance<N>(Qd, order);
  const lp3d::VecD<N> m0 = Eigen::VectorXd::Random(n_state);
  Eigen::MatrixXd B = Eigen::MatrixXd::Random(n_state, n_state);
  const lp3d::MatD<N> P0 = B * B.transpose() + 2.0 * Eigen::MatrixXd::Identity(n_state, n_state);

  std::vector<double> m(static_cast<size_t>(T) * n_state), P(static_cast<size_t>(T) * n_state * n_state);
  const lp3d::FilterStats st =
      lp3d::kalman_filter<D, N>(obs, 0, T, s, Q, m0, P0, a, infl.data(), view_scale.data(), m.data(), P.data());
  lp3d::rts_smoother<N>(T, n_state, s, Q, m.data(), P.data(), dim);

  // Dense: z = (z_0, ..., z_{T-1}); prior precision from z_0 ~ N(m0, P0), z_t - F z_{t-1} ~ N(0, sQ)
  // (F = I for a random walk, [[I, I], [0, I]] with velocities).
  const int n = T * n_state;
  Eigen::MatrixXd F = Eigen::MatrixXd::Identity(n_state, n_state);
  if (order == 2) F.topRightCorner(dim, dim) = Eigen::MatrixXd::Identity(dim, dim);
  Eigen::MatrixXd L = Eigen::MatrixXd::Zero(n, n);
  Eigen::VectorXd eta = Eigen::VectorXd::Zero(n);
  const Eigen::MatrixXd P0i = Eigen::MatrixXd(P0).inverse(), Qi = (s * Eigen::MatrixXd(Q)).inverse();
  const int ns = n_state;
  L.block(0, 0, ns, ns) += P0i;
  eta.head(ns) += P0i * Eigen::VectorXd(m0);
  for (int t = 1; t < T; ++t) {
    L.block(t * ns, t * ns, ns, ns) += Qi;
    L.block((t - 1) * ns, (t - 1) * ns, ns, ns) += F.transpose() * Qi * F;
    L.block(t * ns, (t - 1) * ns, ns, ns) -= Qi * F;
    L.block((t - 1) * ns, t * ns, ns, ns) -= F.transpose() * Qi;
  }
  // Prior covariance of x (for the marginal likelihood): Sigma = L_prior^{-1}, mean = m0 everywhere.
  const Eigen::MatrixXd Sigma = L.inverse();
  const Eigen::VectorXd mu = Sigma * eta;
  std::vector<int> rows;
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(T * V * 2, n);
  Eigen::VectorXd yv(T * V * 2), rv(T * V * 2);
  int nobs = 0;
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) {
      const size_t tv = obs.tv(t, v);
      if (!obs.ok[tv]) continue;
      for (int c = 0; c < 2; ++c) {
        const size_t i = tv * 2 + c;
        for (int d = 0; d < dim; ++d) H(nobs, t * ns + d) = obs.J[i * dim + d];
        yv(nobs) = obs.y[i] - obs.c[i];
        rv(nobs) = a * view_scale[v] * infl[tv] * obs.r[i];
        ++nobs;
      }
    }
  H.conservativeResize(nobs, n);
  yv.conservativeResize(nobs);
  rv.conservativeResize(nobs);
  const Eigen::MatrixXd Ri = rv.cwiseInverse().asDiagonal();
  const Eigen::MatrixXd Lpost = L + H.transpose() * Ri * H;
  const Eigen::MatrixXd Cpost = Lpost.inverse();
  const Eigen::VectorXd mpost = Cpost * (eta + H.transpose() * Ri * yv);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < ns; ++d) {
      CHECK_NEAR(m[t * ns + d], mpost(t * ns + d), 1e-8);
      for (int e = 0; e < ns; ++e) CHECK_NEAR(P[(t * ns + d) * ns + e], Cpost(t * ns + d, t * ns + e), 1e-8);
    }
  // Marginal likelihood: y ~ N(H mu, H Sigma H^T + R).
  const Eigen::MatrixXd S = H * Sigma * H.transpose() + Eigen::MatrixXd(rv.asDiagonal());
  const Eigen::LLT<Eigen::MatrixXd> llt(S);
  const Eigen::VectorXd res = yv - H * mu;
  const double logdet = 2.0 * Eigen::MatrixXd(llt.matrixL()).diagonal().array().log().sum();
  const double ll = -0.5 * (nobs * std::log(2 * M_PI) + logdet + res.dot(llt.solve(res)));
  CHECK_NEAR(st.loglik(), ll, 1e-7 * (1 + std::abs(ll)));
  CHECK(st.n == nobs);
}

// A 2D point at a fixed place observed directly by 4 views (J = I, noise 0.1); frame 0's first
// view is 40 units off (an outlier). A wide prior (P0 = 100 I) takes the outlier in, the state
// moves towards it (s = 1: 40 units are 40 standard deviations of a step), and every scalar of
// frame 1 fails a gate of 5 standard deviations: frame 2 is then taken without the gate, and from
// there on every good scalar is assimilated (a gate that stayed on would leave out every later
// frame).
static void gate_does_not_lock_out() {
  const int T = 50, V = 4, dim = 2;
  lp3d::LinearizedObs obs;
  obs.resize(T, V, dim);
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.1);
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) {
      obs.ok[obs.tv(t, v)] = 1;
      for (int c = 0; c < 2; ++c) {
        const size_t i = obs.tv(t, v) * 2 + c;
        obs.J[i * dim + c] = 1.0;
        obs.r[i] = 0.01;
        obs.y[i] = noise(rng) + (t == 0 && v == 0 ? 40.0 : 0.0);
      }
    }
  const lp3d::MatD<2> Q = lp3d::MatD<2>::Identity();
  const lp3d::VecD<2> m0 = lp3d::VecD<2>::Zero();
  const lp3d::MatD<2> P0 = 100.0 * lp3d::MatD<2>::Identity();
  const lp3d::FilterStats st =
      lp3d::kalman_filter<2>(obs, 0, T, 1.0, Q, m0, P0, 1.0, nullptr, nullptr, nullptr, nullptr, 25.0);
  CHECK(st.n >= static_cast<int64_t>((T - 2) * V * 2));  // frames 0 and 1 at most partly left out
  CHECK(st.n <= static_cast<int64_t>(T * V * 2));
}

int main() {
  gate_does_not_lock_out();
  compare_with_dense<2>(2, 7, 1, 1);
  compare_with_dense<3>(3, 9, 3, 2);
  compare_with_dense<Eigen::Dynamic>(4, 6, 2, 3);
  compare_with_dense<Eigen::Dynamic>(1, 8, 2, 4);
  compare_with_dense<2, 4>(2, 7, 1, 5, 2);
  compare_with_dense<3, 6>(3, 9, 3, 6, 2);
  compare_with_dense<Eigen::Dynamic>(4, 6, 2, 7, 2);
  TEST_MAIN_END();
}
