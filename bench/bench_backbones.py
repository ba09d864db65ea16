"""Backbones a lab without a GPU can train: speed and accuracy of ViT-Ti/16 (``vit_t16``) and the
ResNet-18 token backbone (``resnet18_s16``) against ViT-S/16 (``vit_s16``) and the tiny test model.

1. Training frames/s (one frame = all its views) at the models benchmark's setting, 4 views at
   256 x 256, and at part 2's, 2 views at 128 x 128; batch 8, random weights; every backbone in one
   process per setting, their steps interleaved (a change in the machine's load hits them all
   alike), the median of a few rounds after a warm-up one, wall and CPU time (the tiny test model
   at its own 64 x 64).
2. Held-out error after a fixed budget of optimizer steps (batch 8; the same work for every
   backbone whatever else the machine does, the minutes it took reported beside) on a synthetic
   session (2 views, 128 x 128, 600 frames, 300 labeled), from random weights (no network here:
   pretrained weights would help the real backbones, not the tiny one): the test frames are a
   contiguous stretch (frames 480-599), not a random draw, so near-duplicates of training frames do
   not flatter anyone. Next to the mean-pose baseline.

    .venv/bin/python bench/bench_backbones.py                 # about 40 minutes on an idle 2-core machine
    .venv/bin/python bench/bench_backbones.py --budget 200    # optimizer steps per backbone
    .venv/bin/python bench/bench_backbones.py --only speed
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_models import _table  # the benchmarks' one markdown table (this folder is on sys.path)

BACKBONES = ["vit_tiny_p8", "vit_t16", "resnet18_s16", "vit_s16"]
TINY = "vit_tiny_p8"  # the test model (lp3d_models.config.TINY_MODEL)


SETTINGS = ((4, 256), (2, 128))  # (views, input side) of part 1


def speed_worker(names: list[str], rounds: int, views: int, side: int) -> list[dict]:
    """One process, every backbone: training steps (the task's heatmap loss, AdamW) at batch 8,
    interleaved (each round steps every model once, so changes in the machine's load hit them all
    alike); the median of ``rounds`` rounds after a warm-up one, wall and CPU time."""
    from lp3d_models.config import TINY_MODEL
    from lp3d_models.losses import heatmap_loss
    from lp3d_models.model import build_model

    batch, steps = 8, {}
    for name in names:
        torch.manual_seed(0)
        size = TINY_MODEL["model"]["height"] if name == TINY else side
        model = build_model(views, 17, backbone=name, image_size=(size, size), drop_path=0.0).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        images, keypoints = torch.rand(batch, views, 3, size, size), torch.rand(batch, views, 17, 2) * size

        def step(model=model, optimizer=optimizer, images=images, keypoints=keypoints) -> None:
            out = model(images)
            heatmap_loss(out.heatmaps, keypoints, stride=4, sigma=1.25).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        steps[name] = (step, size, sum(p.numel() for p in model.parameters()) / 1e6)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for i in range(rounds + 1):
        for name, (step, _, _) in steps.items():
            w, c = time.perf_counter(), time.process_time()
            step()
            if i:  # the first round warms up
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
    return [
        {
            "backbone": name,
            "views": views,
            "input": f"{size} x {size}",
            "parameters (M)": params,
            "frames/s": batch / float(np.median(wall[name])),
            "CPU s / frame": float(np.median(cpu[name])) / batch,
        }
        for name, (_, size, params) in steps.items()
    ]


def accuracy_worker(backbone: str, steps: int, workdir: Path) -> dict:
    """One process: train ``backbone`` for ``steps`` on the synthetic session, evaluate the test stretch."""
    from lp3d_models.config import TINY_MODEL, SyntheticDataConfig, as_overrides, load_config
    from lp3d_models.data import synthetic_project
    from lp3d_models.evaluation import BASELINE, evaluate
    from lp3d_models.training import train

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    session = SyntheticDataConfig(n_views=2, width=128, height=128, n_frames=600, labeled_frames=300, seed=7)
    root = synthetic_project(workdir / "data", session)
    model = (
        as_overrides(TINY_MODEL)
        if backbone == TINY
        else [
            f"model.backbone={backbone}",
            "model.pretrained=false",
            "model.height=128",
            "model.width=128",
            "model.head_channels=64",
            "model.drop_path=0.0",
            "training.backbone_lr_scale=1.0",
            "training.progress_bar=false",
        ]
    )
    run_dir = workdir / backbone
    config = load_config(
        None,
        [
            f"run_dir={run_dir}",
            f"data.root={root}",
            "data.val_fraction=0.05",
            "data.split.test.frames={synthetic: [[480, 600]]}",
            *model,
            "loss.kind=kl",
            "training.lr=1e-3",
            "training.schedule=constant",
            "training.warmup_steps=50",
            "training.batch_size=8",
            f"training.max_steps={steps}",
            "training.val_every_steps=50",
            "masking.final=0.0",
        ],
    )
    start = time.perf_counter()
    train(config)
    trained = (time.perf_counter() - start) / 60
    last = torch.load(run_dir / "seed_0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    result = evaluate(run_dir, device="cpu", write=False)
    return {
        "backbone": backbone,
        "steps": int(last["global_step"]),
        "minutes": trained,
        "test error (px)": result.overall(),
        "mean pose (px)": result.overall(BASELINE),
    }


def _worker(args: list[str]) -> Any:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["speed", "accuracy"], help="run one part")
    parser.add_argument("--steps", type=int, default=4, help="timed rounds of training steps (part 1)")
    parser.add_argument("--budget", type=int, default=300, help="optimizer steps per backbone (part 2)")
    parser.add_argument("--backbones", default=",".join(BACKBONES), help="comma-separated registry names")
    parser.add_argument("--speed-worker", help=argparse.SUPPRESS)
    parser.add_argument("--setting", type=int, nargs=2, default=SETTINGS[0], help=argparse.SUPPRESS)
    parser.add_argument("--accuracy-worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_worker:
        print(json.dumps(speed_worker(args.speed_worker.split(","), args.steps, *args.setting)))
        return
    if args.accuracy_worker:
        print(json.dumps(accuracy_worker(args.accuracy_worker, args.budget, Path(args.workdir))))
        return
    names = args.backbones.split(",")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.only != "accuracy":
        rows = []
        for views, side in SETTINGS:
            rows += _worker(
                ["--speed-worker", ",".join(names), "--steps", str(args.steps), "--setting", str(views), str(side)]
            )
        print("\nTraining at batch 8 (one frame = all its views):\n")
        print(_table(rows, {"parameters (M)": ".1f", "frames/s": ".2f", "CPU s / frame": ".3f"}))
    if args.only != "speed":
        with tempfile.TemporaryDirectory() as tmp:
            rows = [
                _worker(["--accuracy-worker", name, "--budget", str(args.budget), "--workdir", tmp]) for name in names
            ]
        print(f"\nHeld-out error after {args.budget} steps of batch 8 (synthetic, 2 views, 128 x 128):\n")
        print(_table(rows, {"minutes": ".1f", "test error (px)": ".2f", "mean pose (px)": ".2f"}))
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
