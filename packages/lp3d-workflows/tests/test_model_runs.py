"""The model form's config checked by the trainer's own rules (and the project's: nothing outside
it), each member's metrics across resumed versions, and runs compared on their held-out frames."""

from __future__ import annotations

import json
import shutil

import pytest
from lp3d_workflows.errors import UserError
from lp3d_workflows.model_runs import ModelSettings, compare_runs, model_config, read_metrics, train_params
from lp3d_workflows.project import describe_project

pytest.importorskip("lp3d_models")


@pytest.fixture(scope="module")
def project(viewer_project, tmp_path_factory):
    root = tmp_path_factory.mktemp("models") / "project"
    shutil.copytree(viewer_project, root, ignore=shutil.ignore_patterns(".lp3d-app", "old", "smoothed", "predictions"))
    return describe_project(root)


def settings(**change) -> ModelSettings:
    values = {
        "name": "run1",
        "backbone": "vit_tiny_p8",
        "pretrained": False,
        "height": 64,
        "width": 64,
        "steps": 3,
        "batch_size": 2,
        "seeds": [0, 1],
        "masking": 0.0,
    }
    return ModelSettings(**{**values, **change})


def test_the_form_makes_the_config_the_trainer_reads(project):
    from lp3d_models.config import load_config

    config = model_config(project, settings(geometry=True, val_fraction=0.25))
    assert config.run_dir == str(project.root / "runs" / "run1")
    assert (config.model.backbone, config.model.height, config.model.width) == ("vit_tiny_p8", 64, 64)
    assert config.training.max_steps == 3 and config.training.seeds == [0, 1] and config.geometry.enabled
    assert config.data.val_fraction == 0.25 and config.data.root == str(project.root)
    from lp3d_workflows.model_runs import config_yaml

    path = project.root / "check.yaml"
    path.write_text(config_yaml(config))  # the YAML shown is a config the trainer loads as it is
    assert load_config(path).model.height == 64
    path.unlink()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"height": 60}, "model.height: expected a multiple of 8 for backbone vit_tiny_p8"),
        ({"backbone": "vit_huge"}, "model.backbone: expected one of"),
        ({"seeds": [1, 1]}, "training.seeds: expected distinct seeds"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, r"expected val \+ test < 1"),
        ({"name": "../up"}, "name: expected letters"),
        ({"pretrained": "/etc/passwd"}, "model.pretrained: expected a weights file in the project"),
        ({"extra": ["model.width=32"]}, "expected settings the form does not set"),
        ({"extra": ["training.nope=1"]}, "training.nope: unknown key"),
        ({"extra": ["data.root=/tmp"]}, "data.root: expected a path inside the project, but got /tmp"),
        ({"extra": ["model.init_checkpoint=../x.ckpt"]}, "model.init_checkpoint: expected a path inside the project"),
        ({"extra": ["data.labels=../CollectedData_{view}.csv"]}, "data.labels: expected a path inside the project"),
        ({"extra": ['data.views=["cam0", "nope"]']}, "nope"),
    ],
)
def test_configs_the_trainer_rejects_are_refused(project, change, message):
    with pytest.raises((UserError, ValueError, FileNotFoundError), match=message):
        model_config(project, settings(**change))
    assert not (project.root / "runs").exists()


def test_trained_members_are_not_trained_again_silently(project):
    from lp3d_io.layout import checkpoint_path

    params, label = train_params(project, settings())
    assert label == "train run1 (seeds [0, 1])" and params["config"]["run_dir"].endswith("runs/run1")
    last = checkpoint_path(project.root / "runs" / "run1", "seed_1", "last")
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    try:
        with pytest.raises(UserError, match="seed_1 trained already"):
            train_params(project, settings())
        assert train_params(project, settings(seeds=[2]))[1] == "train run1 (seeds [2])"
        assert train_params(project, settings(), overwrite=True)[0]["overwrite"] is True
        with pytest.raises(UserError, match="expected one of a model form"):
            train_params(project)
    finally:
        shutil.rmtree(project.root / "runs")


def test_more_members_with_other_shared_settings_are_refused_before_the_job(project):
    """The trainer's rule (lp3d_models.runs.run_conflicts): a run's members share its data and model
    settings; the form that changes them for new seeds is refused before any job starts."""
    from lp3d_models.config import save_config

    run_dir = project.root / "runs" / "run1"
    run_dir.mkdir(parents=True)
    config = model_config(project, settings())
    save_config(config, run_dir / "config.yaml")  # the run as the trainer saved it
    try:
        assert train_params(project, settings(seeds=[2]))[1] == "train run1 (seeds [2])"  # same settings
        with pytest.raises(UserError, match=r"runs/run1: expected the run's own model.height, model.width, but"):
            train_params(project, settings(seeds=[2], height=96, width=96))
        assert train_params(project, settings(seeds=[2], height=96, width=96), overwrite=True)[0]["overwrite"]
    finally:
        shutil.rmtree(project.root / "runs")


def test_metrics_of_every_member_follow_resumed_versions(tmp_path):
    logs = tmp_path / "seed_0" / "logs"
    (logs / "version_0").mkdir(parents=True)
    (logs / "version_10").mkdir()
    (logs / "version_0" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/pixel_error\n0,1,2.5,\n0,2,2.0,\n0,2,,9.5\n,x,1.0,\n"
    )
    (logs / "version_10" / "metrics.csv").write_text("epoch,step,train/loss,val/pixel_error\n1,3,1.5,\n1,4,,7.25\n")
    (tmp_path / "seed_1" / "logs").mkdir(parents=True)  # a member that has logged nothing yet
    found = read_metrics(tmp_path)
    assert found["seed_1"] == {}
    assert found["seed_0"]["train/loss"] == {"step": [1.0, 2.0, 3.0], "value": [2.5, 2.0, 1.5]}
    assert found["seed_0"]["val/pixel_error"] == {"step": [2.0, 4.0], "value": [9.5, 7.25]}
    assert read_metrics(tmp_path / "nope") == {}


def test_runs_are_compared_on_the_frames_they_held_out(tmp_path):
    header = "model,view,keypoint,n,mean,median,p90\n"
    for name, rows, test in [
        ("a", "ensemble,all,all,4,2.5,2.0,4.0\nseed_0,top,nose,2,1.0,1.0,1.5\n", ["img1.png", "img2.png"]),
        ("b", "ensemble,all,all,4,3.5,3.0,5.0\n", ["img2.png", "img1.png"]),
        ("c", "ensemble,all,all,4,1.5,1.0,2.0\n", []),
    ]:
        (tmp_path / name / "evaluation").mkdir(parents=True)
        (tmp_path / name / "evaluation" / "summary.csv").write_text(header + rows)
        split = {"train": {"images": ["x.png"]}, "val": {"images": ["v.png"]}, "test": {"images": test}}
        (tmp_path / name / "split.json").write_text(json.dumps(split))
    (tmp_path / "d").mkdir()  # not evaluated
    found = {c.run: c for c in compare_runs([(n, tmp_path / n) for n in "abcd"])}
    assert set(found) == {"a", "b", "c"}
    assert found["a"].rows == [
        ("ensemble", "all", "all", 4, 2.5, 2.0, 4.0),
        ("seed_0", "top", "nose", 2, 1.0, 1.0, 1.5),
    ]
    assert (found["a"].part, found["a"].n_frames) == ("test", 2)
    assert found["a"].frames_key == found["b"].frames_key  # the same held-out frames, in any order
    assert (found["c"].part, found["c"].n_frames) == ("val", 1) and found["c"].frames_key != found["a"].frames_key
