// pybind11 bindings of the lp3d-eks C++ core (the only file that includes Python).
// Arrays cross as C-contiguous float64; shapes are checked in the Python layer, and again here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "lp3d_eks/camera.hpp"
#include "lp3d_eks/ensemble.hpp"
#include "lp3d_eks/fixed_lag.hpp"
#include "lp3d_eks/parallel.hpp"
#include "lp3d_eks/smoother.hpp"
#include "lp3d_eks/smoothing_param.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using Arr = py::array_t<double, py::array::c_style | py::array::forcecast>;

namespace {

void require(const Arr& a, std::vector<py::ssize_t> shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(i) == shape[i];
  if (!ok) throw std::invalid_argument(std::string(name) + ": unexpected shape");
}

lp3d::Camera make_camera(const double* K, const double* dist, bool fisheye, const double* R, const double* t) {
  lp3d::Camera c;
  c.K = Eigen::Map<const Eigen::Matrix<double, 3, 3, Eigen::RowMajor>>(K);
  for (int i = 0; i < 5; ++i) c.dist[i] = dist[i];
  c.fisheye = fisheye;
  c.R = Eigen::Map<const Eigen::Matrix<double, 3, 3, Eigen::RowMajor>>(R);
  c.t = Eigen::Map<const Eigen::Vector3d>(t);
  return c;
}

// K (V, 3, 3), dist (V, 5), fisheye (V,) 0 / 1, R (V, 3, 3), t (V, 3)
std::vector<lp3d::Camera> make_cameras(const Arr& K, const Arr& dist, const Arr& fisheye, const Arr& R, const Arr& t) {
  const py::ssize_t V = K.shape(0);
  require(K, {V, 3, 3}, "K");
  require(dist, {V, 5}, "dist");
  require(fisheye, {V}, "fisheye");
  require(R, {V, 3, 3}, "R");
  require(t, {V, 3}, "t");
  std::vector<lp3d::Camera> cams;
  for (py::ssize_t v = 0; v < V; ++v)
    cams.push_back(make_camera(K.data() + 9 * v, dist.data() + 5 * v, fisheye.data()[v] != 0.0, R.data() + 9 * v,
                               t.data() + 3 * v));
  return cams;
}

py::tuple project(const Arr& points, const Arr& K, const Arr& dist, bool fisheye, const Arr& R, const Arr& t) {
  require(points, {-1, 3}, "points");
  const py::ssize_t N = points.shape(0);
  const lp3d::Camera cam = make_camera(K.data(), dist.data(), fisheye, R.data(), t.data());
  Arr uv({N, py::ssize_t(2)}), jac({N, py::ssize_t(2), py::ssize_t(3)});
  const double* p = points.data();
  double* u = uv.mutable_data();
  double* j = jac.mutable_data();
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < N; ++i) {
      Eigen::Vector2d out;
      Eigen::Matrix<double, 2, 3> J;
      cam.project(Eigen::Vector3d(p[3 * i], p[3 * i + 1], p[3 * i + 2]), out, &J);
      u[2 * i] = out.x();
      u[2 * i + 1] = out.y();
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c) j[6 * i + 3 * r + c] = J(r, c);
    }
  }
  return py::make_tuple(uv, jac);
}

Arr undistort(const Arr& pixels, const Arr& K, const Arr& dist, bool fisheye) {
  require(pixels, {-1, 2}, "pixels");
  const py::ssize_t N = pixels.shape(0);
  const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, zero[3] = {0, 0, 0};
  const lp3d::Camera cam = make_camera(K.data(), dist.data(), fisheye, eye, zero);
  Arr out({N, py::ssize_t(2)});
  const double* p = pixels.data();
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < N; ++i) {
      const Eigen::Vector2d xy = cam.undistort(Eigen::Vector2d(p[2 * i], p[2 * i + 1]));
      o[2 * i] = xy.x();
      o[2 * i + 1] = xy.y();
    }
  }
  return out;
}

