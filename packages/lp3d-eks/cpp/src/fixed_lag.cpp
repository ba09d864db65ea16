#include "lp3d_eks/fixed_lag.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "lp3d_eks/inflation.hpp"
#include "lp3d_eks/kalman.hpp"
#include "lp3d_eks/parallel.hpp"

namespace lp3d {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One keypoint's stream (see fixed_lag.hpp for the steps): a ring buffer of the last L + 1 frames'
// observations, linearizations, inflation factors and filtered moments.
class KeypointStream {
 public:
  virtual ~KeypointStream() = default;
  // Filters frame t_in of y, r (V, n_in, K, 2) into the ring (which must not be full).
  virtual void push(const double* y, const double* r, int n_in, int t_in) = 0;
  virtual int count() const = 0;
  // Smooths the ring and writes its oldest frame at t_out, then drops it.
  virtual void emit_oldest(const SmootherOutputs& out, int n_out, int t_out) = 0;
  // Smooths the ring and writes every frame from t_out on, then empties it.
  virtual void flush(const SmootherOutputs& out, int n_out, int t_out) = 0;
  virtual StreamStats stats() const = 0;
};

namespace {

// A keypoint's stream with a motion of order 1 (random walk, state N = D) or 2 (constant
// velocity, N = 2D: the latent and its velocity; kalman.hpp).
template <int D, int N>
class KeypointStreamD final : public KeypointStream {
 public:
  KeypointStreamD(const ObservationModel& model, int k, int K, const FixedLagOptions& opt, int order)
      : model_(model), opt_(opt), k_(k), K_(K), V_(model.views()), dim_(model.dim()), n_(order * model.dim()),
        cap_(opt.lag + 1) {
    obs_.resize(cap_, V_, dim_);
    inflation_.assign(static_cast<size_t>(cap_) * V_, 1.0);
    started_slot_.assign(cap_, 0);
    mf_.assign(static_cast<size_t>(cap_) * n_, 0.0);
    Pf_.assign(static_cast<size_t>(cap_) * n_ * n_, 0.0);
    ms_.assign(static_cast<size_t>(cap_) * n_, 0.0);
    Ps_.assign(static_cast<size_t>(cap_) * n_ * n_, 0.0);
    xlin_.assign(static_cast<size_t>(cap_) * dim_, 0.0);
    s_ = opt.s[k];
    a_ = opt.noise_scale[k];
    b_.assign(V_, 1.0);
    if (!opt.view_scale.empty()) std::copy_n(&opt.view_scale[static_cast<size_t>(k) * V_], V_, b_.begin());
    Mat Q = Mat::Identity(dim_, dim_);
    if (!opt.Q.empty()) Q = Eigen::Map<const Mat>(opt.Q.data(), dim_, dim_).transpose();
    Q_ = process_covariance<N>(Q, order);
    sQ_ = s_ * Q_;
    have_prior_ = !opt.m0.empty();
    if (have_prior_)
      start_state(Eigen::Map<const Vec>(&opt.m0[static_cast<size_t>(k) * dim_], dim_),
                  Eigen::Map<const Mat>(&opt.P0[static_cast<size_t>(k) * dim_ * dim_], dim_, dim_).transpose(), m0_,
                  P0_);
    m_ = SVec::Zero(n_);
    P_ = SMat::Zero(n_, n_);
    h_ = Vec::Zero(dim_);
    Ph_ = SVec::Zero(n_);
    Jrow_.assign(2 * static_cast<size_t>(dim_), 0.0);
  }

  int count() const override { return count_; }

  void push(const double* y, const double* r, int n_in, int t_in) override {
    const int slot = (head_ + count_) % cap_;
    obs_.set_frame(slot, y, r, n_in, t_in, K_, k_);
    std::fill_n(&inflation_[obs_.tv(slot, 0)], V_, 1.0);
    ++count_;
    ++pushed_;
    started_slot_[slot] = 0;
    if (!start_or_predict(slot)) return;
    update(slot);
    started_slot_[slot] = 1;
    Eigen::Map<SVec>(&mf_[static_cast<size_t>(slot) * n_], n_) = m_;
    Eigen::Map<SMat>(&Pf_[static_cast<size_t>(slot) * n_ * n_], n_, n_) = P_;
    if (opt_.window_iterations > 0 && !model_.is_linear()) refine_window();
  }

