// Caller-allocated smoother outputs for the C++ tests: vectors and the SmootherOutputs pointing at them.
#pragma once

#include <cstdint>
#include <vector>

#include "lp3d_eks/smoother.hpp"

namespace lp3d_test {

struct Outputs {
  std::vector<double> mean, cov, rep, repv, infl, s, a, b, dis, ll;
  std::vector<int32_t> it;
  // (Re)sizes every output for T frames, K keypoints, V views, D latent dims, all zero.
  lp3d::SmootherOutputs ptrs(int T, int K, int V, int D) {
    mean.assign(static_cast<size_t>(T) * K * D, 0);
    cov.assign(static_cast<size_t>(T) * K * D * D, 0);
    rep.assign(static_cast<size_t>(V) * T * K * 2, 0);
    repv.assign(static_cast<size_t>(V) * T * K * 2, 0);
    infl.assign(static_cast<size_t>(V) * T * K, 0);
    s.assign(K, 0);
    a.assign(K, 0);
    b.assign(static_cast<size_t>(V) * K, 0);
    dis.assign(static_cast<size_t>(V) * K, 0);
    ll.assign(K, 0);
    it.assign(K, 0);
    lp3d::SmootherOutputs o;
    o.mean = mean.data();
    o.cov = cov.data();
    o.reprojection = rep.data();
    o.reprojection_var = repv.data();
    o.inflation = infl.data();
    o.s = s.data();
    o.noise_scale = a.data();
    o.view_scale = b.data();
    o.disagreement = dis.data();
    o.loglik = ll.data();
    o.iterations = it.data();
    return o;
  }
};

}  // namespace lp3d_test
