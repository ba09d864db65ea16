// Kalman filter and Rauch-Tung-Striebel smoother for one keypoint, linear time-varying
// observations with diagonal noise, processed one scalar at a time.
//
// Model (latent x_t of dimension D, V views, 2 coordinates each), with one of two motions:
//   order 1, random walk (state z_t = x_t, N = D):
//     x_t = x_{t-1} + w_t,               w_t ~ N(0, s Q)
//   order 2, constant velocity (state z_t = (x_t, u_t), N = 2D; the integrated random walk: the
//   velocity u is a random walk, the position its integral over one frame):
//     z_t = F z_{t-1} + w_t,  F = [[I, I], [0, I]],  w_t ~ N(0, s [[Q/3, Q/2], [Q/2, Q]])
//   z_0 ~ N(m0, P0)
//   y_tvc = J_tvc . x_t + c_tvc + e_tvc,  e_tvc ~ N(0, a b_v f_tv r_tvc)   (c in {x, y}; skipped if missing)
// (a: noise scale, b_v: view scale, f_tv: inflation factor, r_tvc: ensemble variance)
// With diagonal observation noise, assimilating the scalars of a frame one after the other is
// exactly the joint update, and the per-scalar innovations give the exact marginal likelihood
//   log p(y) = -1/2 sum_i [ log(2 pi S_i) + e_i^2 / S_i ].
// For a nonlinear observation h(x) the rows are a linearization around a nominal track xbar:
// J = dh/dx(xbar_t), c = h(xbar_t) - J xbar_t.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace lp3d {

// Linearized observations of one keypoint: flat arrays indexed by (t, v, c).
struct LinearizedObs {
  int T = 0, V = 0, D = 0;
  std::vector<double> y;      // (T, V, 2) observations (ensemble center); NaN when missing
  std::vector<double> r;      // (T, V, 2) observation variances (before the noise scale a)
  std::vector<double> J;      // (T, V, 2, D) rows of the observation Jacobian
  std::vector<double> c;      // (T, V, 2) offsets
  std::vector<uint8_t> ok;    // (T, V) 1 where the view has a finite coordinate and a valid linearization

  void resize(int T_, int V_, int D_) {
    T = T_; V = V_; D = D_;
    y.assign(static_cast<size_t>(T) * V * 2, 0.0);
    r.assign(static_cast<size_t>(T) * V * 2, 0.0);
    J.assign(static_cast<size_t>(T) * V * 2 * D, 0.0);
    c.assign(static_cast<size_t>(T) * V * 2, 0.0);
    ok.assign(static_cast<size_t>(T) * V, 0);
  }
  size_t tv(int t, int v) const { return static_cast<size_t>(t) * V + v; }
  // Whether coordinate c of entry tv is observed: what a filter without a gate assimilates (where
  // its innovation variance is positive) and what the searches count.
  bool observed(size_t tv, int c) const { return ok[tv] && std::isfinite(y[tv * 2 + c]); }
  // Copies keypoint k of frame `src_t` of y, r (V, src_T, K, 2) into frame t.
  void set_frame(int t, const double* y_src, const double* r_src, int src_T, int src_t, int K, int k) {
    for (int v = 0; v < V; ++v)
      for (int cc = 0; cc < 2; ++cc) {
        const size_t src = ((static_cast<size_t>(v) * src_T + src_t) * K + k) * 2 + cc;
        const size_t dst = tv(t, v) * 2 + cc;
        y[dst] = y_src[src];
        r[dst] = r_src[src];
      }
  }
};

