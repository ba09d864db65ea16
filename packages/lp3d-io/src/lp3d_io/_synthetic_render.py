"""Rendering a skeleton through calibrated cameras with OpenCV drawing, and which keypoints show.

The floor is one texture in world coordinates (a checker with value noise, the arena inside a dark
rim) ray-cast through each camera, distortion included, so all views agree on it. The animal is a
set of items painted far to near: every bone is cut into short pieces (anti-aliased thick lines,
Lambert-shaded by the bone's angle to the light) and every keypoint is a disc in its own colour
with a dark one-pixel rim.

An item's depth key is the camera depth of its centre; a disc's key is brought forward by the
radius of the thickest bone that meets in it (a keypoint lies on the surface of the body) and in
front of the pieces at the ends of its own bones (a keypoint is painted over its bones). A keypoint
is *visible* in a view when it projects inside the image and no item painted after it comes within
a pixel of its centre; the renderer and that test use the same items, keys and pixel sizes, so the
labels agree with the pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from lp3d_eks.camera import CameraRig

from lp3d_io._synthetic_motion import Skeleton

__all__ = ["Geometry", "floor_images", "scene_geometry", "visibility", "draw_frames"]

_PIECES = 3  # pieces per bone
_SHIFT = 4  # fractional bits of OpenCV drawing coordinates
_MIN_JOINT_PX = 2.0  # a keypoint disc is at least this radius, so a small network sees it
_MARGIN_PX = 1.0  # a keypoint this close to the edge of a nearer item counts as hidden
_TEXEL_MM = 1.0
_LIGHT = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
_OUTSIDE = (70, 74, 82)  # what lies beyond the floor texture


def floor_texture(arena_radius: float, seed: int) -> tuple[np.ndarray, float]:
    """The floor as an RGB image in world coordinates, and its half-width in mm.

    Texel ``(row, col)`` has its centre at ``x = -S + (col + 0.5) t``, ``y = S - (row + 0.5) t``.
    """
    half = 3.0 * arena_radius
    n = int(np.ceil(2.0 * half / _TEXEL_MM))
    c = -half + (np.arange(n) + 0.5) * _TEXEL_MM
    x, y = np.meshgrid(c, -c)
    r = np.hypot(x, y)
    checker = ((np.floor(x / 20.0) + np.floor(y / 20.0)) % 2.0)[..., None]
    inside = np.array([200.0, 194.0, 180.0]) * (1.0 - 0.16 * checker)
    outside = np.array([120.0, 126.0, 136.0]) * (1.0 - 0.12 * checker)
    rgb = np.where((r < arena_radius)[..., None], inside, outside)
    rim = np.abs(r - arena_radius - 3.0) < 3.0
    rgb[rim] = (62.0, 60.0, 70.0)
    rng = np.random.default_rng([seed, 3])
    noise = cv2.resize(rng.random((40, 40)), (n, n), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(rng.random((300, 300)), (n, n), interpolation=cv2.INTER_LINEAR)
    light = 1.0 - 0.3 * np.clip(r / half, 0.0, 1.0) ** 2
    rgb *= (light * (0.82 + 0.3 * noise + 0.08 * fine))[..., None]
    return np.clip(rgb, 0.0, 255.0).astype(np.uint8), half


def floor_images(rig: CameraRig, arena_radius: float, seed: int, supersample: int = 2) -> np.ndarray:
    """The empty floor seen by every camera, ``(view, H, W, 3)`` uint8 RGB.

    Rays through ``supersample x supersample`` points per pixel are undistorted, intersected with
    the floor ``z = 0`` and looked up in the texture; the samples are averaged.
    """
    tex, half = floor_texture(arena_radius, seed)
    out = []
    for cam in rig.cameras:
        w, h = cam.size
        s = supersample
        u = (np.arange(w * s) + 0.5) / s - 0.5
        v = (np.arange(h * s) + 0.5) / s - 0.5
        pix = np.stack(np.meshgrid(u, v), axis=-1)
        norm = cam.undistort(pix)
        rays = np.concatenate([norm, np.ones(norm.shape[:-1] + (1,))], -1) @ cam.rotation
        centre = -cam.rotation.T @ cam.tvec
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(rays[..., 2] < -1e-9, -centre[2] / rays[..., 2], np.nan)
        x = centre[0] + dist * rays[..., 0]
        y = centre[1] + dist * rays[..., 1]
        col = np.nan_to_num((x + half) / _TEXEL_MM - 0.5, nan=-1e4, posinf=-1e4, neginf=-1e4)
        row = np.nan_to_num((half - y) / _TEXEL_MM - 0.5, nan=-1e4, posinf=-1e4, neginf=-1e4)
        big = cv2.remap(
            tex,
            np.clip(col, -1e4, 1e4).astype(np.float32),
            np.clip(row, -1e4, 1e4).astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=_OUTSIDE,
        )
        out.append(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA))
    return np.stack(out)


@dataclass(frozen=True)
class Geometry:
    """The drawable items of some frames in every view (pixels, camera depths in mm).

    Attributes:
        joint_uv: keypoint pixels ``(view, time, K, 2)``.
        joint_px: disc radius in pixels ``(view, time, K)``.
        joint_key: painter's depth key ``(view, time, K)`` (larger is painted first).
        piece_uv: bone piece end pixels ``(view, time, P, 2, 2)``.
        piece_width: line thickness in whole pixels ``(view, time, P)``.
        piece_key: painter's depth key ``(view, time, P)``.
        piece_edge: the bone of each piece ``(P,)``.
        shade: Lambert factor of each bone ``(time, E)``.
        shadow_uv: pixels of the keypoints dropped onto the floor ``(view, time, K, 2)``.
        shadow_width: line thickness of each bone's shadow ``(view, time, E)``.
    """

    joint_uv: np.ndarray
    joint_px: np.ndarray
    joint_key: np.ndarray
    piece_uv: np.ndarray
    piece_width: np.ndarray
    piece_key: np.ndarray
    piece_edge: np.ndarray
    shade: np.ndarray
    shadow_uv: np.ndarray
    shadow_width: np.ndarray


def _surface_radius(skeleton: Skeleton) -> np.ndarray:
    """How far in front of its centre a keypoint's disc lies ``(K,)`` mm: on the surface of the
    thickest bone that meets there (a keypoint on the spine is drawn on the back, not inside)."""
    out = np.array(skeleton.joint_radius, dtype=np.float64)
    for (i, j), r in zip(skeleton.edges, skeleton.edge_radius, strict=True):
        out[i], out[j] = max(out[i], r), max(out[j], r)
    return out


def scene_geometry(rig: CameraRig, skeleton: Skeleton, points3d: np.ndarray) -> Geometry:
    """Items to draw for keypoints ``points3d`` ``(time, K, 3)`` mm seen by every camera of ``rig``."""
    T, K = points3d.shape[:2]
    edges = np.array(skeleton.edges)
    E = len(edges)
    frac = np.linspace(0.0, 1.0, _PIECES + 1)[:, None]
    a, b = points3d[:, edges[:, 0]], points3d[:, edges[:, 1]]  # (T, E, 3)
    cuts = a[:, :, None] + frac * (b - a)[:, :, None]  # (T, E, pieces + 1, 3)
    floor = points3d * [1.0, 1.0, 0.0]
    world = np.concatenate([points3d, cuts.reshape(T, -1, 3), floor], axis=1)
    uv = rig.project(world)  # (V, T, N, 2)
    R = np.stack([c.rotation for c in rig.cameras])
    t = np.stack([c.tvec for c in rig.cameras])
    depth = np.einsum("vj,tnj->vtn", R[:, 2], world) + t[:, 2, None, None]
    focal = np.array([0.5 * (c.matrix[0, 0] + c.matrix[1, 1]) for c in rig.cameras])[:, None, None]

    joint_depth = depth[..., :K]
    joint_px = np.maximum(_MIN_JOINT_PX, focal * skeleton.joint_radius / joint_depth)
    n_cuts = E * (_PIECES + 1)
    cut_uv = uv[:, :, K : K + n_cuts].reshape(len(rig), T, E, _PIECES + 1, 2)
    cut_depth = depth[..., K : K + n_cuts].reshape(len(rig), T, E, _PIECES + 1)
    piece_uv = np.stack([cut_uv[:, :, :, :-1], cut_uv[:, :, :, 1:]], axis=-2)  # (V, T, E, p, 2, 2)
    piece_depth = 0.5 * (cut_depth[..., :-1] + cut_depth[..., 1:])
    radius = np.asarray(skeleton.edge_radius)[:, None]
    piece_width = np.maximum(1, np.rint(2.0 * focal[..., None] * radius / piece_depth))

    # A disc lies on the body's surface and over the ends of its own bones.
    joint_key = joint_depth - _surface_radius(skeleton)
    for e, (i, j) in enumerate(skeleton.edges):
        for k, end in ((i, piece_depth[..., e, 0]), (j, piece_depth[..., e, -1])):
            joint_key[..., k] = np.minimum(joint_key[..., k], end - 1e-6)
    direction = (b - a) / np.linalg.norm(b - a, axis=-1, keepdims=True)
    shade = 0.6 + 0.4 * np.sqrt(np.clip(1.0 - (direction @ _LIGHT) ** 2, 0.0, 1.0))
    edge_depth = 0.5 * (joint_depth[..., edges[:, 0]] + joint_depth[..., edges[:, 1]])
    shadow_width = np.maximum(1, np.rint(2.0 * focal * np.asarray(skeleton.edge_radius) / edge_depth))
    return Geometry(
        joint_uv=uv[:, :, :K],
        joint_px=joint_px,
        joint_key=joint_key,
        piece_uv=piece_uv.reshape(len(rig), T, E * _PIECES, 2, 2),
        piece_width=piece_width.reshape(len(rig), T, E * _PIECES).astype(np.int64),
        piece_key=piece_depth.reshape(len(rig), T, E * _PIECES),
        piece_edge=np.repeat(np.arange(E), _PIECES),
        shade=shade,
        shadow_uv=uv[:, :, -K:],
        shadow_width=shadow_width.astype(np.int64),
    )


def visibility(geom: Geometry, sizes: list[tuple[int, int]]) -> np.ndarray:
    """Whether each keypoint shows ``(view, time, K)``: inside its image and not painted over.

    Args:
        geom: the items, as drawn by :func:`draw_frames`.
        sizes: image ``(width, height)`` of each view.
    """
    p = geom.joint_uv[:, :, :, None]  # (V, T, K, 1, 2)
    a, b = geom.piece_uv[:, :, None, :, 0], geom.piece_uv[:, :, None, :, 1]  # (V, T, 1, P, 2)
    ab = b - a
    along = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    gap = np.linalg.norm(p - (a + along[..., None] * ab), axis=-1)  # (V, T, K, P)
    over = geom.piece_key[:, :, None, :] < geom.joint_key[..., None]
    hidden = (over & (gap < 0.5 * geom.piece_width[:, :, None, :] + _MARGIN_PX)).any(-1)
    gap = np.linalg.norm(p - geom.joint_uv[:, :, None], axis=-1)  # (V, T, K, K)
    over = geom.joint_key[:, :, None, :] < geom.joint_key[..., None]
    hidden |= (over & (gap < geom.joint_px[:, :, None, :] + 1.0 + _MARGIN_PX)).any(-1)
    wh = np.array(sizes, dtype=np.float64)[:, None, None]  # (V, 1, 1, 2)
    uv = geom.joint_uv
    inside = ((uv >= -0.5) & (uv < wh - 0.5)).all(-1)
    return inside & ~hidden


def _fixed(uv: np.ndarray) -> np.ndarray:
    """Pixel coordinates as OpenCV fixed-point integers (``_SHIFT`` fractional bits)."""
    return np.rint(np.clip(uv, -1e5, 1e5) * (1 << _SHIFT)).astype(np.int64)


def draw_frames(geom: Geometry, skeleton: Skeleton, floors: np.ndarray) -> np.ndarray:
    """Paints the items over the floors: ``(view, time, H, W, 3)`` uint8 RGB.

    Args:
        geom: the items of ``time`` frames.
        skeleton: colours of the bones and keypoints.
        floors: the empty floor of each view ``(view, H, W, 3)``.
    """
    V, T, K = geom.joint_key.shape
    P = geom.piece_key.shape[-1]
    edges = skeleton.edges
    edge_color = np.asarray(skeleton.edge_color, dtype=np.float64)
    joint_color = [tuple(int(c) for c in rgb) for rgb in skeleton.joint_color]
    rim_color = [tuple(int(0.55 * c) for c in rgb) for rgb in skeleton.joint_color]
    order = np.argsort(-np.concatenate([geom.piece_key, geom.joint_key], -1), axis=-1, kind="stable")
    piece_uv, joint_uv, shadow_uv = _fixed(geom.piece_uv), _fixed(geom.joint_uv), _fixed(geom.shadow_uv)
    joint_px = np.rint(geom.joint_px * (1 << _SHIFT)).astype(np.int64)
    out = np.empty((V, T) + floors.shape[1:], dtype=np.uint8)
    shadow = np.empty(floors.shape[1:3], dtype=np.uint8)
    aa = cv2.LINE_AA
    darken = np.float32(0.4 / 255.0)
    rim = 1 << _SHIFT
    for t in range(T):
        colors = edge_color * geom.shade[t, :, None]
        piece_color = [tuple(float(c) for c in rgb) for rgb in colors[geom.piece_edge]]
        for v in range(V):
            shadow[:] = 0
            s_uv, s_w = shadow_uv[v, t].tolist(), geom.shadow_width[v, t].tolist()
            for e, (i, j) in enumerate(edges):
                cv2.line(shadow, s_uv[i], s_uv[j], 255, s_w[e], aa, _SHIFT)
            soft = cv2.GaussianBlur(shadow, (5, 5), 0)
            img = out[v, t]
            img[:] = floors[v] * (1.0 - darken * soft)[..., None]
            p_uv, p_w = piece_uv[v, t].tolist(), geom.piece_width[v, t].tolist()
            j_uv, j_px = joint_uv[v, t].tolist(), joint_px[v, t].tolist()
            for item in order[v, t].tolist():
                if item < P:
                    (a, b) = p_uv[item]
                    cv2.line(img, a, b, piece_color[item], p_w[item], aa, _SHIFT)
                else:
                    k = item - P
                    cv2.circle(img, j_uv[k], j_px[k] + rim, rim_color[k], -1, aa, _SHIFT)
                    cv2.circle(img, j_uv[k], j_px[k], joint_color[k], -1, aa, _SHIFT)
    return out
