// Fixed-lag smoothing: the smoother's model run online, one frame at a time, with its parameters
// (s, the noise scale a, the view scales b, the prior, Q) held fixed. After frame t + L arrives,
// the posterior of frame t given frames 0..t + L is returned; L = 0 is the filter.
//
// Per keypoint (independent, as offline), when frame t arrives:
//  1. Predict by the keypoint's motion (kalman.hpp; a random walk: m = m_{t-1}, P = P_{t-1} + s Q;
//     constant velocity: the state also holds the velocity, which starts at 0 with the position's
//     covariance per frame) (frame 0: the prior m0, P0). Without a given prior,
//     the keypoint starts at the first frame that places it on its own (ObservationModel::
//     initial_point: the DLT triangulation, the least-squares latent, the observation), with
//     P0 = prior_scale * (J^T R^-1 J)^-1 there (that frame's own uncertainty, widened: a diffuse
//     start); frames before it get the start's posterior propagated back by the motion.
//  2. Update, an iterated extended Kalman filter step: the views are linearized at the current
//     estimate (first the prediction), the frame's scalars assimilated from the prediction exactly
//     as the offline filter does (kalman.hpp: assimilate_frame), and the update repeated around
//     the new mean until it moves by less than relinearize_tol posterior standard deviations (a
//     Gauss-Newton step on the frame's posterior; one pass for a linear model).
//  3. Online variance inflation: each view is tested against its prediction from the past and the
//     frame's other views, d2 = e^T (R - J P J^T)^-1 e with the filtered posterior and the
//     filtered residual e (the leave-one-out identity of inflation.hpp, the past standing in for
//     the smoother's future and past); the worst view above the threshold gets its variance
//     multiplied by max(inflate_factor, d2 / threshold) and step 2 is redone, one view per round,
//     at most inflate_max_iter rounds. The decision is final.
//  4. The filtered moments go into a ring buffer of the last L + 1 frames; once it is full, a
//     Rauch-Tung-Striebel pass over it (kalman.hpp: rts_smoother, the offline one) gives frame
//     t - L's posterior, which is emitted with its reprojections (at the smoothed mean, as
//     offline) and inflation factors. At the end of a stream, flush emits the frames left.
//  5. Optional window passes (window_iterations > 0, a nonlinear model): every frame of the
//     window is relinearized at its smoothed mean and the window filtered again from the state
//     before it, until the smoothed window moves by less than relinearize_tol posterior standard
//     deviations: the offline smoother's relinearization, over the last L + 1 frames.
// Work and memory per frame are O(L) (O(L) per window pass), whatever the length of the stream.
//
// Differences from the offline smoother (smoother.hpp), all of them causal necessities:
//  - the parameters are not searched (fit them offline on a calibration stretch);
//  - a nonlinear (camera) model is linearized at each frame's filtered mean, not at its smoothed
//    mean (unless window passes relinearize the last L + 1 frames; earlier frames keep theirs):
//    with the same parameters, no inflation and L >= the stream's length, the result is the
//    offline one to rounding for a linear model, and with window passes for a camera model to
//    the relinearization tolerance;
//  - inflation tests an observation against the past and the other views (not the future), once;
//  - no view scales are fitted online (given ones are used), no motion guard (s is fixed).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lp3d_eks/observation.hpp"
#include "lp3d_eks/smoother.hpp"

namespace lp3d {

struct FixedLagOptions {
  int lag = 0;                                 // L >= 0 frames
  std::vector<double> s;                       // (K,) > 0
  std::vector<double> noise_scale;             // (K,) > 0
  std::vector<double> view_scale;              // (K, V) > 0; empty: all 1
  std::vector<double> Q;                       // (D, D); empty: identity
  std::vector<double> m0;                      // (K, D) prior mean of frame 0; empty: start where first placed
  std::vector<double> P0;                      // (K, D, D) with m0
  std::vector<int> motion;                     // (K,) 1 random walk, 2 constant velocity; empty: all 1
  double prior_scale = 1e4;                    // diffuse start: P0 = prior_scale * that frame's own covariance
  bool inflate = true;
  double inflate_threshold = 13.815510557964274;  // chi-square (2 dof) quantile 0.999
  double inflate_factor = 4.0;
  int inflate_max_iter = 10;
  int relinearize_max_iter = 10;               // updates per frame (and inflation round) of a nonlinear model
  double relinearize_tol = 1e-4;               // in posterior standard deviations (frame and window passes)
  int window_iterations = 0;                   // window passes per frame (nonlinear model; 0: none)
  int n_threads = 0;                           // fixed_lag_keypoints: keypoints in parallel (<= 0: all cores)
};

// Per-keypoint statistics of a stream so far.
struct StreamStats {
  double loglik = 0.0;   // log-likelihood of the observations assimilated (at the final linearization
                         // and inflation of each frame): the offline marginal likelihood in the linear case
  int max_updates = 0;   // the most filter updates one frame needed (relinearizations x inflation rounds)
};

class KeypointStream;

// The fixed-lag smoother of K keypoints (an online object: push frames, get frames back).
// Outputs use SmootherOutputs' layouts with a time axis of `n_out` frames, written at `t_out`:
// mean (n_out, K, D), cov (n_out, K, D, D), reprojection / reprojection_var (V, n_out, K, 2),
// inflation (V, n_out, K); other fields are ignored.
class FixedLagSmoother {
 public:
  // `model` must outlive the smoother. Throws std::invalid_argument on inconsistent options.
  FixedLagSmoother(const ObservationModel& model, int K, const FixedLagOptions& options);
  ~FixedLagSmoother();
  FixedLagSmoother(const FixedLagSmoother&) = delete;
  FixedLagSmoother& operator=(const FixedLagSmoother&) = delete;

  // Adds the next frame: y, r (V, n_in, K, 2) at frame t_in of that array (n_in = 1: (V, K, 2)).
  // Returns the index of the frame it emits (written at t_out), or -1 while fewer than L + 1
  // frames have arrived.
  int64_t push(const double* y, const double* r, int n_in, int t_in, const SmootherOutputs& out, int n_out,
               int t_out);
  // Emits every buffered frame, oldest first, at t_out, t_out + 1, ...; returns how many.
  int flush(const SmootherOutputs& out, int n_out, int t_out);

  int64_t frames_in() const { return frames_in_; }
  int64_t frames_out() const { return frames_out_; }
  int buffered() const { return static_cast<int>(frames_in_ - frames_out_); }
  StreamStats stats(int k) const;

 private:
  const ObservationModel& model_;
  FixedLagOptions opt_;
  int K_;
  std::vector<std::unique_ptr<KeypointStream>> streams_;
  int64_t frames_in_ = 0, frames_out_ = 0;
};

// A whole recording as a stream: y, r (V, T, K, 2). Every frame t's outputs are what a live
// FixedLagSmoother would have emitted for it (keypoints in parallel; the same arithmetic).
// Fills out.mean, cov, reprojection, reprojection_var, inflation, s, noise_scale, view_scale,
// loglik, iterations (the most updates one frame needed).
void fixed_lag_keypoints(const ObservationModel& model, const double* y, const double* r, int T, int K,
                         const FixedLagOptions& options, const SmootherOutputs& out);

}  // namespace lp3d
