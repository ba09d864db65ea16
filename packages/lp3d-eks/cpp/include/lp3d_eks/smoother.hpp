// The ensemble Kalman smoother: per keypoint, independently and in parallel over keypoints.
//
// Each keypoint's motion is a random walk (the state is the latent) or constant velocity (the
// latent and its velocity; kalman.hpp), fixed by the options or chosen per keypoint: after the
// random walk's first pass and view scales (steps 3-4), both motions' parameters are fitted (step
// 2) and constant velocity is kept where its likelihood is higher (on a close call: where its
// smoothed track predicts left-out frames better) and its smoothed residuals look like
// independent noise over time (smoother.cpp: smooth_one).
//
// For each keypoint:
//  1. A nominal latent track (DLT triangulation, PCA projection, or the observation itself; gaps
//     filled by linear interpolation) gives the first linearization and the default prior
//     m0 = first nominal value, P0 = diag(variance of the nominal track over time).
//  2. Automatic parameters: s (and the noise scale a, if free) maximize the marginal likelihood of
//     the observations (see smoothing_param.hpp), on all frames or on blocks of frames. A point
//     whose nominal track demonstrably moves is never returned frozen: s is raised until the
//     smoothed track keeps a fraction of that motion (the likelihood's degenerate "static point,
//     huge noise" maximum, reached when the views disagree beyond their variances).
//  3. Smoothing: Kalman filter + RTS smoother; for a nonlinear (camera) model the observations are
//     relinearized around the smoothed track and smoothed again until the track stops changing
//     (an iterated extended Kalman smoother), so the result does not depend on the first pass.
//  4. View scales (with variance inflation, >= 3 views): a view whose observations disagree with
//     the other data on most frames gets its variances scaled by a fitted factor (see
//     inflation.hpp), with the parameters refitted after each change.
//  5. Variance inflation (see inflation.hpp): observations that disagree with the rest of the data
//     get their variance multiplied by a factor; then back to 3, until nothing changes or a cap.
//     After inflation, automatic parameters are chosen again, and view scales checked again.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "lp3d_eks/observation.hpp"

namespace lp3d {

struct SmootherOptions {
  std::vector<double> s;                       // (K,) > 0: fixed; <= 0 or NaN: automatic; empty: all automatic
  std::vector<double> noise_scale;             // (K,) > 0: fixed a; <= 0 or NaN: automatic; empty: all 1
  std::vector<double> view_scale;              // (K, V) > 0: fixed view scales b; empty: all 1 (or fitted)
  bool fit_view_scale = false;                 // fit b per (view, keypoint) (needs inflate and >= 3 views)
  double view_threshold = 1.5;                 // a view is scaled when its median d2 is this many times the expected (or typical) one
  int motion = 0;                              // 0: chosen per keypoint; 1: random walk; 2: constant velocity
  double min_motion = 0.25;                    // automatic s keeps this much of the nominal track's motion (0: off)
  std::vector<std::pair<int, int>> s_blocks;   // frames [begin, end) for the automatic search; empty: see s_max_frames
  int s_max_frames = 5000;                     // longer tracks search on evenly spaced blocks of this many frames
  double s_search_tol = 0.02;                  // tolerance on log s
  std::vector<double> Q;                       // (D, D) process covariance shape; empty: identity
  std::vector<double> m0;                      // (K, D) prior means; empty: default
  std::vector<double> P0;                      // (K, D, D) prior covariances; empty: default
  bool inflate = true;
  double inflate_threshold = 13.815510557964274;  // squared Mahalanobis distance (chi2, 2 dof, q = 0.999)
  double inflate_factor = 4.0;
  int inflate_max_iter = 10;
  int relinearize_max_iter = 20;
  double relinearize_tol = 1e-2;               // in posterior standard deviations
  int n_threads = 0;                           // <= 0: all cores
};

// Caller-allocated outputs (all contiguous, float64). Shapes use T frames, K keypoints,
// V views, D latent dims.
struct SmootherOutputs {
  double* mean = nullptr;            // (T, K, D) posterior mean of the latent
  double* cov = nullptr;             // (T, K, D, D) posterior covariance of the latent
  double* reprojection = nullptr;    // (V, T, K, 2) h_v(posterior mean)
  double* reprojection_var = nullptr;  // (V, T, K, 2) diag(J P J^T): latent uncertainty in pixels
  double* inflation = nullptr;       // (V, T, K) variance inflation factors (1 = none)
  double* s = nullptr;               // (K,) smoothing parameter used
  double* noise_scale = nullptr;     // (K,) noise scale a used (observation variance = a * b * inflation * r)
  double* view_scale = nullptr;      // (V, K) view scale b used (1 = the view agrees with the others)
  double* disagreement = nullptr;    // (V, K) median distance (pixels) of the view's observations from
                                     //        their leave-one-out prediction (what all other data say)
  double* loglik = nullptr;          // (K,) marginal log-likelihood at the final parameters
  int32_t* iterations = nullptr;     // (K,) smoothing passes run
  int32_t* motion = nullptr;         // (K,) motion model used: 1 random walk, 2 constant velocity (0: no data)
  double* prior_mean = nullptr;      // (K, D) the prior m0 used (given, or the first nominal value)
  double* prior_cov = nullptr;       // (K, D, D) the prior P0 used
};

// y, r: (V, T, K, 2) observations and variances (NaN = missing); nominal: (T, K, D) initial
// latent track (NaN where unknown). Throws std::invalid_argument on inconsistent options.
void smooth_keypoints(const ObservationModel& model, const double* y, const double* r,
                      const double* nominal, int T, int K, const SmootherOptions& options,
                      const SmootherOutputs& out);

}  // namespace lp3d
