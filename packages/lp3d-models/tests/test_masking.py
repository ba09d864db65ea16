"""Patch masking: the ramp, exact counts, independence across views, and nothing at evaluation."""

from __future__ import annotations

import pytest
import torch
from lp3d_models.masking import MaskingSchedule, hide_patches, random_patch_mask


def test_ratio_ramps_between_the_steps():
    schedule = MaskingSchedule(initial=0.1, final=0.5, start_step=100, end_step=300)
    assert [schedule.ratio(s) for s in (0, 100, 200, 300, 10_000)] == pytest.approx([0.1, 0.1, 0.3, 0.5, 0.5])
    assert MaskingSchedule(0.0, 0.4, 50, 50).ratio(49) == 0.0 and MaskingSchedule(0.0, 0.4, 50, 50).ratio(50) == 0.4
    assert not MaskingSchedule().enabled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"final": 1.0}, "masking.final"),
        ({"initial": -0.1}, "masking.initial"),
        ({"start_step": 5, "end_step": 2}, "start_step <= end_step"),
    ],
)
def test_bad_schedules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskingSchedule(**kwargs)


def test_exact_count_per_view_and_independent_views():
    generator = torch.Generator().manual_seed(0)
    mask = random_patch_mask(4, 3, (6, 8), 0.25, generator=generator)
    assert mask.shape == (4, 3, 6, 8)
    assert (mask.sum((-2, -1)) == 12).all()
    flat = mask.flatten(-2)
    assert not any(torch.equal(flat[b, 0], flat[b, v]) for b in range(4) for v in (1, 2))
    again = random_patch_mask(4, 3, (6, 8), 0.25, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)


def test_hide_patches_zeroes_exactly_the_hidden_patches():
    images = torch.ones(1, 2, 3, 16, 24)
    mask = torch.zeros(1, 2, 2, 3, dtype=torch.bool)
    mask[0, 1, 1, 2] = True
    out = hide_patches(images, mask, 8)
    assert out[0, 1, :, 8:16, 16:24].abs().sum() == 0
    assert out.sum() == images.sum() - 3 * 64


class _Seen(Exception):
    pass


def test_model_sees_whole_images_at_evaluation(synthetic_project, tiny):
    from lp3d_models.config import load_config
    from lp3d_models.runs import model_from_config
    from lp3d_models.training import PoseTask

    overrides = tiny(
        synthetic_project / "run", f"data.root={synthetic_project}", "masking.initial=0.5", "masking.final=0.5"
    )
    config = load_config(None, overrides)
    task = PoseTask(model_from_config(config, 2, 11), config, total_steps=10)
    seen = []

    def spy(images, image_sizes=None, hidden=None):
        seen.append(hidden)
        raise _Seen

    task.model.forward = spy
    batch = {
        "images": torch.rand(2, 2, 3, 64, 64),
        "keypoints": torch.rand(2, 2, 11, 2) * 60,
        "image_sizes": torch.full((2, 2, 2), 64.0),
    }
    for step in (task.training_step, task.validation_step):
        with pytest.raises(_Seen):
            step(batch, 0)
    assert seen[0] is not None and seen[0].float().mean().item() == pytest.approx(0.5)
    assert seen[1] is None
