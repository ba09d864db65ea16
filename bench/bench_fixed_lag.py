"""Fixed-lag smoothing and ``lp3d live`` (issue #18): step latency, accuracy against the lag, the live loop.

1. Latency of one smoother step (:meth:`lp3d_eks.FixedLagSmoother.push`: the ensemble statistics
   of one frame's member predictions, the filter update with variance inflation, the smoothing pass
   over the window, the frame it returns) for 20 keypoints x 4 views x 5 members, in a child process
   pinned to one core (``sched_setaffinity``, ``OMP_NUM_THREADS=1``), for L = 0, 5, 15, 30: p50,
   p99 and max over every frame of a simulated session (lp3d-eks's test simulator: random-walk
   points, 4 cameras on a ring, 2% outliers, 3% missing, gaps), parameters fitted on its first
   250 frames. Python's garbage collector stays on, as in a live loop.
2. Accuracy against the lag on simulated sessions with truth (``bench_eks_accuracy.py``'s
   scenarios, with outliers and missing detections): 3D RMSE, 99th percentile error, 95% interval
   coverage (per coordinate, and of the joint 3D ellipsoid) for L = 0, 5, 15, 30 (parameters fitted
   on the first ``--fit-frames`` frames, as ``lp3d live`` and ``lp3d smooth --lag`` do) and the
   offline smoother (``smooth_calibrated``, every frame, parameters fitted on the whole session),
   scored on the frames after the calibration stretch, averaged over seeds.
3. ``lp3d live`` on this CPU (:func:`lp3d_workflows.live.run_live`) with the tiny model
   (:data:`lp3d_models.config.TINY_MODEL`, 5 members trained for a few steps on a synthetic
   session from :mod:`lp3d_io.synthetic`): the session's 4 videos (128 x 128, 30 frames/s) replayed
   with no realtime throttle (every set processed: the frames/s the loop sustains) and at their
   frame rate (sets dropped when the model cannot keep up), one torch thread; sustained frames/s,
   dropped sets, and latency per stage (capture -> model start, model, smoother, output; end to end:
   capture -> the frame's line, the lag included) p50 / p99.

    .venv/bin/python bench/bench_fixed_lag.py                    # all three parts (~6 minutes on a loaded 2-core VM)
    .venv/bin/python bench/bench_fixed_lag.py --only latency     # or accuracy, live
    .venv/bin/python bench/bench_fixed_lag.py --seeds 1 --live-frames 400

No GPU numbers: run part 3 with ``--device cuda`` where there is one.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench_eks_accuracy import metrics, scenario  # this folder is on sys.path
from bench_models import _table

ROOT = Path(__file__).resolve().parents[1]
LAGS = (0, 5, 15, 30)
PRIORITIES = {"default": "default", "nice": "nice -20", "fifo": "SCHED_FIFO"}


def latency_worker(frames: int, fit_frames: int, core: int, priority: str) -> None:
    """Part 1 in this (child) process, pinned to ``core``: one JSON line per lag. ``priority``:
    ``default``, ``nice`` (-20), or ``fifo`` (SCHED_FIFO 50 around the timed loops only, the kernel's
    real-time throttling on: what a rig that reserves a core would do)."""
    os.sched_setaffinity(0, {core})
    if priority == "nice":
        os.nice(-20)
    sys.path.insert(0, str(ROOT / "packages" / "lp3d-eks" / "tests"))
    import lp3d_eks
    from simulate import simulate

    sim = simulate(n_frames=fit_frames + frames, n_keypoints=20, n_views=4, n_members=5, seed=0)
    params = lp3d_eks.fit_fixed_lag(sim.predictions, sim.rig, n_frames=fit_frames)
    stream = sim.predictions[:, :, fit_frames:]  # (member, view, time, keypoint, 2)
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for lag in LAGS:
        smoother = lp3d_eks.FixedLagSmoother(params, sim.rig, lag=lag)
        for t in range(50):  # warm-up: first allocations, the window filling
            smoother.push(stream[:, :, t])
        smoother = lp3d_eks.FixedLagSmoother(params, sim.rig, lag=lag)
        push, push_cpu, stats = np.empty(frames), np.empty(frames), np.empty(frames)
        if priority == "fifo":
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
        for t in range(frames):
            frame = stream[:, :, t]
            t0, c0 = wall(), cpu()
            smoother.push(frame)
            push_cpu[t], push[t] = cpu() - c0, wall() - t0
        if priority == "fifo":
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        for t in range(frames):  # the ensemble statistics alone (part of push)
            t0 = wall()
            smoother.observations(stream[:, :, t])
            stats[t] = wall() - t0
        ms, ms_cpu = push / 1e6, push_cpu / 1e6
        row = {"lag": lag, "frames": frames, "over_1ms": int(np.sum(ms >= 1.0))}
        for name, x in (("", ms), ("cpu_", ms_cpu)):
            row |= {f"{name}p50": float(np.percentile(x, 50)), f"{name}p99": float(np.percentile(x, 99))}
            row |= {f"{name}max": float(x.max())}
        row["stats_p50"] = float(np.percentile(stats / 1e6, 50))
        print(json.dumps(row), flush=True)


def latency(args: argparse.Namespace) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    for priority in ("default", "nice", "fifo"):
        cmd = [sys.executable, __file__, "--latency-worker", "--latency-frames", str(args.latency_frames)]
        cmd += ["--fit-frames", str(args.fit_frames), "--core", str(args.core), "--priority", priority]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:  # nice -20 and SCHED_FIFO need the privilege
            print(f"{priority}: {out.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            continue
        for line in out.stdout.splitlines():
            r = json.loads(line)
            rows.append(
                {
                    "scheduling": PRIORITIES[priority],
                    "L": r["lag"],
                    "frames": r["frames"],
                    "p50 (ms)": r["p50"],
                    "p99 (ms)": r["p99"],
                    "max (ms)": r["max"],
                    "steps >= 1 ms": r["over_1ms"],
                    "CPU p50 (ms)": r["cpu_p50"],
                    "CPU p99 (ms)": r["cpu_p99"],
                    "CPU max (ms)": r["cpu_max"],
                    "ensemble statistics p50 (ms)": r["stats_p50"],
                    "p99 < 1 ms": "yes" if r["p99"] < 1.0 else "**no**",
                }
            )
    fmt = {k: ".3f" for k in rows[0] if k.endswith("(ms)")} | {"frames": ",", "steps >= 1 ms": ","}
    return _table(rows, fmt)


def accuracy(args: argparse.Namespace) -> str:
    import lp3d_eks

    rows = []
    for kind in ("animal", "random-walk", "oscillating"):
        acc: dict[str, list[dict]] = {}
        for seed in range(args.seeds):
            rig, truth, pred, conf, outl, miss, _ = scenario(kind, seed, True, args.frames)
            scored = slice(args.fit_frames, None)
            params = lp3d_eks.fit_fixed_lag(pred, rig, confidences=conf, n_frames=args.fit_frames)
            runs = {}
            for lag in LAGS:
                runs[f"L = {lag}"] = lp3d_eks.smooth_fixed_lag(pred, rig, lag=lag, parameters=params, confidences=conf)
            runs["offline"] = lp3d_eks.smooth_calibrated(pred, rig, confidences=conf)
            for name, res in runs.items():
                m = metrics(res.mean[scored], res.covariance[scored], truth[scored])
                inflated, out_s, miss_s = res.inflated[:, scored], outl[:, scored], miss[:, scored]
                m["flagged"] = float(inflated[out_s & ~miss_s].mean())
                m["false"] = float(inflated[~out_s & ~miss_s].mean())
                acc.setdefault(name, []).append(m)
        for name, results in acc.items():
            mean = {k: float(np.mean([r[k] for r in results])) for k in results[0]}
            rows.append(
                {
                    "scenario": kind,
                    "smoother": name,
                    "3D RMSE (mm)": mean["rmse"],
                    "99th pct (mm)": mean["p99"],
                    "95% coverage": 100 * mean["coverage"],
                    "joint 3D coverage": 100 * mean["joint"],
                    "outliers flagged": 100 * mean["flagged"],
                    "false alarms": 100 * mean["false"],
                }
            )
        print(f"done: {kind}", file=sys.stderr, flush=True)
    fmt = {"3D RMSE (mm)": ".3f", "99th pct (mm)": ".2f", "95% coverage": ".1f", "joint 3D coverage": ".1f"}
    fmt |= {"outliers flagged": ".0f", "false alarms": ".2f"}
    return _table(rows, fmt)


def live(args: argparse.Namespace) -> tuple[str, str, dict]:
    """Part 3: (throughput table, latency table, what was set up)."""
    import torch
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session
    from lp3d_models.config import as_overrides, load_config, tiny_model
    from lp3d_models.training import train
    from lp3d_workflows.live import LiveSettings, run_live

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    members = list(range(args.members))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = root / "project"
        t0 = time.perf_counter()
        config = SyntheticConfig(n_views=4, image_size=(128, 128), n_frames=args.live_frames, seed=3, session_name="s")
        write_session(make_session(config), project, labeled_frames=100)
        t1 = time.perf_counter()
        values = tiny_model(
            run_dir=str(root / "run"),
            data={"root": str(project)},
            training={"max_steps": args.train_steps, "val_every_steps": args.train_steps, "batch_size": 8},
        )
        (project / "lp3d.yaml").write_text("{}\n")
        torch.set_num_threads(1)
        train(load_config(project / "lp3d.yaml", as_overrides(values)), members)
        t2 = time.perf_counter()
        setup = {"session_s": t1 - t0, "train_s": t2 - t1, "frames": args.live_frames, "members": args.members}
        slow = root / "slow"  # the same session filmed at a rate the model keeps up with
        write_session(make_session(replace(config, fps=args.slow_fps)), slow, labeled_frames=1)
        runs = []
        for realtime, lag, folder in [(False, 5, project), (True, 0, project), (True, 5, project), (True, 15, project)]:
            runs.append((realtime, lag, folder))
        runs.append((True, 5, slow))
        results = []
        for realtime, lag, folder in runs:
            settings = LiveSettings(
                calibration=folder / "calibration.toml",
                lag=lag,
                fit_frames=args.fit_frames,
                realtime=realtime,
                device=args.device,
                threads=1,
            )
            videos = sorted((folder / "videos").glob("*.mp4"))
            out = root / f"live_{len(results)}"
            result = run_live(root / "run", videos, out, settings, on_line=lambda _: None)
            with open(out / "frames.csv") as f:
                dropped = [int(r["dropped"]) for r in csv.DictReader(f) if int(r["frame"]) >= args.fit_frames]
            results.append((realtime, lag, result, sum(dropped), len(dropped)))
            print(f"done: live realtime={realtime} lag={lag} fps={result.source_fps}", file=sys.stderr, flush=True)
    through, lat = [], []
    for realtime, lag, r, steady_dropped, steady in results:
        replay = f"{r.source_fps:.0f} frames/s" if realtime else "no throttle"
        through.append(
            {
                "replay": replay,
                "L": lag,
                "frames": r.n_frames,
                "dropped sets": r.n_dropped,
                f"dropped after frame {args.fit_frames} (%)": 100 * steady_dropped / max(steady, 1),
                "seconds": r.seconds,
                "sets through the model / s": r.processed_fps,
                "frames out / s": r.n_frames / r.seconds if r.seconds > 0 else float("nan"),
            }
        )
        row = {"replay": replay, "L": lag}
        for stage, s in r.latency.items():
            name = stage.replace("_", " ")
            row |= {f"{name} p50": s.p50_ms, f"{name} p99": s.p99_ms}
        lat.append(row)
    t_fmt = {"frames": ",", "dropped sets": ",", f"dropped after frame {args.fit_frames} (%)": ".1f", "seconds": ".1f"}
    t_fmt |= {"sets through the model / s": ".1f", "frames out / s": ".1f"}
    return _table(through, t_fmt), _table(lat, {k: ".2f" for k in lat[0] if k[-3:] in ("p50", "p99")}), setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["latency", "accuracy", "live"], help="run one part")
    parser.add_argument("--fit-frames", type=int, default=250, help="calibration stretch (frames)")
    part1 = parser.add_argument_group("part 1: smoother step latency")
    part1.add_argument("--latency-frames", type=int, default=3000, help="timed frames per lag")
    part1.add_argument("--core", type=int, default=0, help="the core it is pinned to")
    part2 = parser.add_argument_group("part 2: accuracy against the lag")
    part2.add_argument("--seeds", type=int, default=3, help="sessions per scenario")
    part2.add_argument("--frames", type=int, default=1000, help="frames per simulated session")
    part3 = parser.add_argument_group("part 3: lp3d live")
    part3.add_argument("--live-frames", type=int, default=900, help="frames of the replayed session")
    part3.add_argument("--members", type=int, default=5, help="ensemble members")
    part3.add_argument("--train-steps", type=int, default=20, help="training steps per member")
    part3.add_argument("--slow-fps", type=float, default=10.0, help="frame rate of the slower replay")
    part3.add_argument("--device", default="cpu", help="where the model runs")
    parser.add_argument("--latency-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--priority", default="default", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency_worker:
        latency_worker(args.latency_frames, args.fit_frames, args.core, args.priority)
        return
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    if args.only in (None, "latency"):
        print(f"\n### Smoother step latency (20 keypoints x 4 views x 5 members, one core {args.core})\n")
        print(latency(args), flush=True)
    if args.only in (None, "accuracy"):
        print(f"\n### Accuracy against the lag ({args.frames} frames, scored after frame {args.fit_frames}, ", end="")
        print(f"{args.seeds} seeds)\n")
        print(accuracy(args), flush=True)
    if args.only in (None, "live"):
        through, lat, setup = live(args)
        print(
            f"\n### lp3d live, tiny model ({setup['members']} members, 4 views 128 x 128, {setup['frames']} frames; "
            f"session written in {setup['session_s']:.0f} s, trained in {setup['train_s']:.0f} s)\n"
        )
        print(through)
        print("\nLatency per stage (ms):\n")
        print(lat, flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
