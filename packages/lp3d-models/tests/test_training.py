"""Training, video inference and evaluation end to end on a tiny model and a synthetic project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lp3d_io.layout import frame_id
from lp3d_models.config import load_config
from lp3d_models.data import PoseFrames, load_data
from lp3d_models.evaluation import evaluate
from lp3d_models.prediction import predict_videos
from lp3d_models.runs import load_run
from lp3d_models.training import lr_factor, train

pytestmark = [
    # Lightning 2.6 calls a torch.utils._pytree API that torch 2.14 deprecates.
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

STEPS = 12


@pytest.fixture(scope="module")
def trained(synthetic_project: Path, tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:
    """A run of two tiny members (seeds 0 and 1), 12 steps each, with masking and augmentation."""
    run_dir = tmp_path_factory.mktemp("run") / "synthetic"
    overrides = tiny(
        run_dir,
        f"data.root={synthetic_project}",
        f"training.max_steps={STEPS}",
        "training.val_every_steps=6",
        "training.seeds=[0, 1]",
        "masking.final=0.3",
        "masking.end_step=6",
    )
    result = train(load_config(None, overrides))
    assert result.members == [run_dir / "seed_0", run_dir / "seed_1"]
    assert all(np.isfinite(result.best_val_error))
    return run_dir


def _videos(project: Path) -> list[Path]:
    return sorted((project / "videos").glob("*.mp4"))


def test_run_directory(trained, synthetic_project):
    saved = load_config(trained / "config.yaml")
    assert saved.run_dir == str(trained) and saved.data.root == str(synthetic_project)
    assert saved.training.seeds == [0, 1]
    meta = json.loads((trained / "run.json").read_text())
    assert meta["views"] == ["cam0", "cam1"] and len(meta["keypoints"]) == 11
    split = json.loads((trained / "split.json").read_text())
    assert [len(split[k]["frames"]) for k in ("train", "val", "test")] == [24, 3, 3]
    for member in ("seed_0", "seed_1"):
        for name in ("best.ckpt", "last.ckpt"):
            assert (trained / member / "checkpoints" / name).is_file()
        last = torch.load(trained / member / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert last["global_step"] == STEPS
        (metrics,) = (trained / member / "logs").glob("version_*/metrics.csv")
        header = metrics.read_text().splitlines()[0].split(",")
        assert {"train/loss", "train/mask_ratio", "val/pixel_error", "val/loss"} <= set(header)


def test_members_differ_by_seed(trained):
    run = load_run(trained)
    a, b = (m.state_dict()["head.out.weight"] for m in run.members.values())
    assert not torch.equal(a, b)


def test_retraining_needs_resume_or_overwrite(trained):
    config = load_config(trained / "config.yaml")
    with pytest.raises(ValueError, match=r"seed_0 already trained .*--resume"):
        train(config, [0])
    config = load_config(trained / "config.yaml", ["model.head_channels=16"])
    with pytest.raises(ValueError, match=r"trained with other model.head_channels"):
        train(config, [2])
    with pytest.raises(ValueError, match="expected --resume or --overwrite, but got both"):
        train(load_config(trained / "config.yaml"), [0], resume=True, overwrite=True)


# Resuming mid-epoch restarts the epoch's data order; Lightning says so, rightly.
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended:UserWarning")
def test_resume_continues_from_the_last_checkpoint(synthetic_project, tmp_path, tiny):
    overrides = tiny(
        tmp_path / "run", f"data.root={synthetic_project}", "training.max_steps=4", "training.val_every_steps=2"
    )
    train(load_config(None, overrides))
    train(load_config(None, [*overrides, "training.max_steps=8"]), resume=True)
    last = torch.load(tmp_path / "run" / "seed_0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 8
    assert len(list((tmp_path / "run" / "seed_0" / "logs").glob("version_*/metrics.csv"))) == 2
    train(load_config(None, [*overrides, "training.max_steps=2"]), [5], overwrite=True)
    assert sorted(p.name for p in (tmp_path / "run").glob("seed_*")) == ["seed_5"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["members"] == ["seed_5"]


def test_predict_videos_to_store_and_csvs(trained, synthetic_project, tmp_path):
    from lp3d_io import read_group, read_predictions

    store = tmp_path / "session.zarr"
    result = predict_videos(trained, _videos(synthetic_project), store, batch_size=16, progress=False)
    assert result.n_frames == 40 and result.group == "predictions/synthetic"
    ds = read_group(store, result.group)
    assert ds.sizes["member"] == 2 and ds.sizes["view"] == 2 and ds.sizes["time"] == 40
    position = ds["position"].values
    assert np.isfinite(position).all() and (position >= -0.5).all() and (position <= 63.5).all()
    assert ((ds["confidence"].values >= 0) & (ds["confidence"].values <= 1)).all()
    assert len(result.csv_files) == 4
    back = read_predictions(list(result.csv_files.values()), ["cam0", "cam1"])
    np.testing.assert_allclose(back["position"].transpose(*ds["position"].dims).values, position, rtol=1e-6, atol=1e-4)
    # The video path sees frames as training does: the model on a labeled frame's PNG (the dataset's
    # resizing, mapped back to the view's pixels) finds what the store holds for that video frame
    # (the mp4 is lossy, hence the tolerance).
    run = load_run(trained)
    data = load_data(run.config.data, trained)
    frames = PoseFrames(data, np.arange(3), (64, 64))
    differences = []
    for i in range(3):
        sample = frames[i]
        frame = frame_id(str(data.image_paths[0, i]), data.view_names[0])[1]
        with torch.no_grad():
            out = run.members["seed_0"](
                torch.as_tensor(sample["images"])[None], image_sizes=torch.as_tensor(sample["image_sizes"])[None]
            )
        direct = out.keypoints[0].numpy()  # (view, keypoint, 2), the views' pixels
        stored = ds["position"].sel(member="seed_0", time=frame).transpose("view", "keypoint", "individual", "space")
        differences.append(np.abs(direct - stored.values[:, :, 0]))
    assert np.median(differences) < 0.5  # a barely trained model's flat heatmaps make a few keypoints jumpy
    with pytest.raises(ValueError, match="expected member"):
        predict_videos(trained, _videos(synthetic_project), store, members=["seed_0"], progress=False)
    again = predict_videos(trained, _videos(synthetic_project), store, progress=False, export_csv=False)
    assert again.n_frames == 40  # complete: nothing appended
    in_ensemble = ds["position"].sel(member="seed_1").values  # read before the store is replaced
    predict_videos(trained, _videos(synthetic_project), store, members=["seed_1"], overwrite=True, progress=False)
    alone = read_group(store, result.group)
    assert list(alone["member"].values) == ["seed_1"]  # one member alone predicts what it did in the ensemble
    np.testing.assert_allclose(alone["position"].values[0], in_ensemble, atol=1e-4)


def test_predict_continues_an_interrupted_group(trained, synthetic_project, tmp_path, monkeypatch):
    from lp3d_io import read_group
    from lp3d_io.video import SyncedVideos

    store = tmp_path / "s.zarr"
    full = predict_videos(trained, _videos(synthetic_project), store, group="predictions/full", progress=False)
    original = SyncedVideos.batches

    def stop_after_first(self, batch_size, start=0, stop=None):
        yield next(original(self, batch_size, start, stop))
        raise KeyboardInterrupt

    monkeypatch.setattr(SyncedVideos, "batches", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        predict_videos(
            trained, _videos(synthetic_project), store, group="predictions/part", batch_size=8, progress=False
        )
    assert read_group(store, "predictions/part").sizes["time"] == 8
    monkeypatch.setattr(SyncedVideos, "batches", original)
    predict_videos(trained, _videos(synthetic_project), store, group="predictions/part", batch_size=8, progress=False)
    part, whole = read_group(store, "predictions/part"), read_group(store, full.group)
    np.testing.assert_allclose(part["position"].values, whole["position"].values, atol=1e-3)
    np.testing.assert_array_equal(part["time"].values, np.arange(40))


def test_predict_input_errors(trained, synthetic_project, tmp_path):
    videos = _videos(synthetic_project)
    with pytest.raises(ValueError, match=r"expected one video per view \['cam0', 'cam1'\], but got 1 files"):
        predict_videos(trained, videos[:1], tmp_path / "s.zarr", progress=False)
    with pytest.raises(FileNotFoundError, match="video not found"):
        predict_videos(trained, [videos[0], tmp_path / "cam1.mp4"], tmp_path / "s.zarr", progress=False)
    with pytest.raises(FileNotFoundError, match="not a training run directory"):
        predict_videos(tmp_path, videos, tmp_path / "s.zarr", progress=False)


def test_evaluate_members_ensemble_and_baseline(trained):
    result = evaluate(trained)
    assert list(dict.fromkeys(result.summary.model)) == ["seed_0", "seed_1", "ensemble", "mean_pose_baseline"]
    assert len(result.errors) == 4 * 3 * 2 * 11  # models x test frames x views x keypoints
    members = np.stack([result.predictions["seed_0"], result.predictions["seed_1"]])
    np.testing.assert_allclose(result.predictions["ensemble"], np.median(members, axis=0))
    overall = result.summary[(result.summary.view == "all")].set_index("model")["mean"]
    assert np.isfinite(overall).all() and result.overall() == pytest.approx(overall["ensemble"])
    for name in ("errors.csv", "summary.csv", "pixel_errors.png"):
        assert (trained / "evaluation" / name).stat().st_size > 0
    assert "| nose |" in result.to_markdown()


def test_lr_factor_warmup_decay_and_delay():
    assert lr_factor(0, 100, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 100, 10, "linear", 0.0) == pytest.approx(0.5)
    assert lr_factor(50, 100, 10, "constant", 0.0) == 1.0
    assert lr_factor(19, 100, 10, "cosine", 0.1, delay=20) == 0.0
    assert lr_factor(20, 100, 10, "cosine", 0.1, delay=20) == pytest.approx(0.1)


def test_frozen_backbone_warmup_keeps_the_backbone_fixed(synthetic_project, tiny):
    from lp3d_models.runs import model_from_config
    from lp3d_models.training import PoseTask

    config = load_config(None, tiny(synthetic_project / "unused", f"data.root={synthetic_project}"))
    config.training.freeze_backbone_steps = 3
    config.training.warmup_steps = 1
    task = PoseTask(model_from_config(config, 2, 11), config, total_steps=20)
    setup = task.configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    backbone = task.model.encoder.backbone.blocks[0].attn.qkv.weight
    head = task.model.head.out.weight
    start_backbone, start_head = backbone.detach().clone(), head.detach().clone()
    keypoints = torch.rand(2, 2, 11, 2) * 60
    for step in range(4):
        out = task.model(torch.rand(2, 2, 3, 64, 64))
        task._loss(out.heatmaps, keypoints).backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
        if step == 2:  # three steps at backbone lr 0
            assert torch.equal(backbone, start_backbone) and not torch.equal(head, start_head)
    assert not torch.equal(backbone, start_backbone)


def test_masking_ramp_is_logged(trained):
    import pandas as pd

    (metrics,) = (trained / "seed_0" / "logs").glob("version_*/metrics.csv")
    ratio = pd.read_csv(metrics).dropna(subset=["train/mask_ratio"]).set_index("step")["train/mask_ratio"]
    assert ratio.is_monotonic_increasing and ratio.iloc[-1] == pytest.approx(0.3)


def test_init_checkpoint_starts_from_those_weights(trained, synthetic_project, tmp_path, tiny):
    from lp3d_models.distill import student_config
    from lp3d_models.runs import load_member

    start = trained / "seed_1" / "checkpoints" / "last.ckpt"
    overrides = tiny(
        tmp_path / "continued",
        f"data.root={synthetic_project}",
        f"model.init_checkpoint={start}",
        "training.max_steps=1",
        "training.lr=1e-12",  # one step that cannot move the weights
        "training.val_every_steps=1",
    )
    config = load_config(None, overrides)
    train(config)
    before = load_member(start, config, 2, 11).state_dict()
    after = load_member(tmp_path / "continued" / "seed_0" / "checkpoints" / "last.ckpt", config, 2, 11).state_dict()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    # a distilled student starts from the teacher's first member, unless warm_start is off
    teacher = load_config(trained / "config.yaml")
    student = student_config(teacher, trained, tmp_path / "student", tmp_path / "pseudo")
    assert Path(student.model.init_checkpoint) == trained / "seed_0" / "checkpoints" / "best.ckpt"
    teacher.distill.warm_start = False
    assert student_config(teacher, trained, tmp_path / "student", tmp_path / "pseudo").model.init_checkpoint is None
