"""Synthetic multi-view sessions with known truth: the embedded data for demos and tests.

A session is a ring of calibrated cameras around a round arena, an articulated animal walking in
it (:mod:`lp3d_io._synthetic_motion` gives the kinematics), and its pictures (OpenCV drawing,
:mod:`lp3d_io._synthetic_render`). With ``n_animals > 1`` several animals of one kind share the
arena, each of its own size and colour (:data:`ANIMALS`: a light one, a larger dark one, ...), each
moving on its own random streams, the later ones approaching the earlier ones in bouts and
touching them without passing through; one hides parts of the other in some views (the
visibility test sees every animal). Arrays then gain an ``individual`` axis before the
coordinates (``(time, keypoint, individual, 3)``, ``(view, time, keypoint, individual, 2)``), as
lp3d-io's datasets take them; a session of one animal is the same as before animals could be
several (the others draw from random streams of their own). From it come

- a session directory (:func:`write_session`): the anipose ``calibration.toml``, one mp4 video
  per view, labeled frames in the Lightning Pose multi-view layout, and the ground truth;
- ensemble predictions (:func:`make_ensemble_predictions`): what ``M`` networks would detect,
  with known planted errors. Member ``m`` sees keypoint ``k`` of view ``v`` at frame ``t`` at::

      y[m] = x + s (sqrt(rho) e_shared + sqrt(1 - rho) e_m),     e ~ AR(1), unit variance

  with ``x`` the true pixel, ``s = noise_px`` (times ``occluded_noise_scale`` where the keypoint
  is hidden) and ``rho = shared_fraction``. The shared term is an error all members make, so the
  spread of the ensemble under-reports the error of its mean (for ``rho`` above about 0.45 with
  five members). Single-view outliers put every member near the same wrong spot ``x + d``
  (``|d|`` in ``outlier_px``, a run of a few frames) with high confidence; missing detections
  (isolated frames and whole stretches, more often where the keypoint is hidden, and always where
  it is outside the image) are NaN in every member with low confidence. With several animals,
  *identity swaps* (``identity_swap_rate``) exchange two animals' detections in one view for a
  run of frames, in every member: each view alone looks right, the views disagree.

Everything is deterministic given the seeds. World units are millimetres, pixels are OpenCV's
(pixel centres at integer coordinates), images are RGB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from lp3d_eks.camera import Camera, CameraRig, matrix_to_rodrigues

from lp3d_io import _synthetic_render
from lp3d_io._synthetic_motion import (
    SKELETONS,
    Skeleton,
    get_skeleton,
    restyled,
    simulate_animals,
    simulate_skeleton_motion,
)

__all__ = [
    "SyntheticConfig",
    "Skeleton",
    "SKELETONS",
    "ANIMALS",
    "get_skeleton",
    "Motion",
    "SyntheticSession",
    "EnsemblePredictions",
    "make_rig",
    "simulate_motion",
    "render_views",
    "make_session",
    "write_session",
    "make_ensemble_predictions",
]

_CHUNK = 256  # frames rendered at once
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

ANIMALS: tuple[tuple[str, float, float, float], ...] = (
    ("light", 1.0, 1.0, 1.0),
    ("dark", 1.2, 0.35, 0.55),
    ("grey", 0.85, 0.7, 0.8),
)
"""The animals of a session of several, in order: ``(individual name, size, body colour, keypoint
colour)``, the last three as factors of the skeleton's (:func:`lp3d_io._synthetic_motion.restyled`);
the first is the lone animal of a session of one."""


@dataclass(frozen=True)
class SyntheticConfig:
    """What to simulate; the defaults render in about a second.

    Attributes:
        n_views: number of cameras on the ring.
        image_size: image ``(width, height)`` in pixels.
        n_frames: number of frames.
        fps: frames per second.
        skeleton: animal, a key of :data:`SKELETONS`.
        seed: seed of the rig, the motion and the floor texture.
        session_name: prefix of the video and labeled-data names.
        arena_radius: radius of the arena floor in mm; the body's centre stays within half of it.
        speed: top walking speed in mm/s.
        distortion: size of the radial lens distortion ``|k1|``.
        rearing: share of the time spent in rearing bouts (nose up about the hips, front legs
            folded), for each animal; 0 (the default) never rears.
        n_animals: animals in the arena (at most ``len(ANIMALS)``), each of its own size and
            colour (:data:`ANIMALS`); 1 (the default): arrays without an ``individual`` axis.
    """

    n_views: int = 4
    image_size: tuple[int, int] = (128, 128)
    n_frames: int = 300
    fps: float = 30.0
    skeleton: str = "quadruped"
    seed: int = 0
    session_name: str = "synthetic"
    arena_radius: float = 150.0
    speed: float = 120.0
    distortion: float = 0.15
    rearing: float = 0.0
    n_animals: int = 1

    def __post_init__(self) -> None:
        size = tuple(self.image_size)
        if len(size) != 2 or min(size) < 16 or any(int(s) != s for s in size):
            raise ValueError(f"image_size: expected (width, height) >= 16 pixels, but got {size}")
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        if self.n_views < 2:
            raise ValueError(f"n_views: expected at least 2 cameras, but got {self.n_views}")
        if self.n_frames < 1:
            raise ValueError(f"n_frames: expected at least 1, but got {self.n_frames}")
        if not self.fps > 0 or not self.arena_radius > 0 or self.speed < 0:
            raise ValueError("fps and arena_radius must be positive and speed non-negative")
        if not 0.0 <= self.rearing < 1.0:
            raise ValueError(f"rearing: expected a share of the time in [0, 1), but got {self.rearing}")
        if not 1 <= self.n_animals <= len(ANIMALS):
            raise ValueError(f"n_animals: expected 1 to {len(ANIMALS)} animals, but got {self.n_animals}")
        if self.skeleton not in SKELETONS:
            raise ValueError(f"skeleton: expected one of {sorted(SKELETONS)}, but got {self.skeleton!r}")
        if not _NAME.match(self.session_name):
            raise ValueError(f"session_name: expected letters, digits, '_', '-' or '.', but got {self.session_name!r}")


@dataclass(frozen=True, eq=False)
class Motion:
    """The true 3D motion of the animal (or animals).

    Attributes:
        points3d: keypoint positions ``(time, keypoint, 3)`` in mm (floor ``z = 0``); with several
            animals ``(time, keypoint, individual, 3)``.
        skeleton: the (first) animal's skeleton (names, bones, colours).
        fps: frames per second.
        animals: with several animals, each one's skeleton (its size and colours); else empty.
        individual_names: with several animals, their names (:data:`ANIMALS`); else empty.
    """

    points3d: np.ndarray
    skeleton: Skeleton
    fps: float
    animals: tuple[Skeleton, ...] = ()
    individual_names: tuple[str, ...] = ()

    @property
    def n_individuals(self) -> int:
        return max(1, len(self.animals))

    def scene(self, frames: np.ndarray | slice = slice(None)) -> tuple[Skeleton, np.ndarray]:
        """What to draw at ``frames``: one skeleton and its keypoints ``(time, N, 3)``; with several
        animals, the animals as one skeleton (:func:`_merged`), their keypoints animal after animal."""
        points = self.points3d[frames]
        if not self.animals:
            return self.skeleton, points
        return _merged(self.animals), np.moveaxis(points, 2, 1).reshape(len(points), -1, 3)

    @property
    def keypoint_names(self) -> list[str]:
        return list(self.skeleton.keypoint_names)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Bones as keypoint index pairs."""
        return list(self.skeleton.edges)


