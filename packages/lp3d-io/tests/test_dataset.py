from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from lp3d_io.dataset import (
    NumpyDataset,
    labels_dataset,
    predictions_arrays,
    predictions_dataset,
    smoothed_arrays,
    smoothed_dataset,
    triangulated_arrays,
    validate,
)


def test_predictions_dataset_layout(make_predictions):
    ds = make_predictions(M=2, V=3, T=10, K=4, fps=30, session="s1", source_files=["a.csv", "b.csv"])
    assert ds["position"].dims == ("member", "view", "time", "keypoint", "individual", "space")
    assert ds["confidence"].dims == ("member", "view", "time", "keypoint", "individual")
    assert list(ds["individual"].values) == ["individual_0"]
    assert list(ds["space"].values) == ["x", "y"]
    assert list(ds["member"].values) == ["rng=0", "rng=1"]
    assert ds["time"].values.tolist() == list(range(10))
    assert ds.attrs == {
        "lp3d_kind": "predictions",
        "source_software": "unknown",
        "fps": 30.0,
        "source_files": ["a.csv", "b.csv"],
        "session": "s1",
    }
    assert ds["position"].dtype == np.float32


def test_predictions_without_confidence_and_several_individuals():
    rng = np.random.default_rng(1)
    pos = rng.normal(size=(1, 2, 5, 3, 2, 2))
    ds = predictions_dataset(pos, view_names=["a", "b"], keypoint_names=["p", "q", "r"], individual_names=["m1", "m2"])
    assert ds.sizes["individual"] == 2
    assert np.isnan(ds["confidence"].values).all()
    np.testing.assert_array_equal(
        ds["position"].sel(member="member_0", individual="m2", view="b").values, pos[0, 1, :, :, 1]
    )
    assert "fps" not in ds.attrs and "session" not in ds.attrs


def test_labels_dataset():
    rng = np.random.default_rng(2)
    pos = rng.normal(size=(2, 6, 3, 2))
    paths = np.array([[f"labeled-data/{v}/img{i}.png" for i in range(6)] for v in ("top", "bot")])
    ds = labels_dataset(pos, paths, view_names=["top", "bot"], keypoint_names=["a", "b", "c"])
    assert ds["position"].dims == ("view", "frame", "keypoint", "individual", "space")
    assert ds["image_path"].sel(view="bot", frame=2).item() == "labeled-data/bot/img2.png"


@pytest.mark.parametrize("kind", ["calibrated", "linear", "single_view"])
def test_smoothed_dataset_from_result(make_result, kind):
    res = make_result(kind, V=3, T=20, K=4)
    views = ["c0"] if kind == "single_view" else ["c0", "c1", "c2"]
    conf = np.random.default_rng(3).uniform(size=res.inflation.shape)
    ds = smoothed_dataset(res, view_names=views, keypoint_names=list("abcd"), fps=25, ensemble_confidence=conf)
    assert ds.attrs["smoother"] == kind
    assert ds["reprojection"].dims == ("view", "time", "keypoint", "individual", "image_space")
    np.testing.assert_array_equal(ds["reprojection"].values[..., 0, :], res.reprojection)
    np.testing.assert_array_equal(ds["ensemble_center"].values[..., 0, :], res.observation)
    np.testing.assert_array_equal(ds["smoothing_parameter"].values[:, 0], res.s)
    np.testing.assert_array_equal(ds["ensemble_confidence"].values[..., 0], conf)
    if kind == "calibrated":
        assert ds["position"].dims == ("time", "keypoint", "individual", "space")
        assert list(ds["space"].values) == ["x", "y", "z"]
        np.testing.assert_array_equal(ds["position"].values[:, :, 0], res.mean)
        np.testing.assert_allclose(
            ds["position_variance"].values[:, :, 0], np.diagonal(res.covariance, axis1=-2, axis2=-1)
        )
        np.testing.assert_array_equal(ds["position_covariance"].values[:, :, 0], res.covariance)
    else:
        assert ds["position"].dims == ("view", "time", "keypoint", "individual", "space")
        np.testing.assert_array_equal(ds["position"].values[..., 0, :], res.reprojection)
        np.testing.assert_array_equal(ds["position_variance"].values[..., 0, :], res.reprojection_variance)
    if kind == "linear":
        np.testing.assert_array_equal(ds["latent_mean"].values[:, :, 0], res.mean)
        # loadings rows are [view0 x, view0 y, view1 x, ...]
        np.testing.assert_array_equal(ds["loadings"].sel(view="c1", image_space="y").values[:, 0], res.loadings[:, 3])


