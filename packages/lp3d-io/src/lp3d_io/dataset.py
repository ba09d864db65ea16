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
    reprojection_variance  (view, time, keypoint, individual, image_space)  diag(J P J^T): the track's
                                                                            posterior variance
    predictive_variance    (view, time, keypoint, individual, image_space)  + observation noise: the
                                                                            spread of a new detection
    ensemble_center        (view, time, keypoint, individual, image_space)  observations smoothed
    ensemble_variance      (view, time, keypoint, individual, image_space)  their variance
    inflation              (view, time, keypoint, individual)               1 = not inflated
    ensemble_confidence    (view, time, keypoint, individual)               optional, mean confidence
    smoothing_parameter    (keypoint, individual)                           s
    noise_scale            (keypoint, individual)
    log_likelihood         (keypoint, individual)
    iterations             (keypoint, individual)
    view_scale             (view, keypoint, individual)                     optional: the factor a view's
                                                                            variances were scaled by
                                                                            (1: it agrees with the others)
    view_disagreement      (view, keypoint, individual)                     optional: median px distance
                                                                            of a view's observations from
                                                                            what the other data predict
    motion_model           (keypoint, individual)                           optional, int: the motion prior,
                                                                            lp3d_eks.MOTIONS[motion_model - 1]
                                                                            (1 random walk, 2 constant
                                                                            velocity; 0: no data)

For the 2D smoothers ``reprojection`` equals ``position`` (kept so per-view consumers read the
same variable whatever the smoother).

``lp3d_kind = "triangulated"`` (per-frame DLT triangulation of the ensemble centers, no smoothing)::

    position            (time, keypoint, individual, space)  world units, space = [x, y, z]; NaN: too few views
    n_views             (time, keypoint, individual)         int, views used (0: no position)
    reprojection_error  (view, time, keypoint, individual)   pixels; NaN where the view has no observation

Coordinates: ``member``, ``view``, ``keypoint``, ``individual`` hold unique names; ``time`` holds
integer frame indices (seconds are ``time / fps``); ``frame`` numbers label rows 0..N-1.
Attributes: ``lp3d_kind``; ``source_software``; ``fps`` (absent: time in frames only);
``source_files`` (list of str); ``session`` (absent if unnamed). Attributes that would be ``None``
are left out so every dataset writes to netCDF and zarr as it is.

**Two forms, one convention.** Each constructor builds a :class:`NumpyDataset` first (``*_arrays``:
numpy arrays, names and attributes, validated; no xarray involved), and the ``*_dataset`` function
is its :meth:`NumpyDataset.to_xarray`. Readers, writers and the store take either form;
:func:`validate` applies the same rules to both. The numpy form is what the fast paths (``lp3d
smooth`` on CSV files) read, smooth and write without importing xarray.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, Unpack

import numpy as np
from lp3d_eks import SMOOTHER_KINDS, motion_codes, motion_names

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "KINDS",
    "SPACE_2D",
    "SPACE_3D",
    "Variable",
    "NumpyDataset",
    "as_numpy",
    "SourceAttributes",
    "TriangulatedAttributes",
    "predictions_arrays",
    "predictions_dataset",
    "labels_arrays",
    "labels_dataset",
    "smoothed_arrays",
    "smoothed_dataset",
    "motion_name",
    "triangulated_arrays",
    "validate",
]

KINDS = ("predictions", "labels", "smoothed", "calibration", "triangulated")
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
    "motion_model": _PER_KEYPOINT,
    "latent_mean": ("time", "keypoint", "individual", "latent"),
    "latent_covariance": ("time", "keypoint", "individual", "latent", "latent2"),
    "loadings": ("keypoint", "individual", "view", "image_space", "latent"),
    "offset": ("keypoint", "individual", "view", "image_space"),
    "position_covariance": ("time", "keypoint", "individual", "space", "space2"),
    "view_scale": ("view", "keypoint", "individual"),
    "view_disagreement": ("view", "keypoint", "individual"),
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
_CALIBRATION_OPTIONAL = {"fisheye": ("view",)}
_TRIANGULATED_VARS = {
    "position": ("time", "keypoint", "individual", "space"),
    "n_views": ("time", "keypoint", "individual"),
    "reprojection_error": _PER_VIEW,
}
# The allowed names along the space dims of each kind (image_space is always [x, y]).
_SPACES = {"smoothed": (SPACE_2D, SPACE_3D), "triangulated": (SPACE_3D,)}
# Variables whose values must be variances (>= 0) or probabilities.
_NON_NEGATIVE = (
    "view_scale",
    "view_disagreement",
    "position_variance",
    "reprojection_variance",
    "predictive_variance",
    "ensemble_variance",
    "inflation",
    "reprojection_error",
)
_PROBABILITIES = ("confidence", "ensemble_confidence")
_NAMED_DIMS = ("member", "view", "keypoint", "individual")


