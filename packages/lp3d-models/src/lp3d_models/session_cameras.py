"""The cameras of each labeled frame's session, for training: rigs read once and checked against the
views and the images, as arrays for the torch geometry, and the world's vertical.

Which session a frame belongs to and which calibration file a session has are the project
layout's rules (:mod:`lp3d_io.layout`: :func:`~lp3d_io.layout.frame_sessions`,
:func:`~lp3d_io.layout.find_calibration_files`). Cameras are matched to the views by name (in view
order; extra cameras are ignored); a missing camera, a missing or unreadable file, or cameras
whose image size differs from the images' is a one-line error naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from lp3d_eks import CameraRig

__all__ = [
    "load_rigs",
    "check_image_sizes",
    "camera_arrays",
    "vertical_axis",
]


def load_rigs(files: Mapping[str, str | os.PathLike], view_names: Sequence[str]) -> dict[str, CameraRig]:
    """Reads each calibration file once; the cameras of the views, in view order.

    Args:
        files: ``{session: TOML file}``.
        view_names: the views the cameras must match by name.

    Returns:
        ``{session: CameraRig}`` (sessions sharing a file share the rig).

    Raises:
        FileNotFoundError: a missing file (naming the session).
        ValueError: an unreadable file, or a view without a camera.
    """
    rigs: dict[Path, CameraRig] = {}
    out: dict[str, CameraRig] = {}
    for session, file in files.items():
        file = Path(file)
        if file not in rigs:
            if not file.is_file():
                raise FileNotFoundError(f"{file}: calibration file of session {session!r} not found")
            try:
                rig = CameraRig.from_toml(file)
            except OSError as err:
                raise ValueError(f"{file}: calibration file not readable ({err.strerror or err})") from None
            except ValueError as err:
                message = str(err)
                raise ValueError(message if str(file) in message else f"{file}: {message}") from None
            missing = [v for v in view_names if v not in rig.names]
            if missing:
                raise ValueError(
                    f"{file}: expected cameras {', '.join(view_names)} to match the views, but got "
                    f"{', '.join(rig.names)} (no camera {', '.join(missing)})"
                )
            rigs[file] = rig.subset(view_names)
        out[session] = rigs[file]
    return out


def check_image_sizes(
    rigs: Mapping[str, CameraRig],
    files: Mapping[str, str | os.PathLike],
    sessions: np.ndarray,
    image_paths: np.ndarray,
    root: str | os.PathLike,
    view_sizes: Sequence[Sequence[int]] | None = None,
) -> None:
    """Checks one image per session and view against its camera's size (cameras without a size pass).

    Args:
        view_sizes: ``(width, height)`` of each view when known without reading an image (views
            cropped from whole frames: the boxes').

    Raises:
        ValueError: a camera of another image size than the view's images.
    """
    import cv2

    for session, rig in rigs.items():
        frames = np.flatnonzero(sessions == session)
        if not frames.size:
            continue
        for v, camera in enumerate(rig.cameras):
            if camera.size == (0, 0):
                continue
            if view_sizes is not None:
                width, height = view_sizes[v]
                if (width, height) != tuple(camera.size):
                    raise ValueError(
                        f"{files[session]}: expected camera {camera.name!r} to be {width}x{height} pixels "
                        f"like its view's crop box, but got {camera.size[0]}x{camera.size[1]}"
                    )
                continue
            path = Path(root) / image_paths[v, frames[0]]
            if not path.is_file():
                continue  # reported when the image is read
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                continue  # reported when the image is read
            if (image.shape[1], image.shape[0]) != camera.size:
                raise ValueError(
                    f"{files[session]}: expected camera {camera.name!r} to be {image.shape[1]}x{image.shape[0]} "
                    f"pixels like its images ({image_paths[v, frames[0]]}), but got {camera.size[0]}x{camera.size[1]}"
                )


def camera_arrays(rig: CameraRig) -> dict[str, np.ndarray]:
    """The rig as arrays: ``camera_matrix`` ``(V, 3, 3)``, ``dist_coeffs`` ``(V, 5)``
    ``(k1, k2, p1, p2, k3)`` (``(k1, k2, k3, k4, 0)`` for a fisheye lens), ``rotation`` ``(V, 3, 3)``
    and ``translation`` ``(V, 3)`` (world to camera: ``x_cam = R X + t``), float64, and ``fisheye``
    ``(V,)`` bool (the keys :func:`lp3d_models.geometry.cameras_from_batch` reads)."""
    return {
        "camera_matrix": np.stack([c.matrix for c in rig.cameras]),
        "dist_coeffs": np.stack([c.dist for c in rig.cameras]),
        "rotation": np.stack([c.rotation for c in rig.cameras]),
        "translation": np.stack([c.tvec for c in rig.cameras]),
        "fisheye": np.array([bool(c.fisheye) for c in rig.cameras]),
    }


def vertical_axis(rig: CameraRig) -> np.ndarray:
    """The world's up direction estimated from the cameras: the mean of their image-up (``-y``) axes.

    Right for cameras that look at the scene upright from around it (their sideways tilts
    cancel); give ``geometry.vertical`` for e.g. a camera looking straight down.

    Raises:
        ValueError: the axes cancel out.
    """
    up = -np.mean([c.rotation[1] for c in rig.cameras], axis=0)
    norm = float(np.linalg.norm(up))
    if norm < 1e-6:
        raise ValueError(f"cameras {rig.names}: their image axes give no vertical direction; set geometry.vertical")
    return up / norm
