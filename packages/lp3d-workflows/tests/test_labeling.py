"""Label files as the labeler reads and writes them (Lightning Pose / DeepLabCut headers, cell for
cell), atomic saves of every view, drafts, and the cameras' guide against a simulated rig."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from lp3d_workflows.errors import UserError
from lp3d_workflows.labeling import Drafts, check_points, epipolar_curve, guide, new_label_file, read_label_file

LP_3ROW = (
    "scorer,lp,lp,lp,lp\n"
    "bodyparts,nose,nose,tail,tail\n"
    "coords,x,y,x,y\n"
    "labeled-data/s1_top/img00003.png,10.5,20,,\n"
    "labeled-data/s1_top/img00007.png,11,21.25,30,40\n"
)
DLC_3INDEX = (
    "scorer,,,dlc,dlc,dlc,dlc,dlc,dlc\n"
    "bodyparts,,,nose,nose,nose,ear,ear,ear\n"
    "coords,,,x,y,likelihood,x,y,likelihood\n"
    "labeled-data,vid1,img001.png,1.5,2.5,0.9,3,4,1\n"
    "labeled-data,vid1,img002.png,,,,5,6,0.5\n"
)
MULTI_4ROW = (
    "scorer,ma,ma,ma,ma,ma,ma\r\n"
    "individuals,mouse1,mouse1,mouse2,mouse2,single,single\r\n"
    "bodyparts,nose,nose,nose,nose,box,box\r\n"
    "coords,x,y,x,y,x,y\r\n"
    "labeled-data/s1_top/img00001.png,1,2,3,4,5,6\r\n"
)


def cells(text: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO(text, newline="")) if r]


@pytest.mark.parametrize("text", [LP_3ROW, DLC_3INDEX, MULTI_4ROW])
def test_a_file_saved_unchanged_is_the_same_file(tmp_path, text):
    path = tmp_path / "CollectedData_top.csv"
    path.write_bytes(text.encode())
    f = read_label_file(path)
    assert f.text() == text
    assert f.text().encode() == path.read_bytes()


def test_lightning_pose_file_frames_and_positions(tmp_path):
    path = tmp_path / "CollectedData_top.csv"
    path.write_text(LP_3ROW)
    f = read_label_file(path)
    assert (f.n_index, f.multi_animal, f.keypoints) == (1, False, ["nose", "tail"])
    assert f.find("labeled-data/s1_top/img00007.png") == 1 and f.find("nope.png") is None
    np.testing.assert_array_equal(
        f.positions(0, ["tail", "nose", "missing"]), [[np.nan, np.nan], [10.5, 20], [np.nan, np.nan]]
    )
    f.set("labeled-data/s1_top/img00003.png", ["tail"], np.array([[1.23456, -0.0001]]))
    assert cells(f.text())[3] == ["labeled-data/s1_top/img00003.png", "10.5", "20", "1.235", "0"]
    assert cells(f.text())[4] == cells(LP_3ROW)[4]  # the other row, as it was


@pytest.mark.parametrize("text", [LP_3ROW, DLC_3INDEX, MULTI_4ROW])
def test_all_positions_are_each_rows_positions(tmp_path, text):
    path = tmp_path / "CollectedData_top.csv"
    path.write_text(text.replace("10.5", " 10.5 ").replace(",3,4,1", ",abc,4,1").replace(",5,6\r", ",1e2,\r"))
    f = read_label_file(path)
    names = [*f.keypoints, "missing"]
    expected = np.stack([f.positions(row, names) for row in range(len(f.rows))])
    np.testing.assert_array_equal(f.all_positions(names), expected)


def test_deeplabcut_file_keeps_likelihood_and_splits_a_new_image_into_its_index(tmp_path):
    path = tmp_path / "CollectedData_top.csv"
    path.write_text(DLC_3INDEX)
    f = read_label_file(path)
    assert f.n_index == 3 and f.keypoints == ["nose", "ear"]
    assert f.key(1) == "labeled-data/vid1/img002.png"
    row = f.set("labeled-data/vid1/img002.png", ["nose"], np.array([[7.0, 8.0]]))
    assert row == 1
    assert cells(f.text())[4] == ["labeled-data", "vid1", "img002.png", "7", "8", "", "5", "6", "0.5"]
    new = f.set("labeled-data/vid2/img009.png", ["nose", "ear"], np.array([[1, 2], [np.nan, np.nan]], dtype=float))
    assert new == 2
    assert cells(f.text())[5] == ["labeled-data", "vid2", "img009.png", "1", "2", "", "", "", ""]
    assert [r for r in cells(f.text())[:4]] == cells(DLC_3INDEX)[:4]


def test_multi_animal_file_changes_the_first_individual_only(tmp_path):
    path = tmp_path / "CollectedData_top.csv"
    path.write_bytes(MULTI_4ROW.encode())
    f = read_label_file(path)
    assert f.multi_animal and f.keypoints == ["nose"]
    f.set("labeled-data/s1_top/img00001.png", ["nose"], np.array([[9.0, 8.0]]))
    text = f.text()
    assert "\r\n" in text and cells(text)[4] == ["labeled-data/s1_top/img00001.png", "9", "8", "3", "4", "5", "6"]


def test_a_keypoint_the_file_lacks_gets_columns_and_other_keypoints_stay(tmp_path):
    path = tmp_path / "CollectedData_top.csv"
    path.write_text(LP_3ROW)
    f = read_label_file(path)
    f.set("labeled-data/s1_top/img00007.png", ["nose", "paw"], np.array([[1.0, 2.0], [3.0, 4.0]]))
    rows = cells(f.text())
    assert rows[1] == ["bodyparts", "nose", "nose", "tail", "tail", "paw", "paw"]
    assert rows[3] == cells(LP_3ROW)[3] + ["", ""]
    assert rows[4] == ["labeled-data/s1_top/img00007.png", "1", "2", "30", "40", "3", "4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frame,x,y\n1,2,3\n", "line 1: expected 'scorer'"),
        ("scorer,a,a\nbodypart,n,n\ncoords,x,y\n", "line 2: expected 'bodyparts'"),
        ("scorer,a,a\nbodyparts,n,n\n", "line 3: expected 'coords'"),
        ("scorer,a,a\nbodyparts,n,n\ncoords,x,y\nimg.png,1,2,3\n", "line 4: expected 3 fields"),
        ("scorer,a,a\nbodyparts,n\ncoords,x,y\n", "expected header rows of 3 fields"),
    ],
)
def test_bad_label_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "CollectedData_top.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_label_file(path)


def test_a_new_file_is_lightning_poses_layout(tmp_path):
    f = new_label_file(tmp_path / "CollectedData_top.csv", ["nose", "tail"])
    f.set("labeled-data/s1_top/img00001.png", ["nose", "tail"], np.array([[1.0, 2.0], [np.nan, np.nan]]))
    (tmp_path / "CollectedData_top.csv").write_text(f.text())
    import pandas as pd

    frame = pd.read_csv(tmp_path / "CollectedData_top.csv", header=[0, 1, 2], index_col=0)
    assert frame.loc["labeled-data/s1_top/img00001.png", ("lp3d", "nose", "x")] == 1.0
    assert np.isnan(frame.loc["labeled-data/s1_top/img00001.png", ("lp3d", "tail", "y")])


# --- a project's frames: save, atomic, drafts -------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    from lp3d_workflows.project import describe_project
    from lp3d_workflows.project_setup import create_project

    create_project(tmp_path, "p", ["top", "side"], ["nose", "tail"])
    return describe_project(tmp_path)


def test_saving_a_frame_writes_every_view_and_keeps_other_rows(project, tmp_path):
    from lp3d_workflows.labeling import FrameEntry, list_frames, save_frame

    (tmp_path / "CollectedData_top.csv").write_text(
        "scorer,lp,lp,lp,lp,lp,lp\nbodyparts,nose,nose,tail,tail,extra,extra\ncoords,x,y,x,y,x,y\n"
        "labeled-data/s1_top/img00001.png,1,2,3,4,note,5\n"
    )
    (tmp_path / "CollectedData_side.csv").write_text(
        "scorer,lp,lp,lp,lp\nbodyparts,nose,nose,tail,tail\ncoords,x,y,x,y\nlabeled-data/s1_side/img00001.png,6,7,,\n"
    )
    [old] = list_frames(project)
    assert (old.session, old.frame, old.row, old.n_points) == ("s1", 1, 0, 3)
    images = {v: f"labeled-data/s1_{v}/img00005.png" for v in ("top", "side")}
    entry = FrameEntry("frame-x", "labeled-data/s1/img00005.png", "s1", 5, images)
    by_view = {"top": [[1.5, 2.5], [np.nan, np.nan]], "side": [[3.0, 4.0], [5.0, 6.0]]}
    positions = np.array([by_view[v] for v in project.views])
    saved = save_frame(project, entry, positions)
    assert saved.row == 1 and saved.n_points == 3
    top = cells((tmp_path / "CollectedData_top.csv").read_text())
    assert top[3] == ["labeled-data/s1_top/img00001.png", "1", "2", "3", "4", "note", "5"]
    assert top[4] == ["labeled-data/s1_top/img00005.png", "1.5", "2.5", "", "", "", ""]
    side = cells((tmp_path / "CollectedData_side.csv").read_text())
    assert side[4] == ["labeled-data/s1_side/img00005.png", "3", "4", "5", "6"]
    # saved again: the same row, not a new one
    again = save_frame(project, entry, positions * 2)
    assert again.row == 1 and len(cells((tmp_path / "CollectedData_side.csv").read_text())) == 5
    # what the labeler lists follows the files: after a save, and after another program's edit
    assert [(e.row, e.n_points) for e in list_frames(project)] == [(0, 3), (1, 3)]
    side_file = tmp_path / "CollectedData_side.csv"
    side_file.write_text(side_file.read_text().replace("labeled-data/s1_side/img00001.png,6,7,,", "x,6,7,8,9"))
    assert [(e.row, e.n_points) for e in list_frames(project)] == [(0, 4), (1, 3)]


def test_a_save_that_fails_changes_no_view(project, tmp_path, monkeypatch):
    from lp3d_workflows import labeling
    from lp3d_workflows.labeling import FrameEntry, save_frame

    before = {v: (tmp_path / f"CollectedData_{v}.csv").read_bytes() for v in ("top", "side")}
    images = {v: f"labeled-data/s1_{v}/img00005.png" for v in ("top", "side")}
    entry = FrameEntry("frame-x", "labeled-data/s1/img00005.png", "s1", 5, images)
    calls = []
    original = labeling.LabelFile.text

    def text(self):
        calls.append(self.path.name)
        if len(calls) == 2:  # the second view's file cannot be written
            raise OSError("disk full")
        return original(self)

    monkeypatch.setattr(labeling.LabelFile, "text", text)
    with pytest.raises(OSError, match="disk full"):
        save_frame(project, entry, np.ones((2, 2, 2)))
    assert {v: (tmp_path / f"CollectedData_{v}.csv").read_bytes() for v in ("top", "side")} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("CollectedData")) == [
        "CollectedData_side.csv",
        "CollectedData_top.csv",
    ]  # no temporary file left


def test_rows_that_differ_between_views_are_refused(project, tmp_path):
    from lp3d_workflows.labeling import FrameEntry, save_frame

    (tmp_path / "CollectedData_top.csv").write_text(
        "scorer,lp,lp,lp,lp\nbodyparts,nose,nose,tail,tail\ncoords,x,y,x,y\nlabeled-data/s1_top/img00001.png,1,2,3,4\n"
    )
    entry = FrameEntry("f", "k", "s1", 5, {v: f"labeled-data/s1_{v}/img00005.png" for v in ("top", "side")})
    with pytest.raises(UserError, match="expected the same rows in every view's label file"):
        save_frame(project, entry, np.ones((2, 2, 2)))


def test_drafts_survive_a_new_reader_and_go_when_deleted(tmp_path):
    drafts = Drafts(tmp_path)
    assert drafts.get("k") is None and drafts.keys() == set()
    saved = drafts.put("k", {"points": {"top": {"nose": [1, 2]}}})
    again = Drafts(tmp_path)  # another process, later
    assert again.get("k") == {"draft": {"points": {"top": {"nose": [1, 2]}}}, "saved": saved}
    again.put("j", {})
    assert Drafts(tmp_path).keys() == {"k", "j"}
    Drafts(tmp_path).delete("k")
    assert Drafts(tmp_path).keys() == {"j"}
    with pytest.raises(UserError, match="draft: expected at most"):
        drafts.put("big", {"x": "a" * (1 << 20)})
    drafts.path.write_text("{not json")  # a torn file (impossible with atomic writes) reads as none
    assert Drafts(tmp_path).get("j") is None


def test_check_points_refuses_what_is_not_a_label():
    views, keypoints, sizes = ["top", "side"], ["nose", "tail"], {"top": (100, 50), "side": (80, 60)}
    got = check_points({"top": {"nose": [-0.5, 49.5]}, "side": {"tail": None}}, views, keypoints, sizes)
    assert got.shape == (2, 2, 2) and got[0, 0].tolist() == [-0.5, 49.5] and np.isnan(got[1]).all()
    for points, message in [
        ({"top": {"nose": [99.6, 1]}}, r"expected a position inside the 100 x 50 image"),
        ({"side": {"nose": [1, 59.51]}}, r"inside the 80 x 60 image"),
        ({"top": {"paw": [1, 1]}}, "keypoint 'paw': expected one of"),
        ({"front": {"nose": [1, 1]}}, "view 'front': expected one of"),
        ({"top": {"nose": [1, float("nan")]}}, r"expected \[x, y\]"),
        ({"top": {"nose": [1, 2, 3]}}, r"expected \[x, y\]"),
    ]:
        with pytest.raises(UserError, match=message):
            check_points(points, views, keypoints, sizes)


# --- the cameras' guide ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rig_and_truth():
    from lp3d_io.synthetic import SyntheticConfig, make_session

    session = make_session(SyntheticConfig(n_views=3, image_size=(96, 80), n_frames=20, seed=4))
    return session.rig, session.points2d[:, 7]  # (view, keypoint, 2)


def test_two_views_suggest_the_third_and_errors_show_a_bad_click(rig_and_truth):
    rig, truth = rig_and_truth
    views = rig.names
    placed = truth.copy()
    placed[2] = np.nan
    found = guide(rig, placed, views)
    np.testing.assert_allclose(found.suggested[2], truth[2], atol=1e-6)
    np.testing.assert_allclose(found.errors[:2], 0, atol=1e-6)
    assert np.isnan(found.errors[2]).all()
    one = truth.copy()
    one[1:] = np.nan  # a single view: nothing to triangulate
    assert np.isnan(guide(rig, one, views).suggested).all()
    bad = truth.copy()
    bad[1, 0] += [8.0, 0.0]
    errors = guide(rig, bad, views).errors
    assert errors[1, 0] > 3.0 and np.nanmax(np.delete(errors, 0, axis=1)) < 1e-6


def test_the_epipolar_curve_passes_through_the_true_point(rig_and_truth):
    rig, truth = rig_and_truth
    views = rig.names
    for a, b in ((0, 1), (2, 0)):
        curves = epipolar_curve(rig, views[a], views[b], truth[a, 3])
        points = np.concatenate(curves)
        assert np.linalg.norm(points - truth[b, 3], axis=1).min() < 0.25
        w, h = rig[views[b]].size
        assert (points >= -0.5).all() and (points[:, 0] <= w - 0.5).all() and (points[:, 1] <= h - 0.5).all()
    found = guide(rig, truth, views, keypoint=3)
    assert set(found.epipolar) == {(a, b) for a in views for b in views if a != b}
    as_dict = found.as_dict(views, [str(k) for k in range(truth.shape[1])])
    assert as_dict["errors"][views[0]]["3"] < 1e-6 and len(as_dict["epipolar"]) == 6
