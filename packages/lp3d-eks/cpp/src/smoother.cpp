#include "lp3d_eks/smoother.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "lp3d_eks/inflation.hpp"
#include "lp3d_eks/kalman.hpp"
#include "lp3d_eks/parallel.hpp"
#include "lp3d_eks/smoothing_param.hpp"

namespace lp3d {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_auto(const std::vector<double>& values, int k, bool empty_means_auto) {
  if (values.empty()) return empty_means_auto;
  const double v = values[k];
  return !(v > 0.0) || !std::isfinite(v);
}

// Smooths one keypoint with a motion of order 1 (random walk, state N = D) or 2 (constant
// velocity, N = 2D); see smoother.hpp for the steps.
template <int D, int N>
class KeypointSmoother {
 public:
  KeypointSmoother(const ObservationModel& model, int k, int T, int K, const SmootherOptions& opt, int order)
      : model_(model), opt_(opt), k_(k), T_(T), K_(K), V_(model.views()), dim_(model.dim()),
        n_(order * model.dim()), order_(order) {}

  // Steps 1 and 2: the nominal track, the prior and the automatic parameters. False when the
  // keypoint has no data at all.
  bool prepare(const double* y, const double* r, const double* nominal) {
    obs_.resize(T_, V_, dim_);
    for (int t = 0; t < T_; ++t) obs_.set_frame(t, y, r, T_, t, K_, k_);
    inflation_.assign(static_cast<size_t>(T_) * V_, 1.0);
    b_.assign(V_, 1.0);
    if (!opt_.view_scale.empty()) std::copy_n(&opt_.view_scale[static_cast<size_t>(k_) * V_], V_, b_.begin());
    if (!init_nominal(nominal)) return false;
    linearize();
    fit_params();
    return true;
  }

  // prepare() from another motion's prepared smoother of the same keypoint: its nominal track,
  // and its linearized observations borrowed (give_back returns them; a winner keeps them).
  template <int N2>
  void prepare_like(KeypointSmoother<D, N2>& other) {
    std::swap(obs_, other.obs_);
    xbar_ = other.xbar_;
    inflation_ = other.inflation_;
    b_ = other.b_;
    track_var_ = other.track_var_;
    step_var_ = other.step_var_;
    spread_ = other.spread_;
    s_ref_ = other.s_ref_;
    motion_ = other.motion_;
    lag_ = other.lag_;
    fit_params();
  }
  template <int N2>
  void give_back(KeypointSmoother<D, N2>& other) {
    std::swap(obs_, other.obs_);
  }

 private:
  template <int, int>
  friend class KeypointSmoother;

  // The prior and the automatic parameters (the end of prepare); with the motion to choose, how
  // well they explain the search blocks (fit_per_scalar).
  void fit_params() {
    init_prior();
    auto_s_ = is_auto(opt_.s, k_, true);
    auto_a_ = is_auto(opt_.noise_scale, k_, false);
    s_ = auto_s_ ? s_ref_ : opt_.s[k_];
    a_ = (opt_.noise_scale.empty() || auto_a_) ? 1.0 : opt_.noise_scale[k_];
    if (!(auto_s_ || auto_a_)) return;
    choose_params(auto_s_, auto_a_);
    fit_likelihood();
  }
  // fit_per_scalar's statistics at the current parameters and view scales, where the motion is
  // chosen (smooth_one: a fixed s is a random walk's).
  void fit_likelihood() {
    if (!(opt_.motion == 0 && auto_s_)) return;
    const FilterStats st = block_stats(search_blocks(T_, opt_.s_blocks, opt_.s_max_frames), s_, a_, 25.0, kBurn);
    fit_loglik_ = st.loglik();
    fit_n_ = st.n;
  }

 public:
  // How well the motion model explains the keypoint's observations at its fitted parameters: the
  // log-likelihood per assimilated scalar over the search blocks, each block's first kBurn
  // frames left out (so the prior of a block's first frame, wider with a velocity, does not
  // count), innovations beyond 5 standard deviations gated (see choose_params); computed in
  // prepare when the motion is chosen.
  double fit_per_scalar() const { return fit_n_ > 0 ? fit_loglik_ / fit_n_ : -std::numeric_limits<double>::infinity(); }
  int64_t fit_scalars() const { return fit_n_; }

  // Before the motion is chosen: finish's start (one pass, the motion guard, the view scales), so
  // that a view that disagrees on most frames does not decide the motion; the other motion is
  // compared at these scales (prepare_like copies them), and finish goes on from here.
  void fit_views_first() {
    pass_and_relinearize();
    if (auto_s_) keep_moving();
    views_settled_ = false;
    if (!(opt_.fit_view_scale && V_ >= 3)) return;
    bool settled = false;
    if (fit_view_scales(&settled)) fit_likelihood();
    views_settled_ = settled;
  }

  // One smoothing pass at the fitted parameters (finish starts from it); with `scores`, each
  // frame's leave-frame-out log score of that pass (frame_scores).
  void first_pass(std::vector<double>* scores = nullptr) {
    smooth_pass();
    if (scores) frame_scores(*scores);
    relinearize_around_mean();
  }

  // How well the smoothed track predicts each frame's observations from all the other frames:
  // log p(y_t | y_{-t}) under the model at its parameters, NaN for a frame without observations
  // (or whose information is all its own). The position's smoothed marginal N(m, P) with frame t's
  // own information (Lambda_t, eta_t) taken out is the leave-frame-out posterior N(m_o, P_o);
  // evaluated at x = m,
  //   log p(y_t | y_{-t}) = log p(y_t | m) + log N(m; m_o, P_o) - log N(m; m, P).
  // Unlike the filter's one-step likelihood, it scores the smoother with the data on both sides
  // of a frame, as the track is used.
  void frame_scores(std::vector<double>& scores) const {
    scores.assign(T_, kNaN);
    for (int t = 0; t < T_; ++t) {
      Mat lambda = Mat::Zero(dim_, dim_);
      Vec eta = Vec::Zero(dim_);
      const Eigen::Map<const Vec> m(mean_at(t), dim_);
      double own = 0.0;
      int n = 0;
      for (int v = 0; v < V_; ++v) {
        const size_t tv = obs_.tv(t, v);
        for (int c = 0; c < 2; ++c) {
          const size_t i = tv * 2 + c;
          if (!obs_.observed(tv, c) || !(obs_.r[i] > 0.0)) continue;
          const double R = a_ * b_[v] * inflation_[tv] * obs_.r[i];
          const Eigen::Map<const Eigen::Matrix<double, 1, D>> J(&obs_.J[i * dim_], 1, dim_);
          const double z = obs_.y[i] - obs_.c[i];
          const double e = z - J.dot(m);
          lambda += J.transpose() * J / R;
          eta += J.transpose() * (z / R);
          own -= 0.5 * (std::log(2.0 * M_PI * R) + e * e / R);
          ++n;
        }
      }
      if (n == 0) continue;
      const Mat P = state_cov(t).topLeftCorner(dim_, dim_);
      const Eigen::LLT<Mat> p_llt(P);
      if (p_llt.info() != Eigen::Success) continue;
      const Mat info = p_llt.solve(Mat::Identity(dim_, dim_));
      const Mat info_o = info - lambda;
      const Eigen::LLT<Mat> o_llt(info_o);
      if (o_llt.info() != Eigen::Success) continue;
      const Vec d = m - o_llt.solve(info * m - eta);
      double log_det_info_o = 0.0, log_det_p = 0.0;  // log |P_o^-1|, log |P|
      for (int j = 0; j < dim_; ++j) {
        log_det_info_o += 2.0 * std::log(o_llt.matrixL()(j, j));
        log_det_p += 2.0 * std::log(p_llt.matrixL()(j, j));
      }
      scores[t] = own + 0.5 * (log_det_info_o + log_det_p - d.dot(info_o * d));
    }
  }
  // The observations linearized around this smoother's track again (the nominal one, or its own
  // last pass's) after another model's pass.
  void relinearize() {
    linearize();
    last_change_ = std::numeric_limits<double>::infinity();
    views_settled_ = false;
  }

