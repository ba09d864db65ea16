"""Camera model: OpenCV agreement (pinhole and fisheye), TOML round trips, ordering and strictness,
DLT and robust triangulation."""

import numpy as np
import pytest
from lp3d_eks import Camera, CameraRig
from lp3d_eks.camera import matrix_to_rodrigues, rodrigues_to_matrix
from simulate import ring_rig

cv2 = pytest.importorskip("cv2")
TOL = 1e-6


def _points(rng, n=200, scale=40.0):
    return rng.uniform(-scale, scale, size=(n, 3))


def _in_view(cam, rng, n=300, max_angle_deg=60.0):
    """World points seen by ``cam`` at up to ``max_angle_deg`` off its axis, 100-600 mm deep."""
    theta = np.deg2rad(max_angle_deg) * np.sqrt(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    Xc = rng.uniform(100, 600, (n, 1)) * np.stack(
        [np.tan(theta) * np.cos(phi), np.tan(theta) * np.sin(phi), np.ones(n)], -1
    )
    return (Xc - cam.tvec) @ cam.rotation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fisheye_projection_and_undistortion_match_opencv(seed):
    rng = np.random.default_rng(seed)
    for cam in ring_rig(4, seed=seed, fisheye=True).cameras:
        assert cam.fisheye
        X = _in_view(cam, rng)
        ref = cv2.fisheye.projectPoints(X[:, None], cam.rvec, cam.tvec, cam.matrix, cam.dist[:4])[0][:, 0]
        uv = cam.project(X)
        np.testing.assert_allclose(uv, ref, atol=TOL)
        # undistortion: OpenCV's, and the exact normalized coordinates (in pixels: times the focal length)
        xy = cam.undistort(uv)
        ref = cv2.fisheye.undistortPoints(uv[:, None], cam.matrix, cam.dist[:4])[:, 0]
        np.testing.assert_allclose(xy * cam.matrix[0, 0], ref * cam.matrix[0, 0], atol=TOL)
        Xc = X @ cam.rotation.T + cam.tvec
        np.testing.assert_allclose(xy * cam.matrix[0, 0], Xc[:, :2] / Xc[:, 2:] * cam.matrix[0, 0], atol=TOL)


def test_fisheye_jacobian_matches_finite_differences():
    rng = np.random.default_rng(7)
    cam = ring_rig(3, seed=7, fisheye=True).cameras[1]
    on_axis = -cam.rotation.T @ cam.tvec + 300 * cam.rotation[2]
    _assert_jacobian_matches_finite_differences(cam, np.concatenate([_in_view(cam, rng, 40), [on_axis]]), eps=1e-4)


def test_triangulating_exact_fisheye_projections_gives_the_points():
    rng = np.random.default_rng(8)
    rig = ring_rig(4, seed=8, fisheye=[True, False, True, True])  # a mixed rig
    X = _points(rng, 300, scale=120.0)
    np.testing.assert_allclose(rig.triangulate(rig.project(X)), X, atol=1e-8)


def test_projection_matches_opencv_on_ring_rig():
    rng = np.random.default_rng(0)
    rig = ring_rig(4, seed=1)
    _assert_projection_matches_opencv(rig, _points(rng))


def test_projection_matches_opencv_on_fly_calibration(fly_dir):
    rig = CameraRig.from_toml(fly_dir / "calibration.toml")
    assert rig.names == ["Cam-A", "Cam-B", "Cam-C"]
    rng = np.random.default_rng(1)
    # around where the fly is in this rig's world frame
    _assert_projection_matches_opencv(rig, np.array([-1.75, -0.33, 3.5]) + rng.normal(0, 0.1, size=(200, 3)))


def _assert_projection_matches_opencv(rig: CameraRig, X: np.ndarray) -> None:
    for cam in rig.cameras:
        ref = cv2.projectPoints(X, cam.rvec, cam.tvec, cam.matrix, cam.dist)[0].reshape(-1, 2)
        np.testing.assert_allclose(cam.project(X), ref, atol=TOL)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(2)
    _assert_jacobian_matches_finite_differences(ring_rig(3, seed=2).cameras[0], _points(rng, 20), eps=1e-5)


def _assert_jacobian_matches_finite_differences(cam: Camera, X: np.ndarray, eps: float) -> None:
    _, J = cam.project_with_jacobian(X)
    for d in range(3):
        dx = np.zeros(3)
        dx[d] = eps
        num = (cam.project(X + dx) - cam.project(X - dx)) / (2 * eps)
        np.testing.assert_allclose(J[..., d], num, rtol=1e-5, atol=1e-6)


def test_rodrigues_matches_opencv():
    rng = np.random.default_rng(3)
    for _ in range(20):
        r = rng.normal(size=3)
        np.testing.assert_allclose(rodrigues_to_matrix(r), cv2.Rodrigues(r)[0], atol=1e-12)
        np.testing.assert_allclose(
            rodrigues_to_matrix(matrix_to_rodrigues(rodrigues_to_matrix(r))), rodrigues_to_matrix(r), atol=1e-10
        )


def test_undistort_inverts_projection():
    rng = np.random.default_rng(4)
    cam = ring_rig(3, seed=4).cameras[1]
    X = _points(rng)
    Xc = X @ cam.rotation.T + cam.tvec
    np.testing.assert_allclose(cam.undistort(cam.project(X)), Xc[:, :2] / Xc[:, 2:], atol=1e-12)


def test_triangulate_exact_projections_and_missing_views():
    rng = np.random.default_rng(5)
    rig = ring_rig(4, seed=5)
    X = _points(rng, 50).reshape(10, 5, 3)
    uv = rig.project(X)
    np.testing.assert_allclose(rig.triangulate(uv), X, atol=1e-8)
    uv[0, 0] = np.nan  # one view missing: still exact
    uv[1:, 1, 0] = np.nan  # only one view left: NaN
    out = rig.triangulate(uv)
    np.testing.assert_allclose(out[0, 1:], X[0, 1:], atol=1e-8)
    np.testing.assert_allclose(out[0, 0], X[0, 0], atol=1e-8)
    assert np.isnan(out[1, 0]).all()


def test_toml_round_trip_and_ordering(tmp_path):
    rig = ring_rig(3, seed=6)
    cams = list(rig.cameras)
    # write sections out of order with a two-digit number: cam_10 must come after cam_2
    text = ""
    for number, cam in zip([2, 10, 0], cams, strict=True):
        text += f"[cam_{number}]\n"
        for key, value in cam.to_dict().items():
            text += f"{key} = {value!r}\n".replace("'", '"')
    text += "[metadata]\nadjusted = false\n"
    path = tmp_path / "calibration.toml"
    path.write_text(text)
    loaded = CameraRig.from_toml(path)
    assert loaded.names == [cams[2].name, cams[0].name, cams[1].name]
    out = tmp_path / "out.toml"
    loaded.to_toml(out)
    again = CameraRig.from_toml(out)
    assert again.names == loaded.names
    assert again.metadata == {"adjusted": False}
    for a, b in zip(again.cameras, loaded.cameras, strict=True):
        np.testing.assert_allclose(a.matrix, b.matrix)
        np.testing.assert_allclose(a.dist, b.dist)
        np.testing.assert_allclose(a.rvec, b.rvec)
        np.testing.assert_allclose(a.tvec, b.tvec)
        assert a.size == b.size


def test_fisheye_toml_round_trip(tmp_path):
    rig = ring_rig(3, seed=9, fisheye=[True, False, True])
    rig.to_toml(tmp_path / "calibration.toml")
    text = (tmp_path / "calibration.toml").read_text()
    assert text.count("fisheye = true") == 2
    again = CameraRig.from_toml(tmp_path / "calibration.toml")
    assert [c.fisheye for c in again.cameras] == [True, False, True]
    for a, b in zip(again.cameras, rig.cameras, strict=True):
        np.testing.assert_allclose(a.dist, b.dist)
    X = _points(np.random.default_rng(9), 20)
    np.testing.assert_allclose(again.project(X), rig.project(X), atol=TOL)


CAM0 = "[cam_0]\nname='a'\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\nrotation=[0,0,0]\ntranslation=[0,0,0]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CAM0 + "distortions=[0,0,0,0,0]\nfisheye=true\n",
            r"\[cam_0\] expected 4 fisheye distortion coefficients \(k1, k2, k3, k4\), but got 5",
        ),
        (CAM0 + "distortions=[0,0,0]\nfisheye=true\n", "expected 4 fisheye distortion coefficients"),
        (CAM0 + "distortions=[0,0,0,0]\nfisheye='yes'\n", "expected fisheye to be true or false"),
        (CAM0 + "distortions=[0,0,0,0,0,0,0,0]\n", "expected up to 5 distortion coefficients"),
        (
            CAM0 + "distortions=[0,0,0,0,0]\nskew=0.1\n",
            r"\[cam_0\] expected fields .* but got skew, which lp3d cannot use",
        ),
        (CAM0 + "distortions=[0,0,0,0,0]\n[extra]\nx=1\n", "but got 'extra', which lp3d cannot use"),
    ],
)
def test_calibration_fields_lp3d_cannot_honour_are_errors(tmp_path, text, message):
    path = tmp_path / "calibration.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        CameraRig.from_toml(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[cam_0]\nname='a'\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\ndistortions=[0,0,0,0,0]\nrotation=[0,0,0]\n",
            r"\[cam_0\] is missing field\(s\) translation",
        ),
        ("[metadata]\nerror=1.0\n", r"expected \[cam_0\]"),
        ("[cam_0\n", "not a valid TOML"),
        (
            "[cam_0]\nname='a'\nmatrix=[[1,0],[0,1]]\ndistortions=[0]\nrotation=[0,0,0]\ntranslation=[0,0,0]\n",
            "3x3 intrinsic",
        ),
        (
            "[cam_0]\nname='a'\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\ndistortions=[0]\nrotation=[0,0]\ntranslation=[0,0,0]\n",
            "rotation: expected 3",
        ),
    ],
)
def test_bad_calibration_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        CameraRig.from_toml(path)


def test_duplicate_camera_names():
    cam = ring_rig(2).cameras[0]
    with pytest.raises(ValueError, match="more than once"):
        CameraRig((cam, cam))


def test_missing_calibration_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="calibration file not found"):
        CameraRig.from_toml(tmp_path / "nope.toml")


def test_camera_validates_intrinsics():
    with pytest.raises(ValueError, match="positive focal"):
        Camera("c", (10, 10), np.zeros((3, 3)), [0] * 5, [0, 0, 0], [0, 0, 1])
