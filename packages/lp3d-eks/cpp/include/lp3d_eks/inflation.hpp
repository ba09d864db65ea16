// Variance inflation: finding observations that the rest of the data contradicts.
//
// After smoothing, each observed view v at frame t is compared with what all the OTHER data say
// about it. For a linear(ized) Gaussian model with posterior N(m, P) that includes the observation
// y = J x + c + e, e ~ N(0, R), removing it gives the leave-one-out posterior, and the squared
// Mahalanobis distance of y from its leave-one-out prediction (covariance J P_loo J^T + R) is
//   d2 = e_s^T (R - J P J^T)^{-1} e_s,   e_s = y - J m - c
// (Woodbury identity), which is chi-square with 2 degrees of freedom when the model holds.
// Testing against the leave-one-out prediction matters: with the plain smoothed residual and
// J P J^T + R, a confident outlier pulls the posterior towards itself and hides. Where
// R - J P J^T is (near) singular the observation alone determines the posterior and nothing can
// contradict it, so it is not tested. Where d2 exceeds the threshold (a chi-square quantile),
// that view's variance at that frame is multiplied by max(inflation factor, d2 / threshold),
// the one view with the largest d2 per frame and round (an outlier drags the posterior, so the
// good views of its frame can look inconsistent until it is down-weighted).
#pragma once

#include <Eigen/Dense>

namespace lp3d {

// Returns d2 for one view (R diagonal, already scaled and inflated), or -1 when untestable.
template <class JType, class PType>
double loo_mahalanobis2(const Eigen::Vector2d& e, const Eigen::Vector2d& R, const JType& J, const PType& P) {
  Eigen::Matrix2d C = -(J * P * J.transpose());
  C(0, 0) += R(0);
  C(1, 1) += R(1);
  const double det = C(0, 0) * C(1, 1) - C(0, 1) * C(1, 0);
  if (!(C(0, 0) > 1e-9 * R(0)) || !(C(1, 1) > 1e-9 * R(1)) || !(det > 1e-9 * R(0) * R(1))) return -1.0;
  const Eigen::Vector2d Ce(C(1, 1) * e(0) - C(0, 1) * e(1), -C(1, 0) * e(0) + C(0, 0) * e(1));
  return e.dot(Ce) / det;
}

}  // namespace lp3d
