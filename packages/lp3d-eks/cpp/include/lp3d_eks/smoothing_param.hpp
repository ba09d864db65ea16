// Choosing the smoothing parameter s by maximum marginal likelihood.
//
// The marginal log-likelihood of the observations under the random-walk model (computed exactly by
// the Kalman filter from its innovations, with the same per-frame R_t that is then smoothed) is a
// smooth, in practice unimodal, function of log s. A one-dimensional Brent search on log s
// (golden section with parabolic steps) finds its maximum to a relative precision of ~1% in about
// 15-25 filter passes without derivatives, which is cheaper and more robust than gradient methods
// that would need the derivative of the filter recursions, and does not need a grid whose range
// must be guessed. When the noise scale is also free, it is profiled out in closed form (see
// FilterStats::profile_loglik), so the search stays one-dimensional.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace lp3d {

// Maximizes f on [lo, hi] by Brent's method; returns the arg max. `tol` is the absolute tolerance
// on the argument. `evaluations` (optional) receives the number of calls to f.
double brent_maximize(const std::function<double(double)>& f, double lo, double hi, double tol,
                      int max_iter = 100, int* evaluations = nullptr);

// Frame blocks [begin, end) used for the automatic search: the user's blocks clipped to [0, T), or
// the whole track when T <= max_frames, else `n_blocks` evenly spaced blocks of max_frames in all.
std::vector<std::pair<int, int>> search_blocks(int T, const std::vector<std::pair<int, int>>& user,
                                               int max_frames, int n_blocks = 10);

// chi-square quantile with 2 degrees of freedom (closed form): -2 log(1 - q).
double chi2_2dof_quantile(double q);

}  // namespace lp3d