def make_rig(
    n_views: int = 4,
    image_size: tuple[int, int] = (128, 128),
    seed: int = 0,
    *,
    arena_radius: float = 150.0,
    distance: tuple[float, float] = (380.0, 480.0),
    elevation_deg: tuple[float, float] = (35.0, 55.0),
    distortion: float = 0.15,
) -> CameraRig:
    """Cameras on a ring around the arena, each looking at its centre.

    Azimuths are evenly spaced with jitter; distance, elevation, roll, focal length, principal
    point and distortion vary per camera. The focal length frames a disc of ``0.65 arena_radius``
    around the centre in the shorter image side.

    Args:
        n_views: number of cameras, named ``cam0``, ``cam1``, ... (zero-padded past ten).
        image_size: ``(width, height)`` in pixels.
        seed: random seed.
        arena_radius: arena radius in mm.
        distance: range of camera distances from the arena centre in mm.
        elevation_deg: range of camera elevations above the floor in degrees.
        distortion: radial distortion: ``k1`` is drawn in ``[-distortion, -distortion / 2]``.

    Returns:
        The rig, world frame: origin at the arena centre on the floor, z up, millimetres.
    """
    rng = np.random.default_rng([seed, 1])
    w, h = int(image_size[0]), int(image_size[1])
    width = len(str(n_views - 1))
    azimuth = 2.0 * np.pi * (np.arange(n_views) + rng.uniform(-0.1, 0.1, n_views)) / n_views
    cameras = []
    for i, az in enumerate(azimuth):
        d = rng.uniform(*distance)
        el = np.deg2rad(rng.uniform(*elevation_deg))
        centre = d * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        target = np.array([*rng.uniform(-10.0, 10.0, 2), 15.0])
        forward = (target - centre) / np.linalg.norm(target - centre)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        roll = np.deg2rad(rng.uniform(-4.0, 4.0))
        right = np.cos(roll) * right + np.sin(roll) * np.cross(forward, right)
        R = np.stack([right, np.cross(forward, right), forward])  # rows: x right, y down, z ahead
        f = 0.5 * min(w, h) * np.linalg.norm(target - centre) / (0.65 * arena_radius)
        f *= rng.uniform(0.97, 1.03)
        K = np.array(
            [
                [f, 0.0, (w - 1) / 2 + rng.uniform(-2.0, 2.0)],
                [0.0, f * rng.uniform(0.99, 1.01), (h - 1) / 2 + rng.uniform(-2.0, 2.0)],
                [0.0, 0.0, 1.0],
            ]
        )
        k1 = -distortion * rng.uniform(0.5, 1.0)
        dist = [k1, 0.3 * distortion * rng.uniform(-1, 1), *rng.uniform(-2e-3, 2e-3, 2), 0.0]
        cameras.append(
            Camera(
                name=f"cam{i:0{width}d}",
                size=(w, h),
                matrix=K,
                dist=dist,
                rvec=matrix_to_rodrigues(R),
                tvec=-R @ centre,
            )
        )
    return CameraRig(tuple(cameras), {"source": "lp3d_io.synthetic", "seed": int(seed)})