# --- the numpy form --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Variable:
    """One array of a :class:`NumpyDataset`: its dims (in order), values and attributes."""

    dims: tuple[str, ...]
    values: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape


@dataclass(frozen=True, eq=False)
class NumpyDataset:
    """An lp3d dataset as numpy arrays, without xarray (see the module docstring).

    Reads like the matching :class:`xarray.Dataset`: ``ds["position"].values``,
    ``ds["view"].values`` (a coordinate), ``ds.sizes``, ``ds.attrs``, ``"x" in ds``.

    Attributes:
        data_vars: ``{name: Variable}``, dims in the convention's order.
        coords: ``{dim: values}``, the dimension coordinates (names, frame indices).
        attrs: the dataset attributes.
    """

    data_vars: dict[str, Variable]
    coords: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, int]:
        """``{dim: length}`` of every dimension."""
        sizes: dict[str, int] = {}
        for var in self.data_vars.values():
            sizes.update(zip(var.dims, var.values.shape, strict=True))
        sizes.update((dim, len(values)) for dim, values in self.coords.items())
        return sizes

    def __contains__(self, name: object) -> bool:
        return name in self.data_vars or name in self.coords

    def __getitem__(self, name: str) -> Variable:
        if name in self.data_vars:
            return self.data_vars[name]
        if name in self.coords:
            return Variable((name,), self.coords[name])
        raise KeyError(f"{name!r}: expected a variable or coordinate of the dataset, but there is none")

    def sel(self, **names: Sequence[Any]) -> NumpyDataset:
        """The dataset restricted to the given coordinate values, in their order (``sel(view=["b", "a"])``).

        Raises:
            ValueError: a dimension without coordinate, or a value it does not have.
        """
        data_vars, coords = dict(self.data_vars), dict(self.coords)
        for dim, wanted in names.items():
            if dim not in coords:
                raise ValueError(f"sel: expected a dimension with a coordinate, but got {dim!r}")
            have = coords[dim].tolist()
            missing = [w for w in wanted if w not in have]
            if missing:
                raise ValueError(f"coordinate '{dim}': expected values from {have}, but got {missing}")
            index = np.array([have.index(w) for w in wanted], dtype=np.intp)
            coords[dim] = coords[dim][index]
            for name, var in data_vars.items():
                if dim in var.dims:
                    values = np.take(var.values, index, axis=var.dims.index(dim))
                    data_vars[name] = Variable(var.dims, values, var.attrs)
        return NumpyDataset(data_vars, coords, dict(self.attrs))

    def to_xarray(self) -> xr.Dataset:
        """The same dataset as an :class:`xarray.Dataset` (arrays are shared, not copied)."""
        import xarray as xr

        return xr.Dataset(
            {name: (var.dims, var.values, var.attrs) for name, var in self.data_vars.items()},
            coords=dict(self.coords),
            attrs=dict(self.attrs),
        )

    @classmethod
    def from_xarray(cls, ds: xr.Dataset) -> NumpyDataset:
        """The numpy form of an xarray dataset (lazy arrays are read); dimension coordinates only."""
        return cls(
            {
                str(name): Variable(tuple(str(d) for d in var.dims), np.asarray(var.values), dict(var.attrs))
                for name, var in ds.data_vars.items()
            },
            {str(dim): np.asarray(ds[dim].values) for dim in ds.dims if dim in ds.coords},
            dict(ds.attrs),
        )


def _is_xarray_dataset(obj: Any) -> bool:
    """Whether ``obj`` is an :class:`xarray.Dataset` (without importing xarray: if it is not loaded, it is not)."""
    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(obj, xr.Dataset)