  void emit_oldest(const SmootherOutputs& out, int n_out, int t_out) override {
    smooth_window();
    write(0, out, n_out, t_out);
    if (started_slot_[head_]) {  // the state the window's filter starts from when it is run again
      m_before_ = Eigen::Map<const SVec>(&mf_[static_cast<size_t>(head_) * n_], n_);
      P_before_ = Eigen::Map<const SMat>(&Pf_[static_cast<size_t>(head_) * n_ * n_], n_, n_);
    }
    head_ = (head_ + 1) % cap_;
    --count_;
  }

  void flush(const SmootherOutputs& out, int n_out, int t_out) override {
    smooth_window();
    for (int j = 0; j < count_; ++j) write(j, out, n_out, t_out + j);
    head_ = 0;
    count_ = 0;
  }

  StreamStats stats() const override {
    StreamStats st;
    st.loglik = -0.5 * (static_cast<double>(total_.n) * std::log(2.0 * M_PI) + total_.sum_log_S + total_.sum_e2_S);
    st.max_updates = max_updates_;
    return st;
  }

 private:
  using Vec = VecD<D>;  // the latent (position)
  using Mat = MatD<D>;
  using SVec = VecD<N>;  // the state (position, and velocity for constant velocity)
  using SMat = MatD<N>;
  using JMap = Eigen::Map<const Eigen::Matrix<double, 2, D, Eigen::RowMajor>>;

  // The state of a start at position x with covariance Px: velocity 0 with the same (wide)
  // covariance per frame when the state has one: nothing is known of it.
  void start_state(const Vec& x, const Mat& Px, SVec& m, SMat& P) const {
    m = SVec::Zero(n_);
    P = SMat::Zero(n_, n_);
    m.head(dim_) = x;
    P.topLeftCorner(dim_, dim_) = Px;
    if (n_ > dim_) P.bottomRightCorner(dim_, dim_) = Px;
  }

  // The motion's prediction of the next frame from (m, P).
  void predict(SVec& m, SMat& P) const {
    propagate<N>(m, P, dim_);
    P.noalias() += sQ_;
  }

  // The position block of a state covariance (the whole of it for a random walk).
  Mat position_cov(const SMat& P) const { return P.topLeftCorner(dim_, dim_); }

  // Frame 0's prior, the start of a keypoint not yet placed, or the motion's prediction.
  // Returns false while the keypoint has not started (nothing is known of it yet).
  bool start_or_predict(int slot) {
    if (started_) {
      predict(m_, P_);
      return true;
    }
    if (have_prior_) {
      m_ = m0_;
      P_ = P0_;
      start_m_ = m_;
      start_P_ = P_;
      start_frame_ = pushed_ - 1;
      started_ = true;
      return true;
    }
    Vec x(dim_);
    if (!model_.initial_point(k_, &obs_.y[obs_.tv(slot, 0) * 2], &obs_.r[obs_.tv(slot, 0) * 2], x.data()))
      return false;
    // P0 = prior_scale * (J^T R^-1 J)^-1 at that point: the frame's own uncertainty, widened.
    linearize(slot, x);
    Mat info = Mat::Zero(dim_, dim_);
    for (int v = 0; v < V_; ++v) {
      const size_t tv = obs_.tv(slot, v);
      if (!obs_.ok[tv]) continue;
      for (int c = 0; c < 2; ++c) {
        const size_t i = tv * 2 + c;
        const double R = a_ * b_[v] * obs_.r[i];
        if (!std::isfinite(obs_.y[i]) || !(R > 0.0) || !std::isfinite(R)) continue;
        h_ = Eigen::Map<const Vec>(&obs_.J[i * dim_], dim_);
        info.noalias() += h_ * h_.transpose() / R;
      }
    }
    const Eigen::LDLT<Mat> ldlt(info);
    const auto d = ldlt.vectorD();
    if (ldlt.info() != Eigen::Success || !(d.minCoeff() > 1e-12 * std::max(d.maxCoeff(), 1e-300))) return false;
    Mat P0 = opt_.prior_scale * ldlt.solve(Mat::Identity(dim_, dim_));
    P0 = 0.5 * (P0 + P0.transpose()).eval();
    start_state(x, P0, m_, P_);
    start_m_ = m_;
    start_P_ = P_;
    start_frame_ = pushed_ - 1;
    started_ = true;
    return true;
  }