  // Whether the smoothed residuals look like independent noise over time, as the model assumes:
  // per view and coordinate, the lag-1 autocorrelation of the residuals (divided by the ensemble
  // standard deviation, mean removed, clipped at 4 robust standard deviations against outliers);
  // the median over the series is at most `limit`. For white noise it is slightly negative (the
  // smoothed track takes the slow part of the noise); noise correlated over frames (a network
  // that errs alike on similar frames) makes it positive.
  bool residuals_look_white(double limit) const {
    std::vector<double> rho, e, a;
    for (int v = 0; v < V_; ++v)
      for (int c = 0; c < 2; ++c) {
        e.assign(T_, std::numeric_limits<double>::quiet_NaN());
        for (int t = 0; t < T_; ++t) {
          const size_t tv = obs_.tv(t, v), i = tv * 2 + c;
          if (!obs_.observed(tv, c) || !(obs_.r[i] > 0.0)) continue;
          const Eigen::Map<const Eigen::Matrix<double, 1, D>> J(&obs_.J[i * dim_], 1, dim_);
          e[t] = (obs_.y[i] - J.dot(Eigen::Map<const Vec>(mean_at(t), dim_)) - obs_.c[i]) / std::sqrt(obs_.r[i]);
        }
        a.clear();
        for (double x : e)
          if (std::isfinite(x)) a.push_back(x);
        if (a.size() < 20) continue;
        std::nth_element(a.begin(), a.begin() + a.size() / 2, a.end());
        const double med = a[a.size() / 2];
        for (double& x : a) x = std::abs(x - med);
        std::nth_element(a.begin(), a.begin() + a.size() / 2, a.end());
        const double clip = 4.0 * 1.4826 * a[a.size() / 2];
        if (!(clip > 0.0)) continue;
        double mean = 0.0;
        int n = 0;
        for (double& x : e)
          if (std::isfinite(x)) {
            x = std::clamp(x - med, -clip, clip);
            mean += x;
            ++n;
          }
        mean /= n;
        double num = 0.0, den = 0.0;
        for (int t = 0; t < T_; ++t) {
          if (!std::isfinite(e[t])) continue;
          den += (e[t] - mean) * (e[t] - mean);
          if (t + 1 < T_ && std::isfinite(e[t + 1])) num += (e[t] - mean) * (e[t + 1] - mean);
        }
        if (den > 0.0) rho.push_back(num / den);
      }
    if (rho.empty()) return true;
    std::nth_element(rho.begin(), rho.begin() + rho.size() / 2, rho.end());
    return rho[rho.size() / 2] <= limit;
  }

  void run(const double* y, const double* r, const double* nominal, const SmootherOutputs& out) {
    if (!prepare(y, r, nominal)) {
      write_missing(out);
      return;
    }
    finish(out);
  }

  // Steps 3-5 after prepare: smoothing, view scales and variance inflation; writes keypoint k.
  void finish(const SmootherOutputs& out) {
    const bool auto_s = auto_s_, auto_a = auto_a_;
    const bool fit = auto_s || auto_a;
    if (!opt_.inflate) {
      smooth();
      if (auto_s) keep_moving();
      write_outputs(out);
      return;
    }
    // One pass is a good enough start for the view and inflation rounds, which keep
    // relinearizing; the track converges after the last round. (A pass at the current parameters
    // and observations, e.g. fit_views_first's, is that start.)
    if (!std::isfinite(last_change_)) pass_and_relinearize();
    if (auto_s) keep_moving();
    const bool fit_views = opt_.fit_view_scale && V_ >= 3;
    for (int outer = 0; outer < 4; ++outer) {
      // View scales first (a view that disagrees on most frames would otherwise be inflated
      // frame by frame and inflate the noise scale), refitting the parameters after each change.
      const bool views_moved = fit_views && fit_view_scales();
      // Inflation rounds (test, inflate, one relinearized pass) until nothing is flagged; then,
      // with automatic parameters, fit s (and a) again now that outliers are down-weighted, and
      // repeat while the parameters still move (outliers inflate the fitted noise scale).
      // A round that flags at most 1 in 1,000 frames ends them (the last pass is the final
      // smoothing's): a full pass for a handful of observations changes nothing else.
      int flagged = 0;
      for (int it = 1; it <= opt_.inflate_max_iter; ++it) {
        const int n = inflate_step();
        flagged += n;
        if (n <= T_ / 1000) break;
        pass_and_relinearize();
      }
      if (!fit || (outer > 0 && flagged == 0 && !views_moved)) break;
      const double s_old = s_, a_old = a_;
      choose_params(auto_s, auto_a, /*refine=*/true);
      const bool settled = std::abs(std::log(s_ / s_old)) < 0.05 && std::abs(std::log(a_ / a_old)) < 0.05;
      pass_and_relinearize();
      if (settled && !views_moved) break;
    }
    // A view whose scale ended below the threshold was not inconsistent after all (it was
    // scaled while another view still dragged the track): back to 1.
    for (int v = 0; v < V_; ++v)
      if (b_[v] > 1.0 && b_[v] < opt_.view_threshold && fit_views) {
        b_[v] = 1.0;
        last_change_ = std::numeric_limits<double>::infinity();
      }
    smooth();
    if (auto_s) keep_moving();
    write_outputs(out);
  }

