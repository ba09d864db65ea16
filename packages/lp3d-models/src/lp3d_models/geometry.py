"""The calibrated camera model in torch: projection, undistortion and weighted DLT triangulation.

The same pinhole and fisheye models as :mod:`lp3d_eks.camera` (``cv2.projectPoints`` and
``cv2.fisheye.projectPoints``), differentiable and batched. A camera has intrinsics ``K``,
distortion coefficients, a lens model (``fisheye``) and the world-to-camera pose ``(R, t)``::

    X_c = R X + t,  x = X_c[0] / X_c[2],  y = X_c[1] / X_c[2],  r2 = x^2 + y^2

    pinhole, dist = (k1, k2, p1, p2, k3):
    x_d = x (1 + k1 r2 + k2 r2^2 + k3 r2^3) + 2 p1 x y + p2 (r2 + 2 x^2)
    y_d = y (1 + k1 r2 + k2 r2^2 + k3 r2^3) + p1 (r2 + 2 y^2) + 2 p2 x y

    fisheye, dist = (k1, k2, k3, k4, 0):
    theta = atan(sqrt(r2)),  theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
    (x_d, y_d) = theta_d / sqrt(r2) * (x, y)          ((x, y) itself for r2 <= 1e-16, as OpenCV)

    u = fx x_d + cx,  v = fy y_d + cy

Undistortion inverts ``(x, y) -> (x_d, y_d)`` as lp3d-eks does: for a pinhole lens three
fixed-point steps (as OpenCV), then Newton steps to machine precision; for a fisheye lens Newton
steps on ``theta_d(theta)``. They run without autograd; one last Newton step on the 2D map with
autograd gives the exact gradient at the solution (implicit differentiation:
``d(x, y) / d(x_d, y_d) = J^-1``), so the iterations cost no graph.

Triangulation (DLT, as ``lp3d_eks.CameraRig.triangulate``): each view ``v`` with weight ``w_v``
adds two rows ``w_v (x_v P_v[2] - P_v[0])`` and ``w_v (y_v P_v[2] - P_v[1])`` of ``A [X; 1] = 0``
(``P_v = [R_v | t_v]``, ``(x_v, y_v)`` undistorted); with the homogeneous coordinate fixed to 1,
least squares solves the ``3 x 3`` system ``(A^T A)[:3, :3] X = -(A^T A)[:3, 3]``. A point seen
(finite, positive weight) in fewer than two views, or whose system is degenerate (the rays
coincide: coincident cameras, a point on the baseline), is NaN. NaN inputs and degenerate systems
are replaced by harmless values *before* any operation, so the gradients of a loss that masks the
NaN results out stay finite.

Model pixels: the data pipeline maps the camera's (original) pixels to model input pixels by a
``2 x 3`` affine matrix per view (the resize and any 2D augmentation); :func:`apply_affine` and
:func:`invert_affine` move points between the two.

Shapes: cameras carry the leading dimensions ``(*batch, V)``; points ``(*batch, N, 3)`` in the
world, ``(*batch, V, N, 2)`` in pixels. Everything is computed in the cameras' dtype (float64 from
the data pipeline; float32 inputs are promoted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch

__all__ = [
    "Cameras",
    "cameras_from_batch",
    "cameras_from_rig",
    "project",
    "distort",
    "undistort",
    "triangulate",
    "apply_affine",
    "invert_affine",
]

_MIN_DEPTH = 1e-9  # |z| below this (the camera plane) projects to NaN
_MIN_CONDITION = 1e-10  # smallest / largest eigenvalue of a valid triangulation system


class Cameras(NamedTuple):
    """Calibrated cameras (OpenCV convention, ``x_cam = R X + t``).

    Attributes:
        camera_matrix: ``(*batch, V, 3, 3)`` intrinsics ``K``.
        dist_coeffs: ``(*batch, V, 5)`` ``(k1, k2, p1, p2, k3)``, or ``(k1, k2, k3, k4, 0)`` for a
            fisheye lens.
        rotation: ``(*batch, V, 3, 3)`` world-to-camera ``R``.
        translation: ``(*batch, V, 3)`` world-to-camera ``t``.
        fisheye: ``(*batch, V)`` bool, True for OpenCV's fisheye lens model; None: all pinhole.
    """

    camera_matrix: torch.Tensor
    dist_coeffs: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    fisheye: torch.Tensor | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.camera_matrix.dtype

    def to(self, *args, **kwargs) -> Cameras:
        """The cameras with every tensor moved / cast (``Tensor.to`` arguments; ``fisheye`` stays bool)."""
        K, dist, R, t = (x.to(*args, **kwargs) for x in self[:4])
        return Cameras(K, dist, R, t, None if self.fisheye is None else self.fisheye.to(K.device))


def cameras_from_batch(batch: Mapping[str, torch.Tensor]) -> Cameras:
    """The cameras of a data batch (keys ``camera_matrix``, ``dist_coeffs``, ``rotation``, ``translation``,
    and ``fisheye`` when any lens is one; without it every camera is a pinhole camera)."""
    K = batch["camera_matrix"]
    fisheye = batch.get("fisheye")
    fisheye = torch.zeros(K.shape[:-2], dtype=torch.bool, device=K.device) if fisheye is None else fisheye.bool()
    return Cameras(K, batch["dist_coeffs"], batch["rotation"], batch["translation"], fisheye)


def cameras_from_rig(rig, dtype: torch.dtype = torch.float64) -> Cameras:
    """The cameras ``(V, ...)`` of an :class:`lp3d_eks.CameraRig`."""
    stack = lambda arrays: torch.stack([torch.as_tensor(a, dtype=dtype) for a in arrays])  # noqa: E731
    cams = rig.cameras
    return Cameras(
        stack([c.matrix for c in cams]),
        stack([c.dist for c in cams]),
        stack([c.rotation for c in cams]),
        stack([c.tvec for c in cams]),
        torch.tensor([bool(getattr(c, "fisheye", False)) for c in cams]),
    )


def _common_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def distort(xy: torch.Tensor, dist_coeffs: torch.Tensor, fisheye: torch.Tensor | None = None) -> torch.Tensor:
    """Distorted normalized coordinates ``(..., 2)`` of ``xy (..., 2)`` (``dist_coeffs (..., 5)`` and
    ``fisheye (...)`` broadcast against ``xy``'s leading dimensions; None: pinhole)."""
    if fisheye is None or not bool(fisheye.any()):
        return _distort_pinhole(xy, dist_coeffs)
    if bool(fisheye.all()):
        return _distort_fisheye(xy, dist_coeffs)
    return torch.where(fisheye[..., None], _distort_fisheye(xy, dist_coeffs), _distort_pinhole(xy, dist_coeffs))


def _distort_pinhole(xy: torch.Tensor, dist_coeffs: torch.Tensor) -> torch.Tensor:
    x, y = xy[..., 0], xy[..., 1]
    k1, k2, p1, p2, k3 = dist_coeffs.unbind(-1)
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return torch.stack([xd, yd], dim=-1)


def _fisheye_scale(xy: torch.Tensor, dist_coeffs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``c = theta_d / r`` (1 at the centre), ``g = (dc/dr) / r`` and the centre mask, with finite
    gradients everywhere (the centre's branch never divides by ``r``)."""
    k1, k2, k3, k4, _ = dist_coeffs.unbind(-1)
    r2 = (xy * xy).sum(-1)
    centre = r2 <= 1e-16  # r <= 1e-8: OpenCV's cut-off
    r2 = torch.where(centre, torch.ones_like(r2), r2)
    r = torch.sqrt(r2)
    theta = torch.atan(r)
    t2 = theta * theta
    theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    slope = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
    c = theta_d / r
    g = (slope / (1.0 + r2) - c) / r2
    return torch.where(centre, torch.ones_like(c), c), torch.where(centre, torch.zeros_like(g), g), centre


def _distort_fisheye(xy: torch.Tensor, dist_coeffs: torch.Tensor) -> torch.Tensor:
    return xy * _fisheye_scale(xy, dist_coeffs)[0][..., None]


def _distort_jacobian(xy: torch.Tensor, dist_coeffs: torch.Tensor, fisheye: torch.Tensor | None = None) -> torch.Tensor:
    """``d distort / d xy``: ``(..., 2, 2)``."""
    x, y = xy[..., 0], xy[..., 1]
    k1, k2, p1, p2, k3 = dist_coeffs.unbind(-1)
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    dradial = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)  # d radial / d r2
    dxx = radial + 2.0 * x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
    dxy = 2.0 * x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
    dyx = 2.0 * x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
    dyy = radial + 2.0 * y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
    J = torch.stack([torch.stack([dxx, dxy], -1), torch.stack([dyx, dyy], -1)], -2)
    if fisheye is None or not bool(fisheye.any()):
        return J
    # fisheye: J = c I + g xy xy^T
    c, g, _ = _fisheye_scale(xy, dist_coeffs)
    eye = torch.eye(2, dtype=xy.dtype, device=xy.device)
    Jf = c[..., None, None] * eye + g[..., None, None] * xy[..., :, None] * xy[..., None, :]
    return torch.where(fisheye[..., None, None], Jf, J)


def project(points: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    """Projects world points into every camera (``cv2.projectPoints`` per view).

    Args:
        points: ``(*batch, N, 3)`` world points.
        cameras: cameras ``(*batch, V, ...)``.

    Returns:
        ``(*batch, V, N, 2)`` pixels; NaN for NaN points and points on a camera's plane ``z = 0``
        (points behind a camera project, as OpenCV's do). The gradient is finite wherever the
        points are finite.
    """
    dtype = _common_dtype(points, *cameras[:4])
    K, dist, R, t = (c.to(dtype) for c in cameras[:4])
    X = points.to(dtype).unsqueeze(-3)  # (*batch, 1, N, 3)
    Xc = X @ R.transpose(-1, -2) + t.unsqueeze(-2)  # (*batch, V, N, 3)
    z = Xc[..., 2]
    ok = z.abs() > _MIN_DEPTH
    z = torch.where(ok, z, torch.ones_like(z))
    xd = distort(Xc[..., :2] / z[..., None], dist.unsqueeze(-2), _lens(cameras))
    focal = torch.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]  # (*batch, V, 1, 2); no skew, as OpenCV
    pixels = xd * focal + K[..., None, :2, 2]
    return torch.where(ok[..., None], pixels, torch.nan)


def _lens(cameras: Cameras) -> torch.Tensor | None:
    """``(*batch, V, 1)`` fisheye flags to broadcast over points; None without fisheye lenses."""
    if cameras.fisheye is None or not bool(cameras.fisheye.any()):
        return None
    return cameras.fisheye.bool().unsqueeze(-1)


def undistort(pixels: torch.Tensor, cameras: Cameras, iterations: int = 10) -> torch.Tensor:
    """Undistorted normalized coordinates of pixels (the inverse of :func:`project`'s last steps).

    Args:
        pixels: ``(*batch, V, N, 2)``.
        cameras: cameras ``(*batch, V, ...)``.
        iterations: Newton steps after the three fixed-point steps (pinhole), or Newton steps on
            the angle (fisheye; as many again).

    Returns:
        ``(*batch, V, N, 2)`` normalized ``(x, y)`` with ``project`` giving back ``pixels``; NaN
        where ``pixels`` are, and for a fisheye pixel beyond its lens model (past 90 degrees, or
        where it folds over). The gradient is finite wherever the pixels are finite.
    """
    dtype = _common_dtype(pixels, *cameras[:4])
    K, dist = cameras.camera_matrix.to(dtype), cameras.dist_coeffs.to(dtype).unsqueeze(-2)
    fisheye = _lens(cameras)
    pixels = pixels.to(dtype)
    finite = torch.isfinite(pixels).all(-1, keepdim=True)
    principal = K[..., None, :2, 2]
    pixels = torch.where(finite, pixels, principal.expand_as(pixels).detach())  # sanitized first
    focal = torch.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]
    target = (pixels - principal) / focal
    with torch.no_grad():
        xy, d = target.detach().clone(), dist.detach()
        k1, k2, p1, p2, k3 = d.unbind(-1)
        for _ in range(3):
            x, y = xy[..., 0], xy[..., 1]
            r2 = x * x + y * y
            icdist = 1.0 / (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)))
            dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
            dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
            xy = torch.stack([(target[..., 0] - dx) * icdist, (target[..., 1] - dy) * icdist], -1)
        for _ in range(iterations):
            xy = _newton_step(xy, target.detach(), d)
        xy = torch.where(torch.isfinite(xy).all(-1, keepdim=True), xy, target.detach())
        beyond = torch.zeros_like(finite)
        if fisheye is not None:
            xy_fisheye, valid = _undistort_fisheye(target.detach(), d, 2 * iterations)
            xy = torch.where(fisheye[..., None], xy_fisheye, xy)
            beyond = fisheye[..., None] & ~valid[..., None]
    if torch.is_grad_enabled() and (target.requires_grad or dist.requires_grad):
        xy = _newton_step(xy, target, dist, fisheye)  # exact gradient at the solution
    return torch.where(finite & ~beyond, xy, torch.nan)


