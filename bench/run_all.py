"""Runs every benchmark in bench/ in turn (each prints its own table).

python bench/run_all.py [--reference]     # --reference: also time ensemble-kalman-smoother 4.6.2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="include the reference smoother where supported")
    args = parser.parse_args()
    runs = [
        ["bench_eks_scale.py"],
        ["bench_eks_accuracy.py"] + (["--reference"] if args.reference else []),
    ]
    runs += [[p.name] for p in sorted(HERE.glob("bench_*.py")) if p.name not in {r[0] for r in runs}]
    failed = []
    for cmd in runs:
        print(f"\n## {' '.join(cmd)}\n", flush=True)
        if subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]]).returncode != 0:
            failed.append(cmd[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