 private:
  static constexpr int kBurn = 10;  // frames of each search block left out of fit_per_scalar
  using Vec = VecD<D>;  // the latent (position)
  using Mat = MatD<D>;
  using SVec = VecD<N>;  // the state (position, and velocity for order 2)
  using SMat = MatD<N>;

  // Posterior mean (the position part) and covariance (the whole state) of frame t.
  const double* mean_at(int t) const { return &ms_[static_cast<size_t>(t) * n_]; }
  Eigen::Map<const SMat> state_cov(int t) const { return {&Ps_[static_cast<size_t>(t) * n_ * n_], n_, n_}; }

  double* xbar(int t) { return &xbar_[static_cast<size_t>(t) * dim_]; }
  const double* xbar(int t) const { return &xbar_[static_cast<size_t>(t) * dim_]; }

  // Nominal track with gaps filled by linear interpolation (nearest value at the ends).
  bool init_nominal(const double* nominal) {
    xbar_.assign(static_cast<size_t>(T_) * dim_, kNaN);
    std::vector<int> valid;
    for (int t = 0; t < T_; ++t) {
      bool ok = true;
      for (int d = 0; d < dim_; ++d) {
        const double x = nominal[(static_cast<size_t>(t) * K_ + k_) * dim_ + d];
        xbar(t)[d] = x;
        ok = ok && std::isfinite(x);
      }
      if (ok) valid.push_back(t);
    }
    if (valid.empty()) return false;
    reject_jumps(valid);
    if (valid.empty()) return false;
    for (int t = 0; t < valid.front(); ++t) std::copy_n(xbar(valid.front()), dim_, xbar(t));
    for (int t = valid.back() + 1; t < T_; ++t) std::copy_n(xbar(valid.back()), dim_, xbar(t));
    for (size_t i = 0; i + 1 < valid.size(); ++i) {
      const int t0 = valid[i], t1 = valid[i + 1];
      for (int t = t0 + 1; t < t1; ++t) {
        const double w = static_cast<double>(t - t0) / (t1 - t0);
        for (int d = 0; d < dim_; ++d) xbar(t)[d] = (1.0 - w) * xbar(t0)[d] + w * xbar(t1)[d];
      }
    }
    // Scale of the track and of its frame-to-frame steps (for tolerances and the search range).
    Vec mean = Vec::Zero(dim_), var = Vec::Zero(dim_);
    for (int t : valid) mean += Eigen::Map<const Vec>(xbar(t), dim_);
    mean /= static_cast<double>(valid.size());
    for (int t : valid) var += (Eigen::Map<const Vec>(xbar(t), dim_) - mean).cwiseAbs2();
    var /= static_cast<double>(valid.size());
    track_var_ = var;
    Vec step_var = Vec::Zero(dim_);
    int n_steps = 0;
    for (size_t i = 0; i + 1 < valid.size(); ++i)
      if (valid[i + 1] == valid[i] + 1) {
        step_var += (Eigen::Map<const Vec>(xbar(valid[i + 1]), dim_) - Eigen::Map<const Vec>(xbar(valid[i]), dim_))
                        .cwiseAbs2();
        ++n_steps;
      }
    step_var_ = n_steps > 0 ? Vec(step_var / n_steps) : var;
    spread_ = std::sqrt(std::max(var.mean(), 1e-300));
    std::vector<double> steps;
    for (size_t i = 0; i + 1 < valid.size(); ++i)
      if (valid[i + 1] == valid[i] + 1)
        steps.push_back((Eigen::Map<const Vec>(xbar(valid[i + 1]), dim_) -
                         Eigen::Map<const Vec>(xbar(valid[i]), dim_)).squaredNorm() / dim_);
    double s_ref = 0.0;
    if (!steps.empty()) {
      std::nth_element(steps.begin(), steps.begin() + steps.size() / 2, steps.end());
      s_ref = steps[steps.size() / 2];
    }
    if (!(s_ref > 0.0)) s_ref = std::max(1e-4 * spread_ * spread_, 1e-12);
    s_ref_ = s_ref;
    nominal_motion(valid);
    return true;
  }

  // How much the nominal track moves: its median squared displacement per coordinate over a lag
  // L, M(L), is about 2 noise + (motion over L frames); M(L) - M(L/4) is the motion beyond the
  // noise (also when the noise is correlated over a few frames). The track demonstrably moves
  // when M(L) exceeds M(L/4) by more than chance (4 standard errors of the ratio of two medians
  // over the track, found on static simulated points); then motion_ is that excess, else 0.
  void nominal_motion(const std::vector<int>& valid) {
    motion_ = 0.0;
    lag_ = std::min(16, T_ / 4);
    if (!(opt_.min_motion > 0.0) || lag_ < 4) return;
    std::vector<uint8_t> is_valid(T_, 0);
    for (int t : valid) is_valid[t] = 1;
    std::vector<double> d2;
    auto median_displacement = [&](int lag) {
      d2.clear();
      for (int t : valid)
        if (t + lag < T_ && is_valid[t + lag])
          d2.push_back((Eigen::Map<const Vec>(xbar(t + lag), dim_) - Eigen::Map<const Vec>(xbar(t), dim_))
                           .squaredNorm() / dim_);
      if (d2.size() < 20) return std::numeric_limits<double>::quiet_NaN();
      std::nth_element(d2.begin(), d2.begin() + d2.size() / 2, d2.end());
      return d2[d2.size() / 2];
    };
    const double near = median_displacement(lag_ / 4), far = median_displacement(lag_);
    const double chance = 1.2 * std::sqrt(static_cast<double>(lag_) / std::max<size_t>(d2.size(), 1));
    if (far > near * (1.0 + chance)) motion_ = far - near;
  }

  // The median squared displacement per coordinate of the smoothed track over lag_ frames.
  double smoothed_motion() const {
    std::vector<double> d2(T_ - lag_);
    for (int t = 0; t + lag_ < T_; ++t)
      d2[t] = (Eigen::Map<const Vec>(mean_at(t + lag_), dim_) - Eigen::Map<const Vec>(mean_at(t), dim_))
                  .squaredNorm() / dim_;
    std::nth_element(d2.begin(), d2.begin() + d2.size() / 2, d2.end());
    return d2[d2.size() / 2];
  }

