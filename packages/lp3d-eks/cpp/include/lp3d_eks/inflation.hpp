// Finding observations that the rest of the data contradicts: per frame (variance inflation) and
// per view over the whole session (view scales).
//
// After smoothing, each observed view v at frame t is compared with what all the OTHER data say
// about it. For a linear(ized) Gaussian model with posterior N(m, P) that includes the observation
// y = J x + c + e, e ~ N(0, R), removing it gives the leave-one-out (LOO) posterior. With the
// smoothed residual e_s = y - J m - c and A = R - J P J^T (Woodbury identity):
//   LOO residual       e_loo = y - J m_loo - c = R A^{-1} e_s
//   its covariance     J P_loo J^T + R = R A^{-1} R
//   squared distance   d2 = e_loo^T (J P_loo J^T + R)^{-1} e_loo = e_s^T A^{-1} e_s
// d2 is chi-square with 2 degrees of freedom when the model holds. Testing against the LOO
// prediction matters: with the plain smoothed residual and J P J^T + R, a confident outlier pulls
// the posterior towards itself and hides. Where A is (near) singular the observation alone
// determines the posterior and nothing can contradict it, so it is not tested.
//
// Per frame: where d2 exceeds the threshold (a chi-square quantile), that view's variance at that
// frame is multiplied by max(inflation factor, d2 / threshold), the one view with the largest d2
// per frame and round (an outlier drags the posterior, so the good views of its frame can look
// inconsistent until it is down-weighted).
//
// Per view (disagreement that persists over time: a camera whose calibration or labels are off):
// the median over frames of d2 computed with the view's variance WITHOUT its per-frame inflation,
// divided by the chi-square median (2 log 2), says how much larger the view's noise is than the
// model assumes. A view whose ratio exceeds a threshold times the views' median ratio (relative:
// the shared noise scale grows with a disagreeing view) gets its variances scaled by a factor b_v
// (one view per round, see smoother.cpp for which); scaled views are re-estimated
// (b_v <- max(1, b_v * ratio)) until the ratios settle, so each scaled view ends with the median
// of its LOO distances where the chi-square median is. The median ignores occasional outliers
// (the per-frame inflation's job) and the LOO residual cannot hide a view behind its own weight.
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <cstddef>

#include "lp3d_eks/kalman.hpp"

namespace lp3d {

// The chi-square (2 dof) median, 2 log 2: the expected median of d2 for a consistent view.
constexpr double kChi2Median2 = 1.3862943611198906;

// A = R - J P J^T inverted (R diagonal, already scaled and inflated). Returns false when
// untestable (A near singular: the observation alone determines the posterior).
template <class JType, class PType>
bool loo_inverse(const Eigen::Vector2d& R, const JType& J, const PType& P, Eigen::Matrix2d& Ainv) {
  Eigen::Matrix2d A = -(J * P * J.transpose());
  A(0, 0) += R(0);
  A(1, 1) += R(1);
  const double det = A(0, 0) * A(1, 1) - A(0, 1) * A(1, 0);
  if (!(A(0, 0) > 1e-9 * R(0)) || !(A(1, 1) > 1e-9 * R(1)) || !(det > 1e-9 * R(0) * R(1))) return false;
  Ainv << A(1, 1), -A(0, 1), -A(1, 0), A(0, 0);
  Ainv /= det;
  return true;
}

// The LOO residual e_loo and the LOO prediction's covariance J P_loo J^T from the smoothed
// residual e_s (see above), given Ainv from loo_inverse.
inline void loo_prediction(const Eigen::Vector2d& e_s, const Eigen::Vector2d& R, const Eigen::Matrix2d& Ainv,
                           Eigen::Vector2d& e_loo, Eigen::Matrix2d& C_loo) {
  const Eigen::Matrix2d RA = R.asDiagonal() * Ainv;
  e_loo = RA * e_s;
  C_loo = RA * R.asDiagonal();
  C_loo(0, 0) -= R(0);
  C_loo(1, 1) -= R(1);
}

// The smoothed residual e_s of entry tv of `obs` (one view at one frame) at the posterior mean m
// (the position) with covariance P, the observation's variance R (scale * r) and A^{-1} (see
// loo_inverse); false where a coordinate is missing or the view is untestable.
template <int D, class MType, class PType>
bool loo_residual(const LinearizedObs& obs, size_t tv, const MType& m, const PType& P, double scale,
                  Eigen::Vector2d& e, Eigen::Vector2d& R, Eigen::Matrix2d& Ainv) {
  if (!obs.observed(tv, 0) || !obs.observed(tv, 1)) return false;
  const Eigen::Map<const Eigen::Matrix<double, 2, D, Eigen::RowMajor>> J(&obs.J[tv * 2 * obs.D], 2, obs.D);
  e = Eigen::Vector2d(obs.y[tv * 2], obs.y[tv * 2 + 1]) - J * m - Eigen::Vector2d(obs.c[tv * 2], obs.c[tv * 2 + 1]);
  R << scale * obs.r[tv * 2], scale * obs.r[tv * 2 + 1];
  return loo_inverse(R, J, P, Ainv);
}

// One inflation round at one frame (see above): of the V views whose d2 exceeds `threshold`, the
// one with the largest has its inflation (`inflation`: the frame's, one per view) multiplied by
// max(factor, d2 / threshold). d2_of(v, d2) gives view v's d2 (false: not tested). Returns
// whether a view was inflated.
template <class F>
bool inflate_worst_view(int V, double threshold, double factor, F&& d2_of, double* inflation) {
  int worst = -1;
  double worst_d2 = threshold;
  for (int v = 0; v < V; ++v) {
    double d2 = 0.0;
    if (d2_of(v, d2) && d2 > worst_d2) {
      worst_d2 = d2;
      worst = v;
    }
  }
  if (worst < 0) return false;
  inflation[worst] *= std::max(factor, worst_d2 / threshold);
  return true;
}

}  // namespace lp3d
