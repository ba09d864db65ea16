"""lp3d-io benchmark: ensemble prediction CSVs -> zarr session store -> CSVs, against pandas.

Writes ``models x views`` Lightning Pose style CSVs (``frames x keypoints``, float32 values,
smooth tracks with noise and a few missing points), then measures, each step in its own
subprocess (wall time of the work, peak RSS of the process from ``resource.getrusage``):

- lp3d: ``read_predictions`` + ``write_group`` (CSV -> store), ``read_group`` +
  ``to_prediction_csvs`` (store -> CSV);
- lp3d: ``from_pose_csv`` + ``to_pose_csv`` file by file (the same work as pandas below);
- pandas: ``read_csv(header=[0, 1, 2], index_col=0)`` + ``to_csv`` file by file;

and compares the store's size with the CSVs'. Prints a markdown table.

    .venv/bin/python bench/bench_io.py                    # 20,000 frames (about a minute)
    .venv/bin/python bench/bench_io.py --frames 100000    # the issue's size (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STORE_GROUP = "predictions/ensemble"


def _views(n: int) -> list[str]:
    return [f"cam{v}" for v in range(n)]


def generate(folder: Path, frames: int, keypoints: int, views: int, models: int, seed: int = 0) -> list[Path]:
    """Writes the input CSVs (not timed): smooth random-walk tracks, per-model noise, 0.5% NaN."""
    from lp3d_io.csv import to_pose_csv
    from lp3d_io.pose_table import PoseTable

    rng = np.random.default_rng(seed)
    names = [f"kp{k}" for k in range(keypoints)]
    t = np.arange(frames)[:, None, None]
    files = []
    for view in _views(views):
        phase = rng.uniform(0, 2 * np.pi, size=(1, keypoints, 2))
        truth = 300 + 120 * np.sin(t / 80 + phase) + np.cumsum(rng.normal(0, 0.2, size=(frames, keypoints, 2)), axis=0)
        for m in range(models):
            pos = (truth + rng.normal(0, 1.5, size=truth.shape)).astype(np.float32)
            conf = np.clip(1 - np.abs(rng.normal(0, 0.08, size=(frames, keypoints))), 0, 1).astype(np.float32)
            pos[rng.uniform(size=(frames, keypoints)) < 0.005] = np.nan
            path = folder / f"session_{view}.rng={m}.csv"
            to_pose_csv(PoseTable.from_numpy(pos, conf, keypoint_names=names, scorer="heatmap_tracker"), path)
            files.append(path)
    return files


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def run_step(step: str, work: Path, args: argparse.Namespace) -> dict:
    """One step, in this (child) process: seconds reading, writing, in all; peak RSS.

    Every step runs in a fresh process started by a parent that holds no data, because a child's
    ``ru_maxrss`` starts from its parent's at the fork.
    """
    views = args.views
    csv_dir, out_dir, store = work / "csv", work / f"out-{step}", work / "session.zarr"
    if step == "generate":
        csv_dir.mkdir(exist_ok=True)
        files = generate(csv_dir, args.frames, args.keypoints, args.views, args.models)
        return {"files": len(files), "csv_bytes": sum(_size(p) for p in files)}
    if step == "check":
        _check_round_trip(work, sorted(csv_dir.glob("*.csv")))
        return {"store_bytes": _size(store)}
    out_dir.mkdir(exist_ok=True)
    files = sorted(csv_dir.glob("*.csv"))
    read_s = write_s = 0.0
    start = time.perf_counter()
    if step == "baseline":
        import lp3d_io  # noqa: F401
        import pandas  # noqa: F401
    elif step == "csv_to_store":
        from lp3d_io.grouping import read_predictions
        from lp3d_io.store import write_group

        start = time.perf_counter()
        ds = read_predictions(csv_dir, _views(views))
        read_s = time.perf_counter() - start
        write_group(store, STORE_GROUP, ds)
        write_s = time.perf_counter() - start - read_s
    elif step == "store_to_csv":  # the store is read lazily, while the CSVs are written
        from lp3d_io.csv import to_prediction_csvs
        from lp3d_io.store import read_group

        start = time.perf_counter()
        written = to_prediction_csvs(
            read_group(store, STORE_GROUP), out_dir, template="session_{view}.{member}.csv", scorer="heatmap_tracker"
        )
        assert len(written) == len(files)
    elif step in ("lp3d_csv", "pandas_csv"):
        import pandas as pd
        from lp3d_io.csv import from_pose_csv, to_pose_csv

        start = time.perf_counter()
        for path in files:
            t0 = time.perf_counter()
            if step == "pandas_csv":
                df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
                t1 = time.perf_counter()
                df.to_csv(out_dir / path.name)
            else:
                table = from_pose_csv(path, dtype=np.float32)
                t1 = time.perf_counter()
                to_pose_csv(table, out_dir / path.name)
            read_s += t1 - t0
            write_s += time.perf_counter() - t1
    else:
        raise ValueError(f"unknown step {step!r}")
    return {
        "wall_s": time.perf_counter() - start,
        "read_s": read_s,
        "write_s": write_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(step: str, work: Path, args: argparse.Namespace) -> dict:
    options = ["--frames", str(args.frames), "--keypoints", str(args.keypoints), "--views", str(args.views)]
    out = subprocess.run(
        [sys.executable, __file__, "--step", step, "--workdir", str(work), "--models", str(args.models), *options],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_argument_group("the files (one per view and member)")
    size.add_argument("--frames", type=int, default=20_000, help="frames per file (issue target: 100000)")
    size.add_argument("--keypoints", type=int, default=20, help="keypoints per file")
    size.add_argument("--views", type=int, default=4, help="camera views")
    size.add_argument("--models", type=int, default=5, help="ensemble members")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.workdir, args)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench_io_", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        generated = _child("generate", work, args)
        print(f"generated {generated['files']} CSVs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        steps = ("baseline", "csv_to_store", "store_to_csv", "lp3d_csv", "pandas_csv")
        results = {step: _child(step, work, args) for step in steps}
        checked = _child("check", work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    _print_table(args, results, generated["csv_bytes"], checked["store_bytes"])


def _check_round_trip(work: Path, files: list[Path]) -> None:
    """The store round trip gives back the same numbers (checked on the first and last file)."""
    from lp3d_io.csv import from_pose_csv

    for path in (files[0], files[-1]):
        a, b = (
            from_pose_csv(path, dtype=np.float32),
            from_pose_csv(work / "out-store_to_csv" / path.name, dtype=np.float32),
        )
        assert np.array_equal(a.position, b.position, equal_nan=True) and np.array_equal(a.confidence, b.confidence)


def _print_table(args, results: dict, csv_bytes: int, store_bytes: int) -> None:
    r = results
    total = {
        "wall_s": r["csv_to_store"]["wall_s"] + r["store_to_csv"]["wall_s"],
        "read_s": 0.0,
        "write_s": 0.0,
        "peak_rss_mib": max(r["csv_to_store"]["peak_rss_mib"], r["store_to_csv"]["peak_rss_mib"]),
    }
    rows = [
        ("lp3d: CSV -> zarr store (`read_predictions` + `write_group`)", r["csv_to_store"]),
        ("lp3d: zarr store -> CSV (`read_group` + `to_prediction_csvs`)", r["store_to_csv"]),
        ("**lp3d: CSV -> store -> CSV**", total),
        ("lp3d: `from_pose_csv` + `to_pose_csv`, file by file", r["lp3d_csv"]),
        ("**pandas: `read_csv` + `to_csv`, file by file**", r["pandas_csv"]),
        ("(imports only: lp3d_io, pandas)", r["baseline"]),
    ]
    print(
        f"\n{args.views * args.models} files ({args.models} models x {args.views} views), {args.frames:,} frames x "
        f"{args.keypoints} keypoints x (x, y, likelihood) each\n"
    )
    print("| step | read (s) | write (s) | total (s) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for name, res in rows:
        read = f"{res['read_s']:.2f}" if res["read_s"] else ""
        write = f"{res['write_s']:.2f}" if res["write_s"] else ""
        print(f"| {name} | {read} | {write} | {res['wall_s']:.2f} | {res['peak_rss_mib']:.0f} |")
    print(
        f"\n| size | MB |\n|---|---:|\n| CSV files | {csv_bytes / 1e6:.1f} |\n| zarr store | {store_bytes / 1e6:.1f} |"
    )
    print(
        f"\nstore {csv_bytes / store_bytes:.2f}x smaller than the CSVs; CSV -> store -> CSV "
        f"{r['pandas_csv']['wall_s'] / total['wall_s']:.2f}x faster than pandas read_csv + to_csv"
    )


if __name__ == "__main__":
    main()