  // A point that moves is never returned frozen: the likelihood has a degenerate maximum where
  // a static point with huge noise explains every observation (reached when the views disagree
  // more than their variances allow). While the smoothed track moves less than min_motion of the
  // nominal track's motion, s is raised fourfold (from at least 1e-4 of the nominal track's
  // squared steps) and the track smoothed again.
  void keep_moving() {
    if (!(motion_ > 0.0)) return;
    for (int it = 0; it < 12 && smoothed_motion() < opt_.min_motion * motion_; ++it) {
      s_ = std::max(4.0 * s_, 1e-4 * s_ref_);
      last_change_ = std::numeric_limits<double>::infinity();
      views_settled_ = false;
      smooth();
    }
  }

  // A nominal point far from its temporal neighbours (a failed triangulation) would be a bad
  // linearization point: drop points whose distance to the median of the 6 nearest valid
  // neighbours exceeds 10 robust standard deviations of that distance (they are interpolated).
  void reject_jumps(std::vector<int>& valid) {
    const int n = static_cast<int>(valid.size());
    if (n < 7) return;
    std::vector<double> dev(n), buf;
    for (int i = 0; i < n; ++i) {
      const int lo = std::max(0, std::min(i - 3, n - 7));
      double d2 = 0.0;
      for (int d = 0; d < dim_; ++d) {
        buf.clear();
        for (int j = lo; j < lo + 7; ++j)
          if (j != i) buf.push_back(xbar(valid[j])[d]);
        std::nth_element(buf.begin(), buf.begin() + 3, buf.end());
        const double diff = xbar(valid[i])[d] - buf[3];
        d2 += diff * diff;
      }
      dev[i] = std::sqrt(d2);
    }
    buf = dev;
    std::nth_element(buf.begin(), buf.begin() + n / 2, buf.end());
    const double limit = 10.0 * 1.4826 * buf[n / 2];
    if (!(limit > 0.0)) return;
    std::vector<int> kept;
    kept.reserve(n);
    for (int i = 0; i < n; ++i) {
      if (dev[i] <= limit) kept.push_back(valid[i]);
      else std::fill_n(xbar(valid[i]), dim_, kNaN);
    }
    valid.swap(kept);
  }

  // Linearizes the observations around xbar_; with `moved`, only the frames flagged there.
  void linearize(const std::vector<uint8_t>* moved = nullptr) {
    std::vector<double> J(2 * static_cast<size_t>(dim_));
    for (int t = 0; t < T_; ++t)
      if (!moved || (*moved)[t]) linearize_frame(model_, k_, t, xbar(t), obs_, J.data());
  }

  // The prior of the first frame: m0 and P0 given or from the nominal track (its first value, the
  // variance of its values over time); with velocities, velocity 0 with the variance of the
  // nominal track's frame-to-frame steps, or with a given P0 that covariance per frame (as the
  // fixed-lag smoother's start).
  void init_prior() {
    Mat Q = Mat::Identity(dim_, dim_);
    if (!opt_.Q.empty()) Q = Eigen::Map<const Mat>(opt_.Q.data(), dim_, dim_).transpose();
    Q_ = process_covariance<N>(Q, order_);
    m0_ = SVec::Zero(n_);
    P0_ = SMat::Zero(n_, n_);
    if (!opt_.m0.empty()) {
      m0_.head(dim_) = Eigen::Map<const Vec>(&opt_.m0[static_cast<size_t>(k_) * dim_], dim_);
    } else {
      m0_.head(dim_) = Eigen::Map<const Vec>(xbar(0), dim_);
    }
    const double floor = std::max(1e-4 * spread_ * spread_, 1e-12);
    if (!opt_.P0.empty()) {
      P0_.topLeftCorner(dim_, dim_) =
          Eigen::Map<const Mat>(&opt_.P0[static_cast<size_t>(k_) * dim_ * dim_], dim_, dim_).transpose();
    } else {
      P0_.topLeftCorner(dim_, dim_) = Mat(track_var_.cwiseMax(floor).asDiagonal());
    }
    if (n_ > dim_)
      P0_.bottomRightCorner(dim_, dim_) =
          opt_.P0.empty() ? Mat(step_var_.cwiseMax(floor).asDiagonal()) : Mat(P0_.topLeftCorner(dim_, dim_));
  }

  // Marginal likelihood statistics over the search blocks (each block starts from the prior).
  FilterStats block_stats(const std::vector<std::pair<int, int>>& blocks, double s, double a, double gate,
                          int burn = 0) {
    FilterStats total;
    for (const auto& [b, e] : blocks) {
      SVec m0 = m0_;
      if (b != 0) {
        m0.setZero();
        m0.head(dim_) = Eigen::Map<const Vec>(xbar(b), dim_);
      }
      const FilterStats st =
          kalman_filter<D, N>(obs_, b, e, s, Q_, m0, P0_, a, inflation_.data(), b_.data(), nullptr, nullptr, gate, burn);
      total.sum_log_S += st.sum_log_S;
      total.sum_e2_S += st.sum_e2_S;
      total.n += st.n;
      total.sum_e2_S_free += st.sum_e2_S_free;
      total.n_free += st.n_free;
    }
    return total;
  }

  // Maximum-likelihood s (and a). Outliers would inflate both, so the search is repeated with
  // innovation gating: scalars more than 5 standard deviations (at the current noise scale) from
  // their prediction are left out, until the parameters settle. `refine` searches near the
  // current value (after inflation changed the weights a little).
  //
  // The gate is for outliers, a few percent of the scalars: parameters where it leaves out more
  // than kMaxGated of them are losing the track instead (the likelihood of fewer scalars is
  // higher, so a search could find parameters that gate half of them: a constant velocity with s
  // 8x too small on a simulated oscillating keypoint). The search is penalized there, and a stage
  // that still ends beyond kLostTrack keeps the previous stage's parameters (reverting at
  // kMaxGated already, a 250-frame fit kept a stage-1 noise scale inflated by the outliers).
  void choose_params(bool auto_s, bool auto_a, bool refine = false) {
    constexpr double kMaxGated = 0.1, kLostTrack = 0.2;
    last_change_ = std::numeric_limits<double>::infinity();
    const auto blocks = search_blocks(T_, opt_.s_blocks, opt_.s_max_frames);
    const double inf = std::numeric_limits<double>::infinity();
    const double n_all = static_cast<double>(block_scalars(blocks));
    const double min_n = (1.0 - kMaxGated) * n_all, lost_n = (1.0 - kLostTrack) * n_all;
    for (int stage = 0; stage < 4; ++stage) {
      // stage 0 ungated (no estimate of the scale yet) unless refining
      const bool gated = stage > 0 || refine;
      const double gate = gated ? 25.0 * (auto_s && auto_a ? a_ : 1.0) : inf;
      const double s_old = s_, a_old = a_;
      const int64_t kept = search(blocks, auto_s, auto_a, refine || stage > 0, gate, gated ? min_n : 0.0);
      if (gated && static_cast<double>(kept) < lost_n) {
        s_ = s_old;
        a_ = a_old;
        break;
      }
      if (stage > 0 && std::abs(std::log(s_ / s_old)) < 0.05 && std::abs(std::log(a_ / a_old)) < 0.05) break;
    }
  }