def test_smoothed_dataset_several_individuals(make_result):
    a, b = make_result("calibrated", seed=1), make_result("calibrated", seed=2)
    ds = smoothed_dataset(
        [a, b], view_names=["c0", "c1", "c2"], keypoint_names=list("abcd"), individual_names=["x", "y"]
    )
    np.testing.assert_array_equal(ds["position"].sel(individual="y").values, b.mean)
    np.testing.assert_array_equal(ds["inflation"].sel(individual="x").values, a.inflation)


def test_smoothed_dataset_rejects_mixed_kinds(make_result):
    with pytest.raises(ValueError, match="result.kind"):
        smoothed_dataset(
            [make_result("calibrated"), make_result("linear")], view_names=["a", "b", "c"], keypoint_names=list("abcd")
        )


def test_smoothed_dataset_with_real_result():
    lp3d_eks = pytest.importorskip("lp3d_eks")
    rng = np.random.default_rng(4)
    T, K = 40, 2
    truth = np.cumsum(rng.normal(size=(T, K, 2)), axis=0) + 50
    preds = truth[None, None] + rng.normal(scale=0.5, size=(3, 1, T, K, 2))
    res = lp3d_eks.smooth_single_view(preds, s=1.0)
    ds = smoothed_dataset(res, view_names=["cam"], keypoint_names=["a", "b"])
    assert ds.sizes == {"view": 1, "time": T, "keypoint": K, "individual": 1, "space": 2, "image_space": 2}
    np.testing.assert_array_equal(ds["position"].values[0, :, :, 0], res.reprojection[0])


def _mutations():
    """(description, function that breaks a valid predictions dataset, expected message)."""
    return [
        ("no kind", lambda ds: ds.assign_attrs(lp3d_kind="poses"), "lp3d_kind"),
        ("missing variable", lambda ds: ds.drop_vars("confidence"), r"\['confidence'\] are missing"),
        ("wrong dim order", lambda ds: ds.assign(confidence=ds["confidence"].transpose("view", ...)), "confidence"),
        (
            "duplicated view",
            lambda ds: ds.assign_coords(view=["cam0", "cam0", "cam2"]),
            r"coordinate 'view': expected unique names, but \['cam0'\]",
        ),
        ("bad space", lambda ds: ds.assign_coords(space=["u", "v"]), "coordinate 'space'"),
        ("float time", lambda ds: ds.assign_coords(time=ds["time"].values * 0.5), "coordinate 'time'"),
        ("time not increasing", lambda ds: ds.assign_coords(time=ds["time"].values[::-1]), "strictly increasing"),
        (
            "confidence above 1",
            lambda ds: ds.assign(confidence=ds["confidence"] + 1.5),
            r"variable 'confidence': expected values in \[0, 1\]",
        ),
        ("infinite position", lambda ds: ds.assign(position=ds["position"] * np.inf), "finite"),
        ("bad fps", lambda ds: ds.assign_attrs(fps=-3), "fps"),
        ("string position", lambda ds: ds.assign(position=ds["position"].astype(str)), "numeric"),
    ]


@pytest.mark.parametrize("form", ["xarray", "numpy"])
@pytest.mark.parametrize(("what", "mutate", "message"), _mutations(), ids=[m[0] for m in _mutations()])
def test_validate_names_the_problem(make_predictions, what, mutate, message, form):
    ds = make_predictions(T=5)
    validate(ds)
    bad = mutate(ds)
    with pytest.raises(ValueError, match=message) as err:
        validate(bad if form == "xarray" else NumpyDataset.from_xarray(bad))  # one set of rules for both forms
    assert "\n" not in str(err.value)


def test_validate_skips_values_of_dask_arrays(make_predictions):
    pytest.importorskip("dask")
    ds = make_predictions(T=5)
    bad = ds.assign(confidence=ds["confidence"] + 2).chunk({"time": 2})
    validate(bad)  # structure only: nothing computed
    with pytest.raises(ValueError, match="confidence"):
        validate(bad.load())


def test_validate_rejects_non_dataset():
    with pytest.raises(ValueError, match="expected an xarray.Dataset or a NumpyDataset"):
        validate(xr.DataArray([1, 2]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"view_names": ["a", "b"]}, "view_names: expected 3 names"),
        ({"keypoint_names": "abcd"}, "keypoint_names: expected a sequence"),
        ({"member_names": ["m"]}, "member_names: expected 2 names"),
    ],
)
def test_predictions_dataset_checks_names(kwargs, message):
    pos = np.zeros((2, 3, 4, 4, 2))
    args = {"view_names": ["a", "b", "c"], "keypoint_names": ["p", "q", "r", "s"]} | kwargs
    with pytest.raises(ValueError, match=message):
        predictions_dataset(pos, **args)


