"""Calibration-aware training benchmark: 3D augmentation and the triangulation loss.

A synthetic calibrated session (4 views, ``--size`` px, few training labels), the tiny ViT of the
tests, and a fixed compute budget: every arm trains the same number of optimizer steps at the
same batch size. Arms: (a) neither feature, (b) 3D augmentation, (c) triangulation loss, (d) both
(``geometry.*`` in the config), each with ``--seeds`` seeds and the coordinate loss off; a control
(e): the coordinate loss (``loss.coordinate_weight``: the triangulation loss's Charbonnier penalty
on each view's own prediction against its label, no cameras), which tells how much of (c) is the
geometry rather than a coordinate loss beside the heatmaps; and (f): all three, lp3d's defaults
with ``geometry.enabled``. ``--drop-labels P`` blanks each (frame, view,
keypoint) label with probability ``P`` (labelers skipping views), the case where the cameras can
tell a view what the others saw. Reported on the held-out test frames
(``lp3d evaluate`` on the last checkpoint): the 2D pixel error (original pixels) and the 3D error
of the triangulated predictions against the triangulated labels (mm), means over seeds with the
spread (min-max), and the CPU seconds each training took.

    .venv/bin/python bench/bench_geometry.py                     # about 20 minutes on 2 cores
    .venv/bin/python bench/bench_geometry.py --steps 300 --seeds 0   # a quick look
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

_COORDINATE = "loss.coordinate_weight=<--loss-weight>"  # filled in by run_arm

ARMS = {
    "(a) neither": ["geometry.enabled=false"],
    "(b) 3D augmentation": ["geometry.enabled=true", "geometry.augment_3d=true", "geometry.triangulation_loss=false"],
    "(c) triangulation loss": [
        "geometry.enabled=true",
        "geometry.augment_3d=false",
        "geometry.triangulation_loss=true",
    ],
    "(d) both": ["geometry.enabled=true", "geometry.augment_3d=true", "geometry.triangulation_loss=true"],
    "(e) control: coordinate loss, no cameras": ["geometry.enabled=false", _COORDINATE],
    "(f) coordinate loss + both (the defaults with geometry on)": [
        "geometry.enabled=true",
        "geometry.augment_3d=true",
        "geometry.triangulation_loss=true",
        _COORDINATE,
    ],
}


def drop_labels(root: Path, share: float, seed: int = 0) -> None:
    """Blanks each (frame, view, keypoint) label of the project ``root`` with probability ``share``
    (the same labels on every call, so a reused folder is not thinned twice)."""
    from lp3d_io import PoseTable, to_pose_csv
    from lp3d_models.data import read_project

    data = read_project(root)
    keep = np.random.default_rng(seed).random(data.keypoints.shape[:-1]) >= share
    for v, view in enumerate(data.view_names):
        position = np.where(keep[v][..., None], data.keypoints[v], np.nan)
        table = PoseTable.from_numpy(position, keypoint_names=data.keypoint_names, index=data.image_paths[v])
        to_pose_csv(table, root / f"CollectedData_{view}.csv")


def run_arm(root: Path, run_dir: Path, arm: list[str], seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Trains one member and evaluates it on the test frames."""
    from lp3d_models.config import TINY_MODEL, as_overrides, load_config
    from lp3d_models.evaluation import evaluate
    from lp3d_models.training import train

    overrides = [
        f"run_dir={run_dir}",
        f"data.root={root}",
        f"data.val_fraction={args.val_fraction}",
        f"data.test_fraction={args.test_fraction}",
        *as_overrides(TINY_MODEL),
        f"model.height={args.size}",
        f"model.width={args.size}",
        "loss.kind=kl",
        "masking.final=0.0",
        "training.lr=2e-3",
        "training.schedule=cosine",
        "training.warmup_steps=50",
        f"training.batch_size={args.batch}",
        f"training.max_steps={args.steps}",
        f"training.val_every_steps={args.steps}",
        f"training.seeds=[{seed}]",
        f"geometry.loss_weight={args.loss_weight}",
        f"geometry.loss_start_step={args.loss_start}",
        f"geometry.loss_warmup_steps={args.loss_warmup}",
        "loss.coordinate_weight=0",  # (a)-(d): off, as before it was a default; (e), (f): on
        f"loss.coordinate_warmup_steps={args.loss_warmup}",
        *[f"loss.coordinate_weight={args.loss_weight}" if o == _COORDINATE else o for o in arm],
    ]
    cpu = time.process_time()
    train(load_config(None, overrides), overwrite=True)  # a reused --workdir starts the run again
    cpu = time.process_time() - cpu
    result = evaluate(run_dir, checkpoint="last", write=False)
    return {"pixel": result.overall(), "error_3d": result.overall_3d(), "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arms = parser.add_argument_group("every arm")
    arms.add_argument("--arms", nargs="+", choices="abcdef", default=list("abcdef"), help="which arms")
    arms.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds per arm")
    arms.add_argument("--steps", type=int, default=1000, help="optimizer steps per run")
    arms.add_argument("--batch", type=int, default=8, help="frames per batch")
    arms.add_argument("--size", type=int, default=64, help="model input side (images are 96 px)")
    session = parser.add_argument_group("the session")
    session.add_argument("--labeled", type=int, default=200, help="labeled frames")
    session.add_argument("--val-fraction", type=float, default=0.1, help="share of labeled frames for validation")
    session.add_argument("--test-fraction", type=float, default=0.5, help="share held out for the test")
    session.add_argument("--drop-labels", type=float, default=0.0, help="share of labels blanked (all frames)")
    session.add_argument("--workdir", type=Path, help="keep the session and runs here (default: a temp folder)")
    loss = parser.add_argument_group("the triangulation loss (arms with geometry)")
    loss.add_argument("--loss-weight", type=float, default=0.1, help="geometry.loss_weight")
    loss.add_argument("--loss-start", type=int, default=0, help="geometry.loss_start_step")
    loss.add_argument("--loss-warmup", type=int, default=200, help="geometry.loss_warmup_steps")
    args = parser.parse_args()

    from lp3d_models.config import SyntheticDataConfig
    from lp3d_models.data import synthetic_project

    # The table, not Lightning's notes nor its torch deprecation; one thread suits a tiny model on
    # a shared machine.
    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        session = SyntheticDataConfig(n_views=4, width=96, height=96, n_frames=600, labeled_frames=args.labeled, seed=7)
        root = synthetic_project(workdir / f"data_{args.drop_labels:g}", session)  # calibration.toml is discovered
        if args.drop_labels > 0:
            drop_labels(root, args.drop_labels)
        n_train = args.labeled - round(args.labeled * args.val_fraction) - round(args.labeled * args.test_fraction)
        print(
            f"torch {torch.__version__}, 1 thread, CPU; synthetic session: 4 views, 96 px, {n_train} training frames, "
            f"{args.drop_labels:.0%} of labels blanked; tiny ViT at {args.size} px, {args.steps} steps x batch "
            f"{args.batch}; triangulation loss weight {args.loss_weight} (start {args.loss_start}, "
            f"warm-up {args.loss_warmup})\n",
            flush=True,
        )
        rows = []
        for key in args.arms:
            label = next(name for name in ARMS if name.startswith(f"({key})"))
            runs = []
            for seed in args.seeds:
                runs.append(run_arm(root, workdir / f"{key}_{seed}", ARMS[label], seed, args))
                print(f"  {label}, seed {seed}: {runs[-1]}", flush=True)
            rows.append((label, runs))
    print("\n| arm | 2D error (px) | 3D error (mm) | CPU s / run | seeds |\n|---|---:|---:|---:|---:|")
    for label, runs in rows:
        cells = []
        for k in ("pixel", "error_3d"):
            v = np.array([r[k] for r in runs])
            cells.append(f"{v.mean():.2f} ({v.min():.2f}-{v.max():.2f})" if len(v) > 1 else f"{v.mean():.2f}")
        cpu = np.mean([r["cpu_s"] for r in runs])
        print(f"| {label} | {cells[0]} | {cells[1]} | {cpu:.0f} | {len(runs)} |")


if __name__ == "__main__":
    main()
