"""Every user error: one line on stderr saying what is wrong and what was expected, exit code 2, no
traceback, and nothing (not even a hidden staging folder) left where the output would have gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bad(synthetic, tmp_path_factory) -> dict[str, Path]:
    """Broken copies of the synthetic session, one problem each."""
    root = tmp_path_factory.mktemp("bad")
    files = sorted(synthetic.folder.glob("*.csv"))

    def copy(name: str) -> Path:
        folder = root / name
        shutil.copytree(synthetic.folder, folder)
        return folder

    short = copy("short")  # one view of one member has 10 frames fewer
    lines = (short / files[4].name).read_text().splitlines(keepends=True)
    (short / files[4].name).write_text("".join(lines[:-10]))

    text = copy("text")  # a cell that is not a number
    lines = (text / files[0].name).read_text().splitlines(keepends=True)
    cells = lines[20].split(",")
    cells[5] = "abc"
    lines[20] = ",".join(cells)
    (text / files[0].name).write_text("".join(lines))

    calibration = synthetic.calibration.read_text()
    renamed = root / "renamed.toml"  # cameras that do not match the files
    renamed.write_text(calibration.replace('"cam0"', '"camX"'))
    no_matrix = root / "no_matrix.toml"  # a camera without its intrinsic matrix
    no_matrix.write_text("\n".join(line for line in calibration.splitlines() if not line.startswith("matrix")))
    a_file = root / "a_file"
    a_file.write_text("not a folder")
    return {"short": short, "text": text, "renamed": renamed, "no_matrix": no_matrix, "a_file": a_file}


CASES = {
    "missing input": (["smooth", "{tmp}/nowhere", "--out", "{out}"], "INPUT {tmp}/nowhere: no such file or folder"),
    "view in no file name": (
        ["smooth", "{syn}", "--views", "cam0,camX", "--out", "{out}"],
        "expected view 'camX' (from --views) in the name of a prediction file",
    ),
    "calibration cameras not the files' views": (
        ["smooth", "{syn}", "-c", "{renamed}", "--out", "{out}"],
        "expected view 'camX' (from --calibration) in the name of a prediction file",
    ),
    "views missing from the calibration": (
        ["smooth", "{syn}", "-c", "{renamed}", "--views", "cam0,cam1", "--out", "{out}"],
        "expected cameras ['cam0', 'cam1'], but got ['camX', 'cam1', 'cam2'] (missing cameras ['cam0'])",
    ),
    "mismatched frame counts": (["smooth", "{short}", "-c", "{cal}", "--out", "{out}"], "expected 150 rows"),
    "non-numeric cell": (["smooth", "{text}", "-c", "{cal}", "--out", "{out}"], "expected a number, but got 'abc'"),
    "calibration file missing": (
        ["smooth", "{syn}", "-c", "{tmp}/none.toml", "--out", "{out}"],
        "--calibration {tmp}/none.toml: no such file",
    ),
    "calibration missing a field": (
        ["smooth", "{syn}", "-c", "{no_matrix}", "--out", "{out}"],
        "[cam_0] is missing field(s) matrix",
    ),
    "negative s": (
        ["smooth", "{syn}", "-c", "{cal}", "--s", "-1", "--out", "{out}"],
        "--s: expected positive numbers, but got '-1'",
    ),
    "s not a number": (
        ["smooth", "{syn}", "--s", "abc", "--out", "{out}"],
        "--s: expected positive numbers, but got 'abc'",
    ),
    "s per keypoint count": (
        ["smooth", "{syn}", "-c", "{cal}", "--s", "1", "--s", "2", "--out", "{out}"],
        "--s: expected one value or 11 (one per keypoint",
    ),
    "s-frames syntax": (
        ["smooth", "{syn}", "-c", "{cal}", "--s-frames", "0-100", "--out", "{out}"],
        "--s-frames: expected ranges like '0:500,1000:1500'",
    ),
    "s-frames past the end": (
        ["smooth", "{syn}", "-c", "{cal}", "--s-frames", "100:400", "--out", "{out}"],
        "--s-frames: expected ranges within the 150 frames of the session, but got 100:400",
    ),
    "unknown keypoint": (
        ["smooth", "{syn}", "-c", "{cal}", "-k", "nose,wing", "--out", "{out}"],
        "--keypoints: expected names from",
    ),
    "zero workers": (["smooth", "{syn}", "--workers", "0", "--out", "{out}"], "--workers: expected a positive number"),
    "unknown ensemble": (["smooth", "{syn}", "--ensemble", "mode", "--out", "{out}"], "'mode' is not one of"),
    "out is a file": (["smooth", "{syn}", "-c", "{cal}", "--out", "{a_file}"], "expected a folder, but it is a file"),
    "views needed": (["smooth", "{syn}", "--out", "{out}"], "they look like several views (cam0, cam1, cam2)"),
    "missing --out": (["smooth", "{syn}"], "Missing option '--out'"),
    "triangulate without calibration": (["triangulate", "{syn}", "--out", "{out}"], "Missing option '--calibration'"),
    "report of a CSV folder": (["report", "{syn}", "--out", "{out}"], "{syn}: expected an lp3d session store"),
    "convert CSV to CSV": (["convert", "{syn}", "{out}"], "are both CSV folders; expected DST ending in .zarr or .nc"),
    "info of nothing": (["info", "{tmp}/nowhere.zarr"], "STORE {tmp}/nowhere.zarr: no such store or file"),
    "two animals in the smoothing demo": (
        ["demo", "--smoothing-only", "--animals", "2", "--out", "{out}"],
        "--animals: expected 1 with --smoothing-only (one animal is smoothed), but got 2",
    ),
    "too many animals": (["demo", "--animals", "4", "--out", "{out}"], "--animals: expected 1 to 3 animals, but got 4"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_and_leaves_nothing(case, lp3d, synthetic, bad, tmp_path, staging_leftovers):
    args, expected = CASES[case]
    values = {"syn": synthetic.folder, "cal": synthetic.calibration, "out": tmp_path / "out", "tmp": tmp_path, **bad}
    run = lp3d(*[a.format(**values) for a in args])
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert expected.format(**values) in lines[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
    assert staging_leftovers(tmp_path) == []
    if case == "out is a file":
        assert bad["a_file"].read_text() == "not a folder"


def test_debug_shows_the_traceback(lp3d, synthetic, tmp_path):
    run = lp3d(
        "--debug", "smooth", synthetic.folder, "-c", synthetic.calibration, "-k", "wing", "--out", tmp_path / "o"
    )
    assert run.returncode == 2
    assert "Traceback (most recent call last)" in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("lp3d smooth: error: --keypoints: expected names from")
