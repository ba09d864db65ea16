"""Whole-process ``lp3d smooth`` vs the reference ``eks multicam`` on the fly data set, side by side.

Both run the calibrated 3D smoother with variance inflation on the 3 cameras x 3 models of
``/work/shared/data/eks/fly`` (500 frames, 12 keypoints), each as a separate process under GNU
``/usr/bin/time -v``: the numbers include interpreter start-up, imports, reading the CSVs and
writing every output. The reference (ensemble-kalman-smoother 4.6.2, a scratch venv, never an
lp3d dependency) runs through ``bench/reference/run_eks462_fly.sh``.

Reported: wall time, CPU time (user + sys: less sensitive to other load on the machine) and peak RSS
of each, the speed-up and memory ratio, and the agreement of the two 3D outputs
(``multicam_3d_results.csv``): median and 99th percentile of the per-point distance, relative to
the fly's size (the median over frames of the diagonal of the keypoints' bounding box).

``--stored-reference`` skips the reference run (about 40 s) and compares with the outputs and the
``time -v`` report stored in ``bench/reference/fly_eks462`` (measured on a quiet machine).

    python bench/bench_cli_fly.py [--data DIR] [--runs 3] [--stored-reference]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from lp3d_io.csv import from_pose_csv

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SCRIPT = ROOT / "bench" / "reference" / "run_eks462_fly.sh"
STORED_REFERENCE = ROOT / "bench" / "reference" / "fly_eks462"
LP3D = Path(sys.executable).parent / "lp3d"


def parse_time_v(text: str) -> tuple[float, float, float]:
    """Wall time (s), CPU time (user + sys, s) and peak RSS (MiB) from a GNU ``time -v`` report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if wall is None or user is None or system is None or rss is None:
        raise ValueError(f"expected a GNU time -v report, but got:\n{text}")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = 60 * seconds + float(part)
    return seconds, float(user.group(1)) + float(system.group(1)), int(rss.group(1)) / 1024


def run_lp3d(data: Path, out: Path) -> tuple[float, float, float]:
    """One whole-process ``lp3d smooth`` run; returns wall time (s), CPU time (s) and peak RSS (MiB)."""
    report = out.parent / f"{out.name}.time_v.txt"
    command = [
        "/usr/bin/time", "-v", "-o", str(report),
        str(LP3D), "smooth", str(data), "--calibration", str(data / "calibration.toml"), "--out", str(out), "-q",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return parse_time_v(report.read_text())


def run_reference(data: Path, out: Path) -> tuple[float, float, float]:
    """The reference ``eks multicam`` run (its script times it); returns wall time (s), CPU time (s) and
    peak RSS (MiB)."""
    subprocess.run(["bash", str(REFERENCE_SCRIPT), str(data), str(out)], check=True, capture_output=True)
    return parse_time_v((out / "time_v.txt").read_text())


def agreement(ours: Path, reference: Path) -> tuple[float, float, float]:
    """Median and 99th percentile 3D distance relative to the fly's size, and that size."""
    a = from_pose_csv(ours).position[:, :, 0]  # (time, keypoint, 3)
    b = from_pose_csv(reference).position[:, :, 0]
    if a.shape != b.shape:
        raise ValueError(f"expected 3D outputs of the same shape, but got {a.shape} and {b.shape}")
    size = float(np.median(np.linalg.norm(np.nanmax(b, axis=1) - np.nanmin(b, axis=1), axis=-1)))
    distance = np.linalg.norm(a - b, axis=-1)
    return float(np.nanmedian(distance)) / size, float(np.nanpercentile(distance, 99)) / size, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/eks/fly"), help="the fly data set")
    parser.add_argument("--runs", type=int, default=3, help="lp3d runs (the median is reported)")
    parser.add_argument(
        "--stored-reference",
        action="store_true",
        help=f"compare with the reference run stored in {STORED_REFERENCE.relative_to(ROOT)} instead of running it",
    )
    args = parser.parse_args()
    if not (args.data / "calibration.toml").is_file():
        sys.exit(f"fly data set not found at {args.data}")
    with tempfile.TemporaryDirectory(prefix="bench_cli_fly_") as tmp:
        tmp = Path(tmp)
        runs = [run_lp3d(args.data, tmp / f"lp3d_{i}") for i in range(args.runs)]
        ours_wall, ours_cpu, ours_rss = (float(np.median([r[i] for r in runs])) for i in range(3))
        if args.stored_reference:
            reference = STORED_REFERENCE
            ref_wall, ref_cpu, ref_rss = parse_time_v((reference / "time_v.txt").read_text())
        else:
            reference = tmp / "eks"
            ref_wall, ref_cpu, ref_rss = run_reference(args.data, reference)
        median, p99, size = agreement(tmp / "lp3d_0" / "multicam_3d_results.csv", reference / "multicam_3d_results.csv")
    which = "stored run" if args.stored_reference else "run now"
    print(f"fly: 3 cameras x 3 models, 500 frames, 12 keypoints; calibration, inflation on; lp3d median of {args.runs}")
    print()
    print(f"| | lp3d smooth | eks 4.6.2 multicam ({which}) | lp3d vs eks |")
    print("|---|---:|---:|---:|")
    print(f"| wall time, whole process | {ours_wall:.2f} s | {ref_wall:.1f} s | {ref_wall / ours_wall:.1f}x faster |")
    print(f"| CPU time (user + sys) | {ours_cpu:.2f} s | {ref_cpu:.1f} s | {ref_cpu / ours_cpu:.1f}x less |")
    print(f"| peak RSS | {ours_rss:.0f} MiB | {ref_rss:.0f} MiB | {ref_rss / ours_rss:.1f}x less |")
    print(f"| 3D distance, median (fly size {size:.3g} world units) | | | {100 * median:.2f}% of fly size |")
    print(f"| 3D distance, 99th percentile | | | {100 * p99:.2f}% of fly size |")


if __name__ == "__main__":
    main()
