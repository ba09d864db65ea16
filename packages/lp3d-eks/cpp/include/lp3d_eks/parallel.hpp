// A minimal parallel-for over independent work items (keypoints), using std::thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace lp3d {

inline int resolve_threads(int n_threads) {
  if (n_threads > 0) return n_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls fn(i) for i in [0, n) on up to n_threads threads (<= 0: all cores). The first exception
// thrown by any call is rethrown in the caller after all threads finish.
template <class Fn>
void parallel_for(int64_t n, int n_threads, Fn&& fn) {
  const int workers = static_cast<int>(std::min<int64_t>(resolve_threads(n_threads), std::max<int64_t>(n, 1)));
  if (workers <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&]() {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (int w = 0; w < workers; ++w) threads.emplace_back(work);
  for (auto& th : threads) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace lp3d