// Sufficient statistics of a filter pass for the marginal likelihood.
struct FilterStats {
  double sum_log_S = 0.0;   // sum_i log S_i
  double sum_e2_S = 0.0;    // sum_i e_i^2 / S_i
  int64_t n = 0;            // number of scalar observations assimilated
  double sum_e2_S_free = 0.0;  // the same over the views at view scale 1 (whose scale is a alone)
  int64_t n_free = 0;
  double loglik() const { return -0.5 * (n * std::log(2.0 * M_PI) + sum_log_S + sum_e2_S); }
  // The common scale a of all variances (Q, R and P0 scaled together) that maximizes the
  // likelihood, a = sum e^2 / S / n, taken over the views at view scale 1: a scaled view's scale
  // is fitted on its own (a * b), so its innovations say nothing about a.
  double scale_hat() const {
    if (n_free > 0) return sum_e2_S_free / n_free;
    return n > 0 ? sum_e2_S / n : 1.0;
  }
  // Log-likelihood at that scale; exact when P0 also scales, a good approximation else.
  double profile_loglik() const {
    if (n == 0) return 0.0;
    const double a = std::max(scale_hat(), 1e-300);
    return -0.5 * (n * std::log(2.0 * M_PI) + n * std::log(a) + sum_log_S + sum_e2_S / a);
  }
};

template <int D>
using VecD = Eigen::Matrix<double, D, 1>;
template <int D>
using MatD = Eigen::Matrix<double, D, D>;

// The state dimension of a D-dim latent with a motion of order 1 or 2 (position, or position and
// velocity).
constexpr int state_dim(int D, int order) { return D == Eigen::Dynamic ? Eigen::Dynamic : order * D; }

// The process covariance of the state: Q for order 1, [[Q/3, Q/2], [Q/2, Q]] for order 2 (white
// noise acceleration integrated over one frame).
template <int N, class QType>
MatD<N> process_covariance(const QType& Q, int order) {
  const int dim = static_cast<int>(Q.rows());
  MatD<N> out(order * dim, order * dim);
  if (order == 1) {
    out.topLeftCorner(dim, dim) = Q;
  } else {
    out << Q / 3.0, Q / 2.0, Q / 2.0, Q;
  }
  return out;
}

// P <- F P F^T with F = [[I, I], [0, I]] when the state holds position and velocity (size 2 dim);
// nothing for a random walk (size dim).
template <int N>
inline void propagate_covariance(MatD<N>& P, int dim) {
  if (P.rows() == dim) return;
  P.topRows(dim) += P.bottomRows(dim);
  P.leftCols(dim) += P.rightCols(dim);
}
template <int N>
inline void propagate(VecD<N>& m, MatD<N>& P, int dim) {
  if (m.size() == dim) return;
  m.head(dim) += m.tail(dim);
  propagate_covariance<N>(P, dim);
}