  // Linearizes the slot's views at x (as the offline smoother linearizes a frame).
  void linearize(int slot, const Vec& x) { linearize_frame(model_, k_, slot, x.data(), obs_, Jrow_.data()); }

  // Whether a view with data could not be linearized at the slot's current linearization point.
  bool some_view_undefined(int slot) const {
    for (int v = 0; v < V_; ++v) {
      const size_t tv = obs_.tv(slot, v);
      if (!obs_.ok[tv] && (std::isfinite(obs_.y[tv * 2]) || std::isfinite(obs_.y[tv * 2 + 1]))) return true;
    }
    return false;
  }

  // Steps 2 and 3: iterated update from the prediction (m_, P_), inflation rounds.
  void update(int slot) {
    const SVec m_pred = m_;
    const SMat P_pred = P_;
    Vec x = m_pred.head(dim_);
    const double inf = std::numeric_limits<double>::infinity();
    FilterStats fs;
    double prod = 1.0;
    int updates = 0;
    bool restarted = false;
    for (int round = 0;; ++round) {
      for (int it = 0;; ++it) {
        linearize(slot, x);
        Eigen::Map<Vec>(&xlin_[static_cast<size_t>(slot) * dim_], dim_) = x;
        if (!restarted && !model_.is_linear() && some_view_undefined(slot)) {
          // the prediction is behind a camera that sees the point: start from the frame's own point
          restarted = true;
          Vec x0(dim_);
          if (model_.initial_point(k_, &obs_.y[obs_.tv(slot, 0) * 2], &obs_.r[obs_.tv(slot, 0) * 2], x0.data())) {
            x = x0;
            linearize(slot, x);
            Eigen::Map<Vec>(&xlin_[static_cast<size_t>(slot) * dim_], dim_) = x;
          }
        }
        m_ = m_pred;
        P_ = P_pred;
        fs = FilterStats();
        prod = 1.0;
        assimilate_frame<D, N>(obs_, slot, a_, inflation_.data(), b_.data(), inf, m_, P_, h_, Ph_, fs, prod);
        ++updates;
        if (model_.is_linear() || it + 1 >= std::max(1, opt_.relinearize_max_iter)) break;
        const double sd = std::sqrt(std::max(P_.topLeftCorner(dim_, dim_).trace() / dim_, 1e-300));
        const double change = (m_.head(dim_) - x).cwiseAbs().maxCoeff() / sd;
        x = m_.head(dim_);
        if (!(change > opt_.relinearize_tol)) break;
      }
      if (!opt_.inflate || round >= opt_.inflate_max_iter) break;
      Eigen::Vector2d e, R;
      Eigen::Matrix2d Ainv;
      auto d2_of = [&](int v, double& d2) {
        const size_t tv = obs_.tv(slot, v);
        if (!loo_residual<D>(obs_, tv, m_.head(dim_), position_cov(P_), a_ * b_[v] * inflation_[tv], e, R, Ainv))
          return false;
        d2 = e.dot(Ainv * e);
        return true;
      };
      if (!inflate_worst_view(V_, opt_.inflate_threshold, opt_.inflate_factor, d2_of, &inflation_[obs_.tv(slot, 0)]))
        break;
    }
    total_.sum_log_S += fs.sum_log_S + std::log(prod);
    total_.sum_e2_S += fs.sum_e2_S;
    total_.n += fs.n;
    max_updates_ = std::max(max_updates_, updates);
  }

