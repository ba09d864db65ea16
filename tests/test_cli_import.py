"""``lp3d import`` end to end: a project of each tool, in its own layout, becomes an lp3d project;
what was found and skipped is printed; user errors are one line and exit code 2."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("tables")


def _tool_projects():
    """The tool-layout project builders of the lp3d-io tests (one module, loaded once by path)."""
    if "tool_projects" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "packages" / "lp3d-io" / "tests" / "tool_projects.py"
        spec = importlib.util.spec_from_file_location("tool_projects", path)
        sys.modules["tool_projects"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["tool_projects"]


tool_projects = _tool_projects()


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("lightning-pose", ()),
        ("deeplabcut", ("--views", "camA,camB")),
        ("sleap", ()),
        ("anipose", ("--from", "anipose")),
    ],
)
def test_import(lp3d, tmp_path, staging_leftovers, kind, args):
    if kind == "sleap":
        pytest.importorskip("sleap_io")
    build = {
        "lightning-pose": tool_projects.lightning_pose_multiview,
        "deeplabcut": lambda root: tool_projects.deeplabcut(root, cameras=["camA", "camB"]),
        "sleap": tool_projects.sleap_anipose,
        "anipose": tool_projects.anipose,
    }[kind]
    truth = build(tmp_path / "src")
    run = lp3d("import", tmp_path / "src", "--out", tmp_path / "out", *args)
    assert run.returncode == 0, run.stderr
    tool_projects.check_project(tmp_path / "out", truth)
    lines = run.stdout.splitlines()
    assert lines[0] == f"{kind} project {tmp_path / 'src'}:"
    assert any(line.startswith("  found: ") and f"{len(truth.rows)} labeled frames" in line for line in lines)
    assert f"wrote {tmp_path / 'out'}" in lines and f"next: lp3d init {tmp_path / 'out'}" in lines
    assert staging_leftovers(tmp_path) == []


def test_import_prints_what_it_skipped(lp3d, tmp_path):
    tool_projects.lightning_pose_multiview(tmp_path / "src")
    run = lp3d("import", tmp_path / "src", "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert (
        "  skipped: CollectedData_top.csv row 6 (labeled-data/s2_top/img00099.png): "
        "image labeled-data/s2_side/img00099.png not found" in run.stdout.splitlines()
    )


def test_import_sleap_predicted(lp3d, tmp_path):
    pytest.importorskip("sleap_io")
    import numpy as np

    rng = np.random.default_rng(9)
    video = tool_projects.write_video(tmp_path / "src" / "mouse.mp4", rng.integers(0, 256, (8, 24, 32, 3), np.uint8))
    tool_projects.sleap_labels(tmp_path / "src" / "mouse.slp", video, rng, [2], nodes=["a", "b"], tracks=None)
    run = lp3d("import", tmp_path / "src" / "mouse.slp", "-o", tmp_path / "user")
    assert run.returncode == 0, run.stderr
    assert "predicted instances not imported (pass predicted=True / --predicted to include them)" in run.stdout
    run = lp3d("import", tmp_path / "src" / "mouse.slp", "-o", tmp_path / "all", "--predicted")
    assert run.returncode == 0, run.stderr
    assert len((tmp_path / "user" / "CollectedData_view_0.csv").read_text().splitlines()) == 3 + 1
    assert len((tmp_path / "all" / "CollectedData_view_0.csv").read_text().splitlines()) == 3 + 2


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("lp", ("--from", "dlc"), "--from: expected one of lightning-pose, deeplabcut, sleap, anipose, but got 'dlc'"),
        (
            "lp",
            ("--views", "a,b"),
            "--views: expected only for a DeepLabCut project, but SOURCE is a lightning-pose project",
        ),
        ("lp", ("--predicted",), "--predicted: expected only for SLEAP labels, but SOURCE is a lightning-pose project"),
        ("none", (), "SOURCE {src}: no such file or folder"),
        ("empty", (), "SOURCE {src}: expected a Lightning Pose, DeepLabCut, SLEAP or anipose project"),
        ("inside", (), "--out {src}/out: expected a folder outside SOURCE {src} (the source is never modified)"),
        ("exists", (), "--out {out}: already exists and is not empty (pass --overwrite to replace it)"),
        ("bad yaml", (), "{src}/config.yaml: expected a YAML config, but it cannot be parsed"),
    ],
)
def test_import_errors(lp3d, tmp_path, setup, args, message):
    src, out = tmp_path / "src", tmp_path / "out"
    if setup in ("lp", "inside", "exists", "bad yaml"):
        tool_projects.lightning_pose_single(src)
    if setup == "empty":
        src.mkdir()
    if setup == "inside":
        out = src / "out"
    if setup == "exists":
        out.mkdir()
        (out / "keep.txt").write_text("x")
    if setup == "bad yaml":
        (src / "config.yaml").write_text("data: [unclosed\n")
    run = lp3d("import", src, "--out", out, *args)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lp3d import: error: "), run.stderr
    assert message.format(src=src, out=out) in lines[0]
    assert not (src / "out").exists() and (setup != "exists" or (out / "keep.txt").read_text() == "x")
