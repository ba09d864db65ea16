"""Distillation where it should pay off: few, unrepresentative labels and long, varied videos.

The scenario. A synthetic calibrated rig (``--views`` cameras, 96 px images) films ``--sessions``
sessions of ``--frames`` frames each; the animal walks, runs, turns, and rears (``--rearing`` of
the time: nose-up poses about the hips, front legs folded). The lab labels ``--labels`` frames, all
from a small part of the data: the first third of session 0, frames where the animal does not
rear and stands in one half of the arena (``x > 0``), optionally with human-like label noise
(``--label-noise`` px, Gaussian). The test frames are ``--test`` frames of every session, away from
the labeled ones (never trained on, never pseudo-labeled); each is *near* the labels or *far* from
them by the distance of its pose to the nearest labeled pose in normalised 3D pose space (centred
on the keypoints' mean, divided by their RMS spread): far is more than twice the median
nearest-neighbour distance among the labeled poses.

The arms, each trained to convergence on its own data (``--teacher-steps``, ``--student-steps``;
the table says how far each run's validation error still moved over its last quarter):

- teacher members (``--members`` seeds, labels only), the ensemble (median), ensemble + EKS;
- students trained on labels + ``--pseudo`` pseudo-labeled frames chosen by
  (a) the EKS posterior variance and inflation criterion with EKS positions (lp3d's
  default: confident, then diverse), (b) random unlabeled frames with EKS positions, (c) the
  ensemble variance alone with the ensemble median's positions (no EKS), (d) confident *and novel*:
  (a)'s candidates restricted to the poses farthest from the labeled ones (novelty at least the
  median), the most confident frame of each pose cluster, (e) random unlabeled frames with EKS
  positions and every pseudo-label weighing 1 (no uncertainty anywhere); each from scratch and
  warm-started from a teacher member;
- the equal-compute control: a teacher member trained as many more steps on the labels alone;
- each student + EKS (the student alone is one model: the smoother gets one member).

Reported on the test frames, near and far apart: the 2D error (pixels, every view) and the 3D
error (mm; the smoother's 3D, else the DLT of the views' predictions), mean over ``--seeds``
training seeds with the range, and the CPU seconds of each arm's training. The pseudo-labels
themselves are scored against the truth too (how accurate is what the student learns from).

    .venv/bin/python bench/bench_distill.py                 # the full run (see bench/RESULTS.md for its time)
    .venv/bin/python bench/bench_distill.py --quick         # a smoke test: tiny budgets, minutes
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

SCRATCH, WARM = "scratch", "warm"


@dataclass
class World:
    """The simulated sessions, their files, the labels and the test frames."""

    root: Path  # the labeled project (session 0's folder)
    sessions: list  # SyntheticSession, one per session
    folders: list[Path]
    labeled: np.ndarray  # frames of session 0 with labels
    test: dict[str, np.ndarray]  # session name -> test frames
    far: dict[str, np.ndarray]  # session name -> bool per test frame

    @property
    def names(self) -> list[str]:
        return [s.config.session_name for s in self.sessions]

    def videos(self, i: int) -> dict[str, Path]:
        name = self.sessions[i].config.session_name
        return {v: self.folders[i] / "videos" / f"{name}_{v}.mp4" for v in self.sessions[i].view_names}


def normalised_poses(points3d: np.ndarray) -> np.ndarray:
    """``(time, keypoint, 3)`` -> ``(time, features)``: centred on the keypoints' mean, unit RMS spread."""
    from lp3d_models.frame_selection import pose_features

    return pose_features(points3d)


