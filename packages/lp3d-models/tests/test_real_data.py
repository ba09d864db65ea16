"""Real data: the mirror-mouse example as it is, one camera's whole frames cut into a `top` and a `bot`
view by crop boxes (``data.crops``), one label file for both (skipped without it).

A tiny random-init model trained for a short time on the CPU must beat the mean-pose baseline on
the held-out frames, and predicting whole frames of the example video end to end must work.
"""

from __future__ import annotations

import numpy as np
import pytest
from lp3d_models.config import load_config
from lp3d_models.evaluation import evaluate
from lp3d_models.prediction import predict_videos
from lp3d_models.training import train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

N_VIDEO_FRAMES = 8  # conftest.MIRROR_VIDEO_FRAMES
CROPS = "data.crops={top: {box: [0, 0, 396, 168]}, bot: {box: [0, 168, 396, 238]}}"


@pytest.fixture(scope="module")
def mouse_run(mirror_mouse_source, tmp_path_factory, tiny):
    run_dir = tmp_path_factory.mktemp("mouse") / "run"
    overrides = tiny(
        run_dir,
        f"data.root={mirror_mouse_source}",
        "data.labels=CollectedData.csv",
        CROPS,
        "model.height=64",
        "model.width=128",  # both views are wide: 396 x 168 and 396 x 238
        "loss.kind=kl",  # learns faster than MSE from a random init
        "training.lr=3e-3",
        "training.max_steps=250",
        "training.val_every_steps=125",
        "masking.final=0.0",
    )
    train(load_config(None, overrides))
    return run_dir


def test_tiny_model_beats_the_mean_pose(mouse_run):
    result = evaluate(mouse_run)
    model, baseline = result.overall(), result.overall("mean_pose_baseline")
    print(f"\nmirror-mouse test frames: model {model:.1f} px, mean pose {baseline:.1f} px")
    assert model < baseline


def test_predict_the_example_video(mouse_run, mirror_mouse_clip, tmp_path):
    from lp3d_io import read_group

    result = predict_videos(
        mouse_run, [mirror_mouse_clip], tmp_path / "mouse.zarr", batch_size=4, progress=False, labeled_videos=tmp_path
    )
    ds = read_group(result.store, result.group)
    assert ds.sizes["time"] == N_VIDEO_FRAMES and list(ds["view"].values) == ["top", "bot"]
    assert ds.attrs["session"] == "clip"  # videos/<session>.mp4 of a cropped project
    for view, (width, height) in (("top", (396, 168)), ("bot", (396, 238))):  # each view's own pixels
        position = ds["position"].sel(view=view).values
        assert np.isfinite(position).all()
        assert (position[..., 0] >= -0.5).all() and (position[..., 0] <= width - 0.5).all()
        assert (position[..., 1] >= -0.5).all() and (position[..., 1] <= height - 0.5).all()
    assert sorted(p.name for p in result.csv_files.values()) == ["clip_bot.seed_0.csv", "clip_top.seed_0.csv"]
    assert [p.name for p in result.labeled_videos] == ["clip_labeled.mp4"]  # both views on the whole frame