  // The search of choose_params. Parameters at which the gate leaves out more than all but
  // `min_n` scalars pay kGatedPenalty nats for each further one (what leaving a scalar out gains
  // is a few nats), which keeps the search off fits that have lost the track.
  // Returns how many scalars the gate kept at the chosen parameters.
  int64_t search(const std::vector<std::pair<int, int>>& blocks, bool auto_s, bool auto_a, bool near, double gate,
                 double min_n = 0.0) {
    constexpr double kGatedPenalty = 10.0;
    const double center = std::log(auto_a ? s_ / a_ : s_);
    const double lo = near ? center - 2.0 : std::log(s_ref_) - 18.0;
    const double hi = near ? center + 2.0 : std::log(s_ref_) + 12.0;
    const double tol = opt_.s_search_tol;
    auto penalized = [&](const FilterStats& st, double ll) {
      const double n = static_cast<double>(st.n);
      return n >= min_n ? ll : ll - kGatedPenalty * (min_n - n);
    };
    if (auto_s && auto_a) {
      // s = lambda * a with a profiled out: search lambda only.
      auto profile = [&](double l) {
        const FilterStats st = block_stats(blocks, std::exp(l), 1.0, gate);
        return penalized(st, st.profile_loglik());
      };
      const double ll = brent_maximize(profile, lo, hi, tol);
      const FilterStats st = block_stats(blocks, std::exp(ll), 1.0, gate);
      a_ = std::max(st.scale_hat(), 1e-12);
      s_ = std::exp(ll) * a_;
      return st.n;
    }
    if (auto_s) {
      s_ = std::exp(brent_maximize(
          [&](double l) {
            const FilterStats st = block_stats(blocks, std::exp(l), a_, gate);
            return penalized(st, st.loglik());
          },
          lo, hi, tol));
    } else {
      const double la = std::log(a_);
      a_ = std::exp(brent_maximize(
          [&](double l) {
            const FilterStats st = block_stats(blocks, s_, std::exp(l), gate);
            return penalized(st, st.loglik());
          },
          near ? la - 2.0 : std::log(1e-6), near ? la + 2.0 : std::log(1e6), tol));
    }
    return std::isfinite(gate) ? block_stats(blocks, s_, a_, gate).n : 0;
  }

  // The observed scalars of the search blocks (what an ungated filter assimilates).
  int64_t block_scalars(const std::vector<std::pair<int, int>>& blocks) const {
    int64_t n = 0;
    for (const auto& [b, e] : blocks)
      for (int t = b; t < e; ++t)
        for (int v = 0; v < V_; ++v)
          for (int c = 0; c < 2; ++c) n += obs_.observed(obs_.tv(t, v), c);
    return n;
  }

  // Filter + RTS over the whole track into ms_ / Ps_; keeps the marginal likelihood of the pass
  // (the last one is reported: within the relinearization tolerance of the final track).
  void smooth_pass() {
    ms_.resize(static_cast<size_t>(T_) * n_);
    Ps_.resize(static_cast<size_t>(T_) * n_ * n_);
    loglik_ = kalman_filter<D, N>(obs_, 0, T_, s_, Q_, m0_, P0_, a_, inflation_.data(), b_.data(), ms_.data(),
                                  Ps_.data())
                  .loglik();
    rts_smoother<N>(T_, n_, s_, Q_, ms_.data(), Ps_.data(), dim_);
    ++iterations_;
  }

  // Typical posterior standard deviation of a latent coordinate (median over frames).
  double posterior_scale() const {
    std::vector<double> sd(T_);
    for (int t = 0; t < T_; ++t) sd[t] = std::sqrt(std::max(state_cov(t).topLeftCorner(dim_, dim_).trace() / dim_, 0.0));
    std::nth_element(sd.begin(), sd.begin() + T_ / 2, sd.end());
    return sd[T_ / 2];
  }

  // One filter + RTS pass; for a nonlinear model, relinearize around the result. Returns the
  // largest change of the track relative to the typical posterior standard deviation.
  double pass_and_relinearize() {
    smooth_pass();
    return relinearize_around_mean();
  }
  double relinearize_around_mean() {
    last_change_ = 0.0;
    if (model_.is_linear()) return 0.0;
    // Frames that moved by less than 1e-4 posterior standard deviations keep their
    // linearization (the difference is far below anything the data can resolve).
    const double scale = std::max(posterior_scale(), 1e-300), keep = 1e-4 * scale;
    double change = 0.0;
    moved_.assign(T_, 0);
    for (int t = 0; t < T_; ++t) {
      double c = 0.0;
      for (int d = 0; d < dim_; ++d) c = std::max(c, std::abs(mean_at(t)[d] - xbar(t)[d]));
      change = std::max(change, c);
      if (c > keep) {
        moved_[t] = 1;
        std::copy_n(mean_at(t), dim_, xbar(t));
      }
    }
    linearize(&moved_);
    last_change_ = change / scale;
    return last_change_;
  }

  // Smooth; for a nonlinear model relinearize around the smoothed track until it moves by less
  // than relinearize_tol posterior standard deviations (an iterated extended Kalman smoother).
  // Nothing to do when the last pass already converged and nothing changed since.
  void smooth() {
    for (int it = 0; it < std::max(1, opt_.relinearize_max_iter); ++it) {
      if (!(last_change_ > opt_.relinearize_tol)) return;
      pass_and_relinearize();
    }
  }

  // One round of inflation: at each frame, the view that most exceeds the threshold (only one:
  // its variance is multiplied by max(inflate_factor, d2 / threshold), the smallest factor that
  // makes it consistent with its leave-one-out prediction when R dominates that prediction;
  // an outlier drags the posterior, so the good views of its frame can look inconsistent too
  // until it is down-weighted; a second bad view is caught by the next round).
  int inflate_step() {
    int n_new = 0;
    Eigen::Vector2d e, R;
    Eigen::Matrix2d Ainv;
    for (int t = 0; t < T_; ++t) {
      auto d2_of = [&](int v, double& d2) {
        if (!residual(t, v, e, R, Ainv)) return false;
        d2 = e.dot(Ainv * e);
        return true;
      };
      n_new += inflate_worst_view(V_, opt_.inflate_threshold, opt_.inflate_factor, d2_of, &inflation_[obs_.tv(t, 0)]);
    }
    if (n_new > 0) last_change_ = std::numeric_limits<double>::infinity();
    return n_new;
  }