  // Window passes (an iterated extended smoother over the ring): relinearize every frame of the
  // window at its smoothed mean, filter the window again from the state before it (the start's
  // prior when the keypoint started inside it) with the inflation already decided, until the
  // smoothed window moves by less than relinearize_tol posterior standard deviations.
  void refine_window() {
    for (int pass = 0; pass < opt_.window_iterations; ++pass) {
      smooth_window();
      double change = 0.0;
      for (int j = 0; j < count_; ++j) {
        const int slot = (head_ + j) % cap_;
        if (!started_slot_[slot]) continue;
        const Eigen::Map<const SMat> P(&Ps_[static_cast<size_t>(j) * n_ * n_], n_, n_);
        const double sd = std::sqrt(std::max(P.topLeftCorner(dim_, dim_).trace() / dim_, 1e-300));
        const Eigen::Map<const Vec> ms(&ms_[static_cast<size_t>(j) * n_], dim_);
        const Eigen::Map<const Vec> xl(&xlin_[static_cast<size_t>(slot) * dim_], dim_);
        change = std::max(change, (ms - xl).cwiseAbs().maxCoeff() / sd);
      }
      if (!(change > opt_.relinearize_tol)) return;
      const double inf = std::numeric_limits<double>::infinity();
      bool have = false;
      for (int j = 0; j < count_; ++j) {
        const int slot = (head_ + j) % cap_;
        if (!started_slot_[slot]) continue;
        const Eigen::Map<const Vec> ms(&ms_[static_cast<size_t>(j) * n_], dim_);
        Eigen::Map<Vec>(&xlin_[static_cast<size_t>(slot) * dim_], dim_) = ms;
        linearize(slot, ms);
        if (have) {
          predict(m_, P_);
        } else if (pushed_ - count_ + j == start_frame_) {
          m_ = start_m_;
          P_ = start_P_;
        } else {
          m_ = m_before_;
          P_ = P_before_;
          predict(m_, P_);
        }
        have = true;
        FilterStats fs;
        double prod = 1.0;
        assimilate_frame<D, N>(obs_, slot, a_, inflation_.data(), b_.data(), inf, m_, P_, h_, Ph_, fs, prod);
        Eigen::Map<SVec>(&mf_[static_cast<size_t>(slot) * n_], n_) = m_;
        Eigen::Map<SMat>(&Pf_[static_cast<size_t>(slot) * n_ * n_], n_, n_) = P_;
      }
    }
  }

  // RTS over the ring into ms_ / Ps_ (chronological). Frames before the keypoint started get the
  // start's posterior propagated back by the motion (z_j = F^-1 (z_{j+1} - w): the mean moved back
  // by the velocity, the covariance widened by s Q); with no start in the ring, NaN.
  void smooth_window() {
    int first = count_;
    for (int j = 0; j < count_; ++j) {
      const int slot = (head_ + j) % cap_;
      if (started_slot_[slot]) {
        first = std::min(first, j);
        std::copy_n(&mf_[static_cast<size_t>(slot) * n_], n_, &ms_[static_cast<size_t>(j) * n_]);
        std::copy_n(&Pf_[static_cast<size_t>(slot) * n_ * n_], n_ * n_, &Ps_[static_cast<size_t>(j) * n_ * n_]);
      }
    }
    if (first < count_)
      rts_smoother<N>(count_ - first, n_, s_, Q_, &ms_[static_cast<size_t>(first) * n_],
                      &Ps_[static_cast<size_t>(first) * n_ * n_], dim_);
    for (int j = std::min(first, count_) - 1; j >= 0; --j) {
      Eigen::Map<SVec> m(&ms_[static_cast<size_t>(j) * n_], n_);
      Eigen::Map<SMat> P(&Ps_[static_cast<size_t>(j) * n_ * n_], n_, n_);
      if (first == count_) {
        m.setConstant(kNaN);
        P.setConstant(kNaN);
        continue;
      }
      m = Eigen::Map<const SVec>(&ms_[static_cast<size_t>(j + 1) * n_], n_);
      P = Eigen::Map<const SMat>(&Ps_[static_cast<size_t>(j + 1) * n_ * n_], n_, n_) + sQ_;
      if (n_ > dim_) {  // F^-1 = [[I, -I], [0, I]]
        m.head(dim_) -= m.tail(dim_);
        P.topRows(dim_) -= P.bottomRows(dim_);
        P.leftCols(dim_) -= P.rightCols(dim_);
      }
    }
  }