def test_source_attributes_are_stored_and_checked():
    pos, names = np.zeros((1, 1, 3, 2, 2)), {"view_names": ["a"], "keypoint_names": ["p", "q"]}
    spec = predictions_arrays(pos, **names, fps=30, source_files="a.csv", session="s1", source_software="DLC")
    assert spec.attrs == {
        "lp3d_kind": "predictions",
        "source_software": "DLC",
        "fps": 30.0,
        "source_files": ["a.csv"],
        "session": "s1",
    }
    with pytest.raises(TypeError, match=r"predictions: expected attributes among .*, but got \['center'\]"):
        predictions_arrays(pos, **names, center="mean")  # type: ignore[call-arg]
    errors, n_views = np.zeros((1, 3, 2)), np.zeros((3, 2), dtype=int)
    triangulated = triangulated_arrays(np.zeros((3, 2, 3)), errors, n_views, **names, robust_threshold_px=8)
    assert triangulated.attrs["source_software"] == "lp3d" and triangulated.attrs["robust_threshold_px"] == 8


def test_predictions_dataset_checks_shapes():
    with pytest.raises(ValueError, match=r"confidence: expected shape \(member=1"):
        predictions_dataset(
            np.zeros((1, 1, 4, 2, 2)), np.zeros((1, 1, 3, 2)), view_names=["a"], keypoint_names=["p", "q"]
        )
    with pytest.raises(ValueError, match="position: expected 5 or 6 dims"):
        predictions_dataset(np.zeros((4, 2, 2)), view_names=["a"], keypoint_names=["p", "q"])


# --- the numpy form -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["calibrated", "linear", "single_view"])
def test_spec_and_xarray_forms_are_the_same_dataset(make_result, kind):
    res = make_result(kind, V=3, T=12, K=2)
    views = ["c0"] if kind == "single_view" else ["c0", "c1", "c2"]
    kwargs = {"view_names": views, "keypoint_names": ["a", "b"], "fps": 25, "session": "s", "time": np.arange(3, 15)}
    spec = smoothed_arrays(res, **kwargs)
    ds = spec.to_xarray()
    xr.testing.assert_identical(ds, smoothed_dataset(res, **kwargs))
    back = NumpyDataset.from_xarray(ds)
    xr.testing.assert_identical(back.to_xarray(), ds)
    assert back.sizes == dict(ds.sizes) and spec.sizes == dict(ds.sizes)
    for name in ds.variables:  # reads like the xarray dataset: variables, coordinates, dims
        assert spec[name].dims == ds[name].dims
        np.testing.assert_array_equal(spec[name].values, ds[name].values)
    assert "position" in spec and "nothing" not in spec and spec.attrs == ds.attrs
    with pytest.raises(KeyError, match="'nothing': expected a variable or coordinate"):
        spec["nothing"]


def test_spec_selection_follows_xarray(make_predictions):
    ds = make_predictions(M=2, V=3, T=6, K=4)
    spec = NumpyDataset.from_xarray(ds)
    picked = spec.sel(view=["cam2", "cam0"], keypoint=["kp3"])
    xr.testing.assert_identical(picked.to_xarray(), ds.sel(view=["cam2", "cam0"], keypoint=["kp3"]))
    with pytest.raises(ValueError, match=r"coordinate 'view': expected values from .*, but got \['cam9'\]"):
        spec.sel(view=["cam9"])
    plain = predictions_arrays(ds["position"].values, view_names=["a", "b", "c"], keypoint_names=list("pqrs"))
    assert plain.sizes["member"] == 2 and np.isnan(plain["confidence"].values).all()


def test_triangulated_dataset():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(7, 2, 3))
    errors = rng.uniform(size=(3, 7, 2))
    n_views = rng.integers(0, 4, size=(7, 2))
    spec = triangulated_arrays(
        points, errors, n_views, view_names=list("abc"), keypoint_names=["p", "q"], center="mean"
    )
    ds = spec.to_xarray()
    assert ds["position"].dims == ("time", "keypoint", "individual", "space")
    assert list(ds["space"].values) == ["x", "y", "z"] and ds.attrs["center"] == "mean"
    np.testing.assert_array_equal(ds["n_views"].values[..., 0], n_views)
    np.testing.assert_array_equal(ds["reprojection_error"].sel(view="b").values[..., 0], errors[1])
    with pytest.raises(ValueError, match="reprojection_error"):
        validate(ds.assign(reprojection_error=-ds["reprojection_error"]))
    with pytest.raises(ValueError, match="n_views: expected integers"):
        triangulated_arrays(points, errors, n_views * 1.0, view_names=list("abc"), keypoint_names=["p", "q"])