def as_numpy(ds: NumpyDataset | xr.Dataset) -> NumpyDataset:
    """``ds`` as a :class:`NumpyDataset` (an xarray dataset is converted, its lazy arrays read)."""
    if isinstance(ds, NumpyDataset):
        return ds
    if _is_xarray_dataset(ds):
        return NumpyDataset.from_xarray(ds)
    raise ValueError(f"dataset: expected an xarray.Dataset or a NumpyDataset, but got {type(ds).__name__}")


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


def _coord(names: Sequence[str]) -> np.ndarray:
    return np.array(list(names), dtype=str)


def _float_array(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    raise ValueError(f"{what}: expected a float array, but got dtype {arr.dtype}")


class SourceAttributes(TypedDict, total=False):
    """Where a dataset's data came from: keyword arguments of every ``*_arrays`` / ``*_dataset``
    builder, stored as the dataset's attributes (left out where None).

    Keys:
        fps: frames per second of the video, if known.
        source_software: what produced the data (e.g. ``"Lightning Pose"``); default ``"unknown"``
            for predictions and labels, ``"lp3d"`` for smoothed and triangulated results.
        source_files: the files read, if any.
        session: session name.
    """

    fps: float | None
    source_software: str
    source_files: Sequence[str] | None
    session: str | None


class TriangulatedAttributes(SourceAttributes, total=False):
    """:class:`SourceAttributes` and how :func:`triangulated_arrays`' positions were made.

    Keys:
        center: the ensemble center triangulated (``"median"`` or ``"mean"``).
        robust_threshold_px: the robust triangulation's threshold, when it was robust.
    """

    center: str
    robust_threshold_px: float


def _attrs(kind: str, given: Mapping[str, Any], allowed: type, software: str, **extra: Any) -> dict:
    """The attributes of a new dataset of ``kind``: ``given`` (keys of the TypedDict ``allowed``;
    ``source_software`` defaults to ``software``) and ``extra`` (the builder's own), Nones left out."""
    keys = allowed.__required_keys__ | allowed.__optional_keys__
    if set(given) - keys:
        raise TypeError(f"{kind}: expected attributes among {sorted(keys)}, but got {sorted(set(given) - keys)}")
    attrs: dict[str, Any] = {"lp3d_kind": kind, "source_software": str(given.get("source_software", software))}
    if given.get("fps") is not None:
        attrs["fps"] = float(given["fps"])
    source_files = given.get("source_files")
    if source_files is not None:
        attrs["source_files"] = [
            str(f) for f in ([source_files] if isinstance(source_files, str | bytes) else source_files)
        ]
    if given.get("session") is not None:
        attrs["session"] = str(given["session"])
    more = {k: v for k, v in given.items() if k not in SourceAttributes.__optional_keys__}
    attrs.update({k: v for k, v in {**more, **extra}.items() if v is not None})
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


def _numpy_dataset(
    kind: str,
    data: Mapping[str, tuple[tuple[str, ...], np.ndarray]],
    names: Mapping[str, Any],
    coords: Mapping[str, Any],
    attrs: Mapping[str, Any],
) -> NumpyDataset:
    """Builds and validates a dataset of ``kind`` (what every ``*_arrays`` builder returns).

    Args:
        kind: its ``lp3d_kind``.
        data: ``{variable: (dims, values)}``.
        names: ``{dim: values or None}``: the coordinates of the dims the caller was given names
            for, their sizes read from ``data``. ``time`` takes frame indices (default ``0..T-1``),
            any other dim names (``<dim>_names``; default ``<dim>_0, ...``).
        coords: the other coordinates, ``{dim: values}``.
        attrs: the attributes (see :func:`_attrs`).
    """
    sizes: dict[str, int] = {}
    for dims, values in data.values():
        for dim, n in zip(dims, np.shape(values), strict=False):  # a wrong shape is validate's to report
            sizes.setdefault(dim, n)
    named = {
        dim: _time_coord(values, sizes[dim])
        if dim == "time"
        else _coord(_names(values, sizes[dim], dim, f"{dim}_names"))
        for dim, values in names.items()
    }
    spec = NumpyDataset(
        {name: Variable(dims, values) for name, (dims, values) in data.items()},
        {dim: np.asarray(values) for dim, values in {**named, **coords}.items()},
        dict(attrs),
    )
    validate(spec)
    return spec


def predictions_arrays(
    position: Any,
    confidence: Any = None,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    member_names: Sequence[str] | None = None,
    individual_names: Sequence[str] | None = None,
    time: Any = None,
    **source: Unpack[SourceAttributes],
) -> NumpyDataset:
    """Ensemble predictions as a dataset (see the module docstring), in numpy form.

    Args:
        position: ``(member, view, time, keypoint, individual, 2)`` or
            ``(member, view, time, keypoint, 2)`` pixels (then one individual ``"individual_0"``).
            Float arrays keep their dtype (float32 halves memory); integer arrays become float64.
        confidence: ``(member, view, time, keypoint[, individual])`` in [0, 1]; None: all NaN.
        view_names, keypoint_names: names along ``view`` and ``keypoint``.
        member_names: default ``member_0, member_1, ...``.
        individual_names: default ``individual_0, ...``.
        time: ``(time,)`` integer frame indices; default ``0..T-1``.
        source: :class:`SourceAttributes` (``fps``, ``source_software``, ...).

    Returns:
        The validated :class:`NumpyDataset`.
    """
    pos = _with_individual(_float_array(position, "position"), 5, "position")
    M, V, T, K, I = pos.shape[:5]  # noqa: E741
    _check_shape(pos, {"member": M, "view": V, "time": T, "keypoint": K, "individual": I, "space": 2}, "position")
    if confidence is None:
        conf = np.full(pos.shape[:-1], np.nan, dtype=pos.dtype)
    else:
        conf = _float_array(confidence, "confidence")
        if conf.ndim == 4:
            conf = conf[..., None]
        _check_shape(conf, dict(zip(_PREDICTION_VARS["confidence"], pos.shape[:-1], strict=True)), "confidence")
    return _numpy_dataset(
        "predictions",
        {"position": (_PREDICTION_VARS["position"], pos), "confidence": (_PREDICTION_VARS["confidence"], conf)},
        {
            "member": member_names,
            "view": view_names,
            "time": time,
            "keypoint": keypoint_names,
            "individual": individual_names,
        },
        {"space": _coord(SPACE_2D)},
        _attrs("predictions", source, SourceAttributes, "unknown"),
    )


def predictions_dataset(position: Any, confidence: Any = None, **kwargs: Any) -> xr.Dataset:
    """Ensemble predictions as an :class:`xarray.Dataset`: :func:`predictions_arrays` (same arguments), then
    :meth:`NumpyDataset.to_xarray`."""
    return predictions_arrays(position, confidence, **kwargs).to_xarray()


def labels_arrays(
    position: Any,
    image_paths: Any,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    **source: Unpack[SourceAttributes],
) -> NumpyDataset:
    """Labeled frames as a dataset (see the module docstring), in numpy form.

    Args:
        position: ``(view, frame, keypoint, 2)`` or ``(view, frame, keypoint, individual, 2)``
            pixels; NaN where a keypoint is not labeled.
        image_paths: ``(view, frame)`` image path of every row.
        view_names, keypoint_names, individual_names: names along those dims.
        source: :class:`SourceAttributes`.

    Returns:
        The validated :class:`NumpyDataset`.
    """
    pos = _with_individual(_float_array(position, "position"), 4, "position")
    V, N = pos.shape[:2]
    paths = np.asarray(image_paths)
    if paths.shape != (V, N):
        raise ValueError(f"image_paths: expected shape (view={V}, frame={N}), but got {paths.shape}")
    return _numpy_dataset(
        "labels",
        {"position": (_LABEL_VARS["position"], pos), "image_path": (_LABEL_VARS["image_path"], paths.astype(str))},
        {"view": view_names, "keypoint": keypoint_names, "individual": individual_names},
        {"frame": np.arange(N, dtype=np.int64), "space": _coord(SPACE_2D)},
        _attrs("labels", source, SourceAttributes, "unknown"),
    )


def labels_dataset(position: Any, image_paths: Any, **kwargs: Any) -> xr.Dataset:
    """Labeled frames as an :class:`xarray.Dataset`: :func:`labels_arrays` (same arguments), then
    :meth:`NumpyDataset.to_xarray`."""
    return labels_arrays(position, image_paths, **kwargs).to_xarray()


def _stack_individuals(results: Sequence[Any], field: str, axis: int) -> np.ndarray:
    """Stacks one field of several smoother results along a new individual axis."""
    return np.stack([np.asarray(getattr(r, field), dtype=np.float64) for r in results], axis=axis)


def smoothed_arrays(
    result: Any,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    ensemble_confidence: Any = None,
    time: Any = None,
    **source: Unpack[SourceAttributes],
) -> NumpyDataset:
    """Converts lp3d-eks smoother results to a smoothed dataset (see the module docstring), in numpy form.

    Args:
        result: a :class:`lp3d_eks.SmootherResult` (or any object with its attributes), or a
            sequence of them, one per individual (all of the same ``kind``).
        view_names: ``(view,)`` names, in the order of the result's view axis.
        keypoint_names: ``(keypoint,)`` names.
        individual_names: one name per result; default ``individual_0, ...``.
        ensemble_confidence: optional ``(view, time, keypoint[, individual])`` mean confidence of
            the ensemble (written as the ``likelihood`` column of eks-style CSVs).
        time: ``(time,)`` integer frame indices; default ``0..T-1``.
        source: :class:`SourceAttributes`.

    Returns:
        The validated :class:`NumpyDataset`.
    """
    results = list(result) if isinstance(result, list | tuple) else [result]
    if not results:
        raise ValueError("result: expected at least one smoother result, but got none")
    kinds = {str(r.kind) for r in results}
    if len(kinds) != 1 or next(iter(kinds)) not in SMOOTHER_KINDS:
        raise ValueError(
            f"result.kind: expected one of {SMOOTHER_KINDS} shared by all results, but got {sorted(kinds)}"
        )
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
    for name, field_name in (
        ("smoothing_parameter", "s"),
        ("noise_scale", "noise_scale"),
        ("log_likelihood", "log_likelihood"),
    ):
        data[name] = (_PER_KEYPOINT, _stack_individuals(results, field_name, 1))
    if all(getattr(r, "iterations", None) is not None for r in results):
        data["iterations"] = (_PER_KEYPOINT, np.stack([np.asarray(r.iterations, np.int64) for r in results], 1))
    if all(getattr(r, "motion", None) is not None for r in results):
        data["motion_model"] = (_PER_KEYPOINT, np.stack([motion_codes(r.motion) for r in results], 1).astype(np.int8))
    for name in ("view_scale", "view_disagreement"):  # (view, keypoint) per result: how far each view agrees
        if all(getattr(r, name, None) is not None for r in results):
            data[name] = (
                _SMOOTHED_OPTIONAL[name],
                np.stack([np.asarray(getattr(r, name), float) for r in results], -1),
            )

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
        coords["space"] = _coord(SPACE_3D)
        coords["space2"] = _coord(SPACE_3D)
    else:
        data["position"] = (_SMOOTHED_POSITION[kind], reproj)
        data["position_variance"] = (_SMOOTHED_POSITION[kind], per_view["reprojection_variance"])
        coords["space"] = _coord(SPACE_2D)
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
    names = {"view": view_names, "time": time, "keypoint": keypoint_names, "individual": individual_names}
    attrs = _attrs("smoothed", source, SourceAttributes, "lp3d", smoother=kind)
    return _numpy_dataset("smoothed", data, names, {"image_space": _coord(SPACE_2D), **coords}, attrs)


def smoothed_dataset(result: Any, **kwargs: Any) -> xr.Dataset:
    """Smoother results as an :class:`xarray.Dataset`: :func:`smoothed_arrays` (same arguments), then
    :meth:`NumpyDataset.to_xarray`."""
    return smoothed_arrays(result, **kwargs).to_xarray()


def motion_name(ds: NumpyDataset | xr.Dataset, keypoint: int, individual: int) -> str:
    """The motion prior (``lp3d_eks.MOTIONS``) a smoothed dataset's keypoint was smoothed with, by
    position; ``""`` where not recorded (a store written before lp3d recorded it) or no data."""
    if "motion_model" not in ds:
        return ""
    return str(motion_names(np.asarray(ds["motion_model"])[keypoint, individual]))


def triangulated_arrays(
    position: Any,
    reprojection_error: Any,
    n_views: Any,
    *,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    individual_names: Sequence[str] | None = None,
    time: Any = None,
    **source: Unpack[TriangulatedAttributes],
) -> NumpyDataset:
    """Per-frame triangulation results as a dataset (see the module docstring), in numpy form.

    Args:
        position: ``(time, keypoint[, individual], 3)`` world units, NaN where there is none.
        reprojection_error: ``(view, time, keypoint[, individual])`` pixels.
        n_views: ``(time, keypoint[, individual])`` number of views used.
        view_names, keypoint_names, individual_names: names along those dims.
        time: ``(time,)`` integer frame indices; default ``0..T-1``.
        source: :class:`TriangulatedAttributes`.

    Returns:
        The validated :class:`NumpyDataset`.
    """
    pos = _with_individual(_float_array(position, "position"), 3, "position")
    T, K, I = pos.shape[:3]  # noqa: E741
    _check_shape(pos, {"time": T, "keypoint": K, "individual": I, "space": 3}, "position")
    errors = _float_array(reprojection_error, "reprojection_error")
    if errors.ndim == 3:
        errors = errors[..., None]
    _check_shape(errors, {"view": len(view_names), "time": T, "keypoint": K, "individual": I}, "reprojection_error")
    views = np.asarray(n_views)
    if views.dtype.kind not in "iu":
        raise ValueError(f"n_views: expected integers, but got dtype {views.dtype}")
    if views.ndim == 2:
        views = views[..., None]
    _check_shape(views, {"time": T, "keypoint": K, "individual": I}, "n_views")
    data = {
        "position": (_TRIANGULATED_VARS["position"], pos),
        "n_views": (_TRIANGULATED_VARS["n_views"], views.astype(np.int64)),
        "reprojection_error": (_TRIANGULATED_VARS["reprojection_error"], errors),
    }
    names = {"view": view_names, "time": time, "keypoint": keypoint_names, "individual": individual_names}
    attrs = _attrs("triangulated", source, TriangulatedAttributes, "lp3d")
    return _numpy_dataset("triangulated", data, names, {"space": _coord(SPACE_3D)}, attrs)


# --- validation -----------------------------------------------------------------------------------


class _Layout(NamedTuple):
    """What :func:`validate` looks at, read the same way from both forms of a dataset."""

    attrs: Mapping[str, Any]
    variables: dict[str, tuple[tuple[str, ...], np.dtype]]  # data variables: dims and dtype
    sizes: Mapping[str, int]
    coords: dict[str, np.ndarray]  # dimension coordinates
    values: Callable[[str], np.ndarray | None]  # a data variable's values, None if lazy (never computed)


def _layout(ds: NumpyDataset | xr.Dataset) -> _Layout:
    if isinstance(ds, NumpyDataset):
        return _Layout(
            ds.attrs,
            {name: (var.dims, var.values.dtype) for name, var in ds.data_vars.items()},
            ds.sizes,
            ds.coords,
            lambda name: ds.data_vars[name].values,
        )
    if _is_xarray_dataset(ds):
        return _Layout(
            ds.attrs,
            {str(name): (tuple(str(d) for d in var.dims), var.dtype) for name, var in ds.data_vars.items()},
            ds.sizes,
            {str(dim): ds[dim].values for dim in ds.dims if dim in ds.coords},
            lambda name: None if ds[name].chunks is not None else ds[name].values,
        )
    raise ValueError(f"dataset: expected an xarray.Dataset or a NumpyDataset, but got {type(ds).__name__}")


def _expected_vars(attrs: Mapping[str, Any], kind: str) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """(required, optional) variables and their dims for a dataset of this kind."""
    if kind == "predictions":
        return _PREDICTION_VARS, {}
    if kind == "labels":
        return _LABEL_VARS, {}
    if kind == "calibration":
        return _CALIBRATION_VARS, _CALIBRATION_OPTIONAL
    if kind == "triangulated":
        return _TRIANGULATED_VARS, {}
    smoother = attrs.get("smoother")
    if smoother not in SMOOTHER_KINDS:
        raise ValueError(f"dataset attribute 'smoother': expected one of {SMOOTHER_KINDS}, but got {smoother!r}")
    position = _SMOOTHED_POSITION[smoother]
    required = {"position": position, "position_variance": position, **_SMOOTHED_COMMON}
    return required, _SMOOTHED_OPTIONAL


def validate(ds: NumpyDataset | xr.Dataset, *, check_values: bool = True) -> None:
    """Checks that ``ds`` (either form) follows the lp3d convention for its ``lp3d_kind``.

    Checks the kind attribute, the variables and their dims (in order), coordinates (present,
    unique names, ``space`` = [x, y] or [x, y, z], integer increasing ``time``), dtypes, and, for
    values in memory (dask arrays are not computed), that confidences lie in [0, 1] and variances
    are non-negative (NaN is always allowed: it means missing).

    Raises:
        ValueError: one line naming the variable, dimension or attribute: "expected X, but got Y".
    """
    layout = _layout(ds)
    kind = layout.attrs.get("lp3d_kind")
    if kind not in KINDS:
        raise ValueError(f"dataset attribute 'lp3d_kind': expected one of {KINDS}, but got {kind!r}")
    required, optional = _expected_vars(layout.attrs, kind)
    missing = [name for name in required if name not in layout.variables]
    if missing:
        raise ValueError(f"{kind} dataset: expected variables {list(required)}, but {missing} are missing")
    for name, (var_dims, dtype) in layout.variables.items():
        dims = required.get(name, optional.get(name))
        if dims is not None and var_dims != dims:
            raise ValueError(f"variable '{name}': expected dims {dims}, but got {var_dims}")
        if name == "image_path":
            if dtype.kind not in "UO":
                raise ValueError(f"variable 'image_path': expected strings, but got dtype {dtype}")
        elif dims is not None and dtype.kind not in "fiu":
            raise ValueError(f"variable '{name}': expected a numeric dtype, but got {dtype}")
    _validate_coords(layout, kind)
    fps = layout.attrs.get("fps")
    if fps is not None and not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"dataset attribute 'fps': expected a positive number, but got {fps!r}")
    if check_values:
        _validate_values(layout)


