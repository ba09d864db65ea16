"""A lab's first run (issue #15): chosen splits, calibrations left alone without geometry, model sizes
the backbone takes, letterboxed views mapped exactly, and evaluation on one set of labels with overlays."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from lp3d_io import PoseTable, from_pose_csv, to_pose_csv
from lp3d_io.layout import frame_id
from lp3d_models.config import DataConfig, HeldOutConfig, SplitConfig, load_config
from lp3d_models.data import PoseFrames, load_data, read_image, split_frames
from lp3d_models.model import to_original_pixels

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

TOL = 1e-4  # pixels


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("{backbone: dinov2_s14, height: 256, width: 252}", r"model\.height: expected a multiple of 28 for backbone "),
        ("{backbone: vit_s16, height: 256, width: 200}", r"model\.width: expected a multiple of 16 .* but got 200"),
        ("{backbone: vit_x}", r"model\.backbone: expected one of vit_s16, .*resnet18_s16.*, but got 'vit_x'"),
    ],
)
def test_model_size_must_be_a_multiple_of_what_the_backbone_takes(tmp_path, model, message):
    path = tmp_path / "lp3d.yaml"
    path.write_text(f"data: {{root: .}}\nmodel: {model}\n")
    with pytest.raises(ValueError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert load_config(path, ["model.backbone=dinov2_s14", "model.height=252", "model.width=280"])


def _split(data, **parts) -> dict[str, np.ndarray]:
    held = {name: HeldOutConfig(**value) for name, value in parts.items()}
    return split_frames(data, DataConfig(root=str(data.root), split=SplitConfig(**held), val_fraction=0.25))


def test_chosen_sessions_ranges_and_images_are_held_out(two_sessions, session_project, tmp_path):
    data = load_data(DataConfig(root=str(session_project(two_sessions, tmp_path))), tmp_path, cameras=False)
    ids = data.frame_ids(np.arange(data.n_frames))
    session_b = [i for i, (s, _) in enumerate(ids) if s == "sessB"]
    split = _split(data, test={"sessions": ["sessB"]})
    assert split["test"].tolist() == session_b  # the whole session
    assert len(split["val"]) == 2 and not set(split["val"]) & set(session_b)  # 0.25 of 8, drawn from the rest
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(data.n_frames))
    in_range = [i for i, (s, f) in enumerate(ids) if s == "sessA" and 2 <= f < 6]
    image = str(data.image_paths[1, session_b[0]])  # any view's path names the frame
    split = _split(data, test={"frames": {"sessA": [[2, 6]]}}, val={"images": [image]})
    assert split["test"].tolist() == in_range and split["val"].tolist() == [session_b[0]]
    assert _split(data, test={"frames": {"sessA": [[2, 6]]}}, val={"sessions": ["sessB"]})["train"].size > 0


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            {"test": {"sessions": ["sessC"]}},
            r"data\.split\.test\.sessions: expected sessions among \['sessA', 'sessB'\]",
        ),
        ({"val": {"frames": {"sessA": [[100, 200]]}}}, r"data\.split\.val\.frames\.sessA: expected labeled frames in"),
        (
            {"test": {"images": ["labeled-data/x.png"]}},
            r"data\.split\.test\.images: expected images of the label files",
        ),
        ({"test": {"sessions": ["sessA"]}, "val": {"sessions": ["sessA"]}}, r"expected test and val frames to differ"),
        ({"test": {"sessions": ["sessA"]}, "val": {"sessions": ["sessB"]}}, r"expected frames left to train on"),
    ],
)
def test_bad_splits_are_one_line_errors(two_sessions, session_project, tmp_path, parts, message):
    data = load_data(DataConfig(root=str(session_project(two_sessions, tmp_path))), tmp_path, cameras=False)
    with pytest.raises(ValueError, match=message):
        _split(data, **parts)


def test_without_geometry_no_calibration_is_read(two_sessions, session_project, tmp_path, tiny):
    """A calibration whose cameras do not match the views stops training only when geometry asks for it;
    the chosen test session is what split.json holds out."""
    from lp3d_models.training import train

    root = session_project(two_sessions, tmp_path, {"calibration.toml": "sessA"})
    toml = root / "calibration.toml"
    toml.write_text(toml.read_text().replace('name = "cam1"', 'name = "side"'))
    run = tmp_path / "run"
    overrides = tiny(run, f"data.root={root}", "training.max_steps=1", "data.split.test.sessions=[sessB]")
    train(load_config(None, overrides))
    split = json.loads((run / "split.json").read_text())
    assert {frame_id(p, "cam0")[0] for p in split["test"]["images"]} == {"sessB"} and len(split["test"]["images"]) == 4
    with pytest.raises(ValueError, match=r"calibration.toml: expected cameras cam0, cam1 to match the views"):
        train(load_config(None, [*overrides, "geometry.enabled=true"]), overwrite=True)


def test_a_view_keeps_its_aspect_and_maps_back_exactly(synthetic_project):
    """Labels -> model pixels by the sample's affine (its letterbox) -> back by the model's inverse map."""
    data = load_data(DataConfig(root=str(synthetic_project)), synthetic_project, cameras=False)
    boxes = {"cam0": (0, 0, 64, 64), "cam1": (8, 20, 50, 30)}  # a wide crop of the second view
    data = type(data)(**{**data.__dict__, "crops": boxes})
    data.keypoints[1] -= np.array([8, 20], dtype=np.float32)
    item = PoseFrames(data, np.arange(3), (32, 48))[2]
    affine, sizes = item["affine"].numpy(), item["image_sizes"]
    assert sizes.tolist() == [[64, 64], [50, 30]]
    labels = data.keypoints[:, 2].astype(np.float64)
    for v in range(2):
        mapped = labels[v] @ affine[v, :, :2].T + affine[v, :, 2]
        np.testing.assert_allclose(item["keypoints"][v].numpy(), mapped, atol=TOL, equal_nan=True)
    # The crop (50 x 30) scaled by 48 / 50 keeps its aspect: 48 x 29 pixels, 1 row of padding above.
    np.testing.assert_allclose(affine[1, :, :2], np.diag([48 / 50, 29 / 30]), atol=1e-12)
    assert (item["images"][1, :, 0] == 0).all() and (item["images"][1, :, 30:] == 0).all()
    back = to_original_pixels(item["keypoints"][None].double(), (32, 48), sizes[None])[0].numpy()
    np.testing.assert_allclose(back, labels, atol=TOL, equal_nan=True)


def test_evaluation_scores_every_model_on_the_same_labels(synthetic_project, tmp_path, tiny):
    """A keypoint never labeled in a view's training frames has no mean pose there: its test labels
    count for no model (the baseline's mean would be over fewer labels than the model's)."""
    import shutil

    from lp3d_models.evaluation import BASELINE, ENSEMBLE, evaluate
    from lp3d_models.training import train

    root = tmp_path / "project"
    shutil.copytree(synthetic_project, root)
    table = from_pose_csv(root / "CollectedData_cam0.csv")
    test = [str(p) for p in table.index[:3]]
    position = table.position.copy()
    position[3:, 0] = np.nan  # keypoint 0 of cam0: labeled in the test frames only
    to_pose_csv(replace(table, position=position), root / "CollectedData_cam0.csv")
    run = tmp_path / "run"
    train(load_config(None, tiny(run, f"data.root={root}", "training.max_steps=2", f"data.split.test.images={test}")))
    result = evaluate(run, device="cpu")
    overall = result.summary[result.summary.view == "all"].set_index("model")["n"]
    assert overall[ENSEMBLE] == overall[BASELINE] > 0
    skipped = result.errors[(result.errors.view == "cam0") & (result.errors.keypoint == table.keypoint_names[0])]
    assert skipped.error.isna().all()
    assert [p.name for p in result.overlays] == [f"labeled-data__synthetic_cam0__{Path(p).stem}.png" for p in test]
    picture = cv2.imread(str(result.overlays[0]))
    assert picture.shape[:2] == (64, 2 * 64 + 4)  # both views side by side
    original = read_image(root / test[0])
    assert np.abs(picture[:, :64].astype(int) - original[..., ::-1]).max() > 0  # something drawn on it


def test_real_mirror_crops_read_like_the_hand_split_project(mirror_mouse_source, mirror_mouse_project, tmp_path):
    """The mirror-mouse example read through ``data.crops`` (its one label file and whole frames, or
    a whole-frame label file per view) gives the labels and images of the project split by hand into
    two views (conftest)."""
    from lp3d_models.config import CropConfig
    from lp3d_models.data import read_project

    crops = {"top": CropConfig(box=[0, 0, 396, 168]), "bot": CropConfig(box=[0, 168, 396, 238])}
    cropped = read_project(mirror_mouse_source, labels="CollectedData.csv", crops=crops)
    by_hand = read_project(mirror_mouse_project, ["top", "bot"])
    per_view = tmp_path / "per-view"  # CollectedData_<view>.csv in whole-frame pixels
    per_view.mkdir()
    (per_view / "labeled-data").symlink_to(mirror_mouse_source / "labeled-data")
    shift = {"top": 0.0, "bot": 168.0}
    for v, view in enumerate(cropped.view_names):
        whole = cropped.keypoints[v] + np.array([0.0, shift[view]], dtype=np.float32)
        table = PoseTable.from_numpy(whole, keypoint_names=cropped.keypoint_names, index=cropped.image_paths[v])
        to_pose_csv(table, per_view / f"CollectedData_{view}.csv")
    again = read_project(per_view, labels="CollectedData_{view}.csv", crops=crops)
    np.testing.assert_allclose(again.keypoints, cropped.keypoints, atol=TOL, equal_nan=True)
    assert cropped.view_names == ["top", "bot"] and cropped.keypoint_names == by_hand.keypoint_names
    assert len(cropped.keypoint_names) == 10  # 7 in both views, obs in top, obsHigh and obsLow in bot
    np.testing.assert_allclose(cropped.keypoints, by_hand.keypoints, atol=TOL, equal_nan=True)
    a, b = PoseFrames(cropped, np.arange(2), (64, 128)), PoseFrames(by_hand, np.arange(2), (64, 128))
    for i in range(2):
        assert torch.equal(a[i]["images"], b[i]["images"]) and torch.equal(a[i]["affine"], b[i]["affine"])


def test_crop_boxes_and_label_columns_are_checked(mirror_mouse_source):
    from lp3d_models.config import CropConfig
    from lp3d_models.data import read_project

    outside = {"top": CropConfig(box=[0, 0, 396, 168]), "bot": CropConfig(box=[0, 168, 396, 300])}
    with pytest.raises(ValueError, match=r"data\.crops\.bot\.box: expected a box inside the 396x406 frames"):
        read_project(mirror_mouse_source, labels="CollectedData.csv", crops=outside)
    one_view = {"top": CropConfig(box=[0, 0, 396, 168])}
    with pytest.raises(ValueError, match=r"expected label column 'paw1LH_bot' to match one view's .* matches none"):
        read_project(mirror_mouse_source, labels="CollectedData.csv", crops=one_view)


def test_predict_with_view_offsets_and_labeled_videos(synthetic_project, tmp_path, tiny):
    """cam1's video started 2 frames before cam0's: session frame t is its frame t + 2, and the
    session ends with cam1's video (38 frames); the labeled videos follow each view's frames."""
    from lp3d_io import read_group
    from lp3d_io.video import VideoReader
    from lp3d_models.prediction import predict_videos
    from lp3d_models.training import train

    run = tmp_path / "run"
    train(load_config(None, tiny(run, f"data.root={synthetic_project}", "training.max_steps=1")))
    videos = sorted((synthetic_project / "videos").glob("*.mp4"))
    with pytest.raises(ValueError, match=r"expected the same number of frames in every view .* cam0: 40, cam1: 38"):
        predict_videos(run, videos, tmp_path / "a.zarr", offsets={"cam1": 2}, progress=False)
    result = predict_videos(
        run, videos, tmp_path / "b.zarr", offsets={"cam1": 2}, shortest=True, progress=False, labeled_videos=tmp_path
    )
    assert result.n_frames == 38 and read_group(result.store, result.group).attrs["session"] == "synthetic"
    for path in result.labeled_videos:
        with VideoReader(path) as reader:
            assert reader.frame_count == 38 and reader.size == (64, 64)


def test_without_test_frames_the_validation_frames_are_held_out(synthetic_project, tmp_path, tiny):
    """``test_fraction: 0`` is allowed: the pipeline then scores the validation frames (and says so)."""
    from lp3d_models.evaluation import held_out_frames
    from lp3d_models.training import train

    run = tmp_path / "run"
    train(
        load_config(None, tiny(run, f"data.root={synthetic_project}", "training.max_steps=1", "data.test_fraction=0"))
    )
    held = held_out_frames(run, ["synthetic"])
    split = json.loads((run / "split.json").read_text())
    assert held.part == "val" and not split["test"]["frames"]
    rows, frames = held.rows["synthetic"]
    assert [f"labeled-data/synthetic_cam0/img{f:05d}.png" for f in frames] == split["val"]["images"]
    assert held_out_frames(run, ["another"]).rows == {}


def test_samples_carry_the_lens_model(two_sessions, session_project, tmp_path):
    """A fisheye rig's samples say so (the torch geometry then projects through the fisheye model)."""
    import dataclasses

    from lp3d_eks import CameraRig
    from lp3d_models.config import GeometryConfig
    from lp3d_models.geometry import cameras_from_batch

    root = session_project(two_sessions, tmp_path, {"calibration.toml": "sessA"})
    data = load_data(DataConfig(root=str(root)), tmp_path)
    fisheye = {
        s: CameraRig([dataclasses.replace(c, fisheye=True, dist=np.zeros(4)) for c in rig.cameras])
        for s, rig in data.rigs.items()
    }
    frames = PoseFrames(
        dataclasses.replace(data, rigs=fisheye), np.arange(2), (48, 48), geometry=GeometryConfig(enabled=True)
    )
    batch = torch.utils.data.default_collate([frames[0], frames[1]])
    assert batch["fisheye"].dtype == torch.bool and bool(cameras_from_batch(batch).fisheye.all())
    plain = PoseFrames(data, np.arange(1), (48, 48), geometry=GeometryConfig(enabled=True))[0]
    assert not plain["fisheye"].any()
