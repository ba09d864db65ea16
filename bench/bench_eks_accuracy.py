"""Accuracy of the 3D smoother on simulated calibrated sessions with known truth.

For each scenario: 3D RMSE, 99th percentile error and 95% posterior-interval coverage (per
coordinate, and of the joint 3D ellipsoid) for
(1) per-frame DLT triangulation of the ensemble median, (2) lp3d (`smooth_calibrated`,
defaults), and (3) the reference `eks multicam --calibration` (ensemble-kalman-smoother 4.6.2,
run from a scratch venv, never a dependency) when `--reference` is given. Planted outliers
flagged by inflation and false alarms are reported for lp3d.

Scenarios come from lp3d-io's synthetic sessions (an articulated animal filmed by 4 cameras,
ensemble noise partly shared across members, consistent single-view outliers, missing
detections) and from lp3d-eks's test simulator (random-walk points, 4 cameras on a ring; and
"oscillating": the same with points moving back and forth 10 mm around fixed places, periods of
70-130 frames, a motion much smoother than the random walk the smoother assumes).

    python bench/bench_eks_accuracy.py [--reference] [--seeds 3] [--reference-seeds 1]

The reference takes minutes per session and turns every output into NaN when any input is NaN,
so it runs only on the NaN-free scenarios, for the first `--reference-seeds` seeds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import lp3d_eks
import numpy as np
from lp3d_io.csv import to_pose_csv
from lp3d_io.pose_table import PoseTable
from lp3d_io.synthetic import SyntheticConfig, make_ensemble_predictions, make_session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "lp3d-eks" / "tests"))
from simulate import simulate  # noqa: E402

EKSREF = Path(os.environ.get("EKSREF_VENV", "/tmp/eksref"))


def scenario(kind: str, seed: int, missing: bool, n_frames: int):
    """(rig, truth3d (T,K,3), predictions, confidences, outlier_mask, missing_mask, keypoint names)."""
    if kind == "animal":
        session = make_session(SyntheticConfig(n_views=4, n_frames=n_frames, image_size=(256, 256), seed=seed))
        ens = make_ensemble_predictions(
            session, n_members=5, outlier_rate=0.02, missing_rate=0.03 if missing else 0.0, seed=seed
        )
        pos = ens.position
        if not missing:  # the reference cannot take NaN: keep every detection (clipped to the image)
            pos = np.where(np.isnan(pos), ens.truth[None], pos)
        return (
            session.rig,
            session.motion.points3d,
            pos,
            ens.confidence,
            ens.outlier_mask,
            np.isnan(pos[0, ..., 0]),
            ens.keypoint_names,
        )
    sim = simulate(
        n_frames=n_frames,
        n_keypoints=6,
        n_views=4,
        n_members=5,
        seed=seed,
        missing_rate=0.03 if missing else 0.0,
        n_gaps=2 if missing else 0,
        oscillation=(10.0, 100.0) if kind == "oscillating" else None,
    )
    names = [f"kp{k}" for k in range(sim.truth.shape[1])]
    return sim.rig, sim.truth, sim.predictions, sim.confidences, sim.outliers, sim.missing, names


def metrics(X: np.ndarray, cov: np.ndarray | None, truth: np.ndarray) -> dict:
    """Errors, and with ``cov`` ``(time, keypoint, 3, 3)`` (or its diagonal ``(time, keypoint, 3)``,
    then no joint coverage) the 95% coverage per coordinate and of the joint ellipsoid."""
    err = np.linalg.norm(X - truth, axis=-1)
    ok = np.isfinite(err)
    out = {
        "rmse": float(np.sqrt(np.mean(err[ok] ** 2))) if ok.any() else np.nan,
        "p99": float(np.percentile(err[ok], 99)) if ok.any() else np.nan,
        "missing": float(1 - ok.mean()),
        "coverage": np.nan,
        "joint": np.nan,
    }
    if cov is not None and cov.ndim == X.ndim:  # variances only
        inside = np.abs(X - truth) <= lp3d_eks.Z_95 * np.sqrt(cov)
        out["coverage"] = float(inside[ok].mean())
    elif cov is not None:
        coverage = lp3d_eks.interval_coverage(X, cov, truth)
        out["coverage"], out["joint"] = coverage.per_coordinate, coverage.joint
    return out


def run_reference(rig, pred, conf, names, workdir: Path, timeout: float) -> tuple[np.ndarray, np.ndarray]:
    data = workdir / "in"
    data.mkdir()
    rig.to_toml(data / "calibration.toml")
    for m in range(pred.shape[0]):
        for v, cam in enumerate(rig.names):
            table = PoseTable.from_numpy(pred[m, v], conf[m, v], keypoint_names=names)
            to_pose_csv(table, data / f"session_{cam}.rng={m}.csv")
    out = workdir / "out"
    subprocess.run(
        [
            str(EKSREF / "bin" / "eks"),
            "multicam",
            "--input-dir",
            str(data),
            "--calibration",
            str(data / "calibration.toml"),
            "--save-dir",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    table = np.genfromtxt(out / "multicam_3d_results.csv", delimiter=",", skip_header=3)[:, 1:]
    table = table.reshape(len(table), len(names), 6)
    return table[..., :3], table[..., 3:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="also run eks 4.6.2 (scratch venv)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--reference-timeout", type=float, default=600.0, help="seconds per reference run")
    parser.add_argument("--reference-seeds", type=int, default=1, help="seeds run through the (slow) reference")
    args = parser.parse_args()
    if args.reference and not (EKSREF / "bin" / "eks").exists():
        sys.exit(f"reference not found in {EKSREF}: run bench/reference/run_eks462_fly.sh once to create it")
    rows = []
    for kind in ("animal", "random-walk", "oscillating"):
        for missing in (False, True):
            acc: dict[str, list[dict]] = {"triangulated median": [], "lp3d": [], "eks 4.6.2": []}
            flagged, false_alarms = [], []
            for seed in range(args.seeds):
                rig, truth, pred, conf, outl, miss, names = scenario(kind, seed, missing, args.frames)
                obs = lp3d_eks.ensemble_statistics(pred)
                tri, _, _ = lp3d_eks.triangulate_observations(obs, rig)
                acc["triangulated median"].append(metrics(tri, None, truth))
                res = lp3d_eks.smooth_calibrated(pred, rig, confidences=conf)
                acc["lp3d"].append(metrics(res.mean, res.covariance, truth))
                flagged.append(res.inflated[outl & ~miss].mean())
                false_alarms.append(res.inflated[~outl & ~miss].mean())
                if args.reference and not missing and seed < args.reference_seeds:
                    # the reference cannot take NaN input (all its outputs become NaN): NaN-free scenarios only
                    with tempfile.TemporaryDirectory() as tmp:
                        try:
                            X, var = run_reference(rig, pred, conf, names, Path(tmp), args.reference_timeout)
                            acc["eks 4.6.2"].append(metrics(X, var, truth))
                        except subprocess.TimeoutExpired:
                            print(f"eks 4.6.2 did not finish in {args.reference_timeout:.0f} s", flush=True)
                        except subprocess.CalledProcessError:
                            acc["eks 4.6.2"].append(
                                {"rmse": np.nan, "p99": np.nan, "missing": 1.0, "coverage": np.nan, "joint": np.nan}
                            )
            label = f"{kind}, outliers{' + missing' if missing else ''}"
            for method, results in acc.items():
                if not results:
                    continue
                mean = {k: float(np.mean([r[k] for r in results])) for k in results[0]}
                extra = (
                    f"{100 * np.mean(flagged):.0f}% / {100 * np.mean(false_alarms):.2f}%" if method == "lp3d" else ""
                )
                rows.append((label, method, mean, extra))
            print(f"done: {label}", flush=True)
    print(
        "\n| scenario | method | 3D RMSE (mm) | 99th pct (mm) | no position | 95% coverage "
        "| joint 3D coverage | outliers flagged / false alarms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for label, method, m, extra in rows:
        cov = "" if np.isnan(m["coverage"]) else f"{100 * m['coverage']:.1f}%"
        joint = "" if np.isnan(m["joint"]) else f"{100 * m['joint']:.1f}%"
        print(
            f"| {label} | {method} | {m['rmse']:.2f} | {m['p99']:.2f} | {100 * m['missing']:.1f}% | {cov} "
            f"| {joint} | {extra} |"
        )


if __name__ == "__main__":
    main()
