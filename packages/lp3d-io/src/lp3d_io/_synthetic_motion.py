"""Articulated skeletons and their smooth motion around an arena (the truth of a synthetic session).

A skeleton is a tree of keypoints. Each keypoint ``k`` hangs from its parent by a fixed offset
``o_k`` (millimetres, rest pose, body frame: x forward, y left, z up) and turns with a local joint
rotation ``L_k(t) = Rz(yaw_k(t)) Ry(pitch_k(t))`` that its children inherit::

    R_root(t) = Rz(heading(t)) Ry(pitch(t)) Rx(roll(t)),       X_root(t) = (x(t), y(t), h + bob(t))
    R_k(t) = R_parent(k)(t) L_k(t),                            X_k(t) = X_parent(k)(t) + R_k(t) o_k

so every bone keeps its length exactly. The body walks on the floor ``z = 0`` with a speed and a
turn rate that are sums of slow random sinusoids, steered back towards the centre near the edge of
its path; the legs swing in a trot whose phase advances with the distance walked, the head bobs
and looks around, and the tail sways.

**Rearing** (``rearing > 0``: the share of the time spent in rearing bouts): the animal stops and
stops turning, pitches its body nose-up by up to ``_REAR_PITCH`` about its hips (the tail base
stays where it was), the hind legs and the tail keep their angle to the floor, the front legs fold
forward and the head looks up. Bouts rise and fall smoothly (``rear(t)`` in ``[0, 1]``); they come
from their own random stream, so a session without rearing is the same as before rearing existed.

**Several animals** (:func:`simulate_animals`): the first walks exactly as a lone animal would; each
other one walks with random streams of its own and a skeleton of another size and colour
(:func:`restyled`), and reacts to those before it: in *approach* bouts (smooth, 1-3 s, about
``approach`` of the time) it steers towards the nearest of them, and its body centre keeps at least
``min_gap`` mm from theirs (it is pushed aside and slides round them: the bodies touch, nose to
flank, but do not pass through each other).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Skeleton", "SKELETONS", "get_skeleton", "restyled", "simulate_skeleton_motion", "simulate_animals"]


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A keypoint tree with its drawing style.

    Attributes:
        name: registry key.
        keypoint_names: ``K`` names.
        parents: parent index of each keypoint, ``-1`` for the root (parents come first).
        offsets: rest offset of each keypoint from its parent in the parent's frame, ``(K, 3)`` mm;
            the root's entry is ``(0, 0, height above the floor)``.
        edges: drawn bones as ``(i, j)`` keypoint index pairs.
        edge_radius: bone radius in mm, one per edge.
        edge_color: bone RGB colour, one per edge.
        joint_radius: keypoint marker radius in mm, ``(K,)``.
        joint_color: keypoint marker RGB colour, ``(K, 3)`` uint8, all distinct.
    """

    name: str
    keypoint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    edges: tuple[tuple[int, int], ...]
    edge_radius: tuple[float, ...]
    edge_color: tuple[tuple[int, int, int], ...]
    joint_radius: np.ndarray
    joint_color: np.ndarray

    def index(self, name: str) -> int:
        """Position of keypoint ``name``."""
        return self.keypoint_names.index(name)


def _distinct_colors(n: int) -> np.ndarray:
    """``n`` saturated RGB colours with evenly spaced hues, ``(n, 3)`` uint8."""
    hue = np.arange(n) / n
    k = (hue[:, None] * 6.0 + np.array([5.0, 3.0, 1.0])) % 6.0
    rgb = 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)  # HSV -> RGB with S = V = 1
    return np.round(255.0 * (0.15 + 0.85 * rgb)).astype(np.uint8)


