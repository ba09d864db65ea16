"""Reports of every smoother kind and of several individuals; the numbers in the table."""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_workflows.report import ReportData, keypoint_table, write_report
from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions


@pytest.fixture(scope="module")
def predictions():
    """Two individuals (the same walk, different ensemble noise), 3 views, 60 frames."""
    from lp3d_io.dataset import predictions_dataset
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

    session = make_session(SyntheticConfig(n_views=3, n_frames=60, seed=2))
    sims = [make_ensemble_predictions(session, n_members=3, seed=s) for s in (1, 2)]
    ds = predictions_dataset(
        np.stack([s.position for s in sims], axis=4),
        np.stack([s.confidence for s in sims], axis=4),
        view_names=session.view_names,
        keypoint_names=session.keypoint_names,
        individual_names=["mouse1", "mouse2"],
        session="pair",
    )
    return session.rig, ds.isel(keypoint=[0, 1])


@pytest.mark.parametrize("calibrated", [True, False])
def test_report_of_two_individuals(predictions, calibrated, tmp_path):
    rig, ds = predictions
    results, spec = smooth_predictions(ds, rig if calibrated else None, SmoothSettings())
    smoothed = spec.to_xarray()
    assert smoothed.attrs["smoother"] == ("calibrated" if calibrated else "linear")
    page = write_report(ReportData(smoothed, ds, (0, 60), 60, tmp_path / "pair.zarr"), tmp_path)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == sorted(
        [f"keypoint_{i}_{k}.png" for i in ("mouse1", "mouse2") for k in ds["keypoint"].values]
        + ["reprojection_errors.png"]
    )
    assert page.read_text().count("data:image/png;base64,") == len(names)

    header, rows = keypoint_table(ReportData(smoothed, ds, (0, 60), 60, tmp_path))
    assert header[:4] == ["individual", "keypoint", "motion", "s"] and len(rows) == 4
    assert {row[2] for row in rows} <= {"random walk", "constant velocity"}
    view = 1
    error = np.linalg.norm(
        smoothed["ensemble_center"].values[view, :, 0, 1] - smoothed["reprojection"].values[view, :, 0, 1], axis=-1
    )
    observed = np.isfinite(smoothed["ensemble_center"].values[view, :, 0, 1]).all(-1)
    inflated = (smoothed["inflation"].values[view, :, 0, 1] > 1) & observed
    row = rows[2]  # mouse2, first keypoint
    assert row[:2] == ["mouse2", str(ds["keypoint"].values[0])]
    assert row[2] == results[1].motion[0]
    assert row[3] == f"{results[1].s[0]:.3g}"
    assert row[5 + view] == f"{100 * inflated.sum() / observed.sum():.1f}%"
    assert row[5 + 3 + view] == f"{np.nanmedian(error):.2f}"
