"""``lp3d pipeline`` on a mirror rig: one camera's whole frames cut into views by crop boxes
(``data.crops``), one label file, one video per session, and a calibration of the views (a mirror's
virtual cameras) - made from a synthetic 2-camera session, every stage end to end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from lp3d_models.config import tiny_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

BOT_ROWS = (8, 56)  # the rows of the second camera's 64 x 64 frames that the "mirror" shows
CROPS = {"top": [0, 0, 64, 64], "bot": [0, 64, 64, 48]}


def synthetic_mirror(folder: Path) -> Path:
    """``folder/mirror``: whole frames 64 x 112 (camera 0 above, rows 8-55 of camera 1 below), their
    labels in ``CollectedData.csv`` as ``<keypoint>_top`` / ``<keypoint>_bot`` columns, the video
    ``videos/m1.mp4``, and the views' cameras (camera 1's with the crop's offset) in ``calibration.toml``."""
    from lp3d_eks import CameraRig
    from lp3d_io import PoseTable, from_pose_csv, to_pose_csv
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session
    from lp3d_io.video import VideoReader

    session = make_session(SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=40, seed=6, session_name="m1"))
    part = folder / "part"
    write_session(session, part, labeled_frames=16)
    root = folder / "mirror"
    (root / "labeled-data" / "m1").mkdir(parents=True)
    (root / "videos").mkdir()
    first, last = BOT_ROWS

    def whole(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        return np.concatenate([top, bottom[first:last]], axis=0)

    tables = [from_pose_csv(part / f"CollectedData_cam{v}.csv") for v in (0, 1)]
    columns, names = [], []
    for view, table, shift in (("top", tables[0], 0.0), ("bot", tables[1], 64.0 - first)):
        points = table.position[:, :, 0, :2].copy()
        points[..., 1] += shift
        if view == "bot":  # outside the mirror's rows: not labeled
            outside = (points[..., 1] < 64 - 0.5) | (points[..., 1] > 112 - 0.5)
            points[outside] = np.nan
        columns.append(points)
        names += [f"{k}_{view}" for k in table.keypoint_names]
    index = []
    for path0, path1 in zip(tables[0].index, tables[1].index, strict=True):
        image = whole(cv2.imread(str(part / path0)), cv2.imread(str(part / path1)))
        index.append(f"labeled-data/m1/{Path(str(path0)).name}")
        cv2.imwrite(str(root / index[-1]), image)
    table = PoseTable.from_numpy(np.concatenate(columns, axis=1), keypoint_names=names, index=index)
    to_pose_csv(table, root / "CollectedData.csv")
    with (
        VideoReader(part / "videos" / "m1_cam0.mp4", rgb=False) as a,
        VideoReader(part / "videos" / "m1_cam1.mp4", rgb=False) as b,
    ):
        writer = cv2.VideoWriter(str(root / "videos" / "m1.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), a.fps, (64, 112))
        for t in range(a.frame_count):
            writer.write(np.ascontiguousarray(whole(a.read(t), b.read(t))))
        writer.release()
    top, bottom = session.rig.cameras
    matrix = bottom.matrix.copy()
    matrix[1, 2] -= first
    cameras = [
        dataclasses.replace(top, name="top"),
        dataclasses.replace(bottom, name="bot", size=(64, 48), matrix=matrix),
    ]
    CameraRig(cameras).to_toml(root / "calibration.toml")
    return root


def test_pipeline_on_a_mirror_rig(lp3d, tmp_path):
    from lp3d_io import read_group
    from lp3d_io.layout import MODEL_GROUP

    root = synthetic_mirror(tmp_path)
    values = tiny_model(
        run_dir="run",
        data={"root": str(root), "labels": "CollectedData.csv", "crops": {v: {"box": b} for v, b in CROPS.items()}},
        geometry={"enabled": True},
        training={"seeds": [0, 1], "max_steps": 6, "batch_size": 4, "warmup_steps": 2, "val_every_steps": 6},
        distill={"n_frames": 4, "seeds": [0], "max_steps": 2},
    )
    config = tmp_path / "lp3d.yaml"
    config.write_text(yaml.safe_dump(values, sort_keys=False))  # the views in the crops' order
    run = lp3d("pipeline", config, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "3D mean" in run.stdout and "distilled student + EKS" in run.stdout  # calibrated views, every stage
    out = tmp_path / "run"
    predictions = read_group(out / "predictions" / "m1.zarr", MODEL_GROUP)
    assert list(predictions["view"].values) == ["top", "bot"] and predictions.sizes["time"] == 40
    # In the view's own pixels (64 x 48, padded by 8 rows above and below in the 64 x 64 model input),
    # not the whole frame's (rows 64-111).
    position = predictions["position"].sel(view="bot").values
    assert -8.5 <= np.nanmin(position[..., 1]) and np.nanmax(position[..., 1]) <= 55.5
    assert (out / "smoothed" / "m1" / "multicam_3d_results.csv").is_file()
    pseudo = out / "student" / "pseudo_labels"
    frames = [int(line.split(",")[1]) for line in (pseudo / "selection.csv").read_text().splitlines()[1:]]
    labeled = {int(Path(p).stem[3:]) for p in (root / "labeled-data" / "m1").iterdir()}
    assert len(frames) == 4 and not set(frames) & labeled  # the session is the video's: m1
    for view, (width, height) in (("top", (64, 64)), ("bot", (64, 48))):  # the crops, one image per view
        image = cv2.imread(str(pseudo / "labeled-data" / f"m1_{view}" / f"img{frames[0]:05d}.png"))
        assert image.shape[:2] == (height, width)
