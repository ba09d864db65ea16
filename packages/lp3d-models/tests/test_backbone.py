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
    import timm

    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("no network\n(details on a second line)")
        raise AssertionError("unexpected call")

    monkeypatch.setattr(timm, "create_model", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is not asked first: timm's cache is
    with pytest.raises(OSError, match="pass a local weights file") as err:
        bb.build_backbone("vit_s16", pretrained=True)
    assert "\n" not in str(err.value) and "--pretrained false" in str(err.value)
    with pytest.raises(ValueError, match="has no published weights"):
        bb.build_backbone("vit_tiny_p8", pretrained=True)


def test_unreachable_hub_fails_at_once_in_one_line(monkeypatch):
    import socket

    def unreachable(*args, **kwargs):
        raise OSError(-2, "Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(bb.PretrainedWeightsUnavailable, match=r"hub is not reachable .*\(--pretrained PATH"):
        bb.build_backbone("vit_t16", pretrained=True)


def test_cpu_backbones_are_registered_and_build():
    vit = bb.build_backbone("vit_t16")
    assert vit.embed_dim == 192 and len(vit.blocks) == 12 and vit.patch_embed.patch_size == (16, 16)
    cnn = bb.build_backbone("resnet18_s16")
    assert cnn.embed_dim == 192 and len(cnn.blocks) == 4 and cnn.patch_embed.patch_size == (16, 16)
    assert bb.input_multiple("resnet18_s16") == 16
    tokens = cnn.patch_embed(torch.zeros(2, 3, 64, 96))
    assert tokens.shape == (2, 4, 6, 192)  # one token per cell of the stride-16 feature map


@pytest.mark.parametrize("layout", ["timm", "torchvision"])
def test_cnn_loads_a_classifier_checkpoint_into_its_trunk(tmp_path, layout):
    import timm

    torch.manual_seed(2)
    if layout == "timm":
        state = timm.create_model("resnet18").state_dict()
    else:
        import torchvision

        state = torchvision.models.resnet18().state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = bb.build_backbone("resnet18_s16", pretrained=path)
    torch.testing.assert_close(model.patch_embed.trunk.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    torch.testing.assert_close(model.patch_embed.trunk.conv1.weight, state["conv1.weight"])
    whole = tmp_path / "backbone.pth"  # a whole backbone saved from lp3d loads as it is
    torch.save(model.state_dict(), whole)
    again = bb.build_backbone("resnet18_s16", pretrained=whole)
    torch.testing.assert_close(again.blocks[3].mlp.fc2.weight, model.blocks[3].mlp.fc2.weight)
    state.pop("layer2.0.conv1.weight")
    torch.save(state, path)
    with pytest.raises(ValueError, match="missing keys layer2.0.conv1.weight"):
        bb.build_backbone("resnet18_s16", pretrained=path)
