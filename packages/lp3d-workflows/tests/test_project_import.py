"""``lp3d import`` as a function: kinds detected, projects written whole, options and paths checked,
and what it writes is what lp3d-models reads for training (with its calibrations)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("tables")

from lp3d_workflows.errors import UserError  # noqa: E402
from lp3d_workflows.project_import import detect_kind, import_project  # noqa: E402


def _tool_projects():
    """The tool-layout project builders of the lp3d-io tests (one module, loaded once by path)."""
    if "tool_projects" not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "lp3d-io" / "tests" / "tool_projects.py"
        spec = importlib.util.spec_from_file_location("tool_projects", path)
        sys.modules["tool_projects"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["tool_projects"]


tool_projects = _tool_projects()

BUILDERS = {
    "lightning-pose": tool_projects.lightning_pose_multiview,
    "deeplabcut": tool_projects.deeplabcut,
    "sleap": tool_projects.sleap_anipose,
    "anipose": tool_projects.anipose,
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_detect_and_import(tmp_path, kind):
    if kind == "sleap":
        pytest.importorskip("sleap_io")
    truth = BUILDERS[kind](tmp_path / "src")
    assert detect_kind(tmp_path / "src") == kind
    progress = []
    result = import_project(tmp_path / "src", tmp_path / "out", progress=lambda *a: progress.append(a))
    tool_projects.check_project(tmp_path / "out", truth)
    assert result.kind == kind and result.views == truth.views and result.keypoints == truth.keypoints
    assert result.n_frames == len(truth.rows) and result.calibrated == sorted(truth.calibrations)
    assert result.next_steps[0] == f"lp3d init {tmp_path / 'out'}" and not result.replaced
    assert progress and progress[0][0].startswith(f"reading the {kind} project")


def test_detect_config_files(tmp_path):
    tool_projects.lightning_pose_single(tmp_path / "lp")
    tool_projects.deeplabcut(tmp_path / "dlc")
    tool_projects.anipose(tmp_path / "ani")
    assert detect_kind(tmp_path / "lp" / "config.yaml") == "lightning-pose"
    assert detect_kind(tmp_path / "dlc" / "config.yaml") == "deeplabcut"
    assert detect_kind(tmp_path / "ani" / "config.toml") == "anipose"
    assert detect_kind(tmp_path / "ani" / "hand-dlc") == "deeplabcut"


def test_replaces_only_with_overwrite(tmp_path):
    truth = tool_projects.lightning_pose_single(tmp_path / "src")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match=r"--out .*out: already exists and is not empty \(pass --overwrite"):
        import_project(tmp_path / "src", tmp_path / "out")
    result = import_project(tmp_path / "src", tmp_path / "out", overwrite=True, link_videos=True)
    assert result.replaced and not (tmp_path / "out" / "old.txt").exists()
    tool_projects.check_project(tmp_path / "out", truth, videos=False)
    assert all(p.is_symlink() for p in (tmp_path / "out" / "videos").iterdir())


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        ("lp", {"kind": "dlc"}, r"--from: expected one of lightning-pose, deeplabcut, sleap, anipose, but got 'dlc'"),
        (
            "lp",
            {"views": ["a", "b"]},
            r"--views: expected only for a DeepLabCut project, but SOURCE is a lightning-pose",
        ),
        (
            "dlc",
            {"predicted": True},
            r"--predicted: expected only for SLEAP labels, but SOURCE is a deeplabcut project",
        ),
        (
            "lp",
            {"out": "src/inside"},
            r"--out .*src/inside: expected a folder outside SOURCE .*src \(the source is never",
        ),
        ("lp", {"source": "src/config.yaml", "out": "src/x"}, r"--out .*: expected a folder outside SOURCE"),
        ("lp", {"out": "."}, r"--out .*: expected a folder that does not contain SOURCE"),
        ("none", {}, r"SOURCE .*src: no such file or folder"),
        ("empty", {}, r"SOURCE .*src: expected a Lightning Pose, DeepLabCut, SLEAP or anipose project"),
        (
            "text",
            {"source": "src/notes.txt"},
            r"SOURCE .*notes.txt: expected a project folder, a config .* but got a .txt file",
        ),
        ("bare dlc", {}, r"SOURCE .*src: expected labeled frames or videos to import, but found none"),
        ("dlc", {"views": ["camA"]}, r"views: expected two or more distinct camera names, but got \['camA'\]"),
    ],
)
def test_bad_imports(tmp_path, setup, kwargs, message):
    src = tmp_path / "src"
    if setup == "lp":
        tool_projects.lightning_pose_single(src)
    elif setup == "dlc":
        tool_projects.deeplabcut(src)
    elif setup == "empty":
        src.mkdir()
    elif setup == "text":
        src.mkdir()
        (src / "notes.txt").write_text("hi")
    elif setup == "bare dlc":
        src.mkdir()
        (src / "config.yaml").write_text("scorer: Ann\nbodyparts: [a, b]\n")
    source = tmp_path / kwargs.pop("source", "src")
    out = tmp_path / kwargs.pop("out", "out")
    with pytest.raises((UserError, ValueError)) as info:
        import_project(source, out, **kwargs)
    assert info.match(message) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_imported_project_is_what_training_reads(tmp_path):
    """lp3d-models reads the imported labels and finds each session's cameras (s1: a.toml, s2: b.toml
    with its extra camera dropped, in view order)."""
    pytest.importorskip("lp3d_models")
    from lp3d_eks import CameraRig
    from lp3d_models.config import DataConfig
    from lp3d_models.data import calibrate, read_project

    truth = tool_projects.lightning_pose_multiview(tmp_path / "src")
    import_project(tmp_path / "src", tmp_path / "out")
    data = read_project(tmp_path / "out")
    assert data.view_names == ["side", "top"] and data.keypoint_names == truth.keypoints  # views from file names
    data = calibrate(data, DataConfig(root=str(tmp_path / "out")))
    for session, source in truth.calibrations.items():
        if session in data.rigs:
            expected = CameraRig.from_toml(source).subset(data.view_names)
            for got, want in zip(data.rigs[session].cameras, expected.cameras, strict=True):
                np.testing.assert_array_equal(got.matrix, want.matrix)
    assert sorted(data.rigs) == ["s1", "s2"]
    for f in range(data.n_frames):
        session, frame = str(data.sessions[f]), int(Path(data.image_paths[0, f]).stem[3:])
        for v, view in enumerate(data.view_names):
            np.testing.assert_array_equal(
                data.keypoints[v, f], truth.labels[(session, view, frame)][:, 0].astype(np.float32)
            )