def _merged(skeletons: Sequence[Skeleton]) -> Skeleton:
    """Several animals as one skeleton to draw: keypoints, bones and colours animal after animal."""
    first = skeletons[0]
    K = len(first.keypoint_names)
    return Skeleton(
        name=first.name,
        keypoint_names=tuple(name for _ in skeletons for name in first.keypoint_names),
        parents=tuple(p + a * K if p >= 0 else -1 for a, s in enumerate(skeletons) for p in s.parents),
        offsets=np.concatenate([s.offsets for s in skeletons]),
        edges=tuple((i + a * K, j + a * K) for a, s in enumerate(skeletons) for i, j in s.edges),
        edge_radius=tuple(r for s in skeletons for r in s.edge_radius),
        edge_color=tuple(c for s in skeletons for c in s.edge_color),
        joint_radius=np.concatenate([s.joint_radius for s in skeletons]),
        joint_color=np.concatenate([s.joint_color for s in skeletons]),
    )


def simulate_motion(config: SyntheticConfig) -> Motion:
    """The animal (or animals) of ``config`` walking around the arena for ``config.n_frames`` frames."""
    skeleton = get_skeleton(config.skeleton)
    if config.n_animals > 1:
        chosen = ANIMALS[: config.n_animals]
        animals = tuple(restyled(skeleton, size, body, joints) for _, size, body, joints in chosen)
        streams = [(np.random.default_rng([config.seed, 2]), np.random.default_rng([config.seed, 5]))]
        streams += [
            (np.random.default_rng([config.seed, 10 + a, 2]), np.random.default_rng([config.seed, 10 + a, 5]))
            for a in range(1, config.n_animals)
        ]
        points = simulate_animals(
            animals, config.n_frames, config.fps, 0.5 * config.arena_radius, config.speed, streams, config.rearing
        )
        names = tuple(name for name, *_ in chosen)
        return Motion(points3d=points, skeleton=animals[0], fps=config.fps, animals=animals, individual_names=names)
    points = simulate_skeleton_motion(
        skeleton,
        config.n_frames,
        config.fps,
        path_radius=0.5 * config.arena_radius,
        speed=config.speed,
        rng=np.random.default_rng([config.seed, 2]),
        rearing=config.rearing,
        rearing_rng=np.random.default_rng([config.seed, 5]),
    )
    return Motion(points3d=points, skeleton=skeleton, fps=config.fps)


def _frame_indices(frames: Sequence[int] | np.ndarray | None, n_frames: int) -> np.ndarray:
    idx = np.arange(n_frames) if frames is None else np.asarray(frames, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n_frames):
        raise ValueError(f"frames: expected indices in [0, {n_frames}), but got {idx.min()}..{idx.max()}")
    return idx


def _check_one_size(rig: CameraRig) -> None:
    if len({cam.size for cam in rig.cameras}) != 1:
        got = {cam.name: cam.size for cam in rig.cameras}
        raise ValueError(f"Expected cameras of one image size, but got {got}")


def render_views(
    rig: CameraRig,
    motion: Motion,
    *,
    frames: Sequence[int] | np.ndarray | None = None,
    arena_radius: float = 150.0,
    seed: int = 0,
) -> np.ndarray:
    """Pictures of the animal from every camera.

    Args:
        rig: the cameras (all of one image size).
        motion: the animal.
        frames: which frames (default all).
        arena_radius: arena radius in mm (the floor texture's rim).
        seed: seed of the floor texture.

    Returns:
        RGB images ``(view, time, H, W, 3)`` uint8, ``time`` running over ``frames``.
    """
    _check_one_size(rig)
    idx = _frame_indices(frames, len(motion.points3d))
    return _draw(rig, motion, idx, _synthetic_render.floor_images(rig, arena_radius, seed))


