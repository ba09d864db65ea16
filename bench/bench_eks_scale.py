"""Scale benchmark of the lp3d-eks calibrated smoother (nonlinear 3D, inflation, automatic s).

Each configuration runs in a fresh subprocess so peak memory (max RSS) is the whole process:
simulated ensemble predictions (float64, (member, view, time, keypoint, 2)) are generated in
the child, then timed: ensemble statistics + triangulation + smoothing.

    python bench/bench_eks_scale.py            # the 100k x 20 x 4 x 5 target and growth tables
    python bench/bench_eks_scale.py --target   # the target row only (run it on a quiet machine)
    python bench/bench_eks_scale.py --quick    # small sizes only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from simulate import ring_rig
import lp3d_eks
T, K, V, M, threads = {T}, {K}, {V}, {M}, {threads}
rng = np.random.default_rng(0)
rig = ring_rig(V, seed=0)
# mean-reverting walk (stays in the arena): x(t) = 0.999 x(t - 1) + N(0, 2 mm)
steps = rng.normal(0, 2.0, size=(T, K, 3))
truth = np.empty((T, K, 3))
x = rng.uniform(-30, 30, size=(K, 3))
for t in range(T):
    x = 0.999 * x + steps[t]
    truth[t] = x
clean = rig.project(truth)
pred = np.empty((M, V, T, K, 2))
for m in range(M):
    pred[m] = clean + rng.normal(0, 2.0, size=clean.shape)
del clean
out_idx = rng.random((V, T, K)) < 0.01
pred[:, out_idx] += 40.0
pred[:, rng.random((V, T, K)) < 0.02] = np.nan
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
res = lp3d_eks.smooth_calibrated(pred, rig, n_threads=threads)
dt = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
rmse = float(np.sqrt(np.mean(np.sum((res.mean - truth) ** 2, axis=-1))))
print(json.dumps(dict(seconds=dt, cpu_seconds=cpu, peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                      input_gb=pred.nbytes / 1e9, rmse_mm=rmse, inflated=float(res.inflated.mean()),
                      iterations=float(res.iterations.mean()))))
"""


def run(T: int, K: int, V: int, M: int, threads: int = 0) -> dict:
    tests = str(Path(__file__).resolve().parents[1] / "packages" / "lp3d-eks" / "tests")
    code = CHILD.format(tests=tests, T=T, K=K, V=V, M=M, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[tuple[dict, dict]]) -> str:
    lines = [
        "| frames | keypoints | views | members | threads | time (s) | CPU (s) | peak RSS (GB) | input (GB) "
        "| RMSE (mm) | inflated | passes/keypoint |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cfg, r in rows:
        lines.append(
            f"| {cfg['T']:,} | {cfg['K']} | {cfg['V']} | {cfg['M']} | {cfg['threads'] or 'all'} "
            f"| {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['peak_gb']:.2f} | {r['input_gb']:.2f} "
            f"| {r['rmse_mm']:.3f} | {100 * r['inflated']:.2f}% | {r['iterations']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--target", action="store_true", help="the 100k x 20 x 4 x 5 target row only")
    args = parser.parse_args()
    configs = []
    if args.quick:
        configs = [dict(T=10_000, K=5, V=4, M=5, threads=0)]
    elif args.target:
        configs = [dict(T=100_000, K=20, V=4, M=5, threads=0)]
    else:
        configs.append(dict(T=100_000, K=20, V=4, M=5, threads=0))  # the target
        configs += [dict(T=t, K=10, V=4, M=5, threads=0) for t in (10_000, 30_000, 100_000)]  # frames
        configs += [dict(T=20_000, K=k, V=4, M=5, threads=0) for k in (5, 10, 20, 40)]  # keypoints
        configs += [dict(T=20_000, K=10, V=v, M=5, threads=0) for v in (2, 3, 4, 6)]  # views
        configs += [dict(T=20_000, K=10, V=4, M=5, threads=1)]  # one core
    rows = []
    for cfg in configs:
        rows.append((cfg, run(**cfg)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