// Assimilates the observed scalars of frame t into (m, P), which hold the prediction on entry
// and the filtered moments on exit (P symmetrized); the likelihood terms go to `st`, the product
// of the S_i to `prod` (the caller takes its log: one log per ~dozens of scalars, not per
// scalar). `h` and `Ph` are scratch vectors of size dim. Shared by the offline filter and the
// fixed-lag smoother, so both do exactly the same arithmetic.
// The variance of scalar (t, v, c) is a * view_scale[v] * inflation[t, v] * r[t, v, c]:
// `inflation` (T, V) and `view_scale` (V) may be null (all ones).
// Scalars whose squared innovation exceeds `gate` * S are skipped (robust parameter search).
// Returns whether the gate left out every observed scalar of the frame.
// The state (m, P) has N = D dims (random walk) or 2D (position, then velocity): the observations
// see the position, its first D dims.
template <int D, int N = D>
inline bool assimilate_frame(const LinearizedObs& obs, int t, double a, const double* inflation,
                             const double* view_scale, double gate, VecD<N>& m, MatD<N>& P, VecD<D>& h,
                             VecD<N>& Ph, FilterStats& st, double& prod) {
  const int dim = obs.D;
  // Whether the state is the latent alone (known at compile time unless both sizes are dynamic).
  constexpr bool kFixedWhole = N != Eigen::Dynamic && N == D, kFixedPart = N != Eigen::Dynamic && N != D;
  const bool whole = kFixedWhole || (!kFixedPart && m.size() == dim);
  int n_gated = 0, n_kept = 0;
  for (int v = 0; v < obs.V; ++v) {
    const size_t tv = obs.tv(t, v);
    if (!obs.ok[tv]) continue;
    const bool free = !view_scale || view_scale[v] == 1.0;
    const double scale = a * (inflation ? inflation[tv] : 1.0) * (view_scale ? view_scale[v] : 1.0);
    for (int cc = 0; cc < 2; ++cc) {
      const size_t i = tv * 2 + cc;
      if (!obs.observed(tv, cc)) continue;  // one coordinate missing
      h = Eigen::Map<const VecD<D>>(&obs.J[i * dim], dim);
      double S = 0.0, e = 0.0;
      if constexpr (!kFixedPart) {
        if (whole) {
          Ph.noalias() = P * h;
          S = h.dot(Ph) + scale * obs.r[i];
          e = obs.y[i] - h.dot(m) - obs.c[i];
        }
      }
      if constexpr (!kFixedWhole) {
        if (!whole) {
          Ph.noalias() = P.leftCols(dim) * h;
          S = h.dot(Ph.head(dim)) + scale * obs.r[i];
          e = obs.y[i] - h.dot(m.head(dim)) - obs.c[i];
        }
      }
      if (!(S > 0.0) || !std::isfinite(S)) continue;
      if (e * e > gate * S) {  // gated: an innovation beyond the gate is not assimilated
        ++n_gated;
        continue;
      }
      ++n_kept;
      const double inv_S = 1.0 / S;
      m.noalias() += Ph * (e * inv_S);
      P.noalias() -= (Ph * inv_S) * Ph.transpose();
      if (S > 1e-100 && S < 1e100) {
        prod *= S;
        if (!(prod > 1e-150 && prod < 1e150)) {
          st.sum_log_S += std::log(prod);
          prod = 1.0;
        }
      } else {
        st.sum_log_S += std::log(S);
      }
      const double e2_S = e * e * inv_S;
      st.sum_e2_S += e2_S;
      st.n += 1;
      if (free) {
        st.sum_e2_S_free += e2_S;
        st.n_free += 1;
      }
    }
  }
  P = 0.5 * (P + P.transpose()).eval();
  return n_gated > 0 && n_kept == 0;
}

// Forward pass over frames [t0, t1). When mf / Pf are given they receive the filtered means
// ((t1 - t0) * n) and covariances ((t1 - t0) * n * n), frame-major, n the state dimension (that
// of m0: the latent's, or twice it with velocities). Variances, inflation, view scales and the
// gate as for assimilate_frame. The likelihood terms of the first `burn` frames are left out of
// the returned statistics (a likelihood conditional on them: what the prior of the first frame
// costs is not counted). A frame after one whose every scalar the gate left out is assimilated
// without the gate: the state, not the views, is then what is off (an outlier taken in under a
// block's wide prior pulls the state away, and the gate would leave out every later frame: half
// of a keypoint's 1,000 frames on a simulated session); isolated outliers stay gated.
template <int D, int N = D>
FilterStats kalman_filter(const LinearizedObs& obs, int t0, int t1, double s, const MatD<N>& Q,
                          const VecD<N>& m0, const MatD<N>& P0, double a, const double* inflation,
                          const double* view_scale, double* mf, double* Pf,
                          double gate = std::numeric_limits<double>::infinity(), int burn = 0) {
  const int dim = obs.D, n = static_cast<int>(m0.size());
  FilterStats st;
  VecD<N> m = m0;
  MatD<N> P = P0;
  VecD<D> h(dim);
  VecD<N> Ph(n);
  double prod = 1.0, prod_burn = 1.0;
  FilterStats st_burn;
  bool lost = false;  // the previous frame gated out entirely
  for (int t = t0; t < t1; ++t) {
    if (t > t0) {
      propagate<N>(m, P, dim);
      P.noalias() += s * Q;
    }
    const double g = lost ? std::numeric_limits<double>::infinity() : gate;
    if (t < t0 + burn) {
      lost = assimilate_frame<D, N>(obs, t, a, inflation, view_scale, g, m, P, h, Ph, st_burn, prod_burn);
    } else {
      lost = assimilate_frame<D, N>(obs, t, a, inflation, view_scale, g, m, P, h, Ph, st, prod);
    }
    if (mf) Eigen::Map<VecD<N>>(mf + static_cast<size_t>(t - t0) * n, n) = m;
    if (Pf) Eigen::Map<MatD<N>>(Pf + static_cast<size_t>(t - t0) * n * n, n, n) = P;
  }
  st.sum_log_S += std::log(prod);
  return st;
}

