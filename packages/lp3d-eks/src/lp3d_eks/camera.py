"""Calibrated cameras: OpenCV's pinhole and fisheye models, read from anipose TOML.

A :class:`Camera` holds what an anipose calibration file stores for one camera: image size,
intrinsic matrix ``K``, distortion coefficients, the lens model (``fisheye``), and the
world-to-camera pose as a Rodrigues vector ``rvec`` and translation ``tvec``. Projection is exactly
what ``cv2.projectPoints(X, rvec, tvec, K, dist)`` computes for a pinhole camera, and
``cv2.fisheye.projectPoints(X, rvec, tvec, K, dist[:4])`` for a fisheye one (the C++ core
evaluates both)::

    X_c = R(rvec) X + tvec,  x = X_c[0] / X_c[2],  y = X_c[1] / X_c[2],  r2 = x^2 + y^2

    pinhole, dist = (k1, k2, p1, p2, k3):
    x_d = x (1 + k1 r2 + k2 r2^2 + k3 r2^3) + 2 p1 x y + p2 (r2 + 2 x^2)
    y_d = y (1 + k1 r2 + k2 r2^2 + k3 r2^3) + p1 (r2 + 2 y^2) + 2 p2 x y

    fisheye, dist = (k1, k2, k3, k4, 0):
    theta = atan(sqrt(r2)),  theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
    (x_d, y_d) = theta_d / sqrt(r2) * (x, y)

    u = fx x_d + cx,  v = fy y_d + cy        (K[0, 1], the skew, is not used: as OpenCV)

A :class:`CameraRig` is an ordered tuple of cameras. Anipose files name sections ``cam_0``,
``cam_1``, ...; they are ordered by that number (``cam_10`` after ``cam_2``). A camera section
holds ``name``, ``size``, ``matrix``, ``distortions``, ``rotation``, ``translation`` and, for a
fisheye lens, ``fisheye = true`` with four distortion coefficients; any other field or section
(besides ``[metadata]``) is an error, never silently ignored.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lp3d_eks import _core

__all__ = ["Camera", "CameraRig", "rodrigues_to_matrix", "matrix_to_rodrigues"]

_CAM_SECTION = re.compile(r"^cam_(\d+)$")
_CAM_FIELDS = ("name", "size", "matrix", "distortions", "rotation", "translation", "fisheye")


def rodrigues_to_matrix(rvec: Sequence[float]) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` of a Rodrigues (axis * angle) vector, as ``cv2.Rodrigues``."""
    r = np.asarray(rvec, dtype=np.float64).reshape(3)
    theta = float(np.linalg.norm(r))
    if theta < 1e-15:
        return np.eye(3)
    k = r / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * kx + (1.0 - math.cos(theta)) * (kx @ kx)


def matrix_to_rodrigues(R: np.ndarray) -> np.ndarray:
    """Rodrigues vector ``(3,)`` of a rotation matrix (inverse of :func:`rodrigues_to_matrix`)."""
    R = np.asarray(R, dtype=np.float64)
    cos = np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)
    theta = math.acos(cos)
    if theta < 1e-12:
        return np.zeros(3)
    if math.pi - theta < 1e-6:
        # Near 180 degrees: axis from the largest diagonal entry of (R + I) / 2.
        B = (R + np.eye(3)) / 2.0
        i = int(np.argmax(np.diag(B)))
        axis = B[:, i] / math.sqrt(max(B[i, i], 1e-300))
        return axis / np.linalg.norm(axis) * theta
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / (2.0 * math.sin(theta))
    return w * theta