// points (V, N, 2) with NaN for missing views, weights (V, N) -> (N, 3)
Arr triangulate(const Arr& points, const Arr& weights, const Arr& K, const Arr& dist, const Arr& fisheye, const Arr& R,
                const Arr& t, int n_threads) {
  const auto cams = make_cameras(K, dist, fisheye, R, t);
  const py::ssize_t V = static_cast<py::ssize_t>(cams.size());
  require(points, {V, -1, 2}, "points");
  const py::ssize_t N = points.shape(1);
  require(weights, {V, N}, "weights");
  Arr out({N, py::ssize_t(3)});
  const double* p = points.data();
  const double* w = weights.data();
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    lp3d::parallel_for(N, n_threads, [&](int64_t i) {
      std::vector<Eigen::Vector2d> uv(V);
      std::vector<double> wt(V);
      std::vector<bool> valid(V);
      for (py::ssize_t v = 0; v < V; ++v) {
        uv[v] = Eigen::Vector2d(p[(v * N + i) * 2], p[(v * N + i) * 2 + 1]);
        wt[v] = w[v * N + i];
        valid[v] = std::isfinite(uv[v].x()) && std::isfinite(uv[v].y()) && wt[v] > 0.0 && std::isfinite(wt[v]);
      }
      const Eigen::Vector3d X = lp3d::triangulate_dlt(cams, uv, wt, valid);
      for (int d = 0; d < 3; ++d) o[3 * i + d] = X(d);
    });
  }
  return out;
}

// points (V, N, 2) with NaN for missing views -> points (N, 3), used (V, N) uint8, error (V, N)
py::tuple triangulate_robust(const Arr& points, double threshold, const Arr& K, const Arr& dist, const Arr& fisheye,
                             const Arr& R, const Arr& t, int n_threads) {
  const auto cams = make_cameras(K, dist, fisheye, R, t);
  const py::ssize_t V = static_cast<py::ssize_t>(cams.size());
  require(points, {V, -1, 2}, "points");
  const py::ssize_t N = points.shape(1);
  Arr out({N, py::ssize_t(3)}), error({V, N});
  py::array_t<uint8_t> used({V, N});
  const double* p = points.data();
  double* o = out.mutable_data();
  double* e = error.mutable_data();
  uint8_t* u = used.mutable_data();
  {
    py::gil_scoped_release release;
    lp3d::parallel_for(N, n_threads, [&](int64_t i) {
      std::vector<Eigen::Vector2d> uv(V);
      std::vector<bool> valid(V);
      std::vector<uint8_t> use;
      std::vector<double> err;
      for (py::ssize_t v = 0; v < V; ++v) {
        uv[v] = Eigen::Vector2d(p[(v * N + i) * 2], p[(v * N + i) * 2 + 1]);
        valid[v] = std::isfinite(uv[v].x()) && std::isfinite(uv[v].y());
      }
      const Eigen::Vector3d X = lp3d::triangulate_robust(cams, uv, valid, threshold, use, err);
      for (int d = 0; d < 3; ++d) o[3 * i + d] = X(d);
      for (py::ssize_t v = 0; v < V; ++v) {
        u[v * N + i] = use[v];
        e[v * N + i] = err[v];
      }
    });
  }
  return py::make_tuple(out, used, error);
}

py::tuple ensemble_statistics(const Arr& positions, const std::optional<Arr>& confidences,
                              const std::string& center, bool weighted, int n_threads) {
  require(positions, {-1, -1, 2}, "positions");
  const py::ssize_t M = positions.shape(0), N = positions.shape(1);
  if (confidences) require(*confidences, {M, N}, "confidences");
  lp3d::Center c;
  if (center == "mean") c = lp3d::Center::Mean;
  else if (center == "median") c = lp3d::Center::Median;
  else throw std::invalid_argument("center: expected 'mean' or 'median', got '" + center + "'");
  Arr out_c({N, py::ssize_t(2)}), out_v({N, py::ssize_t(2)});
  py::array_t<int32_t> out_n({N, py::ssize_t(2)});
  int32_t* on = out_n.mutable_data();
  const double* conf = confidences ? confidences->data() : nullptr;
  const double* pos = positions.data();
  double* oc = out_c.mutable_data();
  double* ov = out_v.mutable_data();
  {
    py::gil_scoped_release release;
    lp3d::ensemble_statistics(pos, conf, M, N, c, weighted, oc, ov, on, n_threads);
  }
  return py::make_tuple(out_c, out_v, out_n);
}

// variance (V, T, K, 2) modified in place, count (V, T, K, 2) int32, typical (V, K, 2)
void shrink_variance(py::array_t<double, py::array::c_style>& variance, const py::array_t<int32_t, py::array::c_style>& count,
                     const Arr& typical, double weight, double floor, int n_threads) {
  if (variance.ndim() != 4 || variance.shape(3) != 2) throw std::invalid_argument("variance: unexpected shape");
  const py::ssize_t V = variance.shape(0), T = variance.shape(1), K = variance.shape(2);
  if (count.ndim() != 4 || count.shape(0) != V || count.shape(1) != T || count.shape(2) != K || count.shape(3) != 2)
    throw std::invalid_argument("count: unexpected shape");
  require(typical, {V, K, 2}, "typical");
  double* v = variance.mutable_data();
  const int32_t* n = count.data();
  const double* typ = typical.data();
  py::gil_scoped_release release;
  lp3d::shrink_variance(v, n, typ, V, T, K, weight, floor, n_threads);
}