  // The smoothed residual e_s of view v at frame t, its variance R (a * b_v * inflation * r) and
  // (R - J P J^T)^{-1} (see inflation.hpp); false where the view is missing (either coordinate)
  // or untestable.
  bool residual(int t, int v, Eigen::Vector2d& e, Eigen::Vector2d& R, Eigen::Matrix2d& Ainv) const {
    const size_t tv = obs_.tv(t, v);
    const Eigen::Map<const Vec> m(mean_at(t), dim_);
    const double scale = a_ * b_[v] * inflation_[tv];
    if constexpr (N == D && N != Eigen::Dynamic) {
      return loo_residual<D>(obs_, tv, m, state_cov(t), scale, e, R, Ainv);
    } else {
      return loo_residual<D>(obs_, tv, m, Mat(state_cov(t).topLeftCorner(dim_, dim_)), scale, e, R, Ainv);
    }
  }

  // Per view, over the frames where it is observed and testable: the median of d2 without the
  // per-frame inflation and with the view's variance scaled by test_scale[v] (default: its view
  // scale), in chi-square medians (`ratio`, NaN with fewer than 10 frames), and the median
  // distance in pixels of the observation from its leave-one-out prediction (`distance`).
  void view_statistics(std::vector<double>* ratio, std::vector<double>* distance,
                       const std::vector<double>* test_scale = nullptr) const {
    std::vector<double> d2, dist;
    Eigen::Vector2d e, R, e_loo;
    Eigen::Matrix2d Ainv, C;
    auto median = [](std::vector<double>& x) {
      if (x.size() < 10) return std::numeric_limits<double>::quiet_NaN();
      std::nth_element(x.begin(), x.begin() + x.size() / 2, x.end());
      return x[x.size() / 2];
    };
    for (int v = 0; v < V_; ++v) {
      d2.clear();
      dist.clear();
      const double test = test_scale ? (*test_scale)[v] : b_[v];
      for (int t = 0; t < T_; ++t) {
        if (!residual(t, v, e, R, Ainv)) continue;
        loo_prediction(e, R, Ainv, e_loo, C);
        if (distance) dist.push_back(e_loo.norm());
        if (ratio) {
          const double f = inflation_[obs_.tv(t, v)] * b_[v] / test;  // R / f = a * test * r
          C(0, 0) += R(0) / f;
          C(1, 1) += R(1) / f;
          d2.push_back(e_loo.dot(C.inverse() * e_loo));
        }
      }
      if (ratio) (*ratio)[v] = median(d2) / kChi2Median2;
      if (distance) (*distance)[v] = dist.empty() ? std::numeric_limits<double>::quiet_NaN() : median(dist);
    }
  }

  // View scales until none moves by more than 5% (at most 8 rounds), the automatic parameters
  // refitted after each change (a fresh search after the first: a view that no longer drags can
  // move them far) and one relinearized pass. Returns whether any scale moved.
  // `settled`: whether the last round moved nothing (not the 8-round cap). Right after
  // fit_views_first settled, nothing has changed, and a round would move nothing: none is run.
  bool fit_view_scales(bool* settled = nullptr) {
    if (views_settled_) {
      views_settled_ = false;
      return false;
    }
    bool moved = false;
    for (int it = 0; it < 8; ++it) {
      if (!view_step()) {
        if (settled) *settled = true;
        return moved;
      }
      moved = true;
      if (auto_s_ || auto_a_) choose_params(auto_s_, auto_a_, /*refine=*/it > 0);
      pass_and_relinearize();
    }
    return moved;
  }

  // One round of view scales (see inflation.hpp): re-estimates the scaled views, and scales one
  // unscaled view above the threshold. With several such views, each is tried: smoothed without
  // it (its scale set very large), its scale fitted against the others (the median of its d2 at
  // the chi-square median), and the marginal likelihood of all observations with that scale
  // compared; the most likely wins. (The largest ratio is not enough: with three views, the LOO
  // prediction of a good view uses the bad one at full weight, and an offset along the epipolar
  // line of the two others leaves any one of the three looking as bad.) Returns whether any scale
  // changed by more than 5%.
  bool view_step() {
    std::vector<double> ratio(V_);
    view_statistics(&ratio, nullptr);
    // A candidate exceeds the threshold in absolute terms, or relative to the views' typical
    // ratio: the noise scale a is shared by all views, so a view that disagrees inflates it and
    // can look consistent on the absolute scale (while its LOO predictions, made with its help,
    // make the good views look worse, which hides it on the relative scale instead).
    std::vector<double> finite;
    for (double r : ratio)
      if (std::isfinite(r)) finite.push_back(r);
    if (finite.size() < 3) return false;
    std::nth_element(finite.begin(), finite.begin() + finite.size() / 2, finite.end());
    const double typical = std::max(finite[finite.size() / 2], 1e-300);
    bool changed = false;
    std::vector<int> candidates;
    for (int v = 0; v < V_; ++v) {
      if (!std::isfinite(ratio[v])) continue;
      if (b_[v] > 1.0) {
        const double b = std::max(1.0, b_[v] * ratio[v]);
        if (std::abs(std::log(b / b_[v])) > 0.05) {
          b_[v] = b;
          changed = true;
        }
      } else if (ratio[v] > opt_.view_threshold * std::min(1.0, typical)) {
        candidates.push_back(v);
      }
    }
    if (candidates.size() == 1) {
      b_[candidates[0]] = std::max(ratio[candidates[0]], opt_.view_threshold);
      changed = true;
    } else if (candidates.size() > 1) {
      const auto blocks = search_blocks(T_, opt_.s_blocks, opt_.s_max_frames);
      const double inf = std::numeric_limits<double>::infinity();
      double best_ll = -inf, best_b = 1.0;
      int best = -1;
      std::vector<double> test = b_, fitted(V_);
      for (int v : candidates) {
        b_[v] = 1e6;  // without this view
        smooth_pass();
        test[v] = 1.0;
        view_statistics(&fitted, nullptr, &test);
        b_[v] = std::isfinite(fitted[v]) ? std::max(1.0, fitted[v]) : 1.0;
        const double ll = auto_a_ ? block_stats(blocks, s_ / a_, 1.0, inf).profile_loglik()
                                  : block_stats(blocks, s_, a_, inf).loglik();
        if (ll > best_ll) {
          best_ll = ll;
          best = v;
          best_b = b_[v];
        }
        b_[v] = 1.0;
      }
      if (best >= 0 && best_b > 1.0) {
        b_[best] = best_b;
        changed = true;
      }
    }
    if (changed) last_change_ = std::numeric_limits<double>::infinity();
    return changed;
  }

