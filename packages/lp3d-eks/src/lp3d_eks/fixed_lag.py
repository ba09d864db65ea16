"""Fixed-lag smoothing: the smoother's model run online, with bounded latency.

After frame ``t + L`` arrives, :class:`FixedLagSmoother` returns frame ``t``'s posterior (mean,
covariance, reprojections, inflation factors) using only frames up to ``t + L``; ``L = 0`` is the
filter. Work and memory per frame do not depend on how long it has run (``O(L)``). The model is
the offline one (see :mod:`lp3d_eks.smoother`), with its parameters held fixed::

    x_0 ~ N(m0, P0)
    x_t = x_{t-1} + w_t,            w_t ~ N(0, s Q)
    y_tv = h_v(x_t) + e_tv,         e_tv ~ N(0, a * b_v * f_tv * diag(r_tv))

``s``, ``a`` (noise scale), ``b`` (view scales), each keypoint's motion prior (a random walk or
constant velocity, see :class:`lp3d_eks.SmoothOptions`), the prior and the ensemble variance's
shrinkage target are :class:`FixedLagParameters`: given, or fitted once by the offline smoother on a
calibration stretch (:func:`fit_fixed_lag`: the first ``n_frames`` of a stream), or taken from a
previous session's result (:meth:`FixedLagParameters.from_result`).

Per keypoint and frame (the C++ core, ``cpp/include/lp3d_eks/fixed_lag.hpp``): predict by the
keypoint's motion; update by an iterated extended Kalman step (linearized at the prediction, then at
the updated mean until it settles; the offline filter's arithmetic); test each view against its
prediction from the past and the frame's other views (``d2 = e^T (R - J P J^T)^{-1} e`` with the
filtered posterior, chi-square with 2 dof) and inflate the worst one above the threshold by
``max(inflate_factor, d2 / threshold)``, one view per round, as offline; then a
Rauch-Tung-Striebel pass over the last ``L + 1`` filtered frames (a ring buffer) gives frame
``t - L``. With ``window_passes``, the window is also relinearized at its smoothed means (the
offline smoother's relinearization, over the last ``L + 1`` frames).

How it relates to :func:`lp3d_eks.smooth_calibrated` with the same parameters: with a linear
model (``smooth_multiview``, ``smooth_single_view``), inflation off and ``L`` at least the
session, the result is the offline one to rounding; a camera model is linearized at filtered
rather than smoothed means (about 1% of a posterior standard deviation on a simulated rig;
``window_passes`` closes it to the offline smoother's own tolerance). What a causal smoother
cannot do: search ``s`` and ``a`` (they are fitted on the calibration stretch), test an
observation against the future (inflation sees the past and the other views, once), fit view
scales as it goes (given ones are used) or guard the motion (``s`` is fixed).

A live loop::

    from lp3d_eks import FixedLagSmoother, fit_fixed_lag

    params = fit_fixed_lag(first_frames, rig)            # (member, view, time, keypoint, 2), e.g. 250 frames
    smoother = FixedLagSmoother(params, rig, lag=5)
    for frame in camera_frames():                         # (member, view, keypoint, 2) pixels, NaN if missing
        out = smoother.push(frame)                        # None until lag + 1 frames have arrived
        if out is not None:
            send(out.index, out.mean, out.variance, out.inflated)   # frame index - 5: (keypoint, 3)
    for out in smoother.finish():                         # the last `lag` frames
        send(out.index, out.mean, out.variance, out.inflated)

:func:`smooth_fixed_lag` runs a whole recording as such a stream (the result is what the live loop
would have given, as one :class:`SmootherResult`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from lp3d_eks import _core
from lp3d_eks.camera import CameraRig
from lp3d_eks.result import MOTIONS, SMOOTHER_KINDS, EnsembleStatistics, SmootherResult, motion_codes
from lp3d_eks.smoother import SmoothOptions, _result, smooth

__all__ = ["FixedLagParameters", "FixedLagFrame", "FixedLagSmoother", "fit_fixed_lag", "smooth_fixed_lag"]

_FITTED = ("s", "noise_scale", "view_scale", "prior_mean", "prior_covariance", "process_covariance")
"""SmoothOptions fields that FixedLagParameters hold: given either way, not both."""


def _latent_dim(kind: str, loadings: np.ndarray | None) -> int:
    if kind == "calibrated":
        return 3
    if kind == "linear":
        if loadings is None:
            raise ValueError("loadings: expected the linear model's (keypoint, 2 * view, D) loadings, but got None")
        return int(np.shape(loadings)[-1])
    return 2


@dataclass(frozen=True, eq=False)
class FixedLagParameters:
    """What a fixed-lag smoother holds fixed.

    Attributes:
        kind: one of :data:`lp3d_eks.SMOOTHER_KINDS`.
        s: ``(keypoint,)`` smoothing parameter.
        noise_scale: ``(keypoint,)`` scale ``a`` of the ensemble variances.
        view_scale: ``(view, keypoint)`` view scales ``b`` (1: the view agrees with the others).
        prior_mean: ``(keypoint, D)`` prior of frame 0, or None: each keypoint starts at the first
            frame that places it (triangulation), with a diffuse prior there.
        prior_covariance: ``(keypoint, D, D)``, with ``prior_mean``.
        typical_variance: ``(view, keypoint, 2)`` the ensemble variance's shrinkage target
            (:func:`lp3d_eks.ensemble_statistics`), or None: none (a single model, or shrinkage
            off).
        loadings, offset: ``(keypoint, 2 * view, D)`` and ``(keypoint, 2 * view)``, the linear kind's model.
        process_covariance: ``(D, D)`` shape ``Q`` of the process noise (None: identity).
        view_disagreement: ``(view, keypoint)`` what the offline fit found on its frames (median
            pixels from the leave-one-out prediction), reported with the results (where the view
            scales were decided); None: unknown (NaN in results).
        motion: ``(keypoint,)`` each keypoint's motion prior, one of :data:`lp3d_eks.MOTIONS`
            (``s`` is that motion's); None: random walks.
    """

    kind: str
    s: np.ndarray
    noise_scale: np.ndarray
    view_scale: np.ndarray
    prior_mean: np.ndarray | None = None
    prior_covariance: np.ndarray | None = None
    typical_variance: np.ndarray | None = None
    loadings: np.ndarray | None = None
    offset: np.ndarray | None = None
    process_covariance: np.ndarray | None = None
    view_disagreement: np.ndarray | None = None
    motion: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in SMOOTHER_KINDS:
            raise ValueError(f"kind: expected one of {SMOOTHER_KINDS}, but got {self.kind!r}")
        if self.motion is not None:
            motion = np.asarray(self.motion, dtype=str).reshape(-1)
            if motion.size != np.size(self.s) or not set(motion.tolist()) <= set(MOTIONS):
                raise ValueError(
                    f"motion: expected one of {MOTIONS} per keypoint ({np.size(self.s)}), but got {motion.tolist()}"
                )
            object.__setattr__(self, "motion", motion)
        D = _latent_dim(self.kind, self.loadings)
        s = np.asarray(self.s, dtype=np.float64).reshape(-1)
        K = s.size
        V = np.shape(self.view_scale)[0] if np.ndim(self.view_scale) == 2 else -1
        expected = {
            "s": (K,),
            "noise_scale": (K,),
            "view_scale": (V, K),
            "prior_mean": (K, D),
            "prior_covariance": (K, D, D),
            "typical_variance": (V, K, 2),
            "loadings": (K, 2 * V, D),
            "offset": (K, 2 * V),
            "process_covariance": (D, D),
            "view_disagreement": (V, K),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.ascontiguousarray(value, dtype=np.float64)
            if name == "s":
                arr = s
            finite = np.isfinite(arr) | (name == "view_disagreement")  # NaN: a view that never saw a keypoint
            if arr.shape != shape or V < 1 or not np.all(finite):
                raise ValueError(f"{name}: expected finite values of shape {shape}, but got shape {arr.shape}")
            if name in ("s", "noise_scale", "view_scale", "typical_variance") and np.any(arr <= 0):
                raise ValueError(f"{name}: expected positive values, but got {arr.tolist()}")
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if (self.prior_mean is None) != (self.prior_covariance is None):
            raise ValueError("prior_mean, prior_covariance: expected both or neither")
        if self.kind == "single_view" and V != 1:
            raise ValueError(f"view_scale: expected one view for the single_view kind, but got {V}")

    @property
    def n_keypoints(self) -> int:
        return int(self.s.size)

    @property
    def n_views(self) -> int:
        return int(self.view_scale.shape[0])

    @property
    def dim(self) -> int:
        """The latent dimension D."""
        return _latent_dim(self.kind, self.loadings)

    @classmethod
    def from_result(
        cls,
        result: SmootherResult,
        *,
        typical_variance: np.ndarray | None = None,
        prior: bool = False,
        process_covariance: np.ndarray | None = None,
    ) -> FixedLagParameters:
        """The parameters an offline result found (``s``, ``noise_scale``, ``view_scale``, the linear
        model, its ``view_disagreement`` and motion), e.g. of a previous session of the same rig; with
        ``prior``, also its prior of frame 0 (the same recording's start only); ``process_covariance``:
        the shape ``Q`` the result was smoothed with (None: identity)."""
        V, _, K = result.reprojection.shape[:3]
        return cls(
            kind=result.kind,
            s=result.s,
            noise_scale=result.noise_scale,
            view_scale=np.ones((V, K)) if result.view_scale is None else result.view_scale,
            prior_mean=result.prior_mean if prior else None,
            prior_covariance=result.prior_covariance if prior else None,
            typical_variance=typical_variance,
            loadings=result.loadings,
            offset=result.offset,
            process_covariance=process_covariance,
            view_disagreement=result.view_disagreement,
            motion=result.motion,
        )


@dataclass(frozen=True, eq=False)
class FixedLagFrame:
    """One frame's posterior from :class:`FixedLagSmoother` (the conventions of :class:`SmootherResult`,
    without the time axis).

    Attributes:
        index: the frame (0 for the first frame pushed).
        mean: ``(keypoint, D)`` posterior mean (NaN for a keypoint not seen yet).
        covariance: ``(keypoint, D, D)``.
        reprojection, reprojection_variance: ``(view, keypoint, 2)`` pixels, pixels squared.
        inflation: ``(view, keypoint)`` variance inflation factors (1: consistent).
        observation, observation_variance: ``(view, keypoint, 2)`` the ensemble center and variance used.
    """

    index: int
    mean: np.ndarray
    covariance: np.ndarray
    reprojection: np.ndarray
    reprojection_variance: np.ndarray
    inflation: np.ndarray
    observation: np.ndarray
    observation_variance: np.ndarray

    @property
    def variance(self) -> np.ndarray:
        """``(keypoint, D)`` posterior variance of each latent coordinate."""
        return np.diagonal(self.covariance, axis1=-2, axis2=-1)

    @property
    def inflated(self) -> np.ndarray:
        """``(view, keypoint)`` True where the observation was found inconsistent."""
        return self.inflation > 1.0


def _options(options: dict) -> SmoothOptions:
    """The ensemble and inflation options, next to parameters that hold the model's."""
    given = [n for n in _FITTED if options.get(n) is not None and not isinstance(options.get(n), str)]
    if given:
        raise ValueError(f"{', '.join(given)}: expected in the FixedLagParameters, not as options")
    return SmoothOptions(**options)


def _model(parameters: FixedLagParameters, rig: CameraRig | None) -> dict:
    """The observation model's arrays for the C++ core."""
    if parameters.kind == "calibrated":
        if not isinstance(rig, CameraRig):
            raise TypeError(f"rig: expected a CameraRig for calibrated parameters, but got {type(rig).__name__}")
        if len(rig) != parameters.n_views:
            raise ValueError(f"rig: expected {parameters.n_views} cameras (the parameters' views), but got {len(rig)}")
        return rig._model_arrays()
    if rig is not None:
        raise ValueError(f"rig: expected None for {parameters.kind} parameters, but got a CameraRig")
    if parameters.kind == "linear":
        return {"A": parameters.loadings, "b": parameters.offset}
    return {}


def _core_options(
    parameters: FixedLagParameters, opt: SmoothOptions, lag: int, window_passes: int
) -> dict[str, object]:
    if isinstance(lag, bool) or not isinstance(lag, int | np.integer) or lag < 0:
        raise ValueError(f"lag: expected a number of frames >= 0, but got {lag!r}")
    if isinstance(window_passes, bool) or not isinstance(window_passes, int | np.integer) or window_passes < 0:
        raise ValueError(f"window_passes: expected a number >= 0, but got {window_passes!r}")
    out: dict[str, object] = {
        "lag": int(lag),
        "s": parameters.s,
        "noise_scale": parameters.noise_scale,
        "view_scale": np.ascontiguousarray(parameters.view_scale.T),
        **opt.inflation(inflate_default=parameters.kind != "single_view"),
        "window_iterations": int(window_passes),
        "n_threads": int(opt.n_threads),
    }
    if parameters.motion is not None:
        out["motion_order"] = motion_codes(parameters.motion)
    if parameters.process_covariance is not None:
        out["Q"] = parameters.process_covariance
    if parameters.prior_mean is not None:
        out["m0"] = parameters.prior_mean
        out["P0"] = parameters.prior_covariance
    return out


def _slice_time(data, confidences, n: int):
    if isinstance(data, EnsembleStatistics):
        return replace(data, center=data.center[:, :n], variance=data.variance[:, :n]), confidences
    data = np.asarray(data)
    if data.ndim != 5:
        raise ValueError(f"predictions: expected shape (member, view, time, keypoint, 2), but got {data.shape}")
    return data[:, :, :n], None if confidences is None else np.asarray(confidences)[:, :, :n]


def fit_fixed_lag(
    data,
    rig: CameraRig | None = None,
    *,
    confidences: np.ndarray | None = None,
    n_frames: int = 250,
    **options,
) -> FixedLagParameters:
    """Fits a stream's parameters once, with the offline smoother, on its first ``n_frames`` frames.

    Everything the offline smoother fits on those frames (``s``, the noise scale, view scales,
    with variance inflation as configured) is kept, with its prior of frame 0 and the ensemble
    variance's shrinkage target; parameters given in ``options`` stay as given.

    Args:
        data: ``(member, view, time, keypoint, 2)`` pixels (at least the first ``n_frames``), or
            :class:`EnsembleStatistics`.
        rig: cameras (calibrated), or None (several views: linear latent; one view: single view).
        confidences: ``(member, view, time, keypoint)``, optional.
        n_frames: frames of the calibration stretch (all frames if there are fewer).
        **options: :class:`SmoothOptions` fields (and ``n_latent`` for the linear kind).

    Returns:
        :class:`FixedLagParameters`.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames < 2:
        raise ValueError(f"n_frames: expected a number of frames >= 2, but got {n_frames!r}")
    first, conf = _slice_time(data, confidences, int(n_frames))
    n_latent = options.pop("n_latent", None)
    opt = SmoothOptions(**options)
    obs = opt.observations(first, conf)
    extra = {} if n_latent is None else {"n_latent": n_latent}
    result = smooth(obs, rig, **options, **extra)
    unseen = np.flatnonzero(~np.isfinite(result.s))
    if unseen.size:
        raise ValueError(
            f"data: expected every keypoint to be seen in the first {obs.shape[1]} frames, but keypoints "
            f"{unseen.tolist()} are not (fit on more frames, or give the parameters)"
        )
    return FixedLagParameters.from_result(
        result, typical_variance=obs.typical_variance, prior=True, process_covariance=opt.process_covariance
    )


def smooth_fixed_lag(
    data,
    rig: CameraRig | None = None,
    *,
    lag: int,
    parameters: FixedLagParameters | None = None,
    fit_frames: int = 250,
    window_passes: int = 0,
    confidences: np.ndarray | None = None,
    **options,
) -> SmootherResult:
    """Runs a whole recording as a stream: what a live :class:`FixedLagSmoother` would have given.

    Frame ``t``'s result uses frames up to ``t + lag`` only (the last ``lag`` frames: the frames up
    to the end); parameters not given are fitted on the first ``fit_frames`` frames only
    (:func:`fit_fixed_lag`), never on frames the stream has not reached by then.

    Args:
        data: ``(member, view, time, keypoint, 2)`` pixels, or :class:`EnsembleStatistics`.
        rig: cameras (calibrated), or None.
        lag: ``L`` frames (0: the filter).
        parameters: held fixed; None: fitted (``options`` may give some of them, e.g. ``s``).
        fit_frames: the calibration stretch when fitting.
        window_passes: relinearization passes over the window per frame (camera model).
        confidences: ``(member, view, time, keypoint)``, optional.
        **options: :class:`SmoothOptions` fields (ensemble statistics, variance inflation; with
            ``parameters=None`` also what the fit takes).

    Returns:
        :class:`SmootherResult` (``view_disagreement``: the parameters' (the fit's), NaN when
        unknown; ``iterations``: the most filter updates one frame needed).
    """
    if parameters is None:
        parameters = fit_fixed_lag(data, rig, confidences=confidences, n_frames=fit_frames, **options)
        options = {k: v for k, v in options.items() if k not in _FITTED and k != "n_latent"}
    opt = _options(options)
    shape = data.center.shape[:3] if isinstance(data, EnsembleStatistics) else np.shape(data)[1:4]
    if len(shape) != 3 or (shape[0], shape[2]) != (parameters.n_views, parameters.n_keypoints):
        raise ValueError(
            f"data: expected {parameters.n_views} views and {parameters.n_keypoints} keypoints (the parameters'), "
            f"but got shape {np.shape(data.center if isinstance(data, EnsembleStatistics) else data)}"
        )
    obs = opt.observations(data, confidences, parameters.typical_variance)
    out = _core.fixed_lag_smooth(
        parameters.kind,
        _model(parameters, rig),
        obs.center,
        obs.variance,
        _core_options(parameters, opt, lag, window_passes),
    )
    V, K = parameters.n_views, parameters.n_keypoints
    out["view_disagreement"] = (
        np.full((V, K), np.nan) if parameters.view_disagreement is None else parameters.view_disagreement.copy()
    )
    extra = {"loadings": parameters.loadings, "offset": parameters.offset} if parameters.kind == "linear" else {}
    out["motion"] = np.ones(K, np.int64) if parameters.motion is None else motion_codes(parameters.motion)
    return _result(parameters.kind, out, obs, **extra)


class FixedLagSmoother:
    """The fixed-lag smoother as an online object: push one synchronized frame at a time.

    Args:
        parameters: held fixed (:func:`fit_fixed_lag`, :meth:`FixedLagParameters.from_result`).
        rig: the cameras, for calibrated parameters.
        lag: ``L`` frames: :meth:`push` returns frame ``t - L`` once frame ``t`` is in (0: the filter).
        window_passes: relinearization passes over the window per frame (camera model; 0: none).
        **options: :class:`SmoothOptions` fields for the ensemble statistics and variance inflation
            (``center``, ``variance``, ``min_variance``, ``min_confidence``, ``variance_prior_weight``,
            ``inflate``, ``inflate_quantile``, ``inflate_factor``, ``inflate_max_iter``).

    The numbers are exactly those of :func:`smooth_fixed_lag` on the same frames.
    """

    def __init__(
        self,
        parameters: FixedLagParameters,
        rig: CameraRig | None = None,
        *,
        lag: int,
        window_passes: int = 0,
        **options,
    ) -> None:
        if not isinstance(parameters, FixedLagParameters):
            raise TypeError(f"parameters: expected FixedLagParameters, but got {type(parameters).__name__}")
        self.parameters = parameters
        self.lag = int(lag)
        # one frame is far too small to share out: threads would cost more than they save
        self._opt = replace(_options(options), n_threads=1)
        self._stream = _core.FixedLagStream(
            parameters.kind,
            _model(parameters, rig),
            parameters.n_keypoints,
            _core_options(parameters, self._opt, lag, window_passes),
        )
        self._observations: deque[tuple[np.ndarray, np.ndarray]] = deque()

    @property
    def frames_in(self) -> int:
        """Frames pushed so far."""
        return int(self._stream.frames_in)

    @property
    def frames_out(self) -> int:
        """Frames returned so far."""
        return int(self._stream.frames_out)

    @property
    def log_likelihood(self) -> np.ndarray:
        """``(keypoint,)`` log-likelihood of the observations so far (at each frame's linearization)."""
        return self._stream.stats()["log_likelihood"]

    def observations(self, frame, confidences: np.ndarray | None = None) -> EnsembleStatistics:
        """One frame's ensemble statistics ``(view, 1, keypoint, 2)`` as :meth:`push` computes them."""
        V, K = self.parameters.n_views, self.parameters.n_keypoints
        if isinstance(frame, EnsembleStatistics):
            data = frame
            if frame.shape != (V, 1, K):
                raise ValueError(f"frame: expected statistics of shape ({V}, 1, {K}), but got {frame.shape}")
        else:
            data = np.asarray(frame, dtype=np.float64)
            if data.ndim != 4 or data.shape[1:] != (V, K, 2):
                raise ValueError(
                    f"frame: expected shape (member, {V}, {K}, 2) (member, view, keypoint, 2), but got {data.shape}"
                )
            data = data[:, :, None]
            if confidences is not None:
                confidences = np.asarray(confidences, dtype=np.float64)[:, :, None]
        return self._opt.observations(data, confidences, self.parameters.typical_variance)

    def push(self, frame, confidences: np.ndarray | None = None) -> FixedLagFrame | None:
        """Adds the next frame; returns frame ``frames_in - 1 - lag`` once there is one.

        Args:
            frame: ``(member, view, keypoint, 2)`` pixels of every member (NaN where missing; all
                NaN for a frame that was dropped), or :class:`EnsembleStatistics` of one frame.
            confidences: ``(member, view, keypoint)``, optional.
        """
        obs = self.observations(frame, confidences)
        center, variance = obs.center[:, 0], obs.variance[:, 0]
        self._observations.append((center, variance))
        out = self._stream.push(center, variance)
        if out is None:
            return None
        return self._frame(out, 0)

    def finish(self) -> list[FixedLagFrame]:
        """The frames still buffered (the last ``lag``), smoothed with every frame pushed."""
        out = self._stream.flush()
        return [self._frame(out, i) for i in range(out["mean"].shape[0])]

    def _frame(self, out: dict, i: int) -> FixedLagFrame:
        center, variance = self._observations.popleft()
        return FixedLagFrame(
            index=int(out["first"]) + i,
            mean=out["mean"][i],
            covariance=out["covariance"][i],
            reprojection=out["reprojection"][:, i],
            reprojection_variance=out["reprojection_variance"][:, i],
            inflation=out["inflation"][:, i],
            observation=center,
            observation_variance=variance,
        )
