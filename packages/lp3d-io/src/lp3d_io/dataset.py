"""The lp3d dataset convention: the one place that owns dimension names, variables and attributes.

Every lp3d dataset is an :class:`xarray.Dataset` with singular dimension names (compatible with
movement's ``time``, ``space``, ``keypoint``, ``individual``, plus ``view`` and ``member``) and an
attribute ``lp3d_kind`` that says which of the layouts below it follows.

``lp3d_kind = "predictions"`` (ensemble predictions, one model per member)::

    position    (member, view, time, keypoint, individual, space)  float, space = [x, y], pixels
    confidence  (member, view, time, keypoint, individual)         float in [0, 1], NaN if unknown

``lp3d_kind = "labels"`` (hand-labeled frames for training; the same rows across views)::

    position    (view, frame, keypoint, individual, space)  float, space = [x, y]; NaN = not labeled
    image_path  (view, frame)                               str, the image of each row

``lp3d_kind = "smoothed"`` (a converted :class:`lp3d_eks.SmootherResult`, attribute ``smoother``
= its ``kind``). ``position`` is always the smoother's main output, in its own ``space``:

- ``smoother = "calibrated"``: the world, ``space = [x, y, z]``::

    position             (time, keypoint, individual, space)          smoothed 3D position
    position_variance    (time, keypoint, individual, space)          diagonal of the covariance
    position_covariance  (time, keypoint, individual, space, space2)  posterior covariance

- ``smoother = "single_view"`` or ``"linear"``: the image of each view, ``space = [x, y]``::

    position             (view, time, keypoint, individual, space)    smoothed 2D position
    position_variance    (view, time, keypoint, individual, space)    its posterior variance
    latent_mean          (time, keypoint, individual, latent)         linear only: the latent
    latent_covariance    (time, keypoint, individual, latent, latent2)
    loadings             (keypoint, individual, view, image_space, latent)  linear only: A
    offset               (keypoint, individual, view, image_space)          linear only: b

Per-view pixel quantities use their own dimension ``image_space = [x, y]`` in every smoothed
dataset, so their dimensions never depend on the smoother (``space`` is the world in the calibrated
case)::

    reprojection           (view, time, keypoint, individual, image_space)  smoothed track per view
    reprojection_variance  (view, time, keypoint, individual, image_space)  diag(J P J^T)
    predictive_variance    (view, time, keypoint, individual, image_space)  + observation noise
    ensemble_center        (view, time, keypoint, individual, image_space)  observations smoothed
    ensemble_variance      (view, time, keypoint, individual, image_space)  their variance
    inflation              (view, time, keypoint, individual)               1 = not inflated
    ensemble_confidence    (view, time, keypoint, individual)               optional, mean confidence
    smoothing_parameter    (keypoint, individual)                           s
    noise_scale            (keypoint, individual)
    log_likelihood         (keypoint, individual)
    iterations             (keypoint, individual)

For the 2D smoothers ``reprojection`` equals ``position`` (kept so per-view consumers read the
same variable whatever the smoother).

Coordinates: ``member``, ``view``, ``keypoint``, ``individual`` hold unique names; ``time`` holds
integer frame indices (seconds are ``time / fps``); ``frame`` numbers label rows 0..N-1.
Attributes: ``lp3d_kind``; ``source_software``; ``fps`` (absent: time in frames only);
``source_files`` (list of str); ``session`` (absent if unnamed). Attributes that would be ``None``
are left out so every dataset writes to netCDF and zarr as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "KINDS",
    "SPACE_2D",
    "SPACE_3D",
    "predictions_dataset",
    "labels_dataset",
    "smoothed_dataset",
    "validate",
]

KINDS = ("predictions", "labels", "smoothed", "calibration")
SMOOTHERS = ("single_view", "linear", "calibrated")
SPACE_2D = ("x", "y")
SPACE_3D = ("x", "y", "z")
DEFAULT_INDIVIDUAL = "individual_0"

_PREDICTION_VARS = {
    "position": ("member", "view", "time", "keypoint", "individual", "space"),
    "confidence": ("member", "view", "time", "keypoint", "individual"),
}
_LABEL_VARS = {
    "position": ("view", "frame", "keypoint", "individual", "space"),
    "image_path": ("view", "frame"),
}
_PER_VIEW_2D = ("view", "time", "keypoint", "individual", "image_space")
_PER_VIEW = ("view", "time", "keypoint", "individual")
_PER_KEYPOINT = ("keypoint", "individual")
_SMOOTHED_COMMON = {
    "reprojection": _PER_VIEW_2D,
    "reprojection_variance": _PER_VIEW_2D,
    "ensemble_center": _PER_VIEW_2D,
    "ensemble_variance": _PER_VIEW_2D,
    "inflation": _PER_VIEW,
    "smoothing_parameter": _PER_KEYPOINT,
    "noise_scale": _PER_KEYPOINT,
    "log_likelihood": _PER_KEYPOINT,
}
_SMOOTHED_OPTIONAL = {
    "predictive_variance": _PER_VIEW_2D,
    "ensemble_confidence": _PER_VIEW,
    "iterations": _PER_KEYPOINT,
    "latent_mean": ("time", "keypoint", "individual", "latent"),
    "latent_covariance": ("time", "keypoint", "individual", "latent", "latent2"),
    "loadings": ("keypoint", "individual", "view", "image_space", "latent"),
    "offset": ("keypoint", "individual", "view", "image_space"),
    "position_covariance": ("time", "keypoint", "individual", "space", "space2"),
}
_SMOOTHED_POSITION = {
    "calibrated": ("time", "keypoint", "individual", "space"),
    "single_view": ("view", "time", "keypoint", "individual", "space"),
    "linear": ("view", "time", "keypoint", "individual", "space"),
}
_CALIBRATION_VARS = {
    "matrix": ("view", "row", "column"),
    "distortion": ("view", "coefficient"),
    "rotation": ("view", "axis"),
    "translation": ("view", "axis"),
    "image_size": ("view", "extent"),
}
# Variables whose values must be variances (>= 0) or probabilities.
_NON_NEGATIVE = (
    "position_variance",
    "reprojection_variance",
    "predictive_variance",
    "ensemble_variance",
    "inflation",
)
_PROBABILITIES = ("confidence", "ensemble_confidence")
_NAMED_DIMS = ("member", "view", "keypoint", "individual")


# --- constructors ---------------------------------------------------------------------------------


def _names(names: Sequence[str] | None, n: int, prefix: str, what: str) -> list[str]:
    if names is None:
        return [f"{prefix}_{i}" for i in range(n)]
    if isinstance(names, str):
        raise ValueError(f"{what}: expected a sequence of names, but got the string {names!r}")
    out = [str(x) for x in names]
    if len(out) != n:
        raise ValueError(f"{what}: expected {n} names (from the data), but got {len(out)}")
    return out


def _float_array(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    raise ValueError(f"{what}: expected a float array, but got dtype {arr.dtype}")


def _attrs(kind: str, *, fps, source_software, source_files, session, **extra) -> dict:
    attrs: dict[str, Any] = {"lp3d_kind": kind, "source_software": str(source_software)}
    if fps is not None:
        attrs["fps"] = float(fps)
    if source_files is not None:
        if isinstance(source_files, str | bytes):
            source_files = [source_files]
        attrs["source_files"] = [str(f) for f in source_files]
    if session is not None:
        attrs["session"] = str(session)
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def _time_coord(time: Any, n: int) -> np.ndarray:
    if time is None:
        return np.arange(n, dtype=np.int64)
    t = np.asarray(time)
    if t.shape != (n,) or t.dtype.kind not in "iu":
        raise ValueError(f"time: expected {n} integer frame indices, but got shape {t.shape} {t.dtype}")
    return t.astype(np.int64)


def _with_individual(arr: np.ndarray, ndim_without: int, what: str) -> np.ndarray:
    """Adds a length-1 individual axis before the last axis when it is missing."""
    if arr.ndim == ndim_without:
        return arr[..., None, :]
    if arr.ndim == ndim_without + 1:
        return arr
    raise ValueError(f"{what}: expected {ndim_without} or {ndim_without + 1} dims, but got shape {arr.shape}")


def _check_shape(arr: np.ndarray, expected: dict[str, int | None], what: str) -> None:
    ok = arr.ndim == len(expected) and all(n is None or arr.shape[i] == n for i, n in enumerate(expected.values()))
    if not ok:
        want = ", ".join(name if n is None else f"{name}={n}" for name, n in expected.items())
        raise ValueError(f"{what}: expected shape ({want}), but got {arr.shape}")


def predictions_dataset(
    position: Any,
    confidence: Any = None,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    member_names: Sequence[str] | None = None,
    individual_names: Sequence[str] | None = None,
    fps: float | None = None,
    source_software: str = "unknown",
    source_files: Sequence[str] | None = None,
    session: str | None = None,
    time: Any = None,
) -> xr.Dataset:
    """Ensemble predictions as a dataset (see the module docstring).

    Args:
        position: ``(member, view, time, keypoint, individual, 2)`` or
            ``(member, view, time, keypoint, 2)`` pixels (then one individual ``"individual_0"``).
            Float arrays keep their dtype (float32 halves memory); integer arrays become float64.
        confidence: ``(member, view, time, keypoint[, individual])`` in [0, 1]; None: all NaN.
        view_names, keypoint_names: names along ``view`` and ``keypoint``.
        member_names: default ``member_0, member_1, ...``.
        individual_names: default ``individual_0, ...``.
        fps: frames per second of the video, if known.
        source_software: what produced the predictions (e.g. ``"Lightning Pose"``).
        source_files: the files read, if any.
        session: session name.
        time: ``(time,)`` integer frame indices; default ``0..T-1``.

    Returns:
        The validated dataset.
    """
    pos = _with_individual(_float_array(position, "position"), 5, "position")
    M, V, T, K, I = pos.shape[:5]  # noqa: E741
    views = _names(view_names, V, "view", "view_names")
    keypoints = _names(keypoint_names, K, "keypoint", "keypoint_names")
    members = _names(member_names, M, "member", "member_names")
    individuals = _names(individual_names, I, "individual", "individual_names")
    _check_shape(pos, {"member": M, "view": V, "time": T, "keypoint": K, "individual": I, "space": 2}, "position")
    if confidence is None:
        conf = np.full(pos.shape[:-1], np.nan, dtype=pos.dtype)
    else:
        conf = _float_array(confidence, "confidence")
        if conf.ndim == 4:
            conf = conf[..., None]
        _check_shape(conf, dict(zip(_PREDICTION_VARS["confidence"], pos.shape[:-1], strict=True)), "confidence")
    ds = xr.Dataset(
        {"position": (_PREDICTION_VARS["position"], pos), "confidence": (_PREDICTION_VARS["confidence"], conf)},
        coords={
            "member": members,
            "view": views,
            "time": _time_coord(time, T),
            "keypoint": keypoints,
            "individual": individuals,
            "space": list(SPACE_2D),
        },
        attrs=_attrs(
            "predictions", fps=fps, source_software=source_software, source_files=source_files, session=session
        ),
    )
    validate(ds)
    return ds


def labels_dataset(
    position: Any,
    image_paths: Any,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    source_files: Sequence[str] | None = None,
    session: str | None = None,
    source_software: str = "unknown",
) -> xr.Dataset:
    """Labeled frames as a dataset (see the module docstring).

    Args:
        position: ``(view, frame, keypoint, 2)`` or ``(view, frame, keypoint, individual, 2)``
            pixels; NaN where a keypoint is not labeled.
        image_paths: ``(view, frame)`` image path of every row.
        view_names, keypoint_names, individual_names: names along those dims.
        source_files, session, source_software: attributes.

    Returns:
        The validated dataset.
    """
    pos = _with_individual(_float_array(position, "position"), 4, "position")
    V, N, K, I = pos.shape[:4]  # noqa: E741
    paths = np.asarray(image_paths)
    if paths.shape != (V, N):
        raise ValueError(f"image_paths: expected shape (view={V}, frame={N}), but got {paths.shape}")
    ds = xr.Dataset(
        {"position": (_LABEL_VARS["position"], pos), "image_path": (_LABEL_VARS["image_path"], paths.astype(str))},
        coords={
            "view": _names(view_names, V, "view", "view_names"),
            "frame": np.arange(N, dtype=np.int64),
            "keypoint": _names(keypoint_names, K, "keypoint", "keypoint_names"),
            "individual": _names(individual_names, I, "individual", "individual_names"),
            "space": list(SPACE_2D),
        },
        attrs=_attrs("labels", fps=None, source_software=source_software, source_files=source_files, session=session),
    )
    validate(ds)
    return ds


def _stack_individuals(results: Sequence[Any], field: str, axis: int) -> np.ndarray:
    """Stacks one field of several smoother results along a new individual axis."""
    return np.stack([np.asarray(getattr(r, field), dtype=np.float64) for r in results], axis=axis)


def smoothed_dataset(
    result: Any,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    fps: float | None = None,
    source_software: str = "lp3d",
    source_files: Sequence[str] | None = None,
    session: str | None = None,
    ensemble_confidence: Any = None,
) -> xr.Dataset:
    """Converts lp3d-eks smoother results to a smoothed dataset (see the module docstring).

    Args:
        result: a :class:`lp3d_eks.SmootherResult` (or any object with its attributes), or a
            sequence of them, one per individual (all of the same ``kind``).
        view_names: ``(view,)`` names, in the order of the result's view axis.
        keypoint_names: ``(keypoint,)`` names.
        individual_names: one name per result; default ``individual_0, ...``.
        fps, source_software, source_files, session: attributes.
        ensemble_confidence: optional ``(view, time, keypoint[, individual])`` mean confidence of
            the ensemble (written as the ``likelihood`` column of eks-style CSVs).

    Returns:
        The validated dataset.
    """
    results = list(result) if isinstance(result, list | tuple) else [result]
    if not results:
        raise ValueError("result: expected at least one smoother result, but got none")
    kinds = {str(r.kind) for r in results}
    if len(kinds) != 1 or next(iter(kinds)) not in SMOOTHERS:
        raise ValueError(f"result.kind: expected one of {SMOOTHERS} shared by all results, but got {sorted(kinds)}")
    kind = kinds.pop()
    reproj = _stack_individuals(results, "reprojection", 3)  # (view, time, keypoint, individual, 2)
    V, T, K, I = reproj.shape[:4]  # noqa: E741
    _check_shape(
        reproj,
        {"view": len(view_names), "time": T, "keypoint": len(keypoint_names), "individual": I, "image_space": 2},
        "result.reprojection",
    )
    per_view = {
        "reprojection": reproj,
        "reprojection_variance": _stack_individuals(results, "reprojection_variance", 3),
        "ensemble_center": _stack_individuals(results, "observation", 3),
        "ensemble_variance": _stack_individuals(results, "observation_variance", 3),
    }
    data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for name, arr in per_view.items():
        _check_shape(arr, dict(zip(_PER_VIEW_2D, reproj.shape, strict=True)), f"result.{name}")
        data[name] = (_PER_VIEW_2D, arr)
    if all(hasattr(r, "predictive_variance") for r in results):
        data["predictive_variance"] = (_PER_VIEW_2D, _stack_individuals(results, "predictive_variance", 3))
    data["inflation"] = (_PER_VIEW, _stack_individuals(results, "inflation", 3))
    for name, field in (
        ("smoothing_parameter", "s"),
        ("noise_scale", "noise_scale"),
        ("log_likelihood", "log_likelihood"),
    ):
        data[name] = (_PER_KEYPOINT, _stack_individuals(results, field, 1))
    if all(getattr(r, "iterations", None) is not None for r in results):
        data["iterations"] = (_PER_KEYPOINT, np.stack([np.asarray(r.iterations, np.int64) for r in results], 1))

    mean = _stack_individuals(results, "mean", 2)  # (time, keypoint, individual, D)
    cov = _stack_individuals(results, "covariance", 2)  # (time, keypoint, individual, D, D)
    coords: dict[str, Any] = {}
    if kind == "calibrated":
        _check_shape(mean, {"time": T, "keypoint": K, "individual": I, "space": 3}, "result.mean")
        _check_shape(cov, {"time": T, "keypoint": K, "individual": I, "space": 3, "space2": 3}, "result.covariance")
        dims3 = _SMOOTHED_POSITION["calibrated"]
        data["position"] = (dims3, mean)
        data["position_variance"] = (dims3, np.diagonal(cov, axis1=-2, axis2=-1).copy())
        data["position_covariance"] = (_SMOOTHED_OPTIONAL["position_covariance"], cov)
        coords["space"] = list(SPACE_3D)
        coords["space2"] = list(SPACE_3D)
    else:
        data["position"] = (_SMOOTHED_POSITION[kind], reproj)
        data["position_variance"] = (_SMOOTHED_POSITION[kind], per_view["reprojection_variance"])
        coords["space"] = list(SPACE_2D)
        if kind == "linear":
            D = mean.shape[-1]
            _check_shape(
                cov, {"time": T, "keypoint": K, "individual": I, "latent": D, "latent2": D}, "result.covariance"
            )
            data["latent_mean"] = (_SMOOTHED_OPTIONAL["latent_mean"], mean)
            data["latent_covariance"] = (_SMOOTHED_OPTIONAL["latent_covariance"], cov)
            coords["latent"] = np.arange(D)
            coords["latent2"] = np.arange(D)
            if all(getattr(r, "loadings", None) is not None for r in results):
                A = _stack_individuals(results, "loadings", 1)  # (keypoint, individual, 2V, D)
                data["loadings"] = (_SMOOTHED_OPTIONAL["loadings"], A.reshape(K, I, V, 2, D))
            if all(getattr(r, "offset", None) is not None for r in results):
                b = _stack_individuals(results, "offset", 1)  # (keypoint, individual, 2V)
                data["offset"] = (_SMOOTHED_OPTIONAL["offset"], b.reshape(K, I, V, 2))
    if ensemble_confidence is not None:
        conf = _float_array(ensemble_confidence, "ensemble_confidence")
        if conf.ndim == 3:
            conf = conf[..., None]
        _check_shape(conf, dict(zip(_PER_VIEW, reproj.shape[:4], strict=True)), "ensemble_confidence")
        data["ensemble_confidence"] = (_PER_VIEW, conf)
    ds = xr.Dataset(
        data,
        coords={
            "view": _names(view_names, V, "view", "view_names"),
            "time": np.arange(T, dtype=np.int64),
            "keypoint": _names(keypoint_names, K, "keypoint", "keypoint_names"),
            "individual": _names(individual_names, I, "individual", "individual_names"),
            "image_space": list(SPACE_2D),
            **coords,
        },
        attrs=_attrs(
            "smoothed",
            fps=fps,
            source_software=source_software,
            source_files=source_files,
            session=session,
            smoother=kind,
        ),
    )
    validate(ds)
    return ds


# --- validation -----------------------------------------------------------------------------------


def _expected_vars(ds: xr.Dataset, kind: str) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(required, optional) variables and their dims for a dataset of this kind."""
    if kind == "predictions":
        return _PREDICTION_VARS, {}
    if kind == "labels":
        return _LABEL_VARS, {}
    if kind == "calibration":
        return _CALIBRATION_VARS, {}
    smoother = ds.attrs.get("smoother")
    if smoother not in SMOOTHERS:
        raise ValueError(f"dataset attribute 'smoother': expected one of {SMOOTHERS}, but got {smoother!r}")
    position = _SMOOTHED_POSITION[smoother]
    required = {"position": position, "position_variance": position, **_SMOOTHED_COMMON}
    return required, _SMOOTHED_OPTIONAL