// Reads options[key] into dst when it is there (and not None, for arrays).
template <class T>
void read_option(const py::dict& o, const char* key, T& dst) {
  if (o.contains(key)) dst = o[key].cast<T>();
}
void read_option(const py::dict& o, const char* key, std::vector<double>& dst) {
  if (o.contains(key) && !o[key].is_none()) {
    const Arr a = o[key].cast<Arr>();
    dst.assign(a.data(), a.data() + a.size());
  }
}

// The options the offline and the fixed-lag smoother share (SmootherOptions, FixedLagOptions).
template <class Options>
void read_shared_options(const py::dict& o, Options& opt) {
  read_option(o, "s", opt.s);
  read_option(o, "noise_scale", opt.noise_scale);
  read_option(o, "view_scale", opt.view_scale);
  read_option(o, "Q", opt.Q);
  read_option(o, "m0", opt.m0);
  read_option(o, "P0", opt.P0);
  read_option(o, "inflate", opt.inflate);
  read_option(o, "inflate_threshold", opt.inflate_threshold);
  read_option(o, "inflate_factor", opt.inflate_factor);
  read_option(o, "inflate_max_iter", opt.inflate_max_iter);
  read_option(o, "relinearize_max_iter", opt.relinearize_max_iter);
  read_option(o, "relinearize_tol", opt.relinearize_tol);
  read_option(o, "n_threads", opt.n_threads);
}

lp3d::SmootherOptions make_options(const py::dict& o) {
  lp3d::SmootherOptions opt;
  read_shared_options(o, opt);
  if (o.contains("s_blocks") && !o["s_blocks"].is_none())
    opt.s_blocks = o["s_blocks"].cast<std::vector<std::pair<int, int>>>();
  read_option(o, "s_max_frames", opt.s_max_frames);
  read_option(o, "s_search_tol", opt.s_search_tol);
  read_option(o, "fit_view_scale", opt.fit_view_scale);
  read_option(o, "view_threshold", opt.view_threshold);
  read_option(o, "min_motion", opt.min_motion);
  read_option(o, "motion", opt.motion);
  return opt;
}

lp3d::FixedLagOptions make_fixed_lag_options(const py::dict& o) {
  lp3d::FixedLagOptions opt;
  read_shared_options(o, opt);
  read_option(o, "lag", opt.lag);
  read_option(o, "prior_scale", opt.prior_scale);
  read_option(o, "window_iterations", opt.window_iterations);
  if (o.contains("motion_order") && !o["motion_order"].is_none()) opt.motion = o["motion_order"].cast<std::vector<int>>();
  return opt;
}

// The observation model of a smoother kind: "single_view"; "linear" with A (K, 2V, D), b (K, 2V);
// "calibrated" with the cameras' K, dist, fisheye, R, t.
std::unique_ptr<lp3d::ObservationModel> make_model(const std::string& kind, const py::dict& m) {
  if (kind == "single_view") return std::make_unique<lp3d::IdentityModel>();
  if (kind == "linear") {
    const Arr A = m["A"].cast<Arr>(), b = m["b"].cast<Arr>();
    if (A.ndim() != 3 || b.ndim() != 2 || A.shape(0) != b.shape(0) || A.shape(1) != b.shape(1) || A.shape(1) % 2 != 0)
      throw std::invalid_argument("A, b: expected shapes (K, 2V, D) and (K, 2V)");
    return std::make_unique<lp3d::LinearModel>(A.data(), b.data(), static_cast<int>(A.shape(0)),
                                               static_cast<int>(A.shape(1) / 2), static_cast<int>(A.shape(2)));
  }
  if (kind == "calibrated")
    return std::make_unique<lp3d::CameraModel>(make_cameras(m["K"].cast<Arr>(), m["dist"].cast<Arr>(),
                                                            m["fisheye"].cast<Arr>(), m["R"].cast<Arr>(),
                                                            m["t"].cast<Arr>()));
  throw std::invalid_argument("kind: expected 'single_view', 'linear' or 'calibrated', got '" + kind + "'");
}