  // Writes the j-th (chronological) frame of the smoothed ring at t_out.
  void write(int j, const SmootherOutputs& out, int n_out, int t_out) {
    const int slot = (head_ + j) % cap_;
    const double* m = &ms_[static_cast<size_t>(j) * n_];
    const Mat P = Eigen::Map<const SMat>(&Ps_[static_cast<size_t>(j) * n_ * n_], n_, n_).topLeftCorner(dim_, dim_);
    const size_t tk = static_cast<size_t>(t_out) * K_ + k_;
    if (out.mean) std::copy_n(m, dim_, out.mean + tk * dim_);
    if (out.cov) Eigen::Map<Mat>(out.cov + tk * dim_ * dim_, dim_, dim_) = P;
    const bool known = std::isfinite(m[0]);
    double h[2];
    for (int v = 0; v < V_; ++v) {
      const size_t vtk = (static_cast<size_t>(v) * n_out + t_out) * K_ + k_;
      if (out.inflation) out.inflation[vtk] = inflation_[obs_.tv(slot, v)];
      if (!out.reprojection && !out.reprojection_var) continue;
      const bool ok = known && model_.evaluate(k_, v, m, h, Jrow_.data());
      const JMap Jm(Jrow_.data(), 2, dim_);
      Eigen::Matrix2d JPJ = Eigen::Matrix2d::Constant(kNaN);
      if (ok) JPJ = Jm * P * Jm.transpose();
      for (int c = 0; c < 2; ++c) {
        if (out.reprojection) out.reprojection[vtk * 2 + c] = ok ? h[c] : kNaN;
        if (out.reprojection_var) out.reprojection_var[vtk * 2 + c] = ok ? JPJ(c, c) : kNaN;
      }
    }
  }

  const ObservationModel& model_;
  const FixedLagOptions& opt_;
  const int k_, K_, V_, dim_, n_, cap_;  // n_: the state dimension
  LinearizedObs obs_;  // the ring: row = slot
  std::vector<double> inflation_, mf_, Pf_, ms_, Ps_, xlin_, b_, Jrow_;  // mf_, ms_ (cap, n); Pf_, Ps_ (cap, n, n)
  std::vector<uint8_t> started_slot_;
  int head_ = 0, count_ = 0;
  int64_t pushed_ = 0, start_frame_ = -1;
  double s_ = 1.0, a_ = 1.0;
  SMat Q_, sQ_, P0_, P_, start_P_, P_before_;
  SVec m0_, m_, Ph_, start_m_, m_before_;
  Vec h_;
  bool have_prior_ = false, started_ = false;
  FilterStats total_;
  int max_updates_ = 0;
};

template <int D>
std::unique_ptr<KeypointStream> make_stream_d(const ObservationModel& model, int k, int K, const FixedLagOptions& opt) {
  const int order = opt.motion.empty() ? 1 : opt.motion[k];
  if (order == 2) return std::make_unique<KeypointStreamD<D, state_dim(D, 2)>>(model, k, K, opt, 2);
  return std::make_unique<KeypointStreamD<D, D>>(model, k, K, opt, 1);
}

std::unique_ptr<KeypointStream> make_stream(const ObservationModel& model, int k, int K, const FixedLagOptions& opt) {
  switch (model.dim()) {
    case 2: return make_stream_d<2>(model, k, K, opt);
    case 3: return make_stream_d<3>(model, k, K, opt);
    default: return make_stream_d<Eigen::Dynamic>(model, k, K, opt);
  }
}

void check_options(const ObservationModel& model, int K, const FixedLagOptions& opt) {
  const size_t D = model.dim(), V = model.views();
  auto need = [](const std::vector<double>& v, size_t n, const char* name, bool required) {
    if ((required || !v.empty()) && v.size() != n)
      throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(n) + " values, got " +
                                  std::to_string(v.size()));
  };
  auto positive = [](const std::vector<double>& v, const char* name) {
    for (double x : v)
      if (!(x > 0.0) || !std::isfinite(x))
        throw std::invalid_argument(std::string(name) + ": expected positive finite values");
  };
  if (K < 1) throw std::invalid_argument("need at least one keypoint");
  if (opt.lag < 0) throw std::invalid_argument("lag: expected a number of frames >= 0");
  need(opt.s, K, "s", true);
  need(opt.noise_scale, K, "noise_scale", true);
  need(opt.view_scale, static_cast<size_t>(K) * V, "view_scale", false);
  positive(opt.s, "s");
  positive(opt.noise_scale, "noise_scale");
  positive(opt.view_scale, "view_scale");
  need(opt.Q, D * D, "Q", false);
  need(opt.m0, K * D, "m0", false);
  need(opt.P0, opt.m0.empty() ? 0 : K * D * D, "P0", false);
  if (!opt.m0.empty() && opt.P0.empty()) throw std::invalid_argument("P0: expected with m0");
  if (!(opt.prior_scale > 0.0)) throw std::invalid_argument("prior_scale: expected a value > 0");
  if (!opt.motion.empty() && opt.motion.size() != static_cast<size_t>(K))
    throw std::invalid_argument("motion: expected " + std::to_string(K) + " values, got " +
                                std::to_string(opt.motion.size()));
  for (int m : opt.motion)
    if (m != 1 && m != 2) throw std::invalid_argument("motion: expected 1 (random walk) or 2 (constant velocity)");
  if (opt.inflate && !(opt.inflate_factor > 1.0)) throw std::invalid_argument("inflate_factor: expected a value > 1");
  if (opt.inflate && !(opt.inflate_threshold > 0.0))
    throw std::invalid_argument("inflate_threshold: expected a value > 0");
}

}  // namespace