// Backward (RTS) pass in place: on entry mf / Pf hold the filtered moments of n frames, on exit
// the smoothed ones; `dim` is the state dimension. For a random walk (pos_dim 0 or dim) z_{t+1} |
// z_t has mean z_t, so the predicted mean of t+1 is mf_t; with velocities (dim = 2 pos_dim) it is
// F mf_t.
template <int D>
void rts_smoother(int n, int dim, double s, const MatD<D>& Q, double* m, double* P, int pos_dim = 0) {
  MatD<D> Ppred(dim, dim), G(dim, dim);
  if (pos_dim > 0 && pos_dim < dim) {
    MatD<D> FP(dim, dim);
    VecD<D> pred(dim);
    for (int t = n - 2; t >= 0; --t) {
      Eigen::Map<VecD<D>> mt(m + static_cast<size_t>(t) * dim, dim);
      Eigen::Map<MatD<D>> Pt(P + static_cast<size_t>(t) * dim * dim, dim, dim);
      Eigen::Map<const VecD<D>> ms1(m + static_cast<size_t>(t + 1) * dim, dim);
      Eigen::Map<const MatD<D>> Ps1(P + static_cast<size_t>(t + 1) * dim * dim, dim, dim);
      FP = Pt;
      FP.topRows(pos_dim) += Pt.bottomRows(pos_dim);  // F Pt
      Ppred = FP;
      Ppred.leftCols(pos_dim) += FP.rightCols(pos_dim);  // F Pt F^T
      Ppred.noalias() += s * Q;
      G = Ppred.ldlt().solve(FP).transpose();  // G = Pt F^T Ppred^{-1}
      pred = mt;
      pred.head(pos_dim) += mt.tail(pos_dim);
      mt += G * (ms1 - pred);
      Pt += G * (Ps1 - Ppred) * G.transpose();
      Pt = 0.5 * (Pt + Pt.transpose()).eval();
    }
    return;
  }
  for (int t = n - 2; t >= 0; --t) {
    Eigen::Map<VecD<D>> mt(m + static_cast<size_t>(t) * dim, dim);
    Eigen::Map<MatD<D>> Pt(P + static_cast<size_t>(t) * dim * dim, dim, dim);
    Eigen::Map<const VecD<D>> ms1(m + static_cast<size_t>(t + 1) * dim, dim);
    Eigen::Map<const MatD<D>> Ps1(P + static_cast<size_t>(t + 1) * dim * dim, dim, dim);
    Ppred = Pt + s * Q;
    // G = Pt Ppred^{-1}: closed-form inverse for small fixed sizes, else Ppred G^T = Pt by LDLT
    if constexpr (D != Eigen::Dynamic && D <= 4) {
      G.noalias() = Pt * Ppred.inverse();
    } else {
      G = Ppred.ldlt().solve(Pt).transpose();
    }
    mt += G * (ms1 - mt);
    Pt += G * (Ps1 - Ppred) * G.transpose();
    Pt = 0.5 * (Pt + Pt.transpose()).eval();
  }
}

}  // namespace lp3d
