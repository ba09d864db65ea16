"""Calibration-aware training: the triangulation loss's schedule and batches, 3D validation
metrics in metrics.csv, and the 3D error of `lp3d evaluate`, on a tiny model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from lp3d_io.synthetic import make_rig
from lp3d_models.augment import resize_matrix
from lp3d_models.config import load_config
from lp3d_models.evaluation import evaluate
from lp3d_models.geometry import apply_affine, cameras_from_rig, project
from lp3d_models.runs import model_from_config
from lp3d_models.training import PoseTask, train

pytestmark = [
    # Lightning 2.6 calls a torch.utils._pytree API that torch 2.14 deprecates.
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

TOL = 1e-6
V, K = 3, 11


def _task(tiny, tmp_path, *extra: str) -> PoseTask:
    config = load_config(None, tiny(tmp_path / "run", "data.synthetic={n_views: 3}", *extra))
    torch.manual_seed(0)
    task = PoseTask(model_from_config(config, V, K), config, total_steps=100)
    task.log = lambda *args, **kwargs: None  # no trainer here
    return task


def _batch(calibrated: list[bool]) -> dict[str, torch.Tensor]:
    """Samples of a 3-camera rig (64 px images at the 64 px model size) in the data contract."""
    B = len(calibrated)
    rng = np.random.default_rng(0)
    cams = cameras_from_rig(make_rig(V, (64, 64), seed=4))
    points = torch.from_numpy(rng.uniform(-40, 40, (B, K, 3)) + [0.0, 0.0, 40.0])
    affine = torch.from_numpy(resize_matrix((64, 64), (64, 64))).expand(B, V, 2, 3).clone()
    expand = lambda t: t.expand(B, *t.shape).clone()  # noqa: E731
    batch = {
        "images": torch.rand(B, V, 3, 64, 64, generator=torch.Generator().manual_seed(0)),
        "image_sizes": torch.full((B, V, 2), 64.0),
        "affine": affine,
        "calibrated": torch.tensor(calibrated),
        "camera_matrix": expand(cams.camera_matrix),
        "dist_coeffs": expand(cams.dist_coeffs),
        "rotation": expand(cams.rotation),
        "translation": expand(cams.translation),
    }
    keypoints = apply_affine(project(points, cams.to(torch.float64)), affine).float()
    keypoints[0, 0, :2] = torch.nan
    batch["keypoints"] = keypoints
    batch["weights"] = torch.isfinite(keypoints).all(-1).float()
    return batch


def test_triangulation_weight_schedule(tiny, tmp_path):
    on = ["geometry.enabled=true", "geometry.loss_weight=0.5", "geometry.loss_start_step=10"]
    task = _task(tiny, tmp_path, *on, "geometry.loss_warmup_steps=20")
    assert [task.triangulation_weight(s) for s in (0, 9, 10, 19, 29, 500)] == pytest.approx(
        [0.0, 0.0, 0.025, 0.25, 0.5, 0.5]
    )
    assert _task(tiny, tmp_path, *on, "geometry.loss_warmup_steps=0").triangulation_weight(10) == 0.5
    assert _task(tiny, tmp_path, "geometry.loss_start_step=0").triangulation_weight(50) == 0.0  # disabled
    off = _task(tiny, tmp_path, *on, "geometry.triangulation_loss=false")
    assert off.triangulation_weight(50) == 0.0


def test_training_step_adds_the_loss_for_calibrated_samples_only(tiny, tmp_path):
    on = ["geometry.enabled=true", "geometry.loss_warmup_steps=0", "geometry.loss_weight=0.5", "masking.final=0"]
    task = _task(tiny, tmp_path, *on, "loss.coordinate_weight=0")
    logged: dict[str, float] = {}
    task.log = lambda name, value, **kwargs: logged.__setitem__(name, float(torch.as_tensor(value).detach()))
    batch = _batch([True, False])
    plain = {k: v for k, v in batch.items() if k in ("images", "keypoints", "image_sizes")}
    heat = task.training_step(plain, 0)
    assert "train/triangulation_loss" not in logged
    assert task.training_step({**batch, "calibrated": torch.tensor([False, False])}, 0).item() == pytest.approx(
        heat.item(), rel=TOL
    )
    total = task.training_step(batch, 0)
    assert logged["train/heatmap_loss"] == pytest.approx(heat.item(), rel=TOL)
    assert logged["train/triangulation_loss"] > 0
    assert total.item() == pytest.approx(heat.item() + 0.5 * logged["train/triangulation_loss"], rel=1e-5)
    total.backward()
    grads = [p.grad for p in task.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_training_step_adds_the_coordinate_loss_with_its_ramp(tiny, tmp_path):
    task = _task(tiny, tmp_path, "loss.coordinate_weight=0.4", "loss.coordinate_warmup_steps=4", "masking.final=0")
    assert [task.coordinate_weight(s) for s in (0, 1, 3, 10)] == pytest.approx([0.1, 0.2, 0.4, 0.4])
    logged: dict[str, float] = {}
    task.log = lambda name, value, **kwargs: logged.__setitem__(name, float(torch.as_tensor(value).detach()))
    plain = {k: v for k, v in _batch([False, False]).items() if k in ("images", "keypoints", "image_sizes")}
    total = task.training_step(plain, 0)  # global_step 0: weight 0.1
    assert logged["train/coordinate_loss"] > 0
    assert total.item() == pytest.approx(logged["train/heatmap_loss"] + 0.1 * logged["train/coordinate_loss"], rel=1e-5)


@pytest.fixture(scope="module")
def geometry_run(tmp_path_factory, tiny):
    """A tiny member trained on a 3-view synthetic session with geometry on (its calibration.toml
    is discovered), validated twice."""
    run_dir = tmp_path_factory.mktemp("geometry") / "run"
    overrides = tiny(
        run_dir,
        "data.synthetic={n_views: 3, width: 64, height: 64, n_frames: 40, labeled_frames: 30, seed: 5}",
        "training.max_steps=8",
        "training.val_every_steps=4",
        "geometry.enabled=true",
        "geometry.loss_warmup_steps=2",
    )
    result = train(load_config(None, overrides))
    assert np.isfinite(result.best_val_error).all()
    return run_dir


def test_train_logs_3d_validation_metrics(geometry_run):
    (metrics,) = (geometry_run / "seed_0" / "logs").glob("version_*/metrics.csv")
    table = pd.read_csv(metrics)
    names = ["val/error_3d", *(f"val/reprojection_cam{v}" for v in range(V))]
    assert {"train/triangulation_loss", "train/heatmap_loss", *names} <= set(table.columns)
    values = table[names].dropna()
    assert len(values) == 2 and np.isfinite(values.to_numpy()).all() and (values.to_numpy() > 0).all()
    assert np.isfinite(table["train/triangulation_loss"].dropna()).all()


def test_evaluate_reports_3d_error(geometry_run):
    result = evaluate(geometry_run)
    assert result.summary_3d is not None and result.errors_3d is not None
    assert list(dict.fromkeys(result.summary_3d.model)) == ["seed_0", "ensemble", "mean_pose_baseline"]
    assert len(result.errors_3d) == 3 * 3 * K  # models x test frames x keypoints
    assert np.isfinite(result.overall_3d()) and result.overall_3d() > 0
    assert result.overall_3d("seed_0") == pytest.approx(result.overall_3d())
    for name in ("errors_3d.csv", "summary_3d.csv"):
        assert (geometry_run / "evaluation" / name).stat().st_size > 0