def _validate_coords(layout: _Layout, kind: str) -> None:
    for dim in _NAMED_DIMS:
        if dim not in layout.sizes:
            continue
        if dim not in layout.coords:
            raise ValueError(f"dimension '{dim}': expected a coordinate with names, but got none")
        names = [str(x) for x in layout.coords[dim]]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"coordinate '{dim}': expected unique names, but {dup} appear more than once")
    for dim in ("space", "space2", "image_space"):
        if dim not in layout.sizes:
            continue
        got = tuple(str(x) for x in layout.coords[dim]) if dim in layout.coords else None
        allowed = (SPACE_2D,) if dim == "image_space" else _SPACES.get(kind, (SPACE_2D,))
        if got not in allowed:
            want = " or ".join(str(list(a)) for a in allowed)
            raise ValueError(f"coordinate '{dim}': expected {want}, but got {None if got is None else list(got)}")
    for dim in ("time", "frame"):
        if dim not in layout.sizes:
            continue
        if dim not in layout.coords or layout.coords[dim].dtype.kind not in "iu":
            got = layout.coords[dim].dtype if dim in layout.coords else "no coordinate"
            raise ValueError(f"coordinate '{dim}': expected integer frame indices, but got {got}")
        values = layout.coords[dim]
        if values.size > 1 and not np.all(np.diff(values) > 0):
            raise ValueError(f"coordinate '{dim}': expected strictly increasing frame indices, but they are not")


def _validate_values(layout: _Layout) -> None:
    for name in _PROBABILITIES + _NON_NEGATIVE + ("position",):
        if name not in layout.variables:
            continue
        values = layout.values(name)
        if values is None or values.dtype.kind != "f":
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
            dims = layout.variables[name][0]
            at = ", ".join(
                f"{d}={layout.coords[d][i] if d in layout.coords else i}" for d, i in zip(dims, where, strict=True)
            )
            raise ValueError(f"variable '{name}': expected {want} (or NaN), but got {values[tuple(where)]} at {at}")
