"""Which cameras took each labeled frame: the session from the image paths, and its calibration file.

**Session.** Lightning Pose names the image folders after the session and the view; the session of
a labeled frame comes from its image path in each view ``v``::

    labeled-data/<session>_<v>/img00012.png      -> <session>
    labeled-data/<session>/<v>/img00012.png      -> <session>
    anything else (e.g. labeled-data/<v>/img.png) -> ""  (the project's one unnamed session)

Every view of a row must give the same session. The frame's *key* is its path without the view
(``labeled-data/<session>/img00012.png``), what Lightning Pose's ``calibrations.csv`` lists.

**Calibration.** The anipose TOML of a session is the first of, searching the folders ``roots``
in order (a pseudo-label folder, then the project)::

    1. data.calibrations[<session>]                    (config: session -> file)
    2. <root>/calibrations.csv                          (see below)
    3. <root>/calibrations/<session>.toml
    4. data.calibration                                 (config: one file for the rest)
    5. <root>/calibration.toml

A session with none of them is uncalibrated: it trains without geometry. ``calibrations.csv``
follows Lightning Pose's ``camera_params_file``: a header row, then one row per labeled image with
its key (the image path without the view folder) and the TOML file (relative to the CSV's folder),
in a column named ``file``; a key may also be a folder prefix (``labeled-data/session0``), and a
first column named ``session`` holds session names instead::

    ,file                                               session,file
    labeled-data/session0/img00005.png,calibrations/a.toml     session0,calibrations/a.toml

Cameras are matched to the views by name (in view order; extra cameras are ignored); a missing
camera, a missing or unreadable file, or cameras whose image size differs from the images' is a
one-line error naming the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from lp3d_eks import CameraRig

__all__ = [
    "parse_session",
    "frame_sessions",
    "find_calibration_files",
    "read_calibration_index",
    "load_rigs",
    "check_image_sizes",
    "camera_arrays",
    "vertical_axis",
]


def parse_session(image_path: str, view: str) -> tuple[str, str]:
    """The session of an image of view ``view`` and the image's key without the view.

    Returns:
        ``(session, key)``; the session is ``""`` when the path names none (see the module docstring).
    """
    parts = PurePosixPath(str(image_path).replace("\\", "/")).parts
    if len(parts) >= 2:
        folder = parts[-2]
        if folder.endswith("_" + view) and len(folder) > len(view) + 1:
            session = folder[: -len(view) - 1]
            return session, "/".join((*parts[:-2], session, parts[-1]))
        if folder == view:
            key = "/".join((*parts[:-2], parts[-1]))
            if len(parts) >= 3 and parts[-3] != "labeled-data":
                return parts[-3], key
            return "", key
    return "", "/".join(parts)


def frame_sessions(
    image_paths: np.ndarray, view_names: Sequence[str], source: str = "labels"
) -> tuple[np.ndarray, np.ndarray]:
    """The session and key of every labeled frame.

    Args:
        image_paths: ``(view, frame)`` image paths.
        view_names: ``(view,)``.
        source: named in errors (the label file).

    Returns:
        ``sessions`` and ``keys``, both ``(frame,)`` str.

    Raises:
        ValueError: the views of a row name different sessions.
    """
    n_frames = image_paths.shape[1]
    sessions, keys = np.empty(n_frames, dtype=object), np.empty(n_frames, dtype=object)
    for f in range(n_frames):
        parsed = [parse_session(image_paths[v, f], view) for v, view in enumerate(view_names)]
        if len({s for s, _ in parsed}) > 1:
            got = ", ".join(f"{view}: {s!r}" for view, (s, _) in zip(view_names, parsed, strict=True))
            raise ValueError(
                f"{source}: row {f} ({image_paths[0, f]}): expected the same session in every view, but got {got}"
            )
        sessions[f], keys[f] = parsed[0]
    return sessions.astype(str), keys.astype(str)


def read_calibration_index(path: str | os.PathLike) -> tuple[bool, dict[str, Path]] | None:
    """Reads a ``calibrations.csv`` (see the module docstring).

    Returns:
        ``(by_session, {key: TOML path})``: keys are session names when ``by_session``, else image
        keys or folder prefixes; paths are resolved against the CSV's folder. None: no such file.

    Raises:
        ValueError: no ``file`` column, or a row without a file.
    """
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    header = [cell.strip() for cell in rows[0]] if rows else []
    if len(header) < 2 or "file" not in header[1:]:
        raise ValueError(f"{path}: expected a header with a key column and a 'file' column, but got {header}")
    column = header.index("file", 1)
    out: dict[str, Path] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= column or not row[column].strip():
            raise ValueError(f"{path}: line {line}: expected a calibration file in column 'file', but got {row}")
        out[row[0].strip().replace("\\", "/").strip("/")] = path.parent / row[column].strip()
    return header[0].lower() == "session", out


def _index_lookup(index: tuple[bool, dict[str, Path]], session: str, key: str) -> Path | None:
    by_session, table = index
    if by_session:
        return table.get(session)
    if key in table:
        return table[key]
    prefixes = [p for p in table if p and key.startswith(p + "/")]
    return table[max(prefixes, key=len)] if prefixes else None  # the longest folder prefix


def find_calibration_files(
    sessions: np.ndarray,
    keys: np.ndarray,
    roots: Sequence[str | os.PathLike],
    *,
    calibration: str | os.PathLike | None = None,
    calibrations: Mapping[str, str | os.PathLike] | None = None,
) -> dict[str, Path]:
    """The calibration file of every session that has one (search order in the module docstring).

    Args:
        sessions: ``(frame,)`` session names.
        keys: ``(frame,)`` image keys (the paths without the view).
        roots: folders searched, in order.
        calibration: ``data.calibration``.
        calibrations: ``data.calibrations``.

    Returns:
        ``{session: file}``; files are not opened here.

    Raises:
        ValueError: ``calibrations.csv`` gives the frames of one session different files.
    """
    roots = [Path(r) for r in roots]
    indexes = [(r / "calibrations.csv", read_calibration_index(r / "calibrations.csv")) for r in roots]
    indexes = [(path, index) for path, index in indexes if index is not None]
    mapping = dict(calibrations or {})
    out: dict[str, Path] = {}
    for session in dict.fromkeys(sessions.tolist()):
        if session in mapping:
            out[session] = Path(mapping[session])
            continue
        found = None
        for index_path, index in indexes:
            files = {_index_lookup(index, session, k) for k in keys[sessions == session]} - {None}
            if len(files) > 1:
                raise ValueError(
                    f"{index_path}: expected one calibration file per session, but session {session!r} "
                    f"has {sorted(str(f) for f in files)}"
                )
            if files:
                found = files.pop()
                break
        if found is None and session:
            found = _first_file(r / "calibrations" / f"{session}.toml" for r in roots)
        if found is None and calibration is not None:
            found = Path(calibration)
        if found is None:
            found = _first_file(r / "calibration.toml" for r in roots)
        if found is not None:
            out[session] = found
    return out


def _first_file(paths: Iterable[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


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
) -> None:
    """Checks one image per session and view against its camera's size (cameras without a size pass).

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
    """The rig as float64 arrays: ``camera_matrix`` ``(V, 3, 3)``, ``dist_coeffs`` ``(V, 5)``
    ``(k1, k2, p1, p2, k3)``, ``rotation`` ``(V, 3, 3)`` and ``translation`` ``(V, 3)``
    (world to camera: ``x_cam = R X + t``)."""
    return {
        "camera_matrix": np.stack([c.matrix for c in rig.cameras]),
        "dist_coeffs": np.stack([c.dist for c in rig.cameras]),
        "rotation": np.stack([c.rotation for c in rig.cameras]),
        "translation": np.stack([c.tvec for c in rig.cameras]),
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