def _quadruped() -> Skeleton:
    fur, head, leg = (176, 132, 96), (190, 150, 110), (128, 92, 64)
    tail, ear = (200, 150, 140), (214, 160, 160)
    # name, parent, offset (mm, parent frame), joint radius (mm)
    spec = [
        ("back", "", (0.0, 0.0, 23.0), 4.0),
        ("neck", "back", (24.0, 0.0, 1.0), 4.0),
        ("nose", "neck", (26.0, 0.0, -7.0), 3.5),
        ("ear_left", "neck", (10.0, 8.0, 7.0), 3.0),
        ("ear_right", "neck", (10.0, -8.0, 7.0), 3.0),
        ("tail_base", "back", (-28.0, 0.0, -3.0), 4.0),
        ("tail_tip", "tail_base", (-40.0, 0.0, -12.0), 3.0),
        ("front_left_paw", "neck", (-2.0, 10.0, -21.5), 3.0),
        ("front_right_paw", "neck", (-2.0, -10.0, -21.5), 3.0),
        ("hind_left_paw", "tail_base", (4.0, 11.0, -17.5), 3.0),
        ("hind_right_paw", "tail_base", (4.0, -11.0, -17.5), 3.0),
    ]
    names = tuple(s[0] for s in spec)
    bones = [
        ("back", "neck", 10.0, fur),
        ("neck", "nose", 7.0, head),
        ("neck", "ear_left", 2.5, ear),
        ("neck", "ear_right", 2.5, ear),
        ("back", "tail_base", 11.0, fur),
        ("tail_base", "tail_tip", 2.5, tail),
        ("neck", "front_left_paw", 3.0, leg),
        ("neck", "front_right_paw", 3.0, leg),
        ("tail_base", "hind_left_paw", 3.5, leg),
        ("tail_base", "hind_right_paw", 3.5, leg),
    ]
    return Skeleton(
        name="quadruped",
        keypoint_names=names,
        parents=tuple(names.index(p) if p else -1 for _, p, _, _ in spec),
        offsets=np.array([s[2] for s in spec]),
        edges=tuple((names.index(a), names.index(b)) for a, b, _, _ in bones),
        edge_radius=tuple(r for _, _, r, _ in bones),
        edge_color=tuple(c for _, _, _, c in bones),
        joint_radius=np.array([s[3] for s in spec]),
        joint_color=_distinct_colors(len(spec)),
    )


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, timescale: float, n: int = 6) -> np.ndarray:
    """A smooth zero-mean signal of unit standard deviation over times ``t`` (s): ``(time,)``.

    A sum of ``n`` sinusoids with random frequencies below ``1 / timescale`` and random phases.
    """
    freq = rng.uniform(0.15, 1.0, n) / timescale
    phase = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.sqrt(2.0 / n) * np.sin(2.0 * np.pi * freq * t[:, None] + phase).sum(axis=1)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _walk(
    rng: np.random.Generator,
    n_frames: int,
    fps: float,
    path_radius: float,
    speed: float,
    others: np.ndarray | None = None,
    approach: np.ndarray | None = None,
    min_gap: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Floor position ``(time, 2)`` mm, heading ``(time,)`` rad and speed ``(time,)`` mm/s.

    With ``others`` ``(animal, time, 2)`` (the body centres of the animals already there): steer
    towards the nearest one by ``approach(t)`` ``(time,)`` in ``[0, 1]``, and keep ``min_gap`` mm
    from each (module docstring).
    """
    t = np.arange(n_frames) / fps
    # Stop-and-go: the speed is zero for part of the time and saturates at ``speed``.
    v = speed * np.clip(0.45 + 0.6 * _smooth_noise(rng, t, 3.0), 0.0, 1.0)
    turn = 1.6 * _smooth_noise(rng, t, 1.5)
    pos = np.empty((n_frames, 2))
    heading = np.empty(n_frames)
    r0 = path_radius * 0.5 * math.sqrt(rng.uniform())
    a0 = rng.uniform(0.0, 2.0 * math.pi)
    x, y, h = r0 * math.cos(a0), r0 * math.sin(a0), rng.uniform(-math.pi, math.pi)
    dt = 1.0 / fps
    for i, (speed_i, turn_i) in enumerate(zip(v.tolist(), turn.tolist(), strict=True)):
        if others is not None:
            x, y = _keep_apart(x, y, others[:, i], min_gap, path_radius)
        pos[i], heading[i] = (x, y), h
        # Steer towards the centre, gently in the middle and hard near the edge of the path.
        to_centre = (math.atan2(-y, -x) - h + math.pi) % (2.0 * math.pi) - math.pi
        steer = turn_i + 6.0 * (math.hypot(x, y) / path_radius) ** 4 * to_centre
        if others is not None and approach is not None:
            # Towards the nearest other animal in a bout; else away from it when near.
            ox, oy = min(others[:, i].tolist(), key=lambda o: math.hypot(o[0] - x, o[1] - y))
            to_other = (math.atan2(oy - y, ox - x) - h + math.pi) % (2.0 * math.pi) - math.pi
            near = max(0.0, 1.0 - math.hypot(ox - x, oy - y) / (3.0 * max(min_gap, 1e-9)))
            steer += 4.0 * approach[i] * to_other - 3.0 * (1.0 - approach[i]) * near * to_other
        h += dt * steer
        x, y = x + dt * speed_i * math.cos(h), y + dt * speed_i * math.sin(h)
        r = math.hypot(x, y)
        if r > path_radius:  # a wall: slide along it
            x, y = x * path_radius / r, y * path_radius / r
    return pos, heading, v


def _keep_apart(x: float, y: float, others: np.ndarray, min_gap: float, path_radius: float) -> tuple[float, float]:
    """``(x, y)`` pushed out to ``min_gap`` from each of ``others`` ``(animal, 2)`` (then back inside
    the path: against a wall, the wall wins)."""
    for ox, oy in others.tolist():
        dx, dy = x - ox, y - oy
        d = math.hypot(dx, dy)
        if d < min_gap:
            if d < 1e-9:
                dx, dy, d = 1.0, 0.0, 1.0
            x, y = ox + dx * min_gap / d, oy + dy * min_gap / d
    r = math.hypot(x, y)
    if r > path_radius:
        x, y = x * path_radius / r, y * path_radius / r
    return x, y


_REAR_PITCH = 1.0  # rad (57 degrees) of body pitch at the height of a rearing bout


def rearing_bouts(rng: np.random.Generator, n_frames: int, fps: float, share: float) -> np.ndarray:
    """``rear(t)`` in ``[0, 1]`` ``(time,)``: smooth bouts of 1-3 s covering about ``share`` of the time."""
    rear = np.zeros(n_frames)
    if share <= 0 or n_frames < 2:
        return rear
    t = 0.0
    duration_s = n_frames / fps
    while t < duration_s:
        length = rng.uniform(1.0, 3.0)
        t += rng.exponential(length * (1.0 - share) / share)  # the pause before the bout
        start, stop = int(t * fps), int((t + length) * fps)
        if start >= n_frames:
            break
        ramp = max(1, int(0.3 * fps))  # rise and fall over 0.3 s
        k = np.arange(start, min(stop, n_frames))
        up = np.clip((k - start + 1) / ramp, 0.0, 1.0)
        down = np.clip((stop - k) / ramp, 0.0, 1.0)
        rear[k] = np.maximum(rear[k], 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down)))
        t += length
    return rear


def _quadruped_angles(
    rng: np.random.Generator,
    skeleton: Skeleton,
    t: np.ndarray,
    phase: np.ndarray,
    gait: np.ndarray,
    rear: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Local joint angles ``(time, K, 2)`` (yaw, pitch), body pitch, roll and bob ``(time,)``."""
    angles = np.zeros((t.size, len(skeleton.keypoint_names), 2))
    i = skeleton.index
    # Trot: diagonal legs in phase; a forward swing of the leg is a negative pitch.
    for name, lag in [
        ("front_left_paw", 0.0),
        ("hind_right_paw", 0.0),
        ("front_right_paw", np.pi),
        ("hind_left_paw", np.pi),
    ]:
        angles[:, i(name), 1] = -0.5 * gait * np.sin(phase + lag)
    look = 0.35 * _smooth_noise(rng, t, 1.2)
    nod = 0.12 * _smooth_noise(rng, t, 1.0) + 0.1 * gait * np.sin(2.0 * phase)
    for name in ("nose", "ear_left", "ear_right"):
        angles[:, i(name), 0] = look
        angles[:, i(name), 1] = nod
    angles[:, i("tail_tip"), 0] = 0.35 * np.sin(0.5 * phase) + 0.25 * _smooth_noise(rng, t, 1.0)
    angles[:, i("tail_tip"), 1] = 0.1 * _smooth_noise(rng, t, 1.5) ** 2  # >= 0: lifts the tail
    pitch = 0.05 * _smooth_noise(rng, t, 2.0)
    roll = 0.04 * gait * np.sin(phase)
    bob = 0.8 * gait * np.cos(2.0 * phase)
    if rear.any():  # nose up about the hips: hind legs stay vertical, front legs fold, the head looks up
        body = -_REAR_PITCH * rear
        pitch = pitch + body
        for name in ("hind_left_paw", "hind_right_paw", "tail_tip"):  # they keep their walking angles
            angles[:, i(name), 1] -= body
        for name in ("front_left_paw", "front_right_paw"):
            angles[:, i(name), 1] -= 0.5 * body + 0.6 * rear
        for name in ("nose", "ear_left", "ear_right"):
            angles[:, i(name), 1] += 0.35 * body
    return angles, pitch, roll, bob


_ANIMATIONS: dict[str, Callable] = {"quadruped": _quadruped_angles}
SKELETONS: dict[str, Callable[[], Skeleton]] = {"quadruped": _quadruped}


def _hip_offset(skeleton: Skeleton, root: int) -> np.ndarray:
    """The root's offset to its hindmost child (the tail base of the quadruped), ``(3,)`` mm."""
    children = [k for k, p in enumerate(skeleton.parents) if p == root]
    return skeleton.offsets[min(children, key=lambda k: skeleton.offsets[k, 0])]


def get_skeleton(name: str) -> Skeleton:
    """The skeleton registered as ``name``."""
    if name not in SKELETONS:
        raise ValueError(f"Expected a skeleton in {sorted(SKELETONS)}, but got {name!r}")
    return SKELETONS[name]()


def simulate_skeleton_motion(
    skeleton: Skeleton,
    n_frames: int,
    fps: float,
    path_radius: float,
    speed: float,
    rng: np.random.Generator,
    rearing: float = 0.0,
    rearing_rng: np.random.Generator | None = None,
    *,
    others: np.ndarray | None = None,
    approach: np.ndarray | None = None,
    min_gap: float = 0.0,
) -> np.ndarray:
    """World keypoint positions ``(time, K, 3)`` in mm of ``skeleton`` walking around the arena.

    Args:
        skeleton: the animal.
        n_frames: number of frames.
        fps: frames per second.
        path_radius: the body's centre stays within this distance (mm) of the arena centre.
        speed: top walking speed in mm/s.
        rng: the random stream (everything is deterministic given its state).
        rearing: share of the time spent in rearing bouts (see the module docstring).
        rearing_rng: the random stream of the bouts (required when ``rearing > 0``).
        others: ``(animal, time, 2)`` floor positions of the body centres of other animals: keep
            ``min_gap`` mm from them, and steer towards the nearest by ``approach`` ``(time,)``
            (module docstring); None: alone.
    """
    t = np.arange(n_frames) / fps
    pos, heading, v = _walk(rng, n_frames, fps, path_radius, speed, others, approach, min_gap)
    rear = rearing_bouts(rearing_rng, n_frames, fps, rearing) if rearing > 0 else np.zeros(n_frames)
    if rear.any():  # the animal stands still while it rears: it walks and turns only (1 - rear) of each step
        still = 1.0 - rear[1:]
        pos = pos[0] + np.concatenate([np.zeros((1, 2)), np.cumsum(np.diff(pos, axis=0) * still[:, None], axis=0)])
        heading = heading[0] + np.concatenate([[0.0], np.cumsum(np.diff(heading) * still)])
        v = v * (1.0 - rear)
        if others is not None:  # standing still, it is pushed aside by the others
            for i in range(n_frames):
                pos[i] = _keep_apart(*pos[i].tolist(), others[:, i], min_gap, path_radius)
    stride = 45.0  # mm walked per gait cycle
    phase = 2.0 * np.pi * np.cumsum(v) / fps / stride + rng.uniform(0.0, 2.0 * np.pi)
    gait = np.clip(v / (0.4 * max(speed, 1e-9)), 0.0, 1.0)
    angles, pitch, roll, bob = _ANIMATIONS[skeleton.name](rng, skeleton, t, phase, gait, rear)

    K = len(skeleton.keypoint_names)
    rot = np.empty((n_frames, K, 3, 3))
    out = np.empty((n_frames, K, 3))
    local = _rot_z(angles[..., 0]) @ _rot_y(angles[..., 1])  # (time, K, 3, 3)
    for k, parent in enumerate(skeleton.parents):
        if parent < 0:
            rot[:, k] = _rot_z(heading) @ _rot_y(pitch) @ _rot_x(roll) @ local[:, k]
            out[:, k, :2] = pos + skeleton.offsets[k, :2]
            out[:, k, 2] = skeleton.offsets[k, 2] + bob
            if rear.any():  # pivot about the hips: the root's first child towards the tail stays put
                hips = _hip_offset(skeleton, k)
                level = _rot_z(heading) @ _rot_x(roll)
                out[:, k] += np.einsum("tij,j->ti", level, hips) - np.einsum("tij,j->ti", rot[:, k], hips)
        else:
            rot[:, k] = rot[:, parent] @ local[:, k]
            out[:, k] = out[:, parent] + np.einsum("tij,j->ti", rot[:, k], skeleton.offsets[k])
    return out


def restyled(skeleton: Skeleton, scale: float, body: float, joints: float) -> Skeleton:
    """``skeleton`` ``scale`` times larger (bones, radii, height), its bones' colours times ``body``
    and its keypoints' colours times ``joints`` (another animal of the same kind)."""

    def tint(rgb: Sequence[int], factor: float) -> tuple[int, int, int]:
        r, g, b = (int(np.clip(round(c * factor), 0, 255)) for c in rgb)
        return r, g, b

    return dataclasses.replace(
        skeleton,
        offsets=skeleton.offsets * scale,
        edge_radius=tuple(r * scale for r in skeleton.edge_radius),
        edge_color=tuple(tint(c, body) for c in skeleton.edge_color),
        joint_radius=skeleton.joint_radius * scale,
        joint_color=np.array([tint(c, joints) for c in skeleton.joint_color], dtype=np.uint8),
    )


_APPROACH_SHARE = 0.25  # share of the time another animal spends approaching


def simulate_animals(
    skeletons: Sequence[Skeleton],
    n_frames: int,
    fps: float,
    path_radius: float,
    speed: float,
    rngs: Sequence[tuple[np.random.Generator, np.random.Generator]],
    rearing: float = 0.0,
    min_gap: float = 45.0,
) -> np.ndarray:
    """World keypoint positions ``(time, K, animal, 3)`` in mm of several animals in one arena
    (module docstring): the first exactly as :func:`simulate_skeleton_motion` alone, each other one
    keeping ``min_gap`` mm from those before it and approaching them in bouts.

    Args:
        skeletons: one per animal (same keypoints).
        rngs: per animal, its motion stream and its bouts' stream (rearing, approaches).
        n_frames, fps, path_radius, speed, rearing: as :func:`simulate_skeleton_motion`.
        min_gap: least distance between body centres, mm.
    """
    tracks: list[np.ndarray] = []
    for a, (skeleton, (rng, bouts)) in enumerate(zip(skeletons, rngs, strict=True)):
        if a == 0:
            tracks.append(simulate_skeleton_motion(skeleton, n_frames, fps, path_radius, speed, rng, rearing, bouts))
            continue
        approach = rearing_bouts(bouts, n_frames, fps, _APPROACH_SHARE)
        root = skeleton.parents.index(-1)
        others = np.stack([track[:, root, :2] for track in tracks])  # (animal, time, 2)
        tracks.append(
            simulate_skeleton_motion(
                skeleton,
                n_frames,
                fps,
                path_radius,
                speed,
                rng,
                rearing,
                bouts,
                others=others,
                approach=approach,
                min_gap=min_gap,
            )
        )
    return np.stack(tracks, axis=2)