  void write_outputs(const SmootherOutputs& out) {
    double h[2];
    std::vector<double> J(2 * static_cast<size_t>(dim_));
    for (int t = 0; t < T_; ++t) {
      const double* m = mean_at(t);
      const Mat P = state_cov(t).topLeftCorner(dim_, dim_);
      const size_t tk = static_cast<size_t>(t) * K_ + k_;
      if (out.mean) std::copy_n(m, dim_, out.mean + tk * dim_);
      if (out.cov) Eigen::Map<Mat>(out.cov + tk * dim_ * dim_, dim_, dim_) = P;
      for (int v = 0; v < V_; ++v) {
        const size_t vtk = (static_cast<size_t>(v) * T_ + t) * K_ + k_;
        if (out.inflation) out.inflation[vtk] = inflation_[obs_.tv(t, v)];
        if (!out.reprojection && !out.reprojection_var) continue;
        const bool ok = model_.evaluate(k_, v, m, h, J.data());
        const Eigen::Map<const Eigen::Matrix<double, 2, D, Eigen::RowMajor>> Jm(J.data(), 2, dim_);
        const Eigen::Matrix2d JPJ = Jm * P * Jm.transpose();
        for (int c = 0; c < 2; ++c) {
          if (out.reprojection) out.reprojection[vtk * 2 + c] = ok ? h[c] : kNaN;
          if (out.reprojection_var) out.reprojection_var[vtk * 2 + c] = ok ? JPJ(c, c) : kNaN;
        }
      }
    }
    if (out.disagreement) {
      std::vector<double> distance(V_);
      view_statistics(nullptr, &distance);
      for (int v = 0; v < V_; ++v) out.disagreement[static_cast<size_t>(v) * K_ + k_] = distance[v];
    }
    if (out.view_scale)
      for (int v = 0; v < V_; ++v) out.view_scale[static_cast<size_t>(v) * K_ + k_] = b_[v];
    if (out.s) out.s[k_] = s_;
    if (out.noise_scale) out.noise_scale[k_] = a_;
    if (out.loglik) out.loglik[k_] = loglik_;
    if (out.iterations) out.iterations[k_] = iterations_;
    if (out.motion) out.motion[k_] = order_;
    if (out.prior_mean) Eigen::Map<Vec>(out.prior_mean + static_cast<size_t>(k_) * dim_, dim_) = m0_.head(dim_);
    if (out.prior_cov)
      Eigen::Map<Mat>(out.prior_cov + static_cast<size_t>(k_) * dim_ * dim_, dim_, dim_) = P0_.topLeftCorner(dim_, dim_);
  }

 public:
  // NaN outputs for a keypoint with no data (prepare returned false).
  void write_missing(const SmootherOutputs& out) {
    for (int t = 0; t < T_; ++t) {
      const size_t tk = static_cast<size_t>(t) * K_ + k_;
      if (out.mean) std::fill_n(out.mean + tk * dim_, dim_, kNaN);
      if (out.cov) std::fill_n(out.cov + tk * dim_ * dim_, dim_ * dim_, kNaN);
      for (int v = 0; v < V_; ++v) {
        const size_t vtk = (static_cast<size_t>(v) * T_ + t) * K_ + k_;
        if (out.inflation) out.inflation[vtk] = 1.0;
        if (out.reprojection) std::fill_n(out.reprojection + vtk * 2, 2, kNaN);
        if (out.reprojection_var) std::fill_n(out.reprojection_var + vtk * 2, 2, kNaN);
      }
    }
    for (int v = 0; v < V_; ++v) {
      if (out.disagreement) out.disagreement[static_cast<size_t>(v) * K_ + k_] = kNaN;
      if (out.view_scale) out.view_scale[static_cast<size_t>(v) * K_ + k_] = kNaN;
    }
    if (out.s) out.s[k_] = kNaN;
    if (out.noise_scale) out.noise_scale[k_] = kNaN;
    if (out.loglik) out.loglik[k_] = kNaN;
    if (out.iterations) out.iterations[k_] = 0;
    if (out.motion) out.motion[k_] = 0;
    if (out.prior_mean) std::fill_n(out.prior_mean + static_cast<size_t>(k_) * dim_, dim_, kNaN);
    if (out.prior_cov) std::fill_n(out.prior_cov + static_cast<size_t>(k_) * dim_ * dim_, dim_ * dim_, kNaN);
  }

