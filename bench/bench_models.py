"""lp3d-models benchmark: inference and training speed, memory, and cross-view reasoning.

1. Inference frames/s of the multi-view model (ViT-S/16, 256 x 256, random weights) with 2 and 4
   views, against the bare timm backbone's ``forward_features`` on the same ``B V`` images: the
   overhead of fusion (view embeddings, joint attention) and heads, with every block joint (the
   default), every other block, or only the last 4 blocks joint (``model.joint_blocks``).
2. Training frames/s (one frame = all its views) and peak memory at batch 8, 2 and 4 views; each
   in its own process (peak RSS of the process, and its growth over the RSS before the first step).
3. Accuracy after a fixed CPU budget on a synthetic session (4 views), tiny model, trained with
   and without patch masking: held-out pixel error with all views, and with one view occluded
   (half of its patches, or all: error on that view's keypoints, which then only the other views
   can give), next to the mean-pose baseline. ``--budget-steps`` trains a fixed number of steps
   instead of a fixed time (fairer on a shared machine).

    .venv/bin/python bench/bench_models.py                  # about 10 minutes on 2 cores
    .venv/bin/python bench/bench_models.py --budget 5       # the issue's 5 CPU minutes per model
    .venv/bin/python bench/bench_models.py --only speed     # parts 1 and 2
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

SIZE = 256


def _interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """``{name: (wall s, CPU s)}`` per call: medians over ``repeats`` rounds, each round calling
    every function once in turn (so a change in machine load hits them all alike), after one
    warm-up round."""
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    return {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in fns}


def bench_inference(repeats: int, batch: int) -> list[dict]:
    from lp3d_models.model import build_model

    rows = []
    torch.manual_seed(0)
    variants = {
        "all blocks joint": None,
        "every other block joint": list(range(1, 12, 2)),
        "last 4 blocks joint": [-4, -3, -2, -1],
    }
    for views in (2, 4):
        images = torch.rand(batch, views, 3, SIZE, SIZE)
        models = {
            label: build_model(views, 17, backbone="vit_s16", image_size=(SIZE, SIZE), joint_blocks=joint).eval()
            for label, joint in variants.items()
        }
        backbone = next(iter(models.values())).encoder.backbone
        flat = images.flatten(0, 1)  # the same B V images, one by one through the backbone
        fns = {"bare": lambda b=backbone, x=flat: b.forward_features(x)}
        fns.update({label: (lambda m=m, x=images: m(x)) for label, m in models.items()})
        with torch.inference_mode():
            times = _interleaved(fns, repeats)
        for label in variants:
            rows.append(
                {
                    "views": views,
                    "fusion": label,
                    "bare timm fps": batch / times["bare"][0],
                    "model fps": batch / times[label][0],
                    "overhead (wall)": times[label][0] / times["bare"][0] - 1.0,
                    "overhead (CPU)": times[label][1] / times["bare"][1] - 1.0,
                }
            )
    return rows


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def train_worker(views: int, batch: int, steps: int) -> dict:
    """One process: training steps of ViT-S/16 at 256 x 256 (the task's loss and masking)."""
    from lp3d_models.losses import heatmap_loss
    from lp3d_models.masking import random_patch_mask
    from lp3d_models.model import build_model

    torch.manual_seed(0)
    model = build_model(views, 17, backbone="vit_s16", image_size=(SIZE, SIZE), drop_path=0.1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.rand(batch, views, 3, SIZE, SIZE)
    keypoints = torch.rand(batch, views, 17, 2) * SIZE

    def step() -> None:
        hidden = random_patch_mask(batch, views, model.grid_size, 0.3)
        out = model(images, hidden=hidden)
        heatmap_loss(out.heatmaps, keypoints, stride=4, sigma=1.25).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    before = _rss_mb()
    seconds = _interleaved({"step": step}, steps)["step"][0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"views": views, "batch": batch, "fps": batch / seconds, "peak_mb": peak, "growth_mb": peak - before}


def bench_training(steps: int) -> list[dict]:
    rows = []
    for views in (2, 4):
        out = subprocess.run(
            [sys.executable, __file__, "--train-worker", str(views), "--steps", str(steps)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def _occluded_errors(run_dir: Path) -> dict[str, float]:
    """Held-out errors of a run's member: all views; each view in turn with half of its patches
    hidden, or all of them (error on that view, confidence there vs. on whole views); the
    mean-pose baseline."""
    from lp3d_models.data import PoseFrames, load_data, load_split
    from lp3d_models.evaluation import mean_pose_baseline
    from lp3d_models.masking import random_patch_mask
    from lp3d_models.runs import load_run

    run = load_run(run_dir)
    model = next(iter(run.members.values()))
    data = load_data(run.config.data, run_dir)
    split = load_split(run_dir / "split.json", data)
    frames = split["test"]
    dataset = PoseFrames(data, frames, (run.config.model.height, run.config.model.width), augment=None)
    batch = {k: torch.stack([dataset[i][k] for i in range(len(dataset))]) for k in ("images", "image_sizes")}
    labels = data.keypoints[:, frames]  # (view, frame, keypoint, 2)
    B, V = batch["images"].shape[:2]
    grid = model.grid_size

    def run_model(hidden: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            out = model(batch["images"], image_sizes=batch["image_sizes"], hidden=hidden)
        predicted = out.keypoints.numpy().transpose(1, 0, 2, 3)
        error = np.linalg.norm(predicted - labels, axis=-1)  # (view, frame, keypoint)
        return error, out.confidence.numpy().transpose(1, 0, 2)

    whole, whole_conf = run_model(None)
    half, full, full_conf = [], [], []
    generator = torch.Generator().manual_seed(0)
    for v in range(V):
        hidden = torch.zeros(B, V, *grid, dtype=torch.bool)
        hidden[:, v] = random_patch_mask(B, 1, grid, 0.5, generator=generator)[:, 0]
        half.append(run_model(hidden)[0][v])
        hidden[:, v] = True
        error, conf = run_model(hidden)
        full.append(error[v])
        full_conf.append(conf[v])
    baseline = np.linalg.norm(mean_pose_baseline(data.keypoints[:, split["train"]], len(frames)) - labels, axis=-1)
    return {
        "all views": float(np.nanmean(whole)),
        "view half hidden": float(np.nanmean(np.stack(half))),
        "view hidden": float(np.nanmean(np.stack(full))),
        "mean pose": float(np.nanmean(baseline)),
        "conf. visible / hidden": f"{np.mean(whole_conf):.2f} / {np.mean(np.stack(full_conf)):.2f}",
    }


def bench_accuracy(budget_minutes: float, budget_steps: int | None, workdir: Path) -> list[dict]:
    from lp3d_models.config import TINY_MODEL, SyntheticDataConfig, as_overrides, load_config
    from lp3d_models.data import synthetic_project
    from lp3d_models.training import train

    # The tables, not Lightning's notes (its loggers are set up on import) nor its torch deprecation.
    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # A tiny model gains nothing from a second thread, and loses much when the cores are shared.
    torch.set_num_threads(1)
    session = SyntheticDataConfig(n_views=4, width=96, height=96, n_frames=600, labeled_frames=300, seed=7)
    root = synthetic_project(workdir / "data", session)  # written once, read by both runs
    if budget_steps is None:
        budget = ["training.max_steps=1000000", f"training.max_minutes={budget_minutes}"]
    else:  # the same work for both, whatever else the machine is doing
        budget = [f"training.max_steps={budget_steps}"]
    common = [
        f"data.root={root}",
        "data.val_fraction=0.05",
        "data.test_fraction=0.1",
        *as_overrides(TINY_MODEL),
        "loss.kind=kl",
        "training.lr=2e-3",
        "training.schedule=constant",
        "training.warmup_steps=50",
        "training.batch_size=8",
        *budget,
        "training.val_every_steps=100",
    ]
    rows = []
    for label, masking in (
        ("no masking", ["masking.initial=0.0", "masking.final=0.0"]),
        ("patch masking 0.1 -> 0.6", ["masking.initial=0.1", "masking.final=0.6", "masking.end_step=600"]),
    ):
        run_dir = workdir / label.split()[0]
        config = load_config(None, [f"run_dir={run_dir}", *common, *masking])
        start = time.perf_counter()
        train(config)
        minutes = (time.perf_counter() - start) / 60
        last = torch.load(run_dir / "seed_0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        row = {"training": label, "steps": int(last["global_step"]), "minutes": minutes}
        rows.append({**row, **_occluded_errors(run_dir)})
    return rows


def _table(rows: list[dict], formats: dict[str, str]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---:" if k in formats else "---" for k in keys) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format(row[k], formats.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["speed", "accuracy"], help="run one part")
    parser.add_argument("--budget", type=float, default=3.0, help="CPU minutes of training per model (part 3)")
    parser.add_argument("--budget-steps", type=int, help="train a fixed number of steps instead (part 3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed inference calls per configuration")
    parser.add_argument("--batch", type=int, default=2, help="frames per inference call")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per configuration")
    parser.add_argument("--train-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_worker:
        print(json.dumps(train_worker(args.train_worker, 8, args.steps)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n", flush=True)
    if args.only in (None, "speed"):
        rows = bench_inference(args.repeats, args.batch)
        print(f"### Inference, ViT-S/16, {SIZE} x {SIZE}, batch {args.batch} frames (frames/s; a frame = all views)\n")
        formats = {"bare timm fps": ".2f", "model fps": ".2f", "overhead (wall)": "+.1%", "overhead (CPU)": "+.1%"}
        print(_table(rows, formats) + "\n", flush=True)
        rows = bench_training(args.steps)
        print(f"### Training, ViT-S/16 at {SIZE} x {SIZE}, batch 8 (frames/s; peak RSS of the process)\n")
        print(_table(rows, {"fps": ".2f", "peak_mb": ".0f", "growth_mb": ".0f"}) + "\n", flush=True)
    if args.only in (None, "accuracy"):
        with tempfile.TemporaryDirectory() as tmp:
            rows = bench_accuracy(args.budget, args.budget_steps, Path(tmp))
        budget = f"{args.budget:g} minutes" if args.budget_steps is None else f"{args.budget_steps} steps"
        print(f"### Synthetic session, 4 views, tiny ViT (patch 8, 64 x 64), {budget} each: held-out pixel error\n")
        formats = {k: ".2f" for k in ("minutes", "all views", "view half hidden", "view hidden", "mean pose")}
        print(_table(rows, {"steps": "d", **formats}) + "\n", flush=True)


if __name__ == "__main__":
    main()
