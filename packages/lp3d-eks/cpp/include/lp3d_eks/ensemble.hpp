// Ensemble statistics: the observation (center) and observation variance of the smoother.
//
// For each view, frame, keypoint and coordinate, over the members that gave a finite value:
//   center   = mean, or median (the average of the two middle values for an even count)
//   variance = (1/n) sum_m w_m (y_m - mean_w)^2 / (sum_m w_m / n) with w_m = 1 for "var", and
//              w_m = confidence_m for "confidence-weighted" (a weighted population variance)
// A coordinate with no finite member gives NaN center and NaN variance.
//
// Shrinkage towards a typical variance (the posterior mean under a conjugate prior worth `weight`
// members; see lp3d_eks/ensemble.py), then a floor:
//   variance = max(floor, (weight * typical + (n - 1) * variance) / (weight + n - 1))
#pragma once

#include <cstdint>

namespace lp3d {

enum class Center { Mean = 0, Median = 1 };

// positions: (M, N, 2) contiguous, N = view * time * keypoint flattened; confidences: (M, N) or null.
// out_center, out_variance: (N, 2); out_count (N, 2) (may be null): the members used.
// When weighted and a member has no positive confidence it is skipped.
void ensemble_statistics(const double* positions, const double* confidences, int64_t M, int64_t N,
                         Center center, bool confidence_weighted, double* out_center,
                         double* out_variance, int32_t* out_count, int n_threads);

// In place on variance (V, T, K, 2) with the member counts `count` (V, T, K, 2) and typical
// (V, K, 2): shrinkage and floor as above; entries without members (count 0) stay NaN.
void shrink_variance(double* variance, const int32_t* count, const double* typical, int64_t V, int64_t T,
                     int64_t K, double weight, double floor, int n_threads);

}  // namespace lp3d
