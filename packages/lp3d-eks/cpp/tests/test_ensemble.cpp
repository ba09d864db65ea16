// Ensemble statistics: mean / median / (weighted) variance with missing members.
#include <limits>
#include <vector>

#include "check.hpp"
#include "lp3d_eks/ensemble.hpp"

int main() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // M = 4 members, N = 2 items, 2 coordinates; item 1 has one missing member and then all missing in y.
  std::vector<double> pos = {
      1, 10, 5, nan,   // member 0: item 0 (x, y), item 1 (x, y)
      2, 20, 6, nan,   // member 1
      4, 40, nan, nan, // member 2
      9, 30, 8, nan,   // member 3
  };
  std::vector<double> conf = {1, 1, 1, 1, 1, 1, 0, 0};  // members 0..3 x items: (m, n)
  std::vector<double> c(4), v(4);
  std::vector<int32_t> n(4);
  lp3d::ensemble_statistics(pos.data(), nullptr, 4, 2, lp3d::Center::Median, false, c.data(), v.data(), n.data(), 2);
  CHECK_NEAR(c[0], 3.0, 1e-12);   // median of 1, 2, 4, 9
  CHECK_NEAR(c[1], 25.0, 1e-12);  // median of 10, 20, 40, 30
  CHECK_NEAR(v[0], ((1 - 4.0) * (1 - 4.0) + (2 - 4.0) * (2 - 4.0) + 0 + 25) / 4.0, 1e-12);
  CHECK_NEAR(c[2], 6.0, 1e-12);   // median of 5, 6, 8
  CHECK(std::isnan(c[3]) && std::isnan(v[3]));
  CHECK(n[0] == 4 && n[2] == 3 && n[3] == 0);
  lp3d::ensemble_statistics(pos.data(), nullptr, 4, 2, lp3d::Center::Mean, false, c.data(), v.data(), nullptr, 1);
  CHECK_NEAR(c[0], 4.0, 1e-12);
  CHECK_NEAR(c[2], 19.0 / 3.0, 1e-12);
  // confidence-weighted: member 3 has zero weight -> excluded
  lp3d::ensemble_statistics(pos.data(), conf.data(), 4, 2, lp3d::Center::Mean, true, c.data(), v.data(), nullptr, 1);
  CHECK_NEAR(c[0], 7.0 / 3.0, 1e-12);
  TEST_MAIN_END();
}
