#include "lp3d_eks/ensemble.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lp3d_eks/parallel.hpp"

namespace lp3d {

void ensemble_statistics(const double* positions, const double* confidences, int64_t M, int64_t N,
                         Center center, bool confidence_weighted, double* out_center, double* out_variance,
                         int32_t* out_count, int n_threads) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const int64_t chunk = 4096;
  const int64_t n_chunks = (N + chunk - 1) / chunk;
  parallel_for(n_chunks, n_threads, [&](int64_t c) {
    std::vector<double> vals(M), wts(M);
    const int64_t end = std::min(N, (c + 1) * chunk);
    for (int64_t i = c * chunk; i < end; ++i) {
      for (int d = 0; d < 2; ++d) {
        int n = 0;
        double wsum = 0.0, mean = 0.0;
        for (int64_t m = 0; m < M; ++m) {
          const double y = positions[(m * N + i) * 2 + d];
          if (!std::isfinite(y)) continue;
          double w = 1.0;
          if (confidence_weighted && confidences) {
            w = confidences[m * N + i];
            if (!(w > 0.0) || !std::isfinite(w)) continue;
          }
          // insertion keeps vals sorted (the median needs it; M is a handful)
          int j = n++;
          for (; j > 0 && vals[j - 1] > y; --j) {
            vals[j] = vals[j - 1];
            wts[j] = wts[j - 1];
          }
          vals[j] = y;
          wts[j] = w;
          wsum += w;
          mean += w * y;
        }
        double* oc = out_center + i * 2 + d;
        double* ov = out_variance + i * 2 + d;
        if (out_count) out_count[i * 2 + d] = n;
        if (n == 0) {
          *oc = nan;
          *ov = nan;
          continue;
        }
        mean /= wsum;
        double var = 0.0;
        for (int j = 0; j < n; ++j) var += wts[j] * (vals[j] - mean) * (vals[j] - mean);
        *ov = var / wsum;
        if (center == Center::Mean) *oc = mean;
        else *oc = (n % 2 == 1) ? vals[n / 2] : 0.5 * (vals[n / 2 - 1] + vals[n / 2]);
      }
    }
  });
}

void shrink_variance(double* variance, const int32_t* count, const double* typical, int64_t V, int64_t T,
                     int64_t K, double weight, double floor, int n_threads) {
  parallel_for(V * T, n_threads, [&](int64_t vt) {
    const double* typ = typical + (vt / T) * K * 2;
    double* var = variance + vt * K * 2;
    const int32_t* cnt = count + vt * K * 2;
    for (int64_t j = 0; j < K * 2; ++j) {
      if (cnt[j] == 0) continue;  // stays NaN
      const double dof = cnt[j] - 1.0;
      var[j] = std::max(floor, (weight * typ[j] + dof * var[j]) / (weight + dof));
    }
  });
}

}  // namespace lp3d
