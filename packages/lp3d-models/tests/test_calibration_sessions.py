"""Sessions from image paths, each session's calibration file, and the geometry keys of a sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lp3d_eks import CameraRig
from lp3d_io.layout import frame_sessions, parse_session
from lp3d_models.config import AugmentConfig, DataConfig, GeometryConfig
from lp3d_models.data import PoseFrames, load_data, training_frames
from lp3d_models.session_cameras import vertical_axis
from torch.utils.data import DataLoader

TOL = 1e-9


def same_rig(a: CameraRig, b: CameraRig) -> bool:
    return all(
        np.allclose(x.matrix, y.matrix, atol=TOL) and np.allclose(x.tvec, y.tvec) for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    ("path", "view", "session", "key"),
    [
        ("labeled-data/mouse1_top/img00012.png", "top", "mouse1", "labeled-data/mouse1/img00012.png"),
        ("labeled-data/2024_01_a_top/img1.png", "top", "2024_01_a", "labeled-data/2024_01_a/img1.png"),
        ("labeled-data/mouse1/top/img00012.png", "top", "mouse1", "labeled-data/mouse1/img00012.png"),
        ("labeled-data/top/img00012.png", "top", "", "labeled-data/img00012.png"),
        ("labeled-data\\mouse1_top\\img3.png", "top", "mouse1", "labeled-data/mouse1/img3.png"),
        ("frames/img3.png", "top", "", "frames/img3.png"),
    ],
)
def test_session_from_image_path(path, view, session, key):
    assert parse_session(path, view) == (session, key)


def test_views_of_a_row_must_name_one_session():
    paths = np.array(
        [
            ["labeled-data/a_top/img1.png", "labeled-data/a_top/img2.png"],
            ["labeled-data/a_bot/img1.png", "labeled-data/b_bot/img2.png"],
        ]
    )
    sessions, keys = frame_sessions(paths[:, :1], ["top", "bot"])
    assert sessions.tolist() == ["a"] and keys.tolist() == ["labeled-data/a/img1.png"]
    with pytest.raises(ValueError, match=r"row 1 \(labeled-data/a_top/img2.png\): expected the same session"):
        frame_sessions(paths, ["top", "bot"])


def test_discovery_per_session_then_project_file(two_sessions, session_project, tmp_path):
    root = session_project(two_sessions, tmp_path, {"calibrations/sessA.toml": "sessA", "calibration.toml": "sessB"})
    data = load_data(DataConfig(root=str(root)), tmp_path)
    assert data.sessions.tolist() == ["sessA"] * 4 + ["sessB"] * 4
    rigs = {s: CameraRig.from_toml(two_sessions / "rigs" / f"{s}.toml") for s in ("sessA", "sessB")}
    assert same_rig(data.rigs["sessA"], rigs["sessA"]) and same_rig(data.rigs["sessB"], rigs["sessB"])
    assert data.rig(0) is data.rigs["sessA"] and data.rig(5) is data.rigs["sessB"]


def test_explicit_mapping_and_default_file(two_sessions, session_project, tmp_path):
    root = session_project(two_sessions, tmp_path, {"calibration.toml": "sessB"})
    rigs = {s: CameraRig.from_toml(two_sessions / "rigs" / f"{s}.toml") for s in ("sessA", "sessB")}
    mapped = DataConfig(root=str(root), calibrations={"sessB": str(two_sessions / "rigs" / "sessA.toml")})
    data = load_data(mapped, tmp_path)
    assert same_rig(data.rigs["sessB"], rigs["sessA"]) and same_rig(data.rigs["sessA"], rigs["sessB"])
    default = DataConfig(root=str(root), calibration=str(two_sessions / "rigs" / "sessA.toml"))
    data = load_data(default, tmp_path)  # data.calibration comes before <root>/calibration.toml
    assert same_rig(data.rigs["sessA"], rigs["sessA"]) and same_rig(data.rigs["sessB"], rigs["sessA"])
    data = load_data(DataConfig(root=str(session_project(two_sessions, tmp_path / "none"))), tmp_path)
    assert data.rigs == {} and data.rig(0) is None


@pytest.mark.parametrize("by_session", [False, True])
def test_lightning_pose_calibrations_csv(two_sessions, session_project, tmp_path, by_session):
    root = session_project(two_sessions, tmp_path, {"calibs/a.toml": "sessA", "calibs/b.toml": "sessB"})
    if by_session:
        text = "session,file\nsessA,calibs/b.toml\nsessB,calibs/a.toml\n"
    else:  # one row per image key, and a folder prefix
        data = load_data(DataConfig(root=str(root)), tmp_path)
        _, keys = frame_sessions(data.image_paths, data.view_names)
        text = ",file\n" + "".join(f"{k},calibs/b.toml\n" for k in keys[:4]) + "labeled-data/sessB,calibs/a.toml\n"
    (root / "calibrations.csv").write_text(text)
    data = load_data(DataConfig(root=str(root)), tmp_path)
    rigs = {s: CameraRig.from_toml(two_sessions / "rigs" / f"{s}.toml") for s in ("sessA", "sessB")}
    assert same_rig(data.rigs["sessA"], rigs["sessB"]) and same_rig(data.rigs["sessB"], rigs["sessA"])


def _rename_camera(path: Path) -> None:
    path.write_text(path.read_text().replace('name = "cam1"', 'name = "side"'))


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (
            _rename_camera,
            ValueError,
            r"calibration.toml: expected cameras cam0, cam1 to match the views, but got cam0, side",
        ),
        (lambda p: p.write_text("[cam_0\nname ="), ValueError, r"calibration.toml: not a valid TOML file"),
        (lambda p: p.write_text("[metadata]\n"), ValueError, r"calibration.toml: expected \[cam_0\], \[cam_1\]"),
        (
            lambda p: p.write_text(p.read_text().replace("size = [ 48, 48,]", "size = [ 96, 48,]")),
            ValueError,
            r"calibration.toml: expected camera 'cam0' to be 48x48 pixels like its images .*, but got 96x48",
        ),
    ],
)
def test_bad_calibration_is_a_clear_error_at_load_time(two_sessions, session_project, tmp_path, damage, error, message):
    root = session_project(two_sessions, tmp_path, {"calibration.toml": "sessA"})
    damage(root / "calibration.toml")
    with pytest.raises(error, match=message):
        load_data(DataConfig(root=str(root)), tmp_path)


def test_missing_named_calibration_is_a_clear_error(two_sessions, session_project, tmp_path):
    root = session_project(two_sessions, tmp_path)
    config = DataConfig(root=str(root), calibrations={"sessA": str(tmp_path / "nowhere.toml")})
    with pytest.raises(FileNotFoundError, match=r"nowhere.toml: calibration file of session 'sessA' not found"):
        load_data(config, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"gone.toml: calibration file of session 'sessA' not found"):
        load_data(DataConfig(root=str(root), calibration=str(tmp_path / "gone.toml")), tmp_path)


def test_geometry_without_any_calibration_is_an_error(two_sessions, session_project, tmp_path):
    data = load_data(DataConfig(root=str(session_project(two_sessions, tmp_path))), tmp_path)
    with pytest.raises(ValueError, match="geometry.enabled: expected a calibration for at least one session"):
        training_frames(data, np.arange(4), (32, 32), AugmentConfig(), GeometryConfig(enabled=True))
    assert len(training_frames(data, np.arange(4), (32, 32), AugmentConfig(), GeometryConfig(enabled=False))) == 4


CONTRACT = {
    "images": ((2, 3, 32, 40), torch.float32),
    "keypoints": ((2, 11, 2), torch.float32),
    "weights": ((2, 11), torch.float32),
    "image_sizes": ((2, 2), torch.float32),
    "affine": ((2, 2, 3), torch.float64),
    "calibrated": ((), torch.bool),
    "camera_matrix": ((2, 3, 3), torch.float64),
    "dist_coeffs": ((2, 5), torch.float64),
    "rotation": ((2, 3, 3), torch.float64),
    "translation": ((2, 3), torch.float64),
    "fisheye": ((2,), torch.bool),
}


@pytest.mark.parametrize("enabled", [True, False])
def test_batch_contract_with_mixed_sessions(two_sessions, session_project, tmp_path, enabled):
    """sessA calibrated, sessB not: per-sample keys, shapes, dtypes, and collation into batches."""
    root = session_project(two_sessions, tmp_path, {"calibrations/sessA.toml": "sessA"})
    data = load_data(DataConfig(root=str(root)), tmp_path)
    assert list(data.rigs) == ["sessA"]
    geometry = GeometryConfig(enabled=enabled, augment_probability=1.0)
    frames = PoseFrames(data, np.arange(8), (32, 40), geometry=geometry)
    for i in (0, 7):
        item = frames[i]
        assert set(item) == {*CONTRACT, "frame"}
        for key, (shape, dtype) in CONTRACT.items():
            assert (tuple(item[key].shape), item[key].dtype) == (shape, dtype), key
        labeled = torch.isfinite(item["keypoints"]).all(-1)
        assert torch.equal(item["weights"], labeled.float())
        # No augmentation: the affine is the letterbox (48 x 48 -> 32 x 32, 4 px from the left), and it maps the labels.
        s = 32 / 48
        resize = np.array([[s, 0.0, 0.5 * s - 0.5 + 4], [0.0, s, 0.5 * s - 0.5]])
        np.testing.assert_allclose(item["affine"].numpy(), np.stack([resize] * 2), atol=TOL)
        mapped = data.keypoints[:, i] @ resize[:, :2].T + resize[:, 2]
        np.testing.assert_allclose(item["keypoints"].numpy(), mapped, atol=1e-4)
    calibrated, uncalibrated = frames[0], frames[7]
    assert bool(calibrated["calibrated"]) is enabled and not bool(uncalibrated["calibrated"])
    rig = data.rigs["sessA"]
    if enabled:
        np.testing.assert_allclose(calibrated["camera_matrix"].numpy(), [c.matrix for c in rig], atol=TOL)
        np.testing.assert_allclose(calibrated["dist_coeffs"].numpy(), [c.dist for c in rig], atol=TOL)
        np.testing.assert_allclose(calibrated["rotation"].numpy(), [c.rotation for c in rig], atol=TOL)
        np.testing.assert_allclose(calibrated["translation"].numpy(), [c.tvec for c in rig], atol=TOL)
    for item in (uncalibrated,) if enabled else (calibrated, uncalibrated):
        assert torch.equal(item["camera_matrix"], torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
        assert torch.equal(item["rotation"], torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
        assert not item["dist_coeffs"].any() and not item["translation"].any()
    batch = next(iter(DataLoader(PoseFrames(data, np.arange(2, 6), (32, 40), geometry=geometry), batch_size=4)))
    assert batch["calibrated"].tolist() == [enabled, enabled, False, False]
    for key, (shape, dtype) in CONTRACT.items():
        assert (tuple(batch[key].shape), batch[key].dtype) == ((4, *shape), dtype), key


def test_affine_follows_the_2d_augmentation(two_sessions, session_project, tmp_path):
    root = session_project(two_sessions, tmp_path, {"calibrations/sessA.toml": "sessA"})
    data = load_data(DataConfig(root=str(root)), tmp_path)
    torch.manual_seed(0)
    frames = PoseFrames(data, np.arange(8), (32, 40), augment=AugmentConfig(rotation=30, translation=0.1))
    for i in range(8):
        item = frames[i]
        affine, points = item["affine"].numpy(), item["keypoints"].numpy()
        mapped = np.einsum("vij,vkj->vki", affine[:, :, :2], data.keypoints[:, i]) + affine[:, None, :, 2]
        finite = np.isfinite(points).all(-1)
        np.testing.assert_allclose(points[finite], mapped[finite], atol=1e-3)
        assert (item["weights"].numpy() == finite).all()


def test_vertical_axis_of_a_ring_of_cameras(two_sessions):
    rig = CameraRig.from_toml(two_sessions / "rigs" / "sessA.toml")
    up = vertical_axis(rig)  # the synthetic world has z up; two cameras only roughly cancel sideways
    assert up[2] > 0.9 and abs(np.linalg.norm(up) - 1) < TOL
