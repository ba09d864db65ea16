"""Every user error: one line on stderr saying what is wrong and what was expected, exit code 2, no
traceback, and nothing (not even a hidden staging folder) left where the output would have gone."""

from __future__ import annotations

import shutil
import tomllib
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


CASES = tomllib.loads((Path(__file__).parent / "cli_errors.toml").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_and_leaves_nothing(case, lp3d, synthetic, bad, tmp_path, staging_leftovers):
    args, expected = CASES[case]["command"], CASES[case]["error"]
    values = {"syn": synthetic.folder, "cal": synthetic.calibration, "out": tmp_path / "out", "tmp": tmp_path, **bad}
    run = lp3d(*[a.format(**values) for a in args.split()])
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