def validate(ds: xr.Dataset, *, check_values: bool = True) -> None:
    """Checks that ``ds`` follows the lp3d convention for its ``lp3d_kind``.

    Checks the kind attribute, the variables and their dims (in order), coordinates (present,
    unique names, ``space`` = [x, y] or [x, y, z], integer increasing ``time``), dtypes, and, for
    values not backed by dask (dask arrays are not computed), that confidences lie in [0, 1] and variances
    are non-negative (NaN is always allowed: it means missing).

    Raises:
        ValueError: one line naming the variable, dimension or attribute: "expected X, but got Y".
    """
    if not isinstance(ds, xr.Dataset):
        raise ValueError(f"dataset: expected an xarray.Dataset, but got {type(ds).__name__}")
    kind = ds.attrs.get("lp3d_kind")
    if kind not in KINDS:
        raise ValueError(f"dataset attribute 'lp3d_kind': expected one of {KINDS}, but got {kind!r}")
    required, optional = _expected_vars(ds, kind)
    missing = [name for name in required if name not in ds.data_vars]
    if missing:
        raise ValueError(f"{kind} dataset: expected variables {list(required)}, but {missing} are missing")
    for name, var in ds.data_vars.items():
        dims = required.get(name, optional.get(name))
        if dims is not None and var.dims != dims:
            raise ValueError(f"variable '{name}': expected dims {dims}, but got {var.dims}")
        if name == "image_path":
            if var.dtype.kind not in "UO":
                raise ValueError(f"variable 'image_path': expected strings, but got dtype {var.dtype}")
        elif dims is not None and var.dtype.kind not in "fiu":
            raise ValueError(f"variable '{name}': expected a numeric dtype, but got {var.dtype}")
    _validate_coords(ds, kind)
    fps = ds.attrs.get("fps")
    if fps is not None and not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"dataset attribute 'fps': expected a positive number, but got {fps!r}")
    if check_values:
        _validate_values(ds)


