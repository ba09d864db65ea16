// Minimal test harness for the C++ unit tests (run by ctest): CHECK / CHECK_NEAR count failures,
// main returns non-zero when any failed.
#pragma once

#include <cmath>
#include <cstdio>

namespace lp3d_test {
inline int& failures() {
  static int n = 0;
  return n;
}
inline int& checks() {
  static int n = 0;
  return n;
}
}  // namespace lp3d_test

#define CHECK(cond)                                                             \
  do {                                                                          \
    ++lp3d_test::checks();                                                      \
    if (!(cond)) {                                                              \
      ++lp3d_test::failures();                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                           \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                            \
  do {                                                                                   \
    ++lp3d_test::checks();                                                               \
    const double _a = (a), _b = (b);                                                     \
    if (!(std::abs(_a - _b) <= (tol))) {                                                 \
      ++lp3d_test::failures();                                                           \
      std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.12g, %s = %.12g, tol %g\n", \
                   __FILE__, __LINE__, #a, _a, #b, _b, (double)(tol));                   \
    }                                                                                    \
  } while (0)

#define TEST_MAIN_END()                                                                  \
  std::printf("%d checks, %d failed\n", lp3d_test::checks(), lp3d_test::failures());     \
  return lp3d_test::failures() == 0 ? 0 : 1