 private:
  const ObservationModel& model_;
  const SmootherOptions& opt_;
  const int k_, T_, K_, V_, dim_, n_, order_;  // n_: the state dimension (order_ * dim_)
  LinearizedObs obs_;
  std::vector<double> xbar_, inflation_, b_, ms_, Ps_;  // ms_ (T, n), Ps_ (T, n, n)
  std::vector<uint8_t> moved_;
  Vec track_var_, step_var_;
  SVec m0_;
  SMat P0_, Q_;
  double spread_ = 1.0, s_ref_ = 1.0, motion_ = 0.0, s_ = 1.0, a_ = 1.0, loglik_ = 0.0;
  double fit_loglik_ = 0.0;
  int64_t fit_n_ = 0;
  int lag_ = 16;
  double last_change_ = std::numeric_limits<double>::infinity();  // of the last pass; inf: changed since
  int iterations_ = 0;
  bool auto_s_ = true, auto_a_ = false;
  bool views_settled_ = false;  // the last view round moved nothing, and nothing changed since
};

// One keypoint with the motion the options ask for. "auto" fits both motions' parameters and
// keeps the constant-velocity model when it explains the observations clearly better and honestly:
// (1) its log-likelihood over the search blocks (each block's first kBurn frames left out, both
// models with the same two parameters, s and a) is higher by more than kMotionMargin nats in total
// (a likelihood ratio above e^10), over at least kMinScalars scalars (a dozen frames decide
// nothing), with at most 5% fewer scalars assimilated (innovations beyond the search's gate are
// left out, so a fit that leaves out more is not comparable: a broken random-walk fit on 250
// frames gated half of a keypoint's data); (2) its smoothed residuals look like independent noise
// over time (lag-1 autocorrelation at most kWhiteResiduals). Noise correlated over frames is
// explained by the smoother motion as signal with an overconfident posterior (on the simulated
// animal, whose ensemble errors are correlated in time: 85% coverage instead of 94%); the random
// walk's shorter memory is far less affected. The margin is a total, not a gain per scalar: smooth
// motion that is not periodic (a Gaussian-filtered velocity) gains only 0.009-0.019 nats per
// scalar, 70-150 nats over 1,000 frames, and a threshold of 0.02 per scalar left it the random
// walk's 98.5% coverage. A fixed s is a random walk's.
// A close call (the likelihood per scalar within kCloseCall of the random walk's) also goes to
// constant velocity when its smoothed track predicts left-out frames better: the sum over frames
// of the difference of the two leave-frame-out scores (frame_scores, each clipped at kScoreClip)
// is above kMotionMargin. The likelihood scores one-step predictions from the past alone; at low
// signal-to-noise it favours the random walk where constant velocity, smoothing with both sides
// of each frame, is better (2 mm swings seen with 3 px errors: 13% lower error, 95% coverage
// instead of 98.8%). Random-walk data is at -0.09 to -0.15 nats per scalar: no extra pass.
// The random walk's first pass and view scales come before all this (fit_views_first): a camera
// that disagrees on most frames otherwise decided the motion.
template <int D>
void smooth_one(const ObservationModel& model, int k, const double* y, const double* r, const double* nominal,
                int T, int K, const SmootherOptions& opt, const SmootherOutputs& out) {
  constexpr int D2 = state_dim(D, 2);
  constexpr double kMotionMargin = 10.0, kWhiteResiduals = 0.15, kMinScalars = 100, kCloseCall = 0.05,
                   kScoreClip = 2.0;
  const bool fixed_s = !is_auto(opt.s, k, true);
  if (opt.motion == 1 || (opt.motion == 0 && fixed_s)) {
    KeypointSmoother<D, D>(model, k, T, K, opt, 1).run(y, r, nominal, out);
    return;
  }
  if (opt.motion == 2) {
    KeypointSmoother<D, D2>(model, k, T, K, opt, 2).run(y, r, nominal, out);
    return;
  }
  KeypointSmoother<D, D> walk(model, k, T, K, opt, 1);
  if (!walk.prepare(y, r, nominal)) {
    walk.write_missing(out);
    return;
  }
  if (opt.inflate) walk.fit_views_first();
  auto velocity = std::make_unique<KeypointSmoother<D, D2>>(model, k, T, K, opt, 2);
  velocity->prepare_like(walk);
  const double n = static_cast<double>(std::min(walk.fit_scalars(), velocity->fit_scalars()));
  const double gain = velocity->fit_per_scalar() - walk.fit_per_scalar();
  const bool comparable = velocity->fit_scalars() >= 0.95 * static_cast<double>(walk.fit_scalars()) && n >= kMinScalars;
  bool walk_passed = false;  // the walk holds the observations, linearized around its last pass
  bool velocity_wins = comparable && n * gain > kMotionMargin;
  if (velocity_wins) {
    velocity->first_pass();
  } else if (comparable && gain > -kCloseCall) {
    std::vector<double> velocity_scores, walk_scores;
    velocity->first_pass(&velocity_scores);
    velocity->give_back(walk);
    walk.relinearize();
    walk.first_pass(&walk_scores);
    walk_passed = true;
    double score_gain = 0.0;
    for (int t = 0; t < T; ++t)
      if (std::isfinite(velocity_scores[t]) && std::isfinite(walk_scores[t]))
        score_gain += std::clamp(velocity_scores[t] - walk_scores[t], -kScoreClip, kScoreClip);
    velocity_wins = score_gain > kMotionMargin;
    if (velocity_wins) {
      velocity->give_back(walk);  // the observations back, linearized around the velocity model's track
      velocity->relinearize();
      walk_passed = false;
    }
  }
  if (velocity_wins) {
    if (velocity->residuals_look_white(kWhiteResiduals)) {
      velocity->finish(out);
      return;
    }
    // the pass relinearized the observations around the velocity model's track: back to the walk's
    velocity->give_back(walk);
    walk.relinearize();
  } else if (!walk_passed) {
    velocity->give_back(walk);
  }
  velocity.reset();  // its memory back before the long part
  walk.finish(out);
}

template <int D>
void run_all(const ObservationModel& model, const double* y, const double* r, const double* nominal, int T,
             int K, const SmootherOptions& opt, const SmootherOutputs& out) {
  // Keypoints taken in the order 0, K/2, 1, K/2 + 1, ...: threads working at the same time write
  // outputs of keypoints far apart in memory, not neighbours that share cache lines.
  const int half = (K + 1) / 2;
  parallel_for(K, opt.n_threads, [&](int64_t i) {
    const int k = static_cast<int>(i % 2 == 0 ? i / 2 : half + i / 2);
    smooth_one<D>(model, k, y, r, nominal, T, K, opt, out);
  });
}

void check_options(const ObservationModel& model, int T, int K, const SmootherOptions& opt) {
  const size_t D = model.dim();
  auto need = [](const std::vector<double>& v, size_t n, const char* name) {
    if (!v.empty() && v.size() != n)
      throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(n) + " values, got " +
                                  std::to_string(v.size()));
  };
  if (T < 1 || K < 1) throw std::invalid_argument("need at least one frame and one keypoint");
  need(opt.s, K, "s");
  need(opt.noise_scale, K, "noise_scale");
  need(opt.view_scale, static_cast<size_t>(K) * model.views(), "view_scale");
  for (double b : opt.view_scale)
    if (!(b > 0.0) || !std::isfinite(b)) throw std::invalid_argument("view_scale: expected positive finite values");
  if (opt.fit_view_scale && !(opt.view_threshold > 1.0))
    throw std::invalid_argument("view_threshold: expected a value > 1");
  need(opt.Q, D * D, "Q");
  need(opt.m0, K * D, "m0");
  need(opt.P0, K * D * D, "P0");
  if (opt.inflate && !(opt.inflate_factor > 1.0))
    throw std::invalid_argument("inflate_factor: expected a value > 1");
  if (opt.motion < 0 || opt.motion > 2)
    throw std::invalid_argument("motion: expected 0 (automatic), 1 (random walk) or 2 (constant velocity)");
  if (opt.inflate && !(opt.inflate_threshold > 0.0))
    throw std::invalid_argument("inflate_threshold: expected a value > 0");
}

}  // namespace

void smooth_keypoints(const ObservationModel& model, const double* y, const double* r,
                      const double* nominal, int T, int K, const SmootherOptions& options,
                      const SmootherOutputs& out) {
  check_options(model, T, K, options);
  switch (model.dim()) {
    case 2: run_all<2>(model, y, r, nominal, T, K, options, out); break;
    case 3: run_all<3>(model, y, r, nominal, T, K, options, out); break;
    default: run_all<Eigen::Dynamic>(model, y, r, nominal, T, K, options, out); break;
  }
}

}  // namespace lp3d