def make_world(workdir: Path, args: argparse.Namespace) -> World:
    from lp3d_io import PoseTable, from_pose_csv, to_pose_csv
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    sessions, folders = [], []
    for i in range(args.sessions):
        config = SyntheticConfig(
            n_views=args.views,
            image_size=(96, 96),
            n_frames=args.frames,
            seed=100 + i,
            session_name=f"s{i}",
            rearing=args.rearing,
            speed=160.0,
        )
        sessions.append(make_session(config))
        folders.append(workdir / f"s{i}")
    first = sessions[0]
    pts = first.motion.points3d
    names = first.keypoint_names
    body = pts[:, names.index("back")]
    upright = pts[:, names.index("nose"), 2] < pts[:, names.index("back"), 2] + 12.0  # not rearing
    pool = np.flatnonzero(upright & (body[:, 0] > 0) & (np.arange(args.frames) < args.frames // 3))
    if pool.size < args.labels:
        raise SystemExit(f"only {pool.size} frames qualify for labels; use more --frames or fewer --labels")
    labeled = np.sort(pool[np.rint(np.linspace(0, pool.size - 1, args.labels)).astype(int)])
    rng = np.random.default_rng(7)
    test, far = {}, {}
    reference = normalised_poses(pts[labeled])
    d_ref = np.sqrt(((reference[:, None] - reference[None]) ** 2).sum(-1))
    np.fill_diagonal(d_ref, np.inf)
    tau = 2.0 * float(np.median(d_ref.min(axis=1)))
    for i, s in enumerate(sessions):
        frames = np.arange(args.frames)
        if i == 0:  # away from the labeled frames (their neighbours are near-duplicates)
            frames = frames[np.min(np.abs(frames[:, None] - labeled[None]), axis=1) > 10]
        chosen = np.sort(rng.choice(frames, size=args.test, replace=False))
        d = np.sqrt(((normalised_poses(s.motion.points3d[chosen])[:, None] - reference[None]) ** 2).sum(-1)).min(1)
        test[s.config.session_name], far[s.config.session_name] = chosen, d > tau
    for i, (s, folder) in enumerate(zip(sessions, folders, strict=True)):
        if not (folder / "truth.npz").is_file():
            write_session(s, folder, labeled_frames=labeled if i == 0 else [])
    if args.label_noise > 0:  # human-like clicks: the same noise every time the folder is reused
        noise = np.random.default_rng(11)
        for view in first.view_names:
            path = folders[0] / f"CollectedData_{view}.csv"
            table = from_pose_csv(path)
            truth = first.points2d[first.view_names.index(view)][labeled]
            noisy = truth + noise.normal(scale=args.label_noise, size=truth.shape)
            noisy[~np.isfinite(table.position[:, :, 0])] = np.nan
            to_pose_csv(PoseTable.from_numpy(noisy, keypoint_names=names, index=table.index), path)
    return World(folders[0], sessions, folders, labeled, test, far)


def train_config(world: World, run_dir: Path, seeds: list[int], steps: int, args: argparse.Namespace, **extra):
    from lp3d_models.config import as_overrides, load_config, tiny_model

    values = tiny_model(
        run_dir=str(run_dir),
        data={"root": str(world.root), "val_fraction": 0.1, "test_fraction": 0.0},
        loss={"kind": "kl"},
        training={
            "seeds": seeds,
            "max_steps": steps,
            "batch_size": 8,
            "lr": 2e-3,
            "warmup_steps": 50,
            "val_every_steps": max(50, steps // 8),
        },
        geometry={"enabled": True},
        **extra,
    )
    return load_config(None, as_overrides(values))


def convergence(run_dir: Path, member: str) -> float:
    """How much the validation error moved over the last quarter of training (relative)."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in sorted((run_dir / member / "logs").glob("version_*/metrics.csv"))]
    metrics = pd.concat(frames)
    val = metrics.dropna(subset=["val/pixel_error"])[["step", "val/pixel_error"]].to_numpy()
    if len(val) < 2:
        return float("nan")
    last = val[-1, 1]
    quarter = val[val[:, 0] <= val[-1, 0] * 0.75]
    ref = quarter[-1, 1] if len(quarter) else val[0, 1]
    return float((ref - last) / max(ref, 1e-9))


@dataclass
class Predictions:
    """A run's predictions of every session: members ``(member, view, time, keypoint, 2)`` and the EKS."""

    members: dict[str, np.ndarray] = field(default_factory=dict)
    eks_2d: dict[str, np.ndarray] = field(default_factory=dict)  # (view, time, keypoint, 2)
    eks_3d: dict[str, np.ndarray] = field(default_factory=dict)  # (time, keypoint, 3)
    stores: dict[str, Path] = field(default_factory=dict)  # smoothed stores


def predict_and_smooth(world: World, run_dir: Path, out: Path) -> Predictions:
    from lp3d_io import read_group
    from lp3d_io.files import staged_directory
    from lp3d_models.prediction import predict_videos
    from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions, write_smoothed_outputs

    result = Predictions()
    for i, name in enumerate(world.names):
        store = out / "predictions" / f"{name}.zarr"
        if not store.exists():
            predict_videos(run_dir, world.videos(i), store, group="predictions/model", progress=False, export_csv=False)
        ds = read_group(store, "predictions/model").load()
        position = ds["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values
        result.members[name] = position[..., 0, :]
        smoothed_dir = out / "smoothed" / name
        if not (smoothed_dir / f"{name}.zarr").exists():
            rig = world.sessions[i].rig
            _, smoothed = smooth_predictions(ds, rig, SmoothSettings())
            with staged_directory(smoothed_dir) as tmp:
                write_smoothed_outputs(tmp, name, ds, smoothed, rig)
        sm = read_group(smoothed_dir / f"{name}.zarr", "smoothed/eks").isel(individual=0).load()
        result.eks_2d[name] = sm["reprojection"].transpose("view", "time", "keypoint", "image_space").values
        result.eks_3d[name] = sm["position"].transpose("time", "keypoint", "space").values
        result.stores[name] = smoothed_dir / f"{name}.zarr"
    return result


def score(world: World, estimate_2d: dict, estimate_3d: dict) -> dict[str, float]:
    """Mean 2D (px) and 3D (mm) errors on the near and far test frames."""
    out: dict[str, list[float]] = {"near_2d": [], "far_2d": [], "near_3d": [], "far_3d": []}
    for i, name in enumerate(world.names):
        s, frames, far = world.sessions[i], world.test[name], world.far[name]
        e2 = np.linalg.norm(estimate_2d[name][:, frames] - s.points2d[:, frames], axis=-1)  # (view, n, keypoint)
        e3 = np.linalg.norm(estimate_3d[name][frames] - s.motion.points3d[frames], axis=-1)  # (n, keypoint)
        for part, mask in (("near", ~far), ("far", far)):
            out[f"{part}_2d"] += e2[:, mask].ravel().tolist()
            out[f"{part}_3d"] += e3[mask].ravel().tolist()
    return {k: float(np.nanmean(v)) if v else float("nan") for k, v in out.items()}


def model_scores(world: World, preds: Predictions, label: str, ensemble: bool) -> dict[str, dict[str, float]]:
    """Rows for a run: its first member, and (teachers) the ensemble median; then + EKS."""
    rows = {}
    first_2d = {n: m[0] for n, m in preds.members.items()}
    rows[f"{label}: one model"] = score(world, first_2d, _dlt(world, first_2d))
    if ensemble:
        median = {n: np.median(m, axis=0) for n, m in preds.members.items()}
        rows[f"{label}: ensemble median"] = score(world, median, _dlt(world, median))
    rows[f"{label} + EKS"] = score(world, preds.eks_2d, preds.eks_3d)
    return rows


def _dlt(world: World, positions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: world.sessions[i].rig.triangulate(positions[n]) for i, n in enumerate(world.names)}


def ensemble_sessions(world: World, preds: Predictions) -> list:
    """Arm (c)'s view of the data: the ensemble median and variance as if they were the smoother's."""
    from lp3d_models.frame_selection import SmoothedSession

    out = []
    for i, name in enumerate(world.names):
        members = preds.members[name]
        median = np.median(members, axis=0)
        out.append(
            SmoothedSession(
                name=name,
                view_names=world.sessions[i].view_names,
                keypoint_names=world.sessions[i].keypoint_names,
                frames=np.arange(median.shape[1]),
                reprojection=median,
                reprojection_variance=np.var(members, axis=0),
                inflated=np.zeros(median.shape[:3], dtype=bool),
                position=world.sessions[i].rig.triangulate(median),
                videos=world.videos(i),
                rig=world.sessions[i].rig,
            )
        )
    return out


def choose(arm: str, world: World, preds: Predictions, n: int, seed: int, quantile: float):
    """The sessions (what positions the pseudo-labels take) and the frames of a selection arm."""
    from lp3d_models.frame_selection import label_poses, read_smoothed, select_frames

    excluded = {(name, int(f)) for name in world.names for f in world.test[name]}
    excluded |= {(world.names[0], int(f)) for f in world.labeled}
    if arm == "c":
        sessions = ensemble_sessions(world, preds)
    else:
        sessions = [read_smoothed(preds.stores[name]) for name in world.names]
    if arm in ("a", "c"):
        return sessions, select_frames(sessions, n, variance_quantile=quantile, seed=seed, labeled=excluded)
    if arm == "e":
        arm = "b"
    if arm == "d":
        labels = labeled_poses(world)
        reference = [label_poses(labels, s.rig) for s in sessions]
        selection = select_frames(
            sessions,
            n,
            variance_quantile=quantile,
            seed=seed,
            labeled=excluded,
            pick="confident",
            novelty_quantile=0.5,
            reference=reference,
        )
        return sessions, selection
    rng = np.random.default_rng(seed)  # (b): random unlabeled frames, spread like (a) over the sessions
    pool = [(s.name, f) for s in sessions for f in range(s.n_frames) if (s.name, f) not in excluded]
    picks = rng.choice(len(pool), size=n, replace=False)
    frames: dict[str, list[int]] = {s.name: [] for s in sessions}
    for k in picks:
        frames[pool[k][0]].append(pool[k][1])
    return sessions, {name: np.sort(np.asarray(f, dtype=np.int64)) for name, f in frames.items()}


def labeled_poses(world: World) -> np.ndarray:
    """The labels as the lab has them (the label files, noise included): ``(view, frame, keypoint, 2)``."""
    from lp3d_io import from_pose_csv

    views = world.sessions[0].view_names
    return np.stack([from_pose_csv(world.root / f"CollectedData_{v}.csv").position[:, :, 0, :] for v in views])


def pseudo_label_accuracy(world: World, sessions, selection) -> dict[str, float]:
    """How far the pseudo-labels are from the truth (px), and how many there are."""
    errors = []
    for s in sessions:
        frames = selection.get(s.name, np.zeros(0, dtype=int))
        truth = world.sessions[world.names.index(s.name)].points2d[:, frames]
        errors += np.linalg.norm(s.reprojection[:, frames] - truth, axis=-1).ravel().tolist()
    errors = np.asarray(errors)
    return {"pseudo_px": float(np.nanmean(errors)), "pseudo_p90": float(np.nanpercentile(errors, 90)), "n": len(errors)}


def uniform_weights(folder: Path, views: list[str]) -> None:
    """Every pseudo-label of ``folder`` weighs 1 (arm (e): no uncertainty anywhere)."""
    from lp3d_io import from_pose_csv, to_pose_csv

    for view in views:
        path = folder / f"weights_{view}.csv"
        table = from_pose_csv(path)
        weights = np.where(np.isfinite(table.position), 1.0, np.nan)
        to_pose_csv(replace(table, position=weights), path)


def train_student(
    world, teacher_dir, sessions, selection, out: Path, init: str, steps: int, seed: int, args, uniform: bool = False
) -> float:
    """Writes the pseudo-labels and trains one student; returns its training CPU seconds."""
    from lp3d_io.files import atomic_path
    from lp3d_models.distill import student_config
    from lp3d_models.pseudo_labels import write_pseudo_labels
    from lp3d_models.runs import load_run
    from lp3d_models.training import train

    if (out / "run.json").is_file():  # trained by an earlier run of this bench: scored again only
        return float("nan")
    folder = out / "pseudo_labels"
    if not folder.exists():
        with atomic_path(folder, create=False) as tmp:
            write_pseudo_labels(tmp, sessions, selection)
            if uniform:
                uniform_weights(tmp, world.sessions[0].view_names)
    teacher = load_run(teacher_dir).config
    teacher.distill.seeds = [seed]
    teacher.distill.max_steps = steps
    teacher.distill.warm_start = init == WARM
    config = student_config(teacher, teacher_dir, out, folder)
    cpu = time.process_time()
    train(config, overwrite=True)
    return time.process_time() - cpu


def control(world, teacher_dir: Path, out: Path, steps: int, seed: int, args) -> float:
    """A teacher member continued for ``steps`` more on the labels alone (the equal-compute control)."""
    from lp3d_io.layout import checkpoint_path, member_name
    from lp3d_models.training import train

    if (out / "run.json").is_file():  # trained by an earlier run of this bench: scored again only
        return float("nan")
    start = checkpoint_path(teacher_dir, member_name(seed), "best")
    config = train_config(world, out, [seed], steps, args, model={"init_checkpoint": str(start)})
    cpu = time.process_time()
    train(config, overwrite=True)
    return time.process_time() - cpu


def _cell(rows: list[dict[str, float]], name: str) -> str:
    """A table cell: the mean over seeds, with the range when there are several."""
    values = np.array([r.get(name, np.nan) for r in rows], dtype=float)
    if not np.isfinite(values).any():
        return ""
    mean = np.nanmean(values)
    if name == "converged":
        return f"{100 * mean:.1f}%"
    if name == "cpu_s":
        return f"{mean:.0f}"
    return f"{mean:.2f} [{np.nanmin(values):.2f}-{np.nanmax(values):.2f}]" if len(values) > 1 else f"{mean:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--frames", type=int, default=1500, help="frames per session")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--rearing", type=float, default=0.25, help="share of the time spent rearing")
    parser.add_argument("--labels", type=int, default=40, help="labeled frames (session 0, first third)")
    parser.add_argument("--label-noise", type=float, default=1.0, help="label noise, px (0: exact)")
    parser.add_argument("--test", type=int, default=80, help="test frames per session")
    parser.add_argument("--members", type=int, default=3, help="teacher ensemble size")
    parser.add_argument("--teacher-steps", type=int, default=1500)
    parser.add_argument("--student-steps", type=int, default=1500)
    parser.add_argument("--pseudo", type=int, default=300, help="pseudo-labeled frames")
    parser.add_argument("--quantile", type=float, default=0.5, help="arm (a)/(c) variance quantile")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (repeats)")
    parser.add_argument("--arms", default="abcde", help="selection arms to run")
    parser.add_argument("--inits", nargs="+", default=[SCRATCH, WARM], help="students from scratch and/or warm")
    parser.add_argument("--tag", default="", help="suffix of the student folders (another setting)")
    parser.add_argument("--no-control", action="store_true", help="skip the equal-compute control")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/distill"))
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.test, args.teacher_steps, args.student_steps = 600, 20, 40, 40
        args.pseudo, args.members, args.seeds, args.labels = 30, 2, [0], 20

    import torch
    from lp3d_models.training import train

    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    workdir = args.workdir.resolve() / ("quick" if args.quick else "full")
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    world = make_world(workdir / "data", args)
    n_far = sum(int(f.sum()) for f in world.far.values())
    n_test = sum(len(f) for f in world.test.values())
    print(
        f"world: {args.sessions} sessions x {args.frames} frames, {len(world.labeled)} labels, "
        f"{n_test} test frames ({n_far} far from the labels); {time.perf_counter() - start:.0f} s"
    )

    results: dict[str, list[dict[str, float]]] = {}
    notes: dict[str, list[float]] = {}

    def add(rows: dict[str, dict[str, float]], cpu: float | None = None, conv: float | None = None) -> None:
        for key, value in rows.items():
            value = dict(value)
            if cpu is not None:
                value["cpu_s"] = cpu
            if conv is not None:
                value["converged"] = conv
            results.setdefault(key, []).append(value)

    for seed in args.seeds:
        members = [seed * 10 + m for m in range(args.members)]
        teacher_dir = workdir / f"seed{seed}" / "teacher"
        cpu = float("nan")  # trained by an earlier run of this bench: scored again only
        if not (teacher_dir / "run.json").is_file():
            cpu = time.process_time()
            train(train_config(world, teacher_dir, members, args.teacher_steps, args))
            cpu = time.process_time() - cpu
        conv = float(np.mean([convergence(teacher_dir, f"seed_{m}") for m in members]))
        preds = predict_and_smooth(world, teacher_dir, workdir / f"seed{seed}" / "teacher_out")
        add(model_scores(world, preds, "teacher", ensemble=True), cpu, conv)

        control_dir = workdir / f"seed{seed}" / "control"
        cpu = None
        if not args.no_control:
            cpu = control(world, teacher_dir, control_dir, args.student_steps, members[0], args)
        cpred = predict_and_smooth(world, control_dir, workdir / f"seed{seed}" / "control_out")
        add(
            model_scores(world, cpred, "control: teacher + as many steps on labels", ensemble=False),
            cpu,
            convergence(control_dir, f"seed_{members[0]}"),
        )

        for arm in args.arms:
            sessions, selection = choose(arm, world, preds, args.pseudo, seed, args.quantile)
            notes.setdefault(f"({arm}) pseudo-labels vs truth, px", []).append(
                pseudo_label_accuracy(world, sessions, selection)["pseudo_px"]
            )
            for init in args.inits:
                name = f"student_{arm}_{init}{args.tag}"
                out = workdir / f"seed{seed}" / name
                cpu = train_student(
                    world,
                    teacher_dir,
                    sessions,
                    selection,
                    out,
                    init,
                    args.student_steps,
                    seed,
                    args,
                    uniform=arm == "e",
                )
                spred = predict_and_smooth(world, out, workdir / f"seed{seed}" / f"{name}_out")
                add(
                    model_scores(world, spred, f"student ({arm}, {init}{args.tag})", ensemble=False),
                    cpu,
                    convergence(out, f"seed_{seed}"),
                )

    print()
    print(f"Test frames: {n_test - n_far} near the labels, {n_far} far; mean over seeds {args.seeds} [min-max]")
    header = "| arm | near 2D px | far 2D px | near 3D mm | far 3D mm | CPU s | val moved, last 1/4 |"
    print(header)
    print("|" + "---|" * 7)
    for key, rows in results.items():
        cells = (_cell(rows, c) for c in ("near_2d", "far_2d", "near_3d", "far_3d", "cpu_s", "converged"))
        print(f"| {key} | " + " | ".join(cells) + " |")
    for key, values in notes.items():
        print(f"{key}: {np.mean(values):.2f}")
    (workdir / f"results{args.tag}.json").write_text(
        json.dumps(
            {"args": vars(args) | {"workdir": str(args.workdir)}, "rows": results, "notes": notes},
            indent=1,
            default=str,
        )
    )
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
