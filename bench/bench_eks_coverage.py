"""Are the calibrated smoother's 95% intervals honest on every kind of motion? (issue #12)

The simulated sessions of ``packages/lp3d-eks/tests/simulate.py`` (4 cameras on a ring, 1,000
frames, 6 keypoints, ensemble errors shared by the members plus each member's own, 2% outliers,
3% missing detections and gaps) with the truth moving as a random walk, as sinusoids (10 mm,
periods 70-130 frames), or smoothly but not periodically (the velocity is white noise filtered by
a Gaussian of 4, 8, 15 or 30 frames); 5 members, and a single member. Per scenario, averaged over
the seeds: 3D RMSE, the coverage of the 95% intervals per coordinate (the target is 93-97%) and of
the joint 3D ellipsoid, and the motion each keypoint got, for ``motion="auto"`` (the default) and
for the random walk alone.

    python bench/bench_eks_coverage.py [--seeds 3] [--frames 1000]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import lp3d_eks
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "lp3d-eks" / "tests"))
from simulate import rmse, simulate  # noqa: E402

# scenario name -> simulate() keyword arguments
SCENARIOS = {
    "random walk": {},
    "oscillating": {"oscillation": (10.0, 100.0)},
    **{f"smooth velocity, {f} frames": {"smooth_velocity": float(f)} for f in (4, 8, 15, 30)},
    "random walk, 1 member": {"n_members": 1},
    "smooth velocity, 8 frames, 1 member": {"smooth_velocity": 8.0, "n_members": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=1000)
    args = parser.parse_args()
    print("| scenario | motion | 3D RMSE (mm) | 95% coverage | joint 3D coverage | keypoints with constant velocity |")
    print("|---|---|---:|---:|---:|---:|")
    for name, kwargs in SCENARIOS.items():
        for motion in ("auto", "random walk"):
            errors, per_coordinate, joint, chosen = [], [], [], Counter()
            for seed in range(args.seeds):
                sim = simulate(n_frames=args.frames, n_keypoints=6, seed=seed, **kwargs)
                res = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, confidences=sim.confidences, motion=motion)
                coverage = lp3d_eks.interval_coverage(res.mean, res.covariance, sim.truth)
                errors.append(rmse(res.mean, sim.truth))
                per_coordinate.append(coverage.per_coordinate)
                joint.append(coverage.joint)
                chosen.update(str(m) for m in res.motion)
            print(
                f"| {name} | {motion} | {np.mean(errors):.3f} | {100 * np.mean(per_coordinate):.1f}% "
                f"({', '.join(f'{100 * c:.1f}' for c in per_coordinate)}) | {100 * np.mean(joint):.1f}% "
                f"| {chosen['constant velocity']} / {sum(chosen.values())} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