// Per-frame outputs of the smoothers for n frames: arrays and the pointers to them.
struct FrameArrays {
  Arr mean, cov, rep, repv, infl;
  FrameArrays(py::ssize_t n, py::ssize_t K, py::ssize_t V, py::ssize_t D)
      : mean({n, K, D}), cov({n, K, D, D}), rep({V, n, K, py::ssize_t(2)}), repv({V, n, K, py::ssize_t(2)}),
        infl({V, n, K}) {}
  // SmootherOutputs' first five fields, in their order; the others stay null.
  lp3d::SmootherOutputs outputs() {
    return {mean.mutable_data(), cov.mutable_data(), rep.mutable_data(), repv.mutable_data(), infl.mutable_data()};
  }
  py::dict to_dict() const {
    return py::dict("mean"_a = mean, "covariance"_a = cov, "reprojection"_a = rep, "reprojection_variance"_a = repv,
                    "inflation"_a = infl);
  }
};

// The outputs of a whole track: FrameArrays, and per keypoint the parameters used, the
// log-likelihood and the iterations (what both smoothers fill).
struct TrackArrays {
  FrameArrays frames;
  Arr s, a, b, ll;
  py::array_t<int32_t> iters;
  lp3d::SmootherOutputs out;
  TrackArrays(py::ssize_t T, py::ssize_t K, py::ssize_t V, py::ssize_t D)
      : frames(T, K, V, D), s({K}), a({K}), b({V, K}), ll({K}), iters({K}), out(frames.outputs()) {
    out.s = s.mutable_data();
    out.noise_scale = a.mutable_data();
    out.view_scale = b.mutable_data();
    out.loglik = ll.mutable_data();
    out.iterations = iters.mutable_data();
  }
  py::dict to_dict(const py::dict& more = py::dict()) const {
    py::dict d = frames.to_dict();
    d.attr("update")(py::dict("s"_a = s, "noise_scale"_a = a, "view_scale"_a = b, "log_likelihood"_a = ll,
                              "iterations"_a = iters, **more));
    return d;
  }
};

// A whole track to smooth: the observation model of `kind`, y, r (V, T, K, 2) checked against it.
struct Track {
  std::unique_ptr<lp3d::ObservationModel> model;
  py::ssize_t V, D, T, K;
  Track(const std::string& kind, const py::dict& model_arrays, const Arr& y, const Arr& r)
      : model(make_model(kind, model_arrays)), V(model->views()), D(model->dim()) {
    require(y, {V, -1, -1, 2}, "y");
    T = y.shape(1);
    K = y.shape(2);
    require(r, {V, T, K, 2}, "r");
  }
};

// The offline smoother. y, r: (V, T, K, 2); nominal: (T, K, D). Returns a dict of output arrays.
py::dict smooth(const std::string& kind, const py::dict& model_arrays, const Arr& y, const Arr& r, const Arr& nominal,
                const py::dict& options) {
  const Track track(kind, model_arrays, y, r);
  require(nominal, {track.T, track.K, track.D}, "nominal");
  const lp3d::SmootherOptions opt = make_options(options);
  TrackArrays arrays(track.T, track.K, track.V, track.D);
  Arr dis({track.V, track.K}), m0({track.K, track.D}), P0({track.K, track.D, track.D});
  py::array_t<int32_t> motion({track.K});
  arrays.out.motion = motion.mutable_data();
  arrays.out.disagreement = dis.mutable_data();
  arrays.out.prior_mean = m0.mutable_data();
  arrays.out.prior_cov = P0.mutable_data();
  const double *yp = y.data(), *rp = r.data(), *np_ = nominal.data();
  {
    py::gil_scoped_release release;
    lp3d::smooth_keypoints(*track.model, yp, rp, np_, static_cast<int>(track.T), static_cast<int>(track.K), opt,
                           arrays.out);
  }
  return arrays.to_dict(
      py::dict("view_disagreement"_a = dis, "prior_mean"_a = m0, "prior_covariance"_a = P0, "motion"_a = motion));
}

// The fixed-lag smoother over y, r: (V, T, K, 2) as one stream. Returns a dict of output arrays (as smooth).
py::dict fixed_lag_smooth(const std::string& kind, const py::dict& model_arrays, const Arr& y, const Arr& r,
                          const py::dict& options) {
  const Track track(kind, model_arrays, y, r);
  const lp3d::FixedLagOptions opt = make_fixed_lag_options(options);
  TrackArrays arrays(track.T, track.K, track.V, track.D);
  const double *yp = y.data(), *rp = r.data();
  {
    py::gil_scoped_release release;
    lp3d::fixed_lag_keypoints(*track.model, yp, rp, static_cast<int>(track.T), static_cast<int>(track.K), opt,
                              arrays.out);
  }
  return arrays.to_dict();
}