def _undistort_fisheye(target: torch.Tensor, dist: torch.Tensor, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fisheye undistortion without autograd: Newton's method on ``theta_d(theta) = |target|``; also
    where a ray exists (theta in [0, pi/2) on an increasing stretch of theta_d)."""
    k1, k2, k3, k4, _ = dist.unbind(-1)
    theta_d = torch.linalg.vector_norm(target, dim=-1)
    theta = theta_d.clamp(max=1.5)

    def poly(theta):
        t2 = theta * theta
        value = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        slope = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
        return value, slope

    for _ in range(iterations):
        value, slope = poly(theta)
        theta = theta - (value - theta_d) / torch.where(slope != 0, slope, torch.ones_like(slope))
    value, slope = poly(theta)
    valid = (theta >= 0) & (theta < torch.pi / 2) & (slope > 0) & ((value - theta_d).abs() <= 1e-12 * theta_d)
    valid = valid | (theta_d == 0)
    safe = torch.where(theta_d > 0, theta_d, torch.ones_like(theta_d))
    scale = torch.where(theta_d > 0, torch.tan(torch.where(valid, theta, torch.zeros_like(theta))) / safe, 1.0)
    return target * scale[..., None], valid


def _newton_step(
    xy: torch.Tensor, target: torch.Tensor, dist: torch.Tensor, fisheye: torch.Tensor | None = None
) -> torch.Tensor:
    """One Newton step on ``distort(xy) = target``; points with a singular Jacobian stay put."""
    J = _distort_jacobian(xy, dist, fisheye)
    det = J[..., 0, 0] * J[..., 1, 1] - J[..., 0, 1] * J[..., 1, 0]
    ok = torch.isfinite(det) & (det.abs() > 1e-12)
    det = torch.where(ok, det, torch.ones_like(det))
    res = distort(xy, dist, fisheye) - target
    step_x = (J[..., 1, 1] * res[..., 0] - J[..., 0, 1] * res[..., 1]) / det
    step_y = (J[..., 0, 0] * res[..., 1] - J[..., 1, 0] * res[..., 0]) / det
    step = torch.stack([step_x, step_y], -1)
    return xy - torch.where(ok[..., None], step, torch.zeros_like(step))


def triangulate(pixels: torch.Tensor, cameras: Cameras, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted DLT triangulation from any subset of views (see the module docstring).

    Args:
        pixels: ``(*batch, V, N, 2)``; NaN where a view did not see the point.
        cameras: cameras ``(*batch, V, ...)``.
        weights: ``(*batch, V, N)`` non-negative weights (e.g. confidences; a zero drops the view);
            None: one for every finite point.

    Returns:
        ``(*batch, N, 3)`` world points; NaN where fewer than two views count or the system is
        degenerate. Gradients reach ``pixels`` and ``weights`` and are finite everywhere.
    """
    dtype = _common_dtype(pixels, *cameras[:4])
    if weights is None:
        weights = torch.ones(pixels.shape[:-1], dtype=dtype, device=pixels.device)
    weights = weights.to(dtype)
    seen = torch.isfinite(pixels).all(-1) & torch.isfinite(weights) & (weights > 0)  # (*batch, V, N)
    w = torch.where(seen, weights, torch.zeros_like(weights))
    xy = undistort(pixels, cameras)
    xy = torch.where(seen[..., None], xy, torch.zeros_like(xy))
    R, t = cameras.rotation.to(dtype), cameras.translation.to(dtype)
    P = torch.cat([R, t[..., None]], -1).unsqueeze(-3)  # (*batch, V, 1, 3, 4)
    r0 = w[..., None] * (xy[..., 0:1] * P[..., 2, :] - P[..., 0, :])  # (*batch, V, N, 4)
    r1 = w[..., None] * (xy[..., 1:2] * P[..., 2, :] - P[..., 1, :])
    AtA = (r0[..., :, None] * r0[..., None, :] + r1[..., :, None] * r1[..., None, :]).sum(-4)  # (*batch, N, 4, 4)
    M, b = AtA[..., :3, :3], -AtA[..., :3, 3]
    with torch.no_grad():
        eig = torch.linalg.eigvalsh(torch.where(torch.isfinite(M), M, torch.zeros_like(M)))
        valid = (seen.sum(-2) >= 2) & (eig[..., 0] > _MIN_CONDITION * eig[..., 2].clamp(min=1e-300))
    eye = torch.eye(3, dtype=dtype, device=M.device).expand_as(M)
    M = torch.where(valid[..., None, None], M, eye)
    b = torch.where(valid[..., None], b, torch.zeros_like(b))
    X = torch.linalg.solve(M, b)
    return torch.where(valid[..., None], X, torch.nan)


def apply_affine(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Maps points ``(*batch, V, N, 2)`` by per-view ``2 x 3`` matrices ``(*batch, V, 2, 3)``."""
    dtype = _common_dtype(points, affine)
    A = affine.to(dtype)
    return points.to(dtype) @ A[..., :2].transpose(-1, -2) + A[..., None, :, 2]


def invert_affine(affine: torch.Tensor) -> torch.Tensor:
    """The inverse ``(..., 2, 3)`` of ``2 x 3`` affine matrices ``(..., 2, 3)``."""
    inv = torch.linalg.inv(affine[..., :2])
    return torch.cat([inv, -(inv @ affine[..., 2:])], -1)
