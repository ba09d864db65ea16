"""lp3d_workflows.project: what a project folder holds for a front end, its ids, and what it never reads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from lp3d_io.layout import RUN_FILE, checkpoint_path
from lp3d_workflows import project as lp3d_project
from lp3d_workflows.errors import UserError
from lp3d_workflows.project import describe_project, is_inside


def test_the_jobs_and_caches_live_in_the_hidden_app_folder():
    from lp3d_workflows.jobs import JOBS_DIR
    from lp3d_workflows.viewer_data import CACHE_DIR

    assert lp3d_project.APP_DIR.startswith(".")  # the walk skips hidden entries
    assert JOBS_DIR.startswith(lp3d_project.APP_DIR + "/") and CACHE_DIR.startswith(lp3d_project.APP_DIR + "/")


@pytest.fixture(scope="module")
def project(viewer_project):
    return describe_project(viewer_project)


def test_a_lightning_pose_project_with_stores(project, viewer_project):
    assert project.root == viewer_project.resolve() and project.data_root == project.root and project.config is None
    assert project.views == ["cam0", "cam1", "cam2"] and len(project.keypoints) == 11 and project.n_labeled == 12
    [session] = project.sessions
    assert session.id == session.name == "synthetic" and session.n_labeled == 12 and session.n_frames == 300
    assert {v: (i.width, i.height, i.n_frames) for v, i in session.videos.items()} == {
        v: (96, 80, 300) for v in project.views
    }
    assert session.calibration == project.calibrations[0].id and project.calibrations[0].views == project.views
    labels = sorted(project.source(i).label for i in session.sources)
    assert labels == [
        "old (predictions/ensemble, smoothed/eks)",
        "smoothed/synthetic (predictions/ensemble, smoothed/eks)",
    ]
    source = project.source(session.sources[-1])
    assert (
        source.calibrated and source.smoother == "calibrated" and source.members == ["member_0", "member_1", "member_2"]
    )
    assert source.n_frames == 300 and source.fps == 30
    [folder] = project.prediction_folders
    assert folder.label == "predictions/synthetic" and folder.n_files == 9
    assert project.problems == []


def test_ids_resolve_only_through_the_project(project):
    for lookup, what in (
        (project.session, "session"),
        (project.source, "source"),
        (project.calibration, "calibration"),
    ):
        with pytest.raises(KeyError, match=f"{what} '../etc': not in this project"):
            lookup("../etc")
    assert all(s.id.startswith("src-") and len(s.id) == 14 for s in project.sources)
    assert describe_project(project.root).sources[0].id == project.sources[0].id  # stable across descriptions


def test_runs_skeleton_and_config(viewer_project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(viewer_project, root, ignore=shutil.ignore_patterns("old", "smoothed"))
    run = root / "runs" / "teacher"
    (run / "seed_0" / "checkpoints").mkdir(parents=True)
    checkpoint_path(run, "seed_0").parent.mkdir(parents=True, exist_ok=True)
    checkpoint_path(run, "seed_0").write_bytes(b"")
    (run / RUN_FILE).write_text(
        json.dumps({"views": ["cam0"], "keypoints": ["nose"], "members": ["seed_0", "seed_1"]})
    )
    (root / "runs" / "broken").mkdir()
    (root / "runs" / "broken" / RUN_FILE).write_text("{not json")
    (root / lp3d_project.SKELETON_FILE).write_text("nose,back\n\nnose,wing\nback\n")
    project = describe_project(root)
    [good] = project.runs
    assert good.name == "runs/teacher" and good.members == ["seed_0", "seed_1"] and good.trained == ["seed_0"]
    assert project.skeleton == [("nose", "back")]
    problems = {(p.where, p.message.split(":")[0]) for p in project.problems}
    assert ("runs/broken", "run.json") in problems
    assert sum(p.where == lp3d_project.SKELETON_FILE for p in project.problems) == 2  # lines 3 and 4


def test_a_config_may_not_point_outside_the_project(viewer_project, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "lp3d.yaml").write_text(f"data:\n  root: {viewer_project}\nrun_dir: ../elsewhere\n")
    project = describe_project(root)
    assert project.data_root is None and project.run_dir is None and project.sessions == []
    messages = " | ".join(p.message for p in project.problems)
    assert "data.root" in messages and "run_dir" in messages and "outside the project folder" in messages


def test_nothing_outside_the_project_is_read(viewer_project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(viewer_project, root, ignore=shutil.ignore_patterns("old"))
    os.symlink(viewer_project / "old", root / "linked")  # a store outside, through a link
    os.symlink("/etc", root / "etc")
    project = describe_project(root)
    assert all(not s.label.startswith("linked") for s in project.sources) and len(project.sources) == 1
    assert {p.where for p in project.problems} >= {"linked", "etc"}
    assert is_inside(project.root, root / "smoothed") and not is_inside(project.root, root / "linked")
    assert not is_inside(project.root, root / ".." / "p-other") and not is_inside(project.root, Path("/etc/passwd"))


def test_not_a_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="expected a project folder, but it does not exist"):
        describe_project(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="but it is a file"):
        describe_project(tmp_path / "file")
    empty = describe_project(tmp_path)
    assert [p.message for p in empty.problems] == [
        "no sessions: no videos (videos/<session>_<view>.mp4) and no result stores (*.zarr)"
    ]
