"""Two animals end to end: errors per animal and identity swaps at every stage, and the smoother on
planted identity swaps.

Part 1, the pipeline. A calibrated synthetic session of two animals of fixed identity (a light one
and a 1.2 times larger dark one, ``lp3d_io.synthetic``: they approach, touch and hide each other),
``lp3d pipeline`` on it with the tiny model (the demo's settings, ``--steps`` per member): an
ensemble, EKS (each animal smoothed on its own), a distilled student and the student + EKS. Every
stage is scored against the generator's truth on every frame that no stage trained on (not
labeled; pseudo-labeled frames excluded too), in every view: the mean pixel error per animal and
over both, and the identity-swap rate, the share of (frame, view) where giving one animal's
positions to the other would be closer to the truth (``lp3d_models.evaluation.identity_swaps``).
For the EKS rows, the share of its input's swaps (the ensemble mean's, the student's: (frame, view))
in which the smoother inflated an observation of that view (the swap caught as a cross-view
inconsistency), the share of the other (frame, view) with an inflation (false alarms), and the share
of all its observations (view, frame, keypoint, animal) inflated. The pipeline's own
table (held-out labeled frames) is printed too.

Part 2, the smoother alone. Simulated ensembles of the same two animals (``make_ensemble_predictions``
with ``identity_swap_rate``: both animals' detections exchanged in one view for runs of frames, in
every member), smoothed in 3D each animal on its own: the share of swapped observations inflated,
false alarms elsewhere, and the swap rate of the ensemble median against that of EKS's
reprojections (does smoothing undo the swap?).

    .venv/bin/python bench/bench_two_animals.py                 # about 15 minutes on a shared 2-core VM
    .venv/bin/python bench/bench_two_animals.py --steps 50 --frames 480 --smoother-seeds 1   # a quick look (~2 min)
    .venv/bin/python bench/bench_two_animals.py --only smoother                              # part 2 alone
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


def pipeline_config(root: Path, args: argparse.Namespace) -> Path:
    import yaml
    from lp3d_workflows.demo import pipeline_demo_config

    values = pipeline_demo_config(seed=args.seed, n_frames=args.frames, animals=2)
    values["run_dir"] = "pipeline"
    values["training"]["max_steps"] = args.steps
    values["distill"]["max_steps"] = args.steps
    path = root / "lp3d.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def stage_positions(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Every stage's 2D positions ``(view, time, keypoint, individual, 2)`` on every frame, and for the
    EKS stages the inflation ``(view, time, keypoint, individual)``."""
    from lp3d_io import read_group

    dims = ("member", "view", "time", "keypoint", "individual", "space")
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for who, predictions, smoothed in (
        ("ensemble", "predictions", "smoothed"),
        ("student", "student_predictions", "student_smoothed"),
    ):
        position = read_group(root / predictions / "synthetic.zarr", "predictions/model")["position"]
        position = position.transpose(*dims).values
        eks = read_group(root / smoothed / "synthetic" / "synthetic.zarr", "smoothed/eks")
        reprojection = eks["reprojection"].transpose("view", "time", "keypoint", "individual", "image_space").values
        inflation = eks["inflation"].transpose("view", "time", "keypoint", "individual").values > 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(position, axis=0)
        if who == "ensemble":
            out["single model"] = (position[0], None)
            out[f"ensemble mean ({len(position)} models)"] = (mean, None)
            out["ensemble + EKS"] = (reprojection, inflation)
        else:
            out["distilled student"] = (mean, None)
            out["distilled student + EKS"] = (reprojection, inflation)
    return out


def score_against_truth(root: Path) -> list[dict[str, object]]:
    from lp3d_models.config import load_config
    from lp3d_models.evaluation import identity_swaps

    truth_file = np.load(root / "teacher" / "synthetic" / "truth.npz")
    truth = truth_file["points2d"]  # (view, time, keypoint, individual, 2)
    synthetic = load_config(root / "teacher" / "config.yaml").data.synthetic
    size = np.array([synthetic.width, synthetic.height])
    truth = np.where(((truth >= -0.5) & (truth < size - 0.5)).all(-1, keepdims=True), truth, np.nan)
    used = set(truth_file["labeled_frames"].tolist())
    selection = root / "student" / "pseudo_labels" / "selection.csv"
    used |= {int(line.split(",")[1]) for line in selection.read_text().splitlines()[1:]}
    frames = np.array([t for t in range(truth.shape[1]) if t not in used])
    truth = truth[:, frames]
    rows = []
    input_swaps = None  # the swaps of the smoother's input (the stage before an EKS stage)
    for stage, (position, inflation) in stage_positions(root).items():
        estimate = position[:, frames]
        error = np.linalg.norm(estimate - truth, axis=-1)  # (view, time, keypoint, individual)
        swapped, scored = identity_swaps(estimate, truth)  # (view, time)
        caught = false_alarms = inflated = float("nan")
        if inflation is not None and input_swaps is not None:
            inflated = float(inflation[:, frames].mean())
            flagged = inflation[:, frames].any(axis=(2, 3))  # (view, time)
            if input_swaps.any():
                caught = float(flagged[input_swaps].mean())
            false_alarms = float(flagged[scored & ~input_swaps].mean())
        else:
            input_swaps = swapped & scored
        rows.append(
            {
                "stage": stage,
                "all": float(np.nanmean(error)),
                "light": float(np.nanmean(error[..., 0])),
                "dark": float(np.nanmean(error[..., 1])),
                "swaps": float(swapped.sum() / max(scored.sum(), 1)),
                "n_swaps": int(swapped.sum()),
                "caught": caught,
                "false_alarms": false_alarms,
                "inflated": inflated,
                "scored": int(scored.sum()),
            }
        )
    return rows


