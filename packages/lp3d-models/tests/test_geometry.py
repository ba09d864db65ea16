"""The torch camera model (pinhole and fisheye lenses) against lp3d-eks and OpenCV: projection,
undistortion, triangulation, and finite gradients where the geometry gives nothing (NaN, one view,
coincident cameras, the centre of a fisheye lens)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from lp3d_eks import Camera, CameraRig
from lp3d_eks.camera import matrix_to_rodrigues
from lp3d_io.synthetic import make_rig
from lp3d_models.geometry import (
    Cameras,
    apply_affine,
    cameras_from_rig,
    invert_affine,
    project,
    triangulate,
    undistort,
)

TOL = 1e-4  # pixels, normalized coordinates and world units alike (float64 throughout)

FLY = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "eks" / "fly" / "calibration.toml"


def _hand_rig() -> CameraRig:
    """Three cameras with every distortion coefficient nonzero, looking at the origin from ~1 m."""
    cams = []
    for i, (rvec, tvec) in enumerate(
        [
            ([0.1, -0.2, 0.05], [10.0, -5.0, 1000.0]),
            ([0.3, 1.2, -0.1], [-20.0, 8.0, 950.0]),
            ([-0.4, -1.0, 0.2], [5.0, 12.0, 1100.0]),
        ]
    ):
        K = [[800.0 + 30 * i, 0.0, 320.0 + i], [0.0, 790.0 + 20 * i, 240.0 - i], [0.0, 0.0, 1.0]]
        dist = [-0.2 + 0.05 * i, 0.08, 1e-3 * (i + 1), -2e-3, 0.01]
        cams.append(Camera(f"hand{i}", (640, 480), K, dist, rvec, tvec))
    return CameraRig(tuple(cams))


def _fisheye_rig() -> CameraRig:
    """Four wide-angle cameras on a ring, three with fisheye lenses (OpenCV's model), one pinhole."""
    cams = []
    for i, (k, fisheye) in enumerate(
        [
            ([0.08, -0.03, 0.006, -0.004], True),
            ([-0.04, 0.02, -0.008, 0.003], True),
            ([-0.2, 0.08, 1e-3, -2e-3, 0.01], False),
            ([0.02, 0.01, 0.004, -0.008], True),
        ]
    ):
        angle = np.pi / 2 * i + 0.1
        centre = 700.0 * np.array([np.cos(angle), np.sin(angle), 0.4])
        z = -centre / np.linalg.norm(centre)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        K = [[300.0 + 10 * i, 0.0, 320.0 + i], [0.0, 298.0 + 10 * i, 240.0 - i], [0.0, 0.0, 1.0]]
        cams.append(Camera(f"fish{i}", (640, 480), K, k, matrix_to_rodrigues(R), -R @ centre, fisheye=fisheye))
    return CameraRig(tuple(cams))


def _rigs() -> list:
    rigs = [
        pytest.param(make_rig(4, (96, 96), seed=2, distortion=0.3), 60.0, id="synthetic"),
        pytest.param(_hand_rig(), 150.0, id="hand"),
        pytest.param(_fisheye_rig(), 300.0, id="fisheye"),
    ]
    if FLY.resolve().is_file():
        rigs.append(pytest.param(CameraRig.from_toml(FLY.resolve()), 0.5, id="fly"))
    else:
        rigs.append(pytest.param(None, 0.0, id="fly", marks=pytest.mark.skip(reason=f"not found: {FLY.resolve()}")))
    return rigs


def _points(rig: CameraRig, extent: float, n: int, seed: int = 0) -> np.ndarray:
    """``n`` world points in a cube of half-side ``extent`` around where the cameras look (the
    triangulated principal points)."""
    principal = np.stack([cam.matrix[:2, 2] for cam in rig.cameras])[:, None]
    rng = np.random.default_rng(seed)
    return rng.uniform(-extent, extent, (n, 3)) + rig.triangulate(principal)


@pytest.mark.parametrize(("rig", "extent"), _rigs())
def test_project_matches_lp3d_eks_and_opencv(rig, extent):
    X = _points(rig, extent, 50)
    ours = project(torch.from_numpy(X), cameras_from_rig(rig)).numpy()  # (V, N, 2)
    np.testing.assert_allclose(ours, rig.project(X), rtol=0, atol=TOL)
    for v, cam in enumerate(rig.cameras):
        if cam.fisheye:
            uv, _ = cv2.fisheye.projectPoints(X[:, None], cam.rvec, cam.tvec, cam.matrix, cam.dist[:4])
        else:
            uv, _ = cv2.projectPoints(X, cam.rvec, cam.tvec, cam.matrix, cam.dist)
        np.testing.assert_allclose(ours[v], uv[:, 0], rtol=0, atol=TOL)


@pytest.mark.parametrize(("rig", "extent"), _rigs())
def test_undistort_inverts_project(rig, extent):
    X = torch.from_numpy(_points(rig, extent, 50, seed=1))
    cams = cameras_from_rig(rig)
    pixels = project(X, cams)
    xy = undistort(pixels, cams).numpy()
    Xc = X @ cams.rotation.transpose(-1, -2) + cams.translation[:, None]
    truth = (Xc[..., :2] / Xc[..., 2:]).numpy()
    # Where the lens folds over (r (1 + k1 r^2 + ...) no longer grows with r: the fly's strongest
    # lens, beyond the middle of its picture) a pixel has two preimages; compare inside the fold.
    r2 = (truth**2).sum(-1)
    k1, k2, _, _, k3 = (cams.dist_coeffs.numpy()[:, i, None] for i in range(5))
    inside = (1 + 3 * k1 * r2 + 5 * k2 * r2**2 + 7 * k3 * r2**3 > 0.1) | cams.fisheye.numpy()[:, None]
    assert inside.mean() > 0.8
    np.testing.assert_allclose(xy[inside], truth[inside], rtol=0, atol=TOL * 1e-3)
    reference = np.stack([cam.undistort(p) for cam, p in zip(rig.cameras, pixels.numpy(), strict=True)])
    np.testing.assert_allclose(xy[inside], reference[inside], rtol=0, atol=TOL * 1e-3)


def _synthetic() -> tuple[CameraRig, Cameras, torch.Tensor]:
    rig = make_rig(4, (96, 96), seed=2, distortion=0.3)
    return rig, cameras_from_rig(rig), torch.from_numpy(_points(rig, 60.0, 20, seed=2))


def test_triangulate_exact_projections_all_views_subsets_and_weights():
    rig, cams, X = _synthetic()
    pixels = project(X, cams)
    np.testing.assert_allclose(triangulate(pixels, cams).numpy(), X.numpy(), atol=TOL)
    for views in ([0, 1], [1, 3], [0, 2, 3]):
        hidden = pixels.clone()
        hidden[[v for v in range(4) if v not in views]] = torch.nan
        np.testing.assert_allclose(triangulate(hidden, cams).numpy(), X.numpy(), atol=TOL)
        weights = torch.zeros(4, 20, dtype=torch.float64)
        weights[views] = 1.0
        np.testing.assert_allclose(triangulate(pixels, cams, weights).numpy(), X.numpy(), atol=TOL)
    weights = torch.from_numpy(np.random.default_rng(3).uniform(0.1, 1.0, (4, 20)))
    np.testing.assert_allclose(triangulate(pixels, cams, weights).numpy(), X.numpy(), atol=TOL)


def test_weighted_triangulation_of_noisy_points_matches_lp3d_eks():
    rig, cams, X = _synthetic()
    rng = np.random.default_rng(4)
    pixels = project(X, cams) + torch.from_numpy(rng.normal(0.0, 1.0, (4, 20, 2)))
    pixels[0, :5] = torch.nan
    weights = torch.from_numpy(rng.uniform(0.0, 1.0, (4, 20)))
    ours = triangulate(pixels, cams, weights).numpy()
    np.testing.assert_allclose(ours, rig.triangulate(pixels.numpy(), weights.numpy()), atol=TOL)


def test_batched_cameras_and_points():
    _, cams, X = _synthetic()
    other = Cameras(*(t.clone() for t in cams))
    other.translation[:] += torch.tensor([5.0, -3.0, 10.0], dtype=torch.float64)
    batch = Cameras(*(torch.stack([a, b]) for a, b in zip(cams, other, strict=True)))  # (2, V, ...)
    points = torch.stack([X, X + 1.0])  # (2, N, 3)
    pixels = project(points, batch)
    assert pixels.shape == (2, 4, 20, 2)
    np.testing.assert_allclose(pixels[0].numpy(), project(X, cams).numpy(), atol=TOL)
    np.testing.assert_allclose(pixels[1].numpy(), project(X + 1.0, other).numpy(), atol=TOL)
    np.testing.assert_allclose(triangulate(pixels, batch).numpy(), points.numpy(), atol=TOL)


def test_fewer_than_two_views_or_coincident_cameras_give_nan():
    _, cams, X = _synthetic()
    pixels = project(X, cams)
    one = pixels.clone()
    one[1:] = torch.nan
    assert torch.isnan(triangulate(one, cams)).all()
    assert torch.isnan(triangulate(pixels, cams, torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(20, 4).T)).all()
    same = Cameras(*(t[:1].expand(2, *t.shape[1:]) for t in cams))  # one camera twice
    assert torch.isnan(triangulate(project(X, same), same)).all()


def _finite_grads(pixels: torch.Tensor, cams: Cameras, weights: torch.Tensor | None = None) -> torch.Tensor:
    pixels = pixels.clone().requires_grad_(True)
    if weights is not None:
        weights = weights.clone().requires_grad_(True)
    X = triangulate(pixels, cams, weights)
    torch.where(torch.isfinite(X), X, 0.0).sum().backward()
    assert torch.isfinite(pixels.grad).all()
    if weights is not None:
        assert torch.isfinite(weights.grad).all()
    return X


def test_gradients_are_finite_where_the_geometry_gives_nothing():
    _, cams, X = _synthetic()
    pixels = project(X, cams)
    pixels[:, :3] = torch.nan  # unlabeled everywhere
    pixels[1:, 3:6] = torch.nan  # one valid view
    weights = torch.ones(4, 20, dtype=torch.float64)
    weights[2:, 6:9] = 0.0
    out = _finite_grads(pixels, cams, weights)
    assert torch.isnan(out[:6]).all() and torch.isfinite(out[6:]).all()
    same = Cameras(*(t[:1].expand(3, *t.shape[1:]) for t in cams))  # coincident cameras
    _finite_grads(project(X, same), same)
    # Collinear cameras with the points on their common axis: every ray is the same line.
    centres = torch.tensor([[0.0, 0.0, -500.0], [0.0, 0.0, -700.0]], dtype=torch.float64)
    line = Cameras(
        cams.camera_matrix[:2], cams.dist_coeffs[:2], torch.eye(3, dtype=torch.float64).expand(2, 3, 3), -centres
    )
    on_axis = torch.tensor([[0.0, 0.0, z] for z in (0.0, 10.0, 20.0)], dtype=torch.float64)
    assert torch.isnan(_finite_grads(project(on_axis, line), line)).all()


def test_gradients_match_finite_differences():
    _, cams, X = _synthetic()
    pixels = (project(X[:3], cams) + 0.3).requires_grad_(True)
    weights = torch.full((4, 3), 0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, w: triangulate(p, cams, w), (pixels, weights), atol=1e-6)
    assert torch.autograd.gradcheck(lambda p: undistort(p, cams), (pixels,), atol=1e-6)


def test_fisheye_undistortion_matches_opencv_and_triangulation_is_exact():
    rig = _fisheye_rig()
    cams = cameras_from_rig(rig)
    X = torch.from_numpy(_points(rig, 300.0, 40, seed=6))
    pixels = project(X, cams)
    xy = undistort(pixels, cams).numpy()
    for v, cam in enumerate(rig.cameras):
        if cam.fisheye:
            ref = cv2.fisheye.undistortPoints(pixels[v].numpy()[:, None], cam.matrix, cam.dist[:4])[:, 0]
            np.testing.assert_allclose(xy[v], ref, rtol=0, atol=TOL * 1e-3)
    np.testing.assert_allclose(triangulate(pixels, cams).numpy(), X.numpy(), atol=TOL)
    np.testing.assert_allclose(rig.triangulate(pixels.numpy()), X.numpy(), atol=TOL)


def test_fisheye_gradients_match_finite_differences_and_are_finite_at_the_centre():
    rig = _fisheye_rig()
    cams = cameras_from_rig(rig)
    X = torch.from_numpy(_points(rig, 300.0, 3, seed=7))
    pixels = (project(X, cams) + 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: undistort(p, cams), (pixels,), atol=1e-6)
    points = X.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: project(x, cams), (points,), atol=1e-6)
    centre = torch.stack([cams.camera_matrix[:, 0, 2], cams.camera_matrix[:, 1, 2]], -1)[:, None]
    centre = centre.clone().requires_grad_(True)  # the principal points: r = 0
    undistort(centre, cams).sum().backward()
    assert torch.isfinite(centre.grad).all()
    on_axis = (-cams.rotation[0].T @ cams.translation[0] + 500 * cams.rotation[0, 2])[None].requires_grad_(True)
    project(on_axis, cams).sum().backward()
    assert torch.isfinite(on_axis.grad).all()


def test_affine_round_trip():
    rng = np.random.default_rng(5)
    affine = torch.from_numpy(
        np.concatenate([rng.normal(size=(3, 2, 2)) + 2 * np.eye(2), rng.normal(size=(3, 2, 1))], -1)
    )
    points = torch.from_numpy(rng.normal(size=(3, 7, 2)))
    np.testing.assert_allclose(
        apply_affine(apply_affine(points, affine), invert_affine(affine)).numpy(), points.numpy(), atol=TOL
    )
