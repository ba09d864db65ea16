#include "lp3d_eks/smoothing_param.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lp3d {

double brent_maximize(const std::function<double(double)>& f, double lo, double hi, double tol,
                      int max_iter, int* evaluations) {
  // Brent (1973), minimizing g = -f: golden-section steps, parabolic interpolation when it is
  // safe; x is the best point, w the second best, v the previous w.
  const double golden = 0.3819660112501051;
  int n_eval = 0;
  auto g = [&](double x) {
    ++n_eval;
    const double val = -f(x);
    return std::isfinite(val) ? val : 1e300;
  };
  double a = lo, b = hi;
  double x = a + golden * (b - a), w = x, v = x;
  double gx = g(x), gw = gx, gv = gx;
  double d = 0.0, e = 0.0;
  for (int it = 0; it < max_iter; ++it) {
    const double mid = 0.5 * (a + b);
    const double tol1 = tol + 1e-10 * std::abs(x), tol2 = 2.0 * tol1;
    if (std::abs(x - mid) <= tol2 - 0.5 * (b - a)) break;
    bool golden_step = true;
    if (std::abs(e) > tol1) {
      const double r = (x - w) * (gx - gv);
      double q = (x - v) * (gx - gw);
      double p = (x - v) * q - (x - w) * r;
      q = 2.0 * (q - r);
      if (q > 0.0) p = -p;
      q = std::abs(q);
      const double e_prev = e;
      e = d;
      if (std::abs(p) < std::abs(0.5 * q * e_prev) && p > q * (a - x) && p < q * (b - x)) {
        d = p / q;
        const double u = x + d;
        if (u - a < tol2 || b - u < tol2) d = (mid >= x) ? tol1 : -tol1;
        golden_step = false;
      }
    }
    if (golden_step) {
      e = (x >= mid) ? a - x : b - x;
      d = golden * e;
    }
    const double u = (std::abs(d) >= tol1) ? x + d : x + (d > 0 ? tol1 : -tol1);
    const double gu = g(u);
    if (gu <= gx) {
      if (u >= x) a = x; else b = x;
      v = w; gv = gw;
      w = x; gw = gx;
      x = u; gx = gu;
    } else {
      if (u < x) a = u; else b = u;
      if (gu <= gw || w == x) {
        v = w; gv = gw;
        w = u; gw = gu;
      } else if (gu <= gv || v == x || v == w) {
        v = u; gv = gu;
      }
    }
  }
  if (evaluations) *evaluations = n_eval;
  return x;
}

std::vector<std::pair<int, int>> search_blocks(int T, const std::vector<std::pair<int, int>>& user,
                                               int max_frames, int n_blocks) {
  std::vector<std::pair<int, int>> out;
  if (!user.empty()) {
    for (auto [b, e] : user) {
      b = std::max(b, 0);
      e = std::min(e, T);
      if (e - b >= 2) out.emplace_back(b, e);
    }
    if (out.empty()) throw std::invalid_argument("s_frames: no block of at least 2 frames lies inside the track");
    return out;
  }
  if (max_frames <= 0 || T <= max_frames) return {{0, T}};
  const int len = std::max(2, max_frames / n_blocks);
  for (int i = 0; i < n_blocks; ++i) {
    const int begin = static_cast<int>((static_cast<int64_t>(T - len) * i) / std::max(1, n_blocks - 1));
    out.emplace_back(begin, begin + len);
  }
  return out;
}

double chi2_2dof_quantile(double q) { return -2.0 * std::log1p(-q); }

}  // namespace lp3d
