"""Robust calibrated smoothing on simulated rigs where one camera disagrees (issue #12).

The simulated sessions of ``packages/lp3d-eks/tests/simulate.py`` (4 cameras on a ring, 600
frames, 6 keypoints): one camera's calibration off by a rotation of 1-3 degrees and a translation,
a constant 20 px label offset on 3 keypoints in one view, single-model input (one set of labels,
9% missing) with a wrong camera, and missing stretches in a good view with a wrong camera; plus
a body part oscillating 2 mm around a fixed place seen through a wrong camera (the "frozen
track" of the issue). For each: 3D RMSE, the reprojection error on the consistent cameras
(median distance of the reprojected 3D point from the true 2D position over the views and
keypoints that are not off), 95% coverage per coordinate and of the joint 3D ellipsoid, whether
the report names the bad camera (and no other), and for
(1) per-frame DLT of every view, (2) DLT without the bad camera (an oracle), (3) robust
triangulation (``triangulate_robust``, 5 / 10 / 20 px), (4) lp3d with the robust parts off
(``view_scale=1, min_motion=0``) and (5) lp3d (defaults).

    python bench/bench_robust.py [--seeds 3]
    python bench/bench_robust.py --package lp3d_eks_old   # smoother rows from another build, e.g. an older
                                                         # commit's lp3d_eks installed under that name
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import lp3d_eks
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "lp3d-eks" / "tests"))
from simulate import (  # noqa: E402
    ROBUST_CASES,
    consistent_reprojection_error,
    rmse,
    simulate,
    without_bad_views,
)

CASES = {
    "rotation 1 deg": dict(bad_view=1, rotation_deg=1.0, translation_mm=5.0),
    **ROBUST_CASES,
    "rotation 3 deg": dict(bad_view=1, rotation_deg=3.0, translation_mm=10.0),
    "oscillating, 3 deg, single model": dict(
        n_members=1, shared_px=3.0, member_px=0.0, outlier_rate=0.0, missing_rate=0.09, n_gaps=0,
        oscillation=(2.0, 50.0), bad_view=1, rotation_deg=3.0,
    ),
}  # fmt: skip
NAMES = [f"kp{k}" for k in range(6)]


def _named(result, sim) -> str:
    """'yes' when the sentences name the bad camera and no other, else what they name."""
    sentences = lp3d_eks.describe_inconsistent_views(result, sim.rig.names, NAMES)
    named = {s.split(":")[0] for s in sentences}
    bad = {sim.rig.names[v] for v in np.flatnonzero(sim.bad.any(axis=1))}
    return "yes" if named == bad else f"no ({', '.join(sorted(named)) or 'none'})"


def _other_build(module, rig):
    """The rig for another lp3d_eks build (its own Camera class; pinhole cameras only)."""
    return module.CameraRig(tuple(module.Camera(c.name, c.size, c.matrix, c.dist, c.rvec, c.tvec) for c in rig.cameras))


def run_case(kwargs: dict, seed: int, package) -> dict[str, dict]:
    sim = simulate(n_frames=600, n_keypoints=6, n_views=4, seed=seed, **kwargs)
    obs = lp3d_eks.ensemble_statistics(sim.predictions)
    rows: dict[str, dict] = {}

    def points(name, X, extra=None):
        rows[name] = {
            "rmse": rmse(X, sim.truth),
            "reprojection": consistent_reprojection_error(X, sim),
            "no position": float(np.mean(~np.isfinite(X).all(-1))),
            **(extra or {}),
        }

    points("DLT, every view", lp3d_eks.triangulate_observations(obs, sim.rig)[0])
    points(
        "DLT without the bad camera (oracle)",
        lp3d_eks.triangulate_observations(without_bad_views(sim, obs.center), sim.rig)[0],
    )
    for threshold in (5.0, 10.0, 20.0):
        robust = lp3d_eks.triangulate_robust(obs, sim.rig, threshold_px=threshold)
        points(f"robust triangulation, {threshold:.0f} px", robust.points, {"named": _named(robust, sim)})
    smoothers = {"lp3d, robust parts off": dict(view_scale=1.0, min_motion=0.0), "lp3d": {}}
    if package is not None:
        smoothers = {f"{package.__name__} (defaults)": None}
    for name, options in smoothers.items():
        t0 = time.perf_counter()
        if options is None:
            res = package.smooth_calibrated(sim.predictions, _other_build(package, sim.rig))
        else:
            res = lp3d_eks.smooth_calibrated(sim.predictions, sim.rig, **options)
        seconds = time.perf_counter() - t0
        coverage = lp3d_eks.interval_coverage(res.mean, res.covariance, sim.truth)
        frozen = res.mean.std(axis=0).mean(-1) / sim.truth.std(axis=0).mean(-1)  # (keypoint,)
        extra = {
            "coverage": coverage.per_coordinate,
            "joint": coverage.joint,
            "motion kept": float(frozen.min()),
            "seconds": seconds,
        }
        if getattr(res, "view_scale", None) is not None:
            extra["named"] = _named(res, sim)
        points(name, res.mean, extra)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--package", help="import the smoother rows from this module instead (another lp3d_eks build)")
    args = parser.parse_args()
    package = importlib.import_module(args.package) if args.package else None
    print(
        "| session | method | 3D RMSE (mm) | consistent reprojection (px) | no position | 95% coverage, "
        "per coordinate / joint | least motion kept | bad camera named |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for case, kwargs in CASES.items():
        per_seed = [run_case(kwargs, seed, package) for seed in range(args.seeds)]
        for method in per_seed[0]:
            rows = [r[method] for r in per_seed]
            mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "named"}
            cov = f"{100 * mean['coverage']:.1f}% / {100 * mean['joint']:.1f}%" if "coverage" in mean else ""
            moved = f"{mean['motion kept']:.2f}" if "motion kept" in mean else ""
            named = ", ".join(sorted({r["named"] for r in rows})) if "named" in rows[0] else ""
            print(
                f"| {case} | {method} | {mean['rmse']:.2f} | {mean['reprojection']:.2f} | "
                f"{100 * mean['no position']:.1f}% | {cov} | {moved} | {named} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