def _vector(value, n: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected {n} numbers, but got {value!r}") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: expected {n} finite numbers, but got {value!r}")
    return arr


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera (anipose / OpenCV conventions).

    Attributes:
        name: camera name (matched against view names and file names).
        size: image ``(width, height)`` in pixels.
        matrix: intrinsic matrix ``K``, ``(3, 3)``.
        dist: distortion, ``(5,)``: ``(k1, k2, p1, p2, k3)`` for a pinhole camera (shorter lists
            are zero-padded), ``(k1, k2, k3, k4, 0)`` for a fisheye one (give four).
        rvec: world-to-camera rotation as a Rodrigues vector, ``(3,)``.
        tvec: world-to-camera translation, ``(3,)``.
        fisheye: OpenCV's fisheye lens model (``cv2.fisheye``) instead of the pinhole one.
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    dist: np.ndarray
    rvec: np.ndarray
    tvec: np.ndarray
    fisheye: bool = False
    rotation: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"camera {self.name!r}"
        K = np.asarray(self.matrix, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"{where}: expected a 3x3 intrinsic matrix with positive focal lengths")
        if not isinstance(self.fisheye, bool | np.bool_):
            raise ValueError(f"{where}: expected fisheye to be true or false, but got {self.fisheye!r}")
        try:
            dist = np.asarray(self.dist, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected distortion coefficients (numbers), but got {self.dist!r}") from None
        if not np.all(np.isfinite(dist)):
            raise ValueError(f"{where}: expected finite distortion coefficients, but got {dist.tolist()}")
        if self.fisheye and not (dist.size == 4 or (dist.size == 5 and dist[4] == 0)):
            raise ValueError(
                f"{where}: expected 4 fisheye distortion coefficients (k1, k2, k3, k4), but got {dist.size}"
            )
        if not self.fisheye and dist.size > 5:
            raise ValueError(
                f"{where}: expected up to 5 distortion coefficients (k1, k2, p1, p2, k3), but got {dist.size} "
                "(OpenCV's rational and thin-prism terms are not supported)"
            )
        object.__setattr__(self, "matrix", K)
        object.__setattr__(self, "dist", np.pad(dist, (0, 5 - dist.size)))
        object.__setattr__(self, "fisheye", bool(self.fisheye))
        object.__setattr__(self, "rvec", _vector(self.rvec, 3, f"{where} rotation"))
        object.__setattr__(self, "tvec", _vector(self.tvec, 3, f"{where} translation"))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        object.__setattr__(self, "rotation", rodrigues_to_matrix(self.rvec))

    def project(self, points: np.ndarray) -> np.ndarray:
        """Projects world points ``(..., 3)`` to pixels ``(..., 2)`` (NaN in, NaN out)."""
        return self.project_with_jacobian(points)[0]

    def project_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(..., 2)`` and the Jacobian d(u, v)/dX ``(..., 2, 3)`` of world points ``(..., 3)``."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape[-1:] != (3,):
            raise ValueError(f"points: expected shape (..., 3), but got {pts.shape}")
        flat = np.ascontiguousarray(pts.reshape(-1, 3))
        uv, jac = _core.project(flat, self.matrix, self.dist, self.fisheye, self.rotation, self.tvec)
        return uv.reshape(pts.shape[:-1] + (2,)), jac.reshape(pts.shape[:-1] + (2, 3))

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Undistorted normalized coordinates ``(..., 2)`` of pixels ``(..., 2)`` (as
        ``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints``, to machine precision; NaN for a
        fisheye pixel beyond the lens model: past 90 degrees, or where it folds over)."""
        px = np.asarray(pixels, dtype=np.float64)
        if px.shape[-1:] != (2,):
            raise ValueError(f"pixels: expected shape (..., 2), but got {px.shape}")
        out = _core.undistort(np.ascontiguousarray(px.reshape(-1, 2)), self.matrix, self.dist, self.fisheye)
        return out.reshape(px.shape)

    def to_dict(self) -> dict:
        """The anipose TOML section of this camera (``fisheye = true`` and 4 coefficients for a fisheye lens)."""
        section = {
            "name": self.name,
            "size": list(self.size),
            "matrix": self.matrix.tolist(),
            "distortions": (self.dist[:4] if self.fisheye else self.dist).tolist(),
            "rotation": self.rvec.tolist(),
            "translation": self.tvec.tolist(),
        }
        if self.fisheye:
            section["fisheye"] = True
        return section


@dataclass(frozen=True, eq=False)
class CameraRig:
    """An ordered set of calibrated cameras.

    Attributes:
        cameras: the cameras, in view order.
        metadata: the calibration file's ``[metadata]`` table (kept on round trips).
    """

    cameras: tuple[Camera, ...]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        cams = tuple(self.cameras)
        if len(cams) == 0:
            raise ValueError("a camera rig needs at least one camera")
        names = [c.name for c in cams]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"camera names must be unique, but {dup} appear more than once")
        object.__setattr__(self, "cameras", cams)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            for cam in self.cameras:
                if cam.name == key:
                    return cam
            raise KeyError(f"no camera named {key!r}; the rig has {self.names}")
        return self.cameras[key]

    def subset(self, names: Sequence[str]) -> CameraRig:
        """The rig restricted to (and ordered as) ``names``."""
        return CameraRig(tuple(self[n] for n in names), dict(self.metadata))

    # --- anipose TOML -------------------------------------------------------------------------

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> CameraRig:
        """Reads an anipose calibration file; cameras ordered by their ``cam_N`` number."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: calibration file not found") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: not a valid TOML file ({err})") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "calibration") -> CameraRig:
        """Builds a rig from the parsed anipose TOML tables."""
        sections = []
        for key, value in data.items():
            m = _CAM_SECTION.match(key)
            if m and isinstance(value, dict):
                sections.append((int(m.group(1)), key, value))
            elif key != "metadata":
                raise ValueError(
                    f"{source}: expected [cam_N] sections and [metadata], but got {key!r}, which lp3d cannot use"
                )
        if not sections:
            raise ValueError(f"{source}: expected [cam_0], [cam_1], ... sections, but found none")
        sections.sort()
        cams = []
        for _, key, sec in sections:
            missing = [f for f in ("matrix", "distortions", "rotation", "translation") if f not in sec]
            if missing:
                raise ValueError(f"{source}: [{key}] is missing field(s) {', '.join(missing)}")
            unknown = [f for f in sec if f not in _CAM_FIELDS]
            if unknown:
                raise ValueError(
                    f"{source}: [{key}] expected fields {', '.join(_CAM_FIELDS)}, but got {', '.join(unknown)}, "
                    "which lp3d cannot use"
                )
            fisheye = sec.get("fisheye", False)
            if fisheye is True and np.size(sec["distortions"]) != 4:
                raise ValueError(
                    f"{source}: [{key}] expected 4 fisheye distortion coefficients (k1, k2, k3, k4), "
                    f"but got {np.size(sec['distortions'])}"
                )
            try:
                cams.append(
                    Camera(
                        name=str(sec.get("name", key)),
                        size=tuple(sec.get("size", (0, 0))),
                        matrix=sec["matrix"],
                        dist=sec["distortions"],
                        rvec=sec["rotation"],
                        tvec=sec["translation"],
                        fisheye=fisheye,
                    )
                )
            except (ValueError, TypeError) as err:
                raise ValueError(f"{source}: [{key}] {err}") from None
        return cls(tuple(cams), dict(data.get("metadata", {})))

    def to_toml(self, path: str | os.PathLike) -> None:
        """Writes an anipose calibration file (atomically: temp file, then rename)."""
        path = Path(path)
        lines: list[str] = []
        for i, cam in enumerate(self.cameras):
            lines.append(f"[cam_{i}]")
            for key, value in cam.to_dict().items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        if self.metadata:
            lines.append("[metadata]")
            for key, value in self.metadata.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        # Created as open() creates files (mode 0o666 less the umask), unlike tempfile.mkstemp (0o600).
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- geometry -----------------------------------------------------------------------------

    def project(self, points: np.ndarray) -> np.ndarray:
        """Projects world points ``(..., 3)`` into every camera: ``(view, ..., 2)``."""
        return np.stack([cam.project(points) for cam in self.cameras])

    def triangulate(self, points: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-point weighted DLT triangulation.

        Args:
            points: pixels ``(view, ..., 2)``; NaN marks a view that did not see the point.
            weights: ``(view, ...)`` non-negative weights (e.g. confidences); a zero weight drops
                the view. Default: all ones.

        Returns:
            World points ``(..., 3)``; NaN where fewer than two views are valid.
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim < 2 or pts.shape[0] != len(self) or pts.shape[-1] != 2:
            raise ValueError(f"points: expected shape ({len(self)}, ..., 2), but got {pts.shape}")
        batch = pts.shape[1:-1]
        flat = np.ascontiguousarray(pts.reshape(len(self), -1, 2))
        if weights is None:
            w = np.ones(flat.shape[:2])
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != pts.shape[:-1]:
                raise ValueError(f"weights: expected shape {pts.shape[:-1]}, but got {w.shape}")
            w = np.ascontiguousarray(w.reshape(len(self), -1))
        out = _core.triangulate(flat, w, *self._arrays())
        return out.reshape(batch + (3,))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        """Stacked ``K (V,3,3)``, ``dist (V,5)``, ``fisheye (V,)`` (0 / 1), ``R (V,3,3)``, ``t (V,3)``
        for the C++ core."""
        return (
            np.ascontiguousarray(np.stack([c.matrix for c in self.cameras])),
            np.ascontiguousarray(np.stack([c.dist for c in self.cameras])),
            np.array([float(c.fisheye) for c in self.cameras]),
            np.ascontiguousarray(np.stack([c.rotation for c in self.cameras])),
            np.ascontiguousarray(np.stack([c.tvec for c in self.cameras])),
        )

    def _model_arrays(self) -> dict[str, np.ndarray]:
        """:meth:`_arrays` by name (``K``, ``dist``, ``fisheye``, ``R``, ``t``): the C++ core's
        calibrated observation model."""
        return dict(zip(("K", "dist", "fisheye", "R", "t"), self._arrays(), strict=True))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[ " + ", ".join(_toml_value(v) for v in value) + ",]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
