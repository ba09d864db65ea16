"""The smoothing glue: options reach lp3d-eks unchanged, outputs say what the smoother returned."""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_io.store import read_group
from lp3d_workflows.errors import UserError
from lp3d_workflows.sessions import PredictionSession, load_predictions
from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions, smooth_session, write_smoothed_outputs


@pytest.fixture(scope="module")
def simulated():
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    session = make_session(SyntheticConfig(n_views=3, n_frames=80, seed=5))
    return session, make_ensemble_predictions(session, n_members=3, seed=5)


def test_same_as_calling_the_smoother(simulated):
    from lp3d_eks import smooth

    session, sim = simulated
    options = SmoothSettings(s=(3.0,), s_frames=((0, 40),), ensemble="mean", variance="confidence-weighted")
    (result,), smoothed = smooth_predictions(sim.to_dataset(), session.rig, options)
    direct = smooth(
        sim.position, session.rig, confidences=sim.confidence, center="mean", variance="confidence-weighted", s=3.0,
        s_frames=[(0, 40)],
    )  # fmt: skip
    np.testing.assert_allclose(result.mean, direct.mean, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(smoothed["position"].values[:, :, 0], direct.mean, rtol=1e-5, atol=1e-8)
    with np.errstate(all="ignore"):
        expected = np.nanmean(np.where(np.isfinite(sim.confidence), sim.confidence, np.nan), axis=0)
    np.testing.assert_allclose(smoothed["ensemble_confidence"].values[..., 0], expected, rtol=1e-6)
    assert smoothed.attrs["lp3d_options"] == options.to_json()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SmoothSettings(s=(1.0, 2.0)), "--s: expected one value or 11"),
        (SmoothSettings(s_frames=((0, 500),)), "--s-frames: expected ranges within the 80 frames"),
    ],
)
def test_checks_against_the_data(simulated, options, message):
    session, sim = simulated
    with pytest.raises(UserError, match=message):
        smooth_predictions(sim.to_dataset(), session.rig, options)


def test_session_from_a_store_and_its_summary(simulated, tmp_path):
    session, sim = simulated
    predictions = sim.to_dataset()
    _, smoothed = smooth_predictions(predictions, session.rig, SmoothSettings())
    write_smoothed_outputs(tmp_path, "sim", predictions, smoothed, session.rig)
    calibration = tmp_path / "calibration.toml"
    session.rig.to_toml(calibration)
    store = PredictionSession("sim", (tmp_path / "sim.zarr",))
    assert load_predictions(store).sizes == predictions.sizes
    result = smooth_session(store, SmoothSettings(calibration=calibration, s=(2.0,)), tmp_path / "again")
    assert result.smoother == "calibrated" and result.n_members == 3 and result.s == [[2.0] * 11]
    observed = np.isfinite(sim.position).all(-1).any(0)  # (view, time, keypoint)
    stored = read_group(tmp_path / "again" / "sim.zarr", "smoothed/eks")["inflation"].values[..., 0]
    share = ((stored > 1) & observed).sum(axis=(0, 1)) / observed.sum(axis=(0, 1))
    np.testing.assert_allclose(result.inflated[0], share)


def test_identity_swaps_in_one_view_are_inflated_for_each_animal():
    """Two animals, their detections exchanged in one view for runs of frames (in every member): each
    view alone looks right, the views disagree, and the smoother (each animal on its own) inflates
    those observations, not the others."""
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    session = make_session(SyntheticConfig(n_frames=300, seed=2, n_animals=2))
    ensemble = make_ensemble_predictions(session, identity_swap_rate=0.03, outlier_rate=0.0, seed=3)
    results, smoothed = smooth_predictions(ensemble.to_dataset(), session.rig, SmoothSettings())
    assert len(results) == 2 and list(smoothed["individual"].values) == ["light", "dark"]
    inflated = np.stack([r.inflated for r in results], axis=-1)  # (view, time, keypoint, individual)
    swapped = np.broadcast_to(ensemble.swap_mask[:, :, None, :], inflated.shape)
    observed = ~ensemble.missing_mask
    assert ensemble.swap_mask.any(-1).sum() >= 30
    assert inflated[swapped & observed].mean() > 0.8
    assert inflated[~swapped & observed].mean() < 0.02
    assert inflated.any(axis=2)[ensemble.swap_mask].mean() > 0.95  # every swapped view of a frame is caught
