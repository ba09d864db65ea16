"""The demo's scores against the truth, checked on errors of known distribution."""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_workflows.demo import compare_with_truth, smoothing_demo
from lp3d_workflows.errors import UserError


def test_scores_of_gaussian_errors():
    rng = np.random.default_rng(3)
    T, K = 4000, 5
    L = np.array([[2.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.2, -0.3, 0.5]])
    covariance = np.broadcast_to(L @ L.T, (T, K, 3, 3))
    truth = rng.uniform(-50, 50, (T, K, 3))
    estimate = truth + rng.standard_normal((T, K, 3)) @ L.T
    estimate[0, 0] = np.nan
    common = np.isfinite(estimate).all(-1)
    inflated = np.zeros((2, T, K), dtype=bool)
    outliers = np.zeros((2, T, K), dtype=bool)
    outliers[0, :100] = True  # 500 outliers, 400 of them flagged
    inflated[0, :80] = True
    inflated[1, :10] = True  # 50 false alarms among 2 * T * K - 500 clean observations
    scores = compare_with_truth(
        estimate, truth, common, covariance=covariance, inflated=inflated, outliers=outliers,
        observed=np.ones((2, T, K), dtype=bool),
    )  # fmt: skip
    assert scores.rmse == pytest.approx(np.sqrt(np.trace(L @ L.T)), rel=0.02)
    assert scores.coverage95 == pytest.approx(0.95, abs=0.01)
    assert scores.missing == pytest.approx(1 / (T * K))
    assert scores.outliers_flagged == pytest.approx(0.8)
    assert scores.false_alarms == pytest.approx(50 / (2 * T * K - 500))
    plain = compare_with_truth(estimate, truth, common)
    assert np.isnan(plain.coverage95) and np.isnan(plain.outliers_flagged) and plain.rmse == scores.rmse


def test_demo_never_overwrites_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="was not written by lp3d demo"):
        smoothing_demo(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_the_demo_of_two_animals_asks_for_them_and_one_animal_is_unchanged():
    pytest.importorskip("lp3d_models")
    from lp3d_models.config import config_from_dict
    from lp3d_workflows.demo import pipeline_demo_config

    one, two = pipeline_demo_config(), pipeline_demo_config(animals=2)
    assert "n_animals" not in one["data"]["synthetic"] and two["data"]["synthetic"]["n_animals"] == 2
    assert {k: v for k, v in two["data"]["synthetic"].items() if k != "n_animals"} == one["data"]["synthetic"]
    assert config_from_dict(two).data.synthetic.n_animals == 2
    with pytest.raises(UserError, match="--animals: expected 1 to 3 animals, but got 4"):
        pipeline_demo_config(animals=4)