def smoother_on_planted_swaps(args: argparse.Namespace) -> list[dict[str, float]]:
    from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session
    from lp3d_models.evaluation import identity_swaps
    from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions

    rows = []
    for seed in range(args.smoother_seeds):
        session = make_session(SyntheticConfig(n_frames=1000, seed=seed, n_animals=2))
        ensemble = make_ensemble_predictions(session, identity_swap_rate=args.swap_rate, seed=seed)
        start = time.perf_counter()
        results, smoothed = smooth_predictions(ensemble.to_dataset(), session.rig, SmoothSettings())
        seconds = time.perf_counter() - start
        inflated = np.stack([r.inflated for r in results], axis=-1)  # (view, time, keypoint, individual)
        swapped = np.broadcast_to(ensemble.swap_mask[:, :, None, :], inflated.shape)
        observed = ~ensemble.missing_mask
        clean = observed & ~swapped & ~ensemble.outlier_mask
        truth = np.where(((session.points2d >= -0.5) & (session.points2d < 127.5)).all(-1, keepdims=True),
                         session.points2d, np.nan)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(ensemble.position, axis=0)
        reprojection = smoothed["reprojection"].values  # (view, time, keypoint, individual, 2)
        before, scored = identity_swaps(median, truth)
        after, _ = identity_swaps(reprojection, truth)
        rows.append(
            {
                "seed": seed,
                "planted": float(ensemble.swap_mask.any(-1).mean()),
                "inflated": float(inflated[swapped & observed].mean()),
                "view_caught": float(inflated.any(axis=(2, 3))[ensemble.swap_mask.any(-1)].mean()),
                "false_alarms": float(inflated[clean].mean()),
                "before": float(before.sum() / scored.sum()),
                "after": float(after.sum() / scored.sum()),
                "seconds": seconds,
            }
        )
    return rows


def _pct(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{100 * x:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["pipeline", "smoother"], help="run one part")
    part1 = parser.add_argument_group("part 1: the pipeline on a synthetic session")
    part1.add_argument("--frames", type=int, default=600, help="frames of the session")
    part1.add_argument("--steps", type=int, default=600, help="optimizer steps per member (teacher and student)")
    part1.add_argument("--seed", type=int, default=0, help="seed of the session")
    part1.add_argument("--out", type=Path, default=None, help="keep the pipeline folder here")
    part2 = parser.add_argument_group("part 2: the smoother on swapped identities")
    part2.add_argument("--swap-rate", type=float, default=0.02, help="share of (frame, view) swapped")
    part2.add_argument("--smoother-seeds", type=int, default=3, help="sessions")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    if args.only != "smoother":
        from lp3d_workflows.pipeline import run_pipeline
        from lp3d_workflows.pipeline_report import score_table

        with tempfile.TemporaryDirectory() as tmp:
            folder = args.out or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            result = run_pipeline(pipeline_config(folder, args))
            seconds = time.perf_counter() - start
            print(
                f"\nPart 1: pipeline on two synthetic animals ({args.frames} frames, 3 views 96 x 96, "
                f"{args.steps} steps per member), {seconds:.0f} s wall"
            )
            print("\nThe pipeline's table (held-out labeled frames, pixels; 3D in mm):\n")
            header, rows = score_table(result.scores)
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header))
            for row in rows:
                print("| " + " | ".join(row) + " |")
            table = score_against_truth(result.root)
            print(
                f"\nAgainst the generator's truth, every frame not trained on ({table[0]['scored']} frame x view "
                "with both animals scored), mean pixel error:\n"
            )
            print(
                "| stage | light | dark | both | identity swaps | input's swaps with an inflation | "
                "other (frame, view) with an inflation | observations inflated |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in table:
                print(
                    f"| {r['stage']} | {r['light']:.2f} | {r['dark']:.2f} | {r['all']:.2f} | "
                    f"{_pct(r['swaps'])} ({r['n_swaps']}) | {_pct(r['caught'])} | {_pct(r['false_alarms'])} | "
                    f"{_pct(r['inflated'])} |"
                )

    if args.only == "pipeline":
        return
    rows = smoother_on_planted_swaps(args)
    print(
        f"\nPart 2: the smoother on planted identity swaps (1000 frames, 4 views, 5 members, swap rate "
        f"{args.swap_rate:g} of (frame, view), runs of 1-10 frames, one view at a time; outliers and missing "
        "detections as usual):\n"
    )
    print(
        "| seed | swapped (frame, view) | swapped observations inflated | swapped views with an inflation | "
        "false alarms | swap rate: ensemble median | swap rate: EKS reprojection | smoothing (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['seed']} | {_pct(r['planted'])} | {_pct(r['inflated'])} | {_pct(r['view_caught'])} | "
            f"{_pct(r['false_alarms'])} | {_pct(r['before'])} | {_pct(r['after'])} | {r['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
