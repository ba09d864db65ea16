"""Typed config: unknown keys and wrong values name the key; overrides; paths; the template."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lp3d_models.config import apply_overrides, config_template, config_to_dict, load_config, save_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lp3d.yaml"
    path.write_text(text)
    return path


def test_values_paths_and_overrides(tmp_path):
    path = _write(tmp_path, "run_dir: runs/a\ndata: {root: project}\ntraining: {lr: 1e-4, seeds: [0, 1]}\n")
    config = load_config(path, ["training.batch_size=4", "model.joint_blocks=[-2, -1]", "model.pretrained=w.pth"])
    assert config.training.lr == 1e-4  # YAML 1.1 reads 1e-4 as a string: still a number here
    assert config.training.seeds == [0, 1] and config.training.batch_size == 4
    assert config.model.joint_blocks == [-2, -1]
    assert config.run_dir == str(tmp_path / "runs" / "a")
    assert config.data.root == str(tmp_path / "project")
    assert config.model.pretrained == str(tmp_path / "w.pth")
    assert load_config(path, ["model.pretrained=false"]).model.pretrained is False


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("data: {root: .}\ntraining: {lrr: 1}\n", [], r"training\.lrr: unknown key; expected one of seeds, batch_size"),
        ("data: {root: .}\nmodell: {}\n", [], "modell: unknown key"),
        ("data: {root: .}\n", ["training.lr=fast"], r"training\.lr: expected a number, but got 'fast'"),
        ("data: {root: .}\n", ["training.batch_size=2.5"], r"training\.batch_size: expected an integer"),
        ("data: {root: .}\n", ["training.seeds=[0, a]"], r"training\.seeds\[1\]: expected an integer"),
        ("data: {root: .}\n", ["loss.kind=l1"], r"loss\.kind: expected 'mse' or 'kl'"),
        ("data: {root: .}\n", ["model.heatmap_stride=8"], r"model\.heatmap_stride: expected 1, 2 or 4"),
        ("data: {root: .}\n", ["masking.final=1.5"], r"masking\.final: expected a ratio"),
        ("data: {root: .}\n", ["training.seeds=[1, 1]"], "training.seeds: expected distinct seeds"),
        ("data: {root: .}\nmodel: 3\n", [], "model: expected a mapping"),
        ("training: {}\n", [], "data.root: expected a project folder"),
        ("data: [1\n", [], "not valid YAML"),
        ("data: {root: .}\n", ["training.lr"], "--set: expected key=value"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, overrides, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as err:
        load_config(path, overrides)
    assert str(path) in str(err.value) or "--set" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_saved_config_reads_back_the_same(tmp_path):
    config = load_config(_write(tmp_path, "data: {root: .}\n"), ["masking.final=0.4"])
    save_config(config, tmp_path / "saved.yaml")
    assert config_to_dict(load_config(tmp_path / "saved.yaml")) == config_to_dict(config)


def test_template_lists_every_key_and_loads(tmp_path):
    text = config_template({"data.root": ".", "data.views": ["top", "bot"]})
    assert "backbone_lr_scale:" in text and "# peak learning rate" in text
    config = load_config(_write(tmp_path, text))
    assert config.data.views == ["top", "bot"]


def test_overrides_create_sections():
    assert apply_overrides({}, ["a.b.c=1", "a.d=[x]"]) == {"a": {"b": {"c": 1}, "d": ["x"]}}
    assert yaml.safe_load("x: 1")  # sanity: overrides are read as YAML