def _draw(rig: CameraRig, motion: Motion, idx: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Frames ``idx`` of every view drawn over the empty ``floors`` ``(view, H, W, 3)``."""
    out = np.empty((len(rig), idx.size) + floors.shape[1:], dtype=np.uint8)
    for start in range(0, idx.size, _CHUNK):
        chunk = idx[start : start + _CHUNK]
        skeleton, points = motion.scene(chunk)
        geom = _synthetic_render.scene_geometry(rig, skeleton, points)
        out[:, start : start + chunk.size] = _synthetic_render.draw_frames(geom, skeleton, floors)
    return out


def _visibility(rig: CameraRig, motion: Motion) -> np.ndarray:
    """``(view, time, keypoint[, individual])``: every animal's items hide the others' keypoints too."""
    sizes = [cam.size for cam in rig.cameras]
    parts = []
    for start in range(0, len(motion.points3d), _CHUNK):
        skeleton, points = motion.scene(slice(start, start + _CHUNK))
        geom = _synthetic_render.scene_geometry(rig, skeleton, points)
        parts.append(_synthetic_render.visibility(geom, sizes))
    visible = np.concatenate(parts, axis=1)
    if not motion.animals:
        return visible
    V, T = visible.shape[:2]
    return np.moveaxis(visible.reshape(V, T, motion.n_individuals, -1), 2, 3)


@dataclass(frozen=True, eq=False)
class SyntheticSession:
    """A simulated recording with its truth.

    Attributes:
        config: what was simulated.
        rig: the cameras.
        motion: the true 3D motion.
        points2d: true keypoint pixels ``(view, time, keypoint, 2)``; with several animals
            ``(view, time, keypoint, individual, 2)``.
        visible: whether each keypoint shows ``(view, time, keypoint[, individual])``: inside the
            image and not behind a nearer part of its animal or of another one.

    The pictures are drawn when asked for: :attr:`images` renders (and keeps) all of them,
    :meth:`render` draws some frames without keeping them.
    """

    config: SyntheticConfig
    rig: CameraRig
    motion: Motion
    points2d: np.ndarray
    visible: np.ndarray

    @property
    def view_names(self) -> list[str]:
        return self.rig.names

    @property
    def keypoint_names(self) -> list[str]:
        return self.motion.keypoint_names

    @property
    def individual_names(self) -> list[str] | None:
        """The animals' names with several animals, else None (one unnamed animal)."""
        return list(self.motion.individual_names) or None

    @cached_property
    def images(self) -> np.ndarray:
        """All pictures ``(view, time, H, W, 3)`` uint8 RGB, rendered on first use."""
        return self.render()

    @cached_property
    def floors(self) -> np.ndarray:
        """The empty arena seen by every camera ``(view, H, W, 3)`` uint8 RGB."""
        return _synthetic_render.floor_images(self.rig, self.config.arena_radius, self.config.seed)

    def render(self, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Pictures of ``frames`` (default all): ``(view, time, H, W, 3)`` uint8 RGB."""
        idx = _frame_indices(frames, self.config.n_frames)
        if "images" in self.__dict__:
            return self.images[:, idx]
        return _draw(self.rig, self.motion, idx, self.floors)


def make_session(config: SyntheticConfig | None = None) -> SyntheticSession:
    """Simulates the session of ``config`` (default :class:`SyntheticConfig()`); images are lazy."""
    config = SyntheticConfig() if config is None else config
    rig = make_rig(
        config.n_views,
        config.image_size,
        config.seed,
        arena_radius=config.arena_radius,
        distortion=config.distortion,
    )
    motion = simulate_motion(config)
    return SyntheticSession(
        config=config,
        rig=rig,
        motion=motion,
        points2d=rig.project(motion.points3d),
        visible=_visibility(rig, motion),
    )


def _labeled_frames(labeled_frames: int | Sequence[int], n_frames: int) -> np.ndarray:
    if isinstance(labeled_frames, int | np.integer):
        if not 0 <= labeled_frames <= n_frames:
            raise ValueError(f"labeled_frames: expected a count in [0, {n_frames}], but got {labeled_frames}")
        return np.unique(np.rint(np.linspace(0, n_frames - 1, int(labeled_frames))).astype(np.int64))
    idx = _frame_indices(labeled_frames, n_frames)
    if np.unique(idx).size != idx.size:
        raise ValueError(f"labeled_frames: expected distinct frame indices, but got {idx.tolist()}")
    return idx


def write_session(
    session: SyntheticSession,
    directory: str | Path,
    *,
    labeled_frames: int | Sequence[int] = 50,
) -> dict[str, Path]:
    """Writes a session directory in the Lightning Pose multi-view layout.

    ``directory`` receives::

        calibration.toml                              anipose calibration of the rig
        videos/<session>_<view>.mp4                   every frame (mp4v)
        labeled-data/<session>_<view>/img%05d.png     the labeled frames (number = frame index)
        CollectedData_<view>.csv                      their labels, same rows in every view
        truth.npz                                     points3d (time, keypoint, 3),
                                                      points2d (view, time, keypoint, 2),
                                                      visible (view, time, keypoint),
                                                      labeled_frames, view_names,
                                                      keypoint_names, edges (bone, 2), fps
                                                      (several animals: an individual axis
                                                      before the coordinates, individual_names)

    The CSVs have the DeepLabCut 3-row header (the 4-row multi-animal header, ``scorer /
    individuals / bodyparts / coords``, with several animals) and the image paths relative to
    ``directory`` as the index; a keypoint outside the image is NaN, a hidden one keeps its true
    position.

    Args:
        session: what to write.
        directory: where (created if needed; existing files of the same names are replaced).
        labeled_frames: how many frames to label, evenly spread over the session, or which.

    Returns:
        The paths written: ``"calibration"``, ``"truth"``, and per view ``"video/<view>"``,
        ``"frames/<view>"`` (the image folder) and ``"labels/<view>"`` (the CSV).
    """
    from lp3d_io.csv import to_pose_csv
    from lp3d_io.pose_table import PoseTable

    root = Path(directory)
    config = session.config
    labeled = _labeled_frames(labeled_frames, config.n_frames)
    views = session.view_names
    w, h = config.image_size
    paths: dict[str, Path] = {"calibration": root / "calibration.toml", "truth": root / "truth.npz"}
    (root / "videos").mkdir(parents=True, exist_ok=True)
    for view in views:
        paths[f"video/{view}"] = root / "videos" / f"{config.session_name}_{view}.mp4"
        paths[f"frames/{view}"] = root / "labeled-data" / f"{config.session_name}_{view}"
        paths[f"labels/{view}"] = root / f"CollectedData_{view}.csv"
        paths[f"frames/{view}"].mkdir(parents=True, exist_ok=True)

    session.rig.to_toml(paths["calibration"])
    np.savez_compressed(
        paths["truth"],
        points3d=session.motion.points3d,
        points2d=session.points2d,
        visible=session.visible,
        labeled_frames=labeled,
        view_names=np.array(views),
        keypoint_names=np.array(session.keypoint_names),
        edges=np.array(session.motion.edges, dtype=np.int64).reshape(-1, 2),
        fps=np.float64(config.fps),
        **({"individual_names": np.array(session.individual_names)} if session.individual_names else {}),
    )

    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    writers = [cv2.VideoWriter(str(paths[f"video/{v}"]), fourcc, config.fps, (w, h)) for v in views]
    try:
        for view, writer in zip(views, writers, strict=True):
            if not writer.isOpened():
                raise OSError(f"{paths[f'video/{view}']}: OpenCV cannot write mp4v video here")
        is_labeled = np.zeros(config.n_frames, dtype=bool)
        is_labeled[labeled] = True
        for start in range(0, config.n_frames, _CHUNK):
            stop = min(start + _CHUNK, config.n_frames)
            images = session.render(np.arange(start, stop))
            for v, (view, writer) in enumerate(zip(views, writers, strict=True)):
                for i, frame in enumerate(images[v]):
                    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                    writer.write(bgr)
                    if is_labeled[start + i]:
                        cv2.imwrite(str(paths[f"frames/{view}"] / f"img{start + i:05d}.png"), bgr)
    finally:
        for writer in writers:
            writer.release()

    inside = ((session.points2d >= -0.5) & (session.points2d < np.array([w, h]) - 0.5)).all(-1)
    labels = np.where(inside[..., None], session.points2d, np.nan)
    for v, view in enumerate(views):
        folder = paths[f"frames/{view}"].relative_to(root).as_posix()
        table = PoseTable.from_numpy(
            labels[v, labeled],
            keypoint_names=session.keypoint_names,
            individual_names=session.individual_names,
            index=[f"{folder}/img{t:05d}.png" for t in labeled],
        )
        to_pose_csv(table, paths[f"labels/{view}"])
    return paths


@dataclass(frozen=True, eq=False)
class EnsemblePredictions:
    """What an ensemble of ``M`` pose networks would report, with the truth and planted errors.

    With several animals every ``keypoint`` axis is followed by an ``individual`` axis
    (``position (member, view, time, keypoint, individual, 2)``, ``outlier_mask (view, time,
    keypoint, individual)``, ...).

    Attributes:
        position: pixels ``(member, view, time, keypoint, 2)`` float64, NaN where missing.
        confidence: ``(member, view, time, keypoint)`` in ``[0, 1]``.
        truth: true pixels ``(view, time, keypoint, 2)``.
        visible: whether the keypoint shows ``(view, time, keypoint)``.
        outlier_mask: planted single-view outliers ``(view, time, keypoint)``: every member is
            near the same wrong spot.
        missing_mask: missing detections ``(view, time, keypoint)``: NaN in every member.
        view_names: ``view`` names.
        keypoint_names: ``keypoint`` names.
        fps: frames per second, if known.
        session_name: the session, if known.
        individual_names: the animals with several, else None.
        swap_mask: ``(view, time, individual)`` planted identity swaps: the animal's detections in
            that view are another's (and its own that other's); None with one animal.
    """

    position: np.ndarray
    confidence: np.ndarray
    truth: np.ndarray
    visible: np.ndarray
    outlier_mask: np.ndarray
    missing_mask: np.ndarray
    view_names: list[str]
    keypoint_names: list[str]
    fps: float | None = None
    session_name: str | None = None
    individual_names: list[str] | None = None
    swap_mask: np.ndarray | None = None

    def to_dataset(self):
        """The predictions as an lp3d-io predictions dataset (:mod:`lp3d_io.dataset`)."""
        from lp3d_io.dataset import predictions_dataset

        return predictions_dataset(
            self.position,
            self.confidence,
            view_names=self.view_names,
            keypoint_names=self.keypoint_names,
            individual_names=self.individual_names,
            fps=self.fps,
            source_software="lp3d_io.synthetic",
            session=self.session_name,
        )


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> np.ndarray:
    """Unit-variance AR(1) noise along the first axis with lag-one correlation ``rho``."""
    out = rng.standard_normal(shape)
    keep, fresh = rho, np.sqrt(1.0 - rho * rho)
    for t in range(1, shape[0]):
        out[t] = keep * out[t - 1] + fresh * out[t]
    return out


def _plant_missing(rng: np.random.Generator, visible: np.ndarray, rate: float, stretch: tuple[int, int]) -> np.ndarray:
    """Missing detections ``(view, time, keypoint)``: half isolated (four times likelier where the
    keypoint is hidden), half in stretches of ``stretch`` frames of one view and keypoint."""
    V, T, K = visible.shape
    mask = np.zeros((V, T, K), dtype=bool)
    target = int(round(rate * mask.size))
    if target == 0:
        return mask
    weight = np.where(visible, 1.0, 4.0).reshape(-1)
    isolated = rng.choice(mask.size, size=target // 2, replace=False, p=weight / weight.sum())
    mask.reshape(-1)[isolated] = True
    for _ in range(100 * target):
        if mask.sum() >= target:
            break
        v, k = rng.integers(V), rng.integers(K)
        length = int(rng.integers(stretch[0], stretch[1] + 1))
        start = int(rng.integers(0, max(1, T - length + 1)))
        mask[v, start : start + length, k] = True
    return mask


def _plant_outliers(
    rng: np.random.Generator, blocked: np.ndarray, rate: float, max_run: int
) -> list[tuple[int, slice, int]]:
    """Runs ``(view, frames, keypoint)`` of single-view outliers covering about ``rate`` of the
    entries: run lengths are geometric (about half are single frames), at most ``max_run``, and no
    frame and keypoint has an outlier in two views or on a ``blocked`` entry."""
    V, T, K = blocked.shape
    taken = np.zeros((T, K), dtype=bool)
    runs: list[tuple[int, slice, int]] = []
    target, count = int(round(rate * blocked.size)), 0
    for _ in range(100 * target):
        if count >= target:
            break
        v, k = int(rng.integers(V)), int(rng.integers(K))
        length = min(int(rng.geometric(0.5)), max_run, target - count)
        start = int(rng.integers(0, T - length + 1)) if T >= length else 0
        span = slice(start, min(start + length, T))
        if taken[span, k].any() or blocked[v, span, k].any():
            continue
        taken[span, k] = True
        runs.append((v, span, k))
        count += span.stop - span.start
    return runs


def _plant_swaps(
    rng: np.random.Generator, n_views: int, n_frames: int, n_individuals: int, rate: float, max_run: int
) -> np.ndarray:
    """Identity swaps ``(view, time, individual)``: runs of frames (geometric lengths, at most
    ``max_run``) covering about ``rate`` of the ``(view, time)`` entries, at most one view per frame,
    in which a pair of animals is exchanged."""
    mask = np.zeros((n_views, n_frames, n_individuals), dtype=bool)
    taken = np.zeros(n_frames, dtype=bool)
    target, count = int(round(rate * n_views * n_frames)), 0
    for _ in range(100 * target):
        if count >= target:
            break
        v = int(rng.integers(n_views))
        length = min(int(rng.geometric(0.3)), max_run, target - count)
        start = int(rng.integers(0, max(1, n_frames - length + 1)))
        span = slice(start, min(start + length, n_frames))
        if taken[span].any():
            continue
        pair = rng.choice(n_individuals, size=2, replace=False)
        taken[span] = True
        mask[v, span, pair] = True
        count += span.stop - span.start
    return mask


def _swap(values: np.ndarray, swaps: np.ndarray) -> np.ndarray:
    """``values`` ``(member, view, time, keypoint, individual, ...)`` with the pair of animals of each
    swap ``(view, time, individual)`` exchanged."""
    out = values.copy()
    for v, t in zip(*np.nonzero(swaps.any(-1)), strict=True):
        a, b = np.flatnonzero(swaps[v, t])
        out[:, v, t, :, a], out[:, v, t, :, b] = values[:, v, t, :, b], values[:, v, t, :, a]
    return out


def make_ensemble_predictions(
    session_or_truth: SyntheticSession | np.ndarray,
    *,
    n_members: int = 5,
    noise_px: float = 2.0,
    shared_fraction: float = 0.6,
    noise_correlation: float = 0.5,
    occluded_noise_scale: float = 2.0,
    outlier_rate: float = 0.01,
    outlier_px: tuple[float, float] = (15.0, 60.0),
    outlier_spread_px: float = 0.5,
    max_outlier_run: int = 6,
    missing_rate: float = 0.02,
    missing_stretch: tuple[int, int] = (5, 30),
    identity_swap_rate: float = 0.0,
    max_swap_run: int = 10,
    seed: int = 0,
) -> EnsemblePredictions:
    """Simulated ensemble predictions with known errors (the model is in the module docstring).

    Args:
        session_or_truth: a session, or true pixels ``(view, time, keypoint, 2)`` (then every
            keypoint counts as visible, there are no image bounds, and the names are ``view0``,
            ... and ``keypoint0``, ...).
        n_members: ensemble size ``M``.
        noise_px: standard deviation of a member's error per coordinate where the keypoint shows.
        shared_fraction: part of that variance shared by all members (``rho``).
        noise_correlation: lag-one autocorrelation of the errors over frames.
        occluded_noise_scale: error multiplier where the keypoint is hidden.
        outlier_rate: fraction of ``(view, time, keypoint)`` entries that are outliers.
        outlier_px: range of the outlier offset length in pixels.
        outlier_spread_px: member scatter around the outlier spot per coordinate.
        max_outlier_run: longest run of outlier frames.
        missing_rate: fraction of entries missing on purpose (entries outside the image come on
            top of it).
        missing_stretch: range of the length in frames of a stretch of missing detections.
        identity_swap_rate: with several animals, the share of ``(view, time)`` entries in which
            two animals' detections are exchanged (runs of frames, one view at a time, from a
            random stream of their own: the other errors are the same with or without swaps).
        max_swap_run: longest run of swapped frames.
        seed: random seed.

    Returns:
        The predictions (clipped to the image, like a heatmap's peak), the truth and the masks of
        the planted events.
    """
    if isinstance(session_or_truth, SyntheticSession) and session_or_truth.individual_names:
        options = {
            "n_members": n_members,
            "noise_px": noise_px,
            "shared_fraction": shared_fraction,
            "noise_correlation": noise_correlation,
            "occluded_noise_scale": occluded_noise_scale,
            "outlier_rate": outlier_rate,
            "outlier_px": outlier_px,
            "outlier_spread_px": outlier_spread_px,
            "max_outlier_run": max_outlier_run,
            "missing_rate": missing_rate,
            "missing_stretch": missing_stretch,
        }
        return _several_animals(session_or_truth, options, identity_swap_rate, max_swap_run, seed)
    if identity_swap_rate:
        raise ValueError(f"identity_swap_rate: expected 0 for a session of one animal, but got {identity_swap_rate}")
    if isinstance(session_or_truth, SyntheticSession):
        session = session_or_truth
        truth = session.points2d
        visible = session.visible
        size = np.array(session.config.image_size, dtype=np.float64)
        names = session.view_names, session.keypoint_names
        fps, session_name = session.config.fps, session.config.session_name
    else:
        truth = np.asarray(session_or_truth, dtype=np.float64)
        if truth.ndim != 4 or truth.shape[-1] != 2 or not np.isfinite(truth).all():
            raise ValueError(f"truth: expected finite pixels (view, time, keypoint, 2), but got shape {truth.shape}")
        visible = np.ones(truth.shape[:-1], dtype=bool)
        size = None
        names = [f"view{v}" for v in range(truth.shape[0])], [f"keypoint{k}" for k in range(truth.shape[2])]
        fps, session_name = None, None
    if n_members < 1 or noise_px < 0 or not 0.0 <= shared_fraction <= 1.0:
        raise ValueError("Expected n_members >= 1, noise_px >= 0 and shared_fraction in [0, 1]")
    if not 0.0 <= noise_correlation < 1.0:
        raise ValueError(f"noise_correlation: expected a value in [0, 1), but got {noise_correlation}")
    V, T, K = truth.shape[:-1]
    rng = np.random.default_rng([seed, 4])

    # Errors: a part all members share plus each member's own, AR(1) over frames.
    shared = _ar1(rng, (T, V, K, 2), noise_correlation)
    own = _ar1(rng, (T, n_members, V, K, 2), noise_correlation)
    error = np.sqrt(shared_fraction) * shared[:, None] + np.sqrt(1.0 - shared_fraction) * own
    scale = noise_px * np.where(visible, 1.0, occluded_noise_scale)  # (V, T, K)
    error = np.moveaxis(error, 0, 2) * scale[..., None]  # (M, V, T, K, 2)
    position = truth + error
    dist = np.linalg.norm(error, axis=-1)
    confidence = np.exp(-0.5 * (dist / (3.0 * max(noise_px, 1e-9))) ** 2)
    confidence *= rng.uniform(0.85, 1.0, confidence.shape) * np.where(visible, 1.0, 0.5)

    if size is None:
        outside = np.zeros((V, T, K), dtype=bool)
    else:
        outside = ((truth < -0.5) | (truth >= size - 0.5)).any(-1)
    missing = _plant_missing(rng, visible, missing_rate, missing_stretch) | outside
    outliers = np.zeros((V, T, K), dtype=bool)
    for v, span, k in _plant_outliers(rng, missing, outlier_rate, max_outlier_run):
        outliers[v, span, k] = True
        # All members agree on one wrong spot, displaced towards the image centre when known.
        if size is None:
            angle = rng.uniform(-np.pi, np.pi)
        else:
            to_centre = (size - 1.0) / 2.0 - truth[v, span.start, k]
            angle = np.arctan2(to_centre[1], to_centre[0]) + rng.uniform(-0.5 * np.pi, 0.5 * np.pi)
        offset = rng.uniform(*outlier_px) * np.array([np.cos(angle), np.sin(angle)])
        n = span.stop - span.start
        scatter = outlier_spread_px * rng.standard_normal((n_members, n, 2))
        position[:, v, span, k] = truth[v, span, k] + offset + scatter
        confidence[:, v, span, k] = rng.uniform(0.6, 0.95, (n_members, n))
    if size is not None:
        position = np.clip(position, -0.5, size - 0.5)
    position[:, missing] = np.nan
    confidence[:, missing] = rng.uniform(0.0, 0.05, (n_members, int(missing.sum())))
    return EnsemblePredictions(
        position=position,
        confidence=np.clip(confidence, 0.0, 1.0),
        truth=truth,
        visible=visible,
        outlier_mask=outliers,
        missing_mask=missing,
        view_names=list(names[0]),
        keypoint_names=list(names[1]),
        fps=fps,
        session_name=session_name,
    )


def _several_animals(
    session: SyntheticSession, options: dict[str, Any], swap_rate: float, max_run: int, seed: int
) -> EnsemblePredictions:
    """:func:`make_ensemble_predictions` of a session of several animals: the animals' keypoints as
    the keypoints of one (the same error model), then the individual axis back and the swaps."""
    import dataclasses

    if not 0.0 <= swap_rate < 1.0:
        raise ValueError(f"identity_swap_rate: expected a share in [0, 1), but got {swap_rate}")
    V, T, K, I = session.visible.shape  # noqa: E741
    flat = dataclasses.replace(
        session,
        points2d=session.points2d.reshape(V, T, K * I, 2),
        visible=session.visible.reshape(V, T, K * I),
        motion=dataclasses.replace(session.motion, animals=(), individual_names=()),
    )
    one = make_ensemble_predictions(flat, seed=seed, **options)
    M = one.position.shape[0]
    swaps = _plant_swaps(np.random.default_rng([seed, 6]), V, T, I, swap_rate, max_run)
    position = _swap(one.position.reshape(M, V, T, K, I, 2), swaps)
    confidence = _swap(one.confidence.reshape(M, V, T, K, I), swaps)
    return dataclasses.replace(
        one,
        position=position,
        confidence=confidence,
        truth=session.points2d,
        visible=session.visible,
        outlier_mask=one.outlier_mask.reshape(V, T, K, I),
        missing_mask=one.missing_mask.reshape(V, T, K, I),
        keypoint_names=session.keypoint_names,
        individual_names=session.individual_names,
        swap_mask=swaps,
    )