FixedLagSmoother::FixedLagSmoother(const ObservationModel& model, int K, const FixedLagOptions& options)
    : model_(model), opt_(options), K_(K) {
  check_options(model, K, opt_);
  for (int k = 0; k < K; ++k) streams_.push_back(make_stream(model_, k, K, opt_));
}

FixedLagSmoother::~FixedLagSmoother() = default;

int64_t FixedLagSmoother::push(const double* y, const double* r, int n_in, int t_in, const SmootherOutputs& out,
                               int n_out, int t_out) {
  for (auto& s : streams_) s->push(y, r, n_in, t_in);
  ++frames_in_;
  if (frames_in_ - frames_out_ <= opt_.lag) return -1;
  for (auto& s : streams_) s->emit_oldest(out, n_out, t_out);
  return frames_out_++;
}

int FixedLagSmoother::flush(const SmootherOutputs& out, int n_out, int t_out) {
  const int n = buffered();
  for (auto& s : streams_) s->flush(out, n_out, t_out);
  frames_out_ = frames_in_;
  return n;
}

StreamStats FixedLagSmoother::stats(int k) const { return streams_.at(k)->stats(); }

void fixed_lag_keypoints(const ObservationModel& model, const double* y, const double* r, int T, int K,
                         const FixedLagOptions& options, const SmootherOutputs& out) {
  check_options(model, K, options);
  if (T < 1) throw std::invalid_argument("need at least one frame");
  const int V = model.views();
  parallel_for(K, options.n_threads, [&](int64_t i) {
    const int k = static_cast<int>(i);
    const auto stream = make_stream(model, k, K, options);
    for (int t = 0; t < T; ++t) {
      stream->push(y, r, T, t);
      if (stream->count() > options.lag) stream->emit_oldest(out, T, t - options.lag);
    }
    stream->flush(out, T, T - stream->count());
    const StreamStats st = stream->stats();
    if (out.s) out.s[k] = options.s[k];
    if (out.noise_scale) out.noise_scale[k] = options.noise_scale[k];
    for (int v = 0; v < V; ++v)
      if (out.view_scale)
        out.view_scale[static_cast<size_t>(v) * K + k] =
            options.view_scale.empty() ? 1.0 : options.view_scale[static_cast<size_t>(k) * V + v];
    if (out.loglik) out.loglik[k] = st.loglik;
    if (out.iterations) out.iterations[k] = st.max_updates;
  });
}

}  // namespace lp3d
