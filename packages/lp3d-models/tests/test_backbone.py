"""Backbone registry and weight loading: wrong keys and mismatched checkpoints are clear errors."""

from __future__ import annotations

import pytest
import torch
from lp3d_models import backbone as bb


def test_unknown_key_lists_the_registry():
    with pytest.raises(ValueError, match="expected one of vit_s16, vit_b16, dinov2_s14") as err:
        bb.build_backbone("vit_huge")
    assert "'vit_huge'" in str(err.value)


@pytest.mark.parametrize(("name", "width", "patch"), [("vit_tiny_p8", 48, 8), ("vit_tiny_p16", 48, 16)])
def test_tiny_builders(name, width, patch):
    model = bb.build_backbone(name)
    assert model.embed_dim == width and model.patch_embed.patch_size == (patch, patch)
    assert model.dynamic_img_size and model.num_classes == 0


def test_registry_sizes_without_download():
    # The real builders give the advertised sizes with a random init (no network needed).
    assert bb.build_vit_s16().embed_dim == 384
    assert bb.build_dinov2_s14().patch_embed.patch_size == (14, 14)


def test_local_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    source = bb.build_vit_tiny_p8()
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": source.state_dict()}, path)  # wrapped, as many checkpoints are
    loaded = bb.build_backbone("vit_tiny_p8", pretrained=path)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_local_weights_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = bb.build_vit_tiny_p16()
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    loaded = bb.build_vit_tiny_p16(pretrained=str(path))
    torch.testing.assert_close(loaded.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)


def _saved(tmp_path, change):
    state = bb.build_vit_tiny_p8().state_dict()
    change(state)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("blocks.1.attn.qkv.weight"), "missing keys blocks.1.attn.qkv.weight"),
        (lambda s: s.update({"blocks.2.norm1.weight": torch.ones(48)}), "unexpected keys blocks.2.norm1.weight"),
        (lambda s: s.update({"blocks.0.mlp.fc1.weight": torch.ones(64, 48)}), r"shape mismatch blocks.0.mlp.fc1"),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_mismatched_weights_are_errors(tmp_path, change, message):
    path = _saved(tmp_path, change)
    with pytest.raises(ValueError, match=message) as err:
        bb.build_backbone("vit_tiny_p8", pretrained=path)
    assert str(path) in str(err.value)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrained weights file not found"):
        bb.build_backbone("vit_tiny_p8", pretrained=tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="expected a PyTorch state dict"):
        bb.build_backbone("vit_tiny_p8", pretrained=junk)


def test_download_failure_says_what_to_do(monkeypatch):
    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("no network")
        raise AssertionError("unexpected call")

    monkeypatch.setattr(bb.timm, "create_model", offline)
    with pytest.raises(RuntimeError, match="pass a local weights file"):
        bb.build_backbone("vit_s16", pretrained=True)
    with pytest.raises(ValueError, match="has no published weights"):
        bb.build_backbone("vit_tiny_p8", pretrained=True)
