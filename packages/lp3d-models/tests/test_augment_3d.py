"""3D augmentation: the moved labels are projections of one moved pose, and the warped pictures follow them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lp3d_models.augment_3d import augment_3d, fit_affine, project_valid
from lp3d_models.config import AugmentConfig, DataConfig, GeometryConfig
from lp3d_models.data import PoseFrames, load_data

TOL = 1e-3  # pixels (and relative, for the similarity)
SIZE = 160


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-view synthetic session, 160 x 160, 16 labeled frames, calibration.toml at the root."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    root = tmp_path_factory.mktemp("augment-3d")
    write_session(
        make_session(SyntheticConfig(n_views=3, image_size=(SIZE, SIZE), n_frames=32, seed=5)),
        root,
        labeled_frames=16,
    )
    return root


@pytest.fixture(scope="module")
def data(session, tmp_path_factory):
    return load_data(DataConfig(root=str(session)), tmp_path_factory.mktemp("run"))


def marker_centre(image: np.ndarray, point: np.ndarray, colour: np.ndarray, radius: int = 5) -> np.ndarray | None:
    """The centroid of the pixels of ``colour`` within ``radius`` of ``point`` (None: fewer than 3)."""
    x0, y0 = np.rint(point).astype(int)
    ys, xs = np.mgrid[max(0, y0 - radius) : y0 + radius + 1, max(0, x0 - radius) : x0 + radius + 1]
    inside = (ys < image.shape[0]) & (xs < image.shape[1])
    ys, xs = ys[inside], xs[inside]
    near = np.linalg.norm(image[ys, xs] - colour, axis=-1) < 60
    return np.array([xs[near].mean(), ys[near].mean()]) if near.sum() >= 3 else None


def test_markers_land_on_the_new_labels(session, data):
    """The renderer paints each keypoint as a disc of its own colour: after the 3D augmentation the
    discs of the visible keypoints are where the new labels say, not where the old ones were."""
    from lp3d_io.synthetic import get_skeleton

    truth = np.load(session / "truth.npz")
    visible = truth["visible"][:, truth["labeled_frames"]]
    colours = get_skeleton("quadruped").joint_color.astype(np.float64)
    geometry = GeometryConfig(enabled=True, augment_probability=1.0)
    frames = PoseFrames(data, np.arange(data.n_frames), (SIZE, SIZE), AugmentConfig(enabled=False), geometry=geometry)
    torch.manual_seed(0)
    errors, at_old, moved, augmented = [], [], [], 0
    for i in range(data.n_frames):
        item = frames[i]
        images = item["images"].numpy().transpose(0, 2, 3, 1) * 255.0
        new, old = item["keypoints"].numpy(), data.keypoints[:, i]
        augmented += int(np.nanmax(np.abs(new - old)) > 0.5)
        for v, k in zip(*np.nonzero(visible[:, i] & np.isfinite(new).all(-1) & np.isfinite(old).all(-1)), strict=True):
            centre = marker_centre(images[v], new[v, k], colours[k])
            errors.append(np.inf if centre is None else np.linalg.norm(centre - new[v, k]))
            moved.append(np.linalg.norm(new[v, k] - old[v, k]))
            if moved[-1] > 8:  # far moved: the disc has left the old position
                at_old.append(marker_centre(images[v], old[v, k], colours[k], radius=2))
    errors, moved = np.array(errors), np.array(moved)
    assert augmented >= 0.75 * data.n_frames
    assert np.median(moved) > 3.0  # the labels did move
    assert np.median(errors) < 0.6 and np.percentile(errors, 95) < 1.5 and errors.max() < 2.5, errors
    assert len(at_old) > 20 and all(c is None for c in at_old), at_old


def _back_to_camera(item: dict) -> np.ndarray:
    """The labels in original pixels (through the inverse of ``affine``)."""
    affine = np.concatenate([item["affine"].numpy(), np.tile([[[0.0, 0.0, 1.0]]], (3, 1, 1))], axis=1)
    inverse = np.linalg.inv(affine)[:, :2]
    points = item["keypoints"].numpy().astype(np.float64)
    return np.einsum("vij,vkj->vki", inverse[:, :, :2], points) + inverse[:, None, :, 2]


def test_labels_are_projections_of_one_moved_pose(data):
    """With a resize and the 2D augmentation too: undoing ``affine`` gives pixels of the real cameras
    that triangulate to a similarity of the labeled pose (distances all scaled by one factor, the
    vertical kept vertical) and reproject onto themselves."""
    geometry = GeometryConfig(enabled=True, augment_probability=1.0, rotation=30.0, vertical=[0.0, 0.0, 1.0])
    frames = PoseFrames(data, np.arange(data.n_frames), (96, 112), AugmentConfig(), geometry=geometry)
    rig, up = data.rigs["synthetic"], np.array([0.0, 0.0, 1.0])
    torch.manual_seed(1)
    checked = 0
    for i in range(data.n_frames):
        item = frames[i]
        pixels = _back_to_camera(item)
        before = rig.triangulate(data.keypoints[:, i].astype(np.float64))
        after = rig.triangulate(pixels)
        both = np.isfinite(before).all(-1) & np.isfinite(after).all(-1)
        if both.sum() < 4 or np.abs(after[both] - before[both]).max() < 1.0:
            continue
        reprojected = rig.project(after)
        finite = np.isfinite(pixels).all(-1) & np.isfinite(after).all(-1)  # seen in two views or more
        np.testing.assert_allclose(reprojected[finite], pixels[finite], atol=TOL)
        a, b = before[both], after[both]
        da, db = a[:, None] - a[None], b[:, None] - b[None]
        ratio = (
            np.linalg.norm(db, axis=-1)[np.triu_indices(len(a), 1)]
            / np.linalg.norm(da, axis=-1)[np.triu_indices(len(a), 1)]
        )
        assert np.ptp(ratio) < TOL * ratio.mean() and 0.9 - TOL < ratio.mean() < 1.1 + TOL
        np.testing.assert_allclose(db @ up, ratio.mean() * (da @ up), atol=1e-6 * np.abs(da).max())
        checked += 1
    assert checked >= data.n_frames // 2


def test_deterministic_with_a_seeded_rng(data):
    frames = PoseFrames(data, np.arange(4), (96, 96), AugmentConfig(), geometry=GeometryConfig(enabled=True))
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append([frames[i] for i in range(4)])
    for a, b in zip(*runs, strict=True):
        for key in ("images", "keypoints", "weights", "affine"):
            assert torch.equal(a[key].nan_to_num(-1), b[key].nan_to_num(-1)), key


@pytest.mark.parametrize(
    "geometry",
    [
        GeometryConfig(enabled=True, augment_probability=0.0),
        GeometryConfig(enabled=True, augment_probability=1.0, min_points=50),
        GeometryConfig(enabled=True, augment_probability=1.0, augment_3d=False),
        GeometryConfig(enabled=False, augment_probability=1.0),
    ],
    ids=["probability-0", "too-few-points", "augment_3d-off", "geometry-off"],
)
def test_samples_left_as_they_are(data, geometry):
    frames = PoseFrames(data, np.arange(4), (SIZE, SIZE), AugmentConfig(enabled=False), geometry=geometry)
    torch.manual_seed(0)
    for i in range(4):
        np.testing.assert_array_equal(frames[i]["keypoints"].numpy(), data.keypoints[:, i])


def test_keypoints_moved_out_of_the_image_become_unlabeled(data):
    rig = data.rigs["synthetic"]
    config = GeometryConfig(enabled=True, rotation=0.0, scale=0.0, translation=3.0)
    sizes = np.full((3, 2), float(SIZE))
    rng, lost = np.random.default_rng(0), 0
    for i in range(data.n_frames):
        points = data.keypoints[:, i].astype(np.float64)
        weights = np.isfinite(points).all(-1).astype(np.float64)
        out = augment_3d(points, weights, rig, sizes, rng, config, np.array([0, 0, 1.0]), np.full(3, 1e6))
        assert out is not None
        finite = np.isfinite(out.keypoints).all(-1)
        assert ((out.keypoints[finite] >= -0.5) & (out.keypoints[finite] <= SIZE - 0.5)).all()
        assert (out.weights[~finite] == 0).all() and (out.weights[finite] == 1).all()
        lost += int((~finite & (weights > 0)).sum())
    assert lost > 0


def test_fit_affine_and_projection_validity(data):
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 100, (6, 2))
    matrix = np.array([[0.9, -0.2, 5.0], [0.3, 1.1, -7.0]])
    np.testing.assert_allclose(fit_affine(source, source @ matrix[:, :2].T + matrix[:, 2]), matrix, atol=1e-9)
    assert fit_affine(source[:2], source[:2]) is None  # too few points
    line = np.stack([np.arange(5.0), 2 * np.arange(5.0)], axis=1)
    assert fit_affine(line, line) is None  # collinear
    rig = data.rigs["synthetic"]
    camera = rig.cameras[0]
    centre = -camera.rotation.T @ camera.tvec
    behind = centre - 100.0 * camera.rotation[2]  # 100 mm behind camera 0, in front of the others maybe
    far_side = centre + 50.0 * camera.rotation[2] + 400.0 * camera.rotation[0]  # far outside the lens's range
    out = project_valid(rig, np.stack([behind, far_side, np.zeros(3)]))
    assert np.isnan(out[0, 0]).all() and np.isnan(out[0, 1]).all() and np.isfinite(out[0, 2]).all()