def _validate_coords(ds: xr.Dataset, kind: str) -> None:
    for dim in _NAMED_DIMS:
        if dim not in ds.dims:
            continue
        if dim not in ds.coords:
            raise ValueError(f"dimension '{dim}': expected a coordinate with names, but got none")
        names = [str(x) for x in ds[dim].values]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"coordinate '{dim}': expected unique names, but {dup} appear more than once")
    for dim in ("space", "space2", "image_space"):
        if dim not in ds.dims:
            continue
        got = tuple(str(x) for x in ds[dim].values) if dim in ds.coords else None
        allowed = (SPACE_2D,) if dim == "image_space" or kind != "smoothed" else (SPACE_2D, SPACE_3D)
        if got not in allowed:
            want = " or ".join(str(list(a)) for a in allowed)
            raise ValueError(f"coordinate '{dim}': expected {want}, but got {None if got is None else list(got)}")
    for dim in ("time", "frame"):
        if dim not in ds.dims:
            continue
        if dim not in ds.coords or ds[dim].dtype.kind not in "iu":
            got = ds[dim].dtype if dim in ds.coords else "no coordinate"
            raise ValueError(f"coordinate '{dim}': expected integer frame indices, but got {got}")
        values = ds[dim].values
        if values.size > 1 and not np.all(np.diff(values) > 0):
            raise ValueError(f"coordinate '{dim}': expected strictly increasing frame indices, but they are not")


def _validate_values(ds: xr.Dataset) -> None:
    for name in _PROBABILITIES + _NON_NEGATIVE + ("position",):
        if name not in ds.data_vars or ds[name].chunks is not None:
            continue
        values = ds[name].values
        if values.dtype.kind != "f":
            continue
        with np.errstate(invalid="ignore"):
            if np.isinf(values).any():
                raise ValueError(f"variable '{name}': expected finite values or NaN, but found infinity")
            if name in _PROBABILITIES:
                bad = (values < 0) | (values > 1)
                want = "values in [0, 1]"
            elif name in _NON_NEGATIVE:
                bad = values < 0
                want = "non-negative values"
            else:
                continue
        if bad.any():
            where = np.argwhere(bad)[0]
            at = ", ".join(
                f"{d}={ds[name][d].values[i] if d in ds.coords else i}"
                for d, i in zip(ds[name].dims, where, strict=True)
            )
            raise ValueError(f"variable '{name}': expected {want} (or NaN), but got {values[tuple(where)]} at {at}")
