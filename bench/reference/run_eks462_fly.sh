#!/usr/bin/env bash
# Re-measure the REFERENCE ensemble-kalman-smoother 4.6.2 (`eks multicam`, calibrated
# nonlinear 3D path, variance inflation ON = its default) on the fly data set.
#
# The reference is NEVER a dependency of lp3d: it lives in a scratch venv outside the repo.
#
# Usage: bench/reference/run_eks462_fly.sh [DATA_DIR] [OUT_DIR]
#   DATA_DIR defaults to /work/shared/data/eks/fly  (9 CSVs Cam-{A,B,C} x rng={0,1,2} + calibration.toml)
#   OUT_DIR  defaults to /tmp/eksref_fly_out
# Env: EKSREF_VENV (default /tmp/eksref)
# Writes OUT_DIR/{multicam_Cam-A_results.csv,...,multicam_3d_results.csv},
#        OUT_DIR/eks_stdout_stderr.log (incl. per-keypoint s from --verbose),
#        OUT_DIR/time_v.txt (GNU time -v: wall clock, max RSS).
set -euo pipefail

DATA_DIR="${1:-/work/shared/data/eks/fly}"
OUT_DIR="${2:-/tmp/eksref_fly_out}"
VENV="${EKSREF_VENV:-/tmp/eksref}"

if [ ! -x "$VENV/bin/eks" ]; then
    echo "creating scratch venv $VENV with ensemble-kalman-smoother==4.6.2" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet ensemble-kalman-smoother==4.6.2
fi
"$VENV/bin/python" -c "import eks, sys; assert eks.__version__ == '4.6.2', eks.__version__"

mkdir -p "$OUT_DIR"
# --verbose only raises eks logging to DEBUG (prints the chosen s per keypoint and a
# per-stage profile); it does not change the computation. Variance inflation is ON by
# default in the CLI (disable with --no-inflate-vars). --calibration selects the
# nonlinear 3D path and reads the camera names from the TOML.
set -x
/usr/bin/time -v -o "$OUT_DIR/time_v.txt" \
    "$VENV/bin/eks" multicam \
        --input-dir "$DATA_DIR" \
        --calibration "$DATA_DIR/calibration.toml" \
        --save-dir "$OUT_DIR" \
        --verbose \
    > "$OUT_DIR/eks_stdout_stderr.log" 2>&1
set +x
grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time|Exit status" "$OUT_DIR/time_v.txt"
grep -E "opt s \|" "$OUT_DIR/eks_stdout_stderr.log" || true