// The online fixed-lag smoother: owns its observation model.
class FixedLagStream {
 public:
  FixedLagStream(const std::string& kind, const py::dict& model_arrays, int K, const py::dict& options)
      : model_(make_model(kind, model_arrays)), smoother_(*model_, K, make_fixed_lag_options(options)), K_(K) {}

  // y, r: (V, K, 2) of the next frame. Returns the emitted frame (index and its arrays) or None.
  py::object push(const Arr& y, const Arr& r) {
    const py::ssize_t V = model_->views();
    require(y, {V, K_, 2}, "y");
    require(r, {V, K_, 2}, "r");
    FrameArrays frame(1, K_, V, model_->dim());
    const lp3d::SmootherOutputs out = frame.outputs();
    int64_t index;
    const double *yp = y.data(), *rp = r.data();
    {
      py::gil_scoped_release release;
      index = smoother_.push(yp, rp, 1, 0, out, 1, 0);
    }
    if (index < 0) return py::none();
    py::dict d = frame.to_dict();
    d["first"] = index;
    return d;
  }

  // Every buffered frame (oldest first): arrays with a time axis of that many frames.
  py::dict flush() {
    const int n = smoother_.buffered();
    const int64_t first = smoother_.frames_out();
    FrameArrays frames(n, K_, model_->views(), model_->dim());
    const lp3d::SmootherOutputs out = frames.outputs();
    if (n > 0) {
      py::gil_scoped_release release;
      smoother_.flush(out, n, 0);
    }
    py::dict d = frames.to_dict();
    d["first"] = first;
    return d;
  }

  py::dict stats() const {
    Arr ll({py::ssize_t(K_)});
    py::array_t<int32_t> updates({py::ssize_t(K_)});
    for (int k = 0; k < K_; ++k) {
      const lp3d::StreamStats st = smoother_.stats(k);
      ll.mutable_data()[k] = st.loglik;
      updates.mutable_data()[k] = st.max_updates;
    }
    return py::dict("log_likelihood"_a = ll, "iterations"_a = updates);
  }

  int64_t frames_in() const { return smoother_.frames_in(); }
  int64_t frames_out() const { return smoother_.frames_out(); }

 private:
  std::unique_ptr<lp3d::ObservationModel> model_;
  lp3d::FixedLagSmoother smoother_;
  int K_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "lp3d-eks C++ core (use the lp3d_eks Python API instead of calling this directly)";
  m.def("project", &project, py::arg("points"), py::arg("K"), py::arg("dist"), py::arg("fisheye"), py::arg("R"),
        py::arg("t"));
  m.def("undistort", &undistort, py::arg("pixels"), py::arg("K"), py::arg("dist"), py::arg("fisheye"));
  m.def("triangulate", &triangulate, py::arg("points"), py::arg("weights"), py::arg("K"), py::arg("dist"),
        py::arg("fisheye"), py::arg("R"), py::arg("t"), py::arg("n_threads") = 0);
  m.def("triangulate_robust", &triangulate_robust, py::arg("points"), py::arg("threshold"), py::arg("K"),
        py::arg("dist"), py::arg("fisheye"), py::arg("R"), py::arg("t"), py::arg("n_threads") = 0);
  m.def("ensemble_statistics", &ensemble_statistics, py::arg("positions"), py::arg("confidences"),
        py::arg("center"), py::arg("weighted"), py::arg("n_threads") = 0);
  m.def("shrink_variance", &shrink_variance, py::arg("variance"), py::arg("count"), py::arg("typical"),
        py::arg("weight"), py::arg("floor"), py::arg("n_threads") = 0);
  m.def("chi2_2dof_quantile", &lp3d::chi2_2dof_quantile, py::arg("q"));
  m.def("smooth", &smooth, py::arg("kind"), py::arg("model"), py::arg("y"), py::arg("r"), py::arg("nominal"),
        py::arg("options"));
  m.def("fixed_lag_smooth", &fixed_lag_smooth, py::arg("kind"), py::arg("model"), py::arg("y"), py::arg("r"),
        py::arg("options"));
  py::class_<FixedLagStream>(m, "FixedLagStream")
      .def(py::init<const std::string&, const py::dict&, int, const py::dict&>(), py::arg("kind"), py::arg("model"),
           py::arg("n_keypoints"), py::arg("options"))
      .def("push", &FixedLagStream::push, py::arg("y"), py::arg("r"))
      .def("flush", &FixedLagStream::flush)
      .def("stats", &FixedLagStream::stats)
      .def_property_readonly("frames_in", &FixedLagStream::frames_in)
      .def_property_readonly("frames_out", &FixedLagStream::frames_out);
}
