"""Project importers: a small project in each tool's own layout (tool_projects.py) is read and
written as an lp3d project, and every label value, image, video and calibration is where it belongs."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("tables")
pytest.importorskip("yaml")

from lp3d_io.projects import write_project  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import tool_projects  # noqa: E402

sys.path.pop(0)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (the source must not change)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _import(reader, source: Path, out: Path, **kwargs):
    before = _snapshot(source)
    project = reader(source, **kwargs)
    write_project(project, out)
    assert _snapshot(source) == before
    return project


def test_lightning_pose_multiview(tmp_path):
    from lp3d_io.lightning_pose import read_lightning_pose_project

    truth = tool_projects.lightning_pose_multiview(tmp_path / "lp")
    project = _import(read_lightning_pose_project, tmp_path / "lp", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)
    assert project.view_names == ["top", "side"] and project.settings["image_orig_dims"] == {"height": 24, "width": 32}
    assert [s.what for s in project.skipped] == ["CollectedData_top.csv row 6 (labeled-data/s2_top/img00099.png)"]
    assert "image labeled-data/s2_side/img00099.png not found" in project.skipped[0].why
    record = json.loads((tmp_path / "out" / "import.json").read_text())
    assert (
        record["kind"] == "lightning-pose"
        and record["labeled_frames"] == 5
        and record["sessions"] == ["s1", "s2", "s3"]
    )


def test_lightning_pose_single_view(tmp_path):
    from lp3d_io.lightning_pose import read_lightning_pose_project

    truth = tool_projects.lightning_pose_single(tmp_path / "lp")
    project = _import(read_lightning_pose_project, tmp_path / "lp" / "config.yaml", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)
    assert project.calibrations == {} and not project.skipped


@pytest.mark.parametrize("multi_animal", [False, True])
def test_deeplabcut(tmp_path, multi_animal):
    from lp3d_io.deeplabcut import read_deeplabcut_project

    truth = tool_projects.deeplabcut(tmp_path / "dlc", multi_animal=multi_animal)
    project = _import(read_deeplabcut_project, tmp_path / "dlc", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)
    assert project.individual_names == (["mouse1", "mouse2", "single"] if multi_animal else ["individual_0"])
    assert project.scorer == "Ann" and not project.skipped


def test_deeplabcut_cameras_as_views(tmp_path):
    """Videos trial<n>-cam<X> of synchronized cameras: one view per camera, rows joined by frame."""
    from lp3d_io.deeplabcut import read_deeplabcut_project

    truth = tool_projects.deeplabcut(tmp_path / "dlc", cameras=["camA", "camB"])
    _import(read_deeplabcut_project, tmp_path / "dlc", tmp_path / "out", views=["camA", "camB"])
    tool_projects.check_project(tmp_path / "out", truth)


def test_deeplabcut_csv_only_and_flat_frames(tmp_path):
    """Without the HDF5 table the CSV is read; frames found beside the label file when the index
    names a path that does not exist (a flat or renamed layout)."""
    from lp3d_io.deeplabcut import read_deeplabcut_project

    truth = tool_projects.deeplabcut(tmp_path / "dlc")
    for h5 in (tmp_path / "dlc" / "labeled-data").rglob("*.h5"):
        h5.unlink()
    import pandas as pd

    csv = tmp_path / "dlc" / "labeled-data" / "trial2" / "CollectedData_Ann.csv"
    frame = pd.read_csv(csv, header=[0, 1, 2], index_col=[0, 1, 2])
    frame.index = pd.Index([f"labeled-data/{name}" for _, _, name in frame.index])  # one path, frames flat
    frame.to_csv(csv)
    _import(read_deeplabcut_project, tmp_path / "dlc", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)


def test_sleap_anipose_sessions(tmp_path):
    pytest.importorskip("sleap_io")
    from lp3d_io.sleap import read_sleap_project

    truth = tool_projects.sleap_anipose(tmp_path / "sessions")
    project = _import(read_sleap_project, tmp_path / "sessions", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)
    assert project.individual_names == ["fly1", "fly2"] and not project.skipped


def test_sleap_moved_session_finds_videos_beside_the_labels(tmp_path):
    """The .slp names a video that is gone; the one with its name beside the .slp is used."""
    pytest.importorskip("sleap_io")
    import shutil

    from lp3d_io.sleap import read_sleap_project

    truth = tool_projects.sleap_anipose(tmp_path / "made")
    shutil.copytree(tmp_path / "made" / "s2", tmp_path / "moved" / "s2")
    shutil.rmtree(tmp_path / "made")
    truth.labels = {k: v for k, v in truth.labels.items() if k[0] == "s2"}
    truth.videos = {(s, v): tmp_path / "moved" / "s2" / v / p.name for (s, v), p in truth.videos.items() if s == "s2"}
    truth.calibrations = {"s2": tmp_path / "moved" / "s2" / "calibration.toml"}
    _import(read_sleap_project, tmp_path / "moved" / "s2", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)


@pytest.mark.parametrize("predicted", [False, True])
def test_sleap_single_file(tmp_path, predicted):
    """One .slp, untracked: user instances are the labels; predicted ones only on request, and only
    where no user instance replaces them."""
    pytest.importorskip("sleap_io")
    from lp3d_io.sleap import read_sleap_project

    rng = np.random.default_rng(5)
    video = tool_projects.write_video(
        tmp_path / "src" / "fly.mp4", rng.integers(0, 256, (9, 24, 32, 3), dtype=np.uint8)
    )
    made = tool_projects.sleap_labels(
        tmp_path / "src" / "labels.slp", video, rng, [1, 4], nodes=["a", "b", "c"], tracks=None
    )
    truth = tool_projects.Truth(["view_0"], ["a", "b", "c"], ["individual_0"], videos={("fly", "view_0"): video})
    for frame, (user, pred) in made.items():
        if frame in (1, 4) or predicted:
            truth.labels[("fly", "view_0", frame)] = user if frame in (1, 4) else pred
            truth.images[("fly", "view_0", frame)] = tool_projects.decoded(video, frame)
    project = _import(read_sleap_project, tmp_path / "src" / "labels.slp", tmp_path / "out", predicted=predicted)
    tool_projects.check_project(tmp_path / "out", truth)
    assert project.n_frames == (3 if predicted else 2)


def test_sleap_files_of_one_video_are_one_session(tmp_path):
    """Two .slp files labeling the same video (labels.v001, labels.v002): one session, a frame
    labeled in both is taken from the first file and the second is listed as skipped."""
    pytest.importorskip("sleap_io")
    from lp3d_io.sleap import read_sleap_project

    rng = np.random.default_rng(7)
    video = tool_projects.write_video(tmp_path / "src" / "arena.mp4", rng.integers(0, 256, (12, 24, 32, 3), np.uint8))
    first = tool_projects.sleap_labels(
        tmp_path / "src" / "labels.v001.slp", video, rng, [1, 4], nodes=["a"], tracks=["m"]
    )
    second = tool_projects.sleap_labels(
        tmp_path / "src" / "labels.v002.slp", video, rng, [4, 9], nodes=["a"], tracks=["m"]
    )
    truth = tool_projects.Truth(["view_0"], ["a"], ["m"], videos={("arena", "view_0"): video})
    for frame, user in ((1, first[1][0]), (4, first[4][0]), (9, second[9][0])):
        truth.labels[("arena", "view_0", frame)] = user
        truth.images[("arena", "view_0", frame)] = tool_projects.decoded(video, frame)
    project = _import(read_sleap_project, tmp_path / "src", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)
    assert [(s.what, s.why) for s in project.skipped] == [
        (f"{tmp_path / 'src' / 'labels.v002.slp'}: video {video} frame 4", "already labeled in an earlier file")
    ]


def test_sleap_embedded_frames(tmp_path):
    """A .pkg.slp carries its labeled frames: the images come from it, the video is not needed."""
    sio = pytest.importorskip("sleap_io")
    from lp3d_io.sleap import read_sleap_project

    rng = np.random.default_rng(6)
    video = tool_projects.write_video(tmp_path / "v" / "cage.mp4", rng.integers(0, 256, (9, 24, 32, 3), dtype=np.uint8))
    made = tool_projects.sleap_labels(tmp_path / "v" / "labels.slp", video, rng, [2, 6], nodes=["a"], tracks=["m"])
    labels = sio.load_slp(str(tmp_path / "v" / "labels.slp"))
    (tmp_path / "pkg").mkdir()
    sio.save_slp(labels, str(tmp_path / "pkg" / "labels.pkg.slp"), embed="user", verbose=False)
    truth = tool_projects.Truth(["view_0"], ["a"], ["m"])
    for frame in (2, 6):
        truth.labels[("cage", "view_0", frame)] = made[frame][0]
        truth.images[("cage", "view_0", frame)] = tool_projects.decoded(video, frame)
    os.rename(video, tmp_path / "v" / "gone.mp4")
    _import(read_sleap_project, tmp_path / "pkg" / "labels.pkg.slp", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)


def test_anipose(tmp_path):
    from lp3d_io.anipose import read_anipose_project

    truth = tool_projects.anipose(tmp_path / "hand")
    project = _import(read_anipose_project, tmp_path / "hand", tmp_path / "out")
    tool_projects.check_project(tmp_path / "out", truth)
    assert project.view_names == ["A", "B"]
    assert any("2D prediction files in pose-2d/" in line for line in project.found)


def test_write_project_links_videos_and_replaces_whole(tmp_path):
    from lp3d_io.lightning_pose import read_lightning_pose_project

    truth = tool_projects.lightning_pose_single(tmp_path / "lp")
    project = read_lightning_pose_project(tmp_path / "lp")
    write_project(project, tmp_path / "out", link_videos=True)
    for (session, view), source in truth.videos.items():
        link = tmp_path / "out" / "videos" / f"{session}_{view}.mp4"
        assert link.is_symlink() and link.resolve() == source.resolve()
    (tmp_path / "out" / "old.txt").write_text("earlier")
    broken = project.images[0][0]
    project.images[0][0] = tmp_path / "lp" / "missing.jpg"
    with pytest.raises(ValueError, match="missing.jpg: expected an image file"):
        write_project(project, tmp_path / "out")
    assert (tmp_path / "out" / "old.txt").read_text() == "earlier"  # nothing half-written
    project.images[0][0] = broken
    write_project(project, tmp_path / "out")
    assert not (tmp_path / "out" / "old.txt").exists()
    assert filecmp.cmp(tmp_path / "out" / "videos" / "mouse1_view_0.mp4", truth.videos[("mouse1", "view_0")])


def test_jpeg_frames_become_png(tmp_path):
    import cv2
    from lp3d_io.lightning_pose import read_lightning_pose_project

    tool_projects.lightning_pose_single(tmp_path / "lp")
    csv = tmp_path / "lp" / "CollectedData.csv"
    first = tmp_path / "lp" / "labeled-data" / "mouse1" / "img0005.png"
    bgr = cv2.imread(str(first))
    cv2.imwrite(str(first.with_suffix(".jpg")), bgr)
    csv.write_text(csv.read_text().replace("img0005.png", "img0005.jpg"))
    write_project(read_lightning_pose_project(tmp_path / "lp"), tmp_path / "out")
    written = cv2.imread(str(tmp_path / "out" / "labeled-data" / "mouse1_view_0" / "img00005.png"))
    np.testing.assert_array_equal(written, cv2.imread(str(first.with_suffix(".jpg"))))


# --- bad input: each with its own one-line error naming the file and what was expected ------------


def _project(build, edit, **kwargs):
    """A project made by ``build(root, **kwargs)`` (one of ``tool_projects``), then ``edit(root)``."""

    def make(root: Path) -> Path:
        build(root, **kwargs)
        edit(root)
        return root

    return make


def _lp(edit):
    return _project(tool_projects.lightning_pose_multiview, edit)


def _dlc(edit, **kwargs):
    return _project(tool_projects.deeplabcut, edit, **kwargs)


def _anipose(edit):
    return _project(tool_projects.anipose, edit)


def _update_config(root: Path, changes: dict, section: str | None = None) -> None:
    """Updates ``root/config.yaml`` (its ``section`` when given) with ``changes``."""
    import yaml

    config = yaml.safe_load((root / "config.yaml").read_text())
    (config if section is None else config[section]).update(changes)
    (root / "config.yaml").write_text(yaml.safe_dump(config))


def _replace(name: str, old: str, new: str):
    def edit(root: Path) -> None:
        path = root / name
        path.write_text(path.read_text().replace(old, new))

    return edit


def _drop_column(root: Path) -> None:
    path = root / "CollectedData_side.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(",".join(line.split(",")[:-2]) for line in lines) + "\n")


BAD = {
    "lp config not yaml": (
        "lightning_pose",
        _lp(lambda r: (r / "config.yaml").write_text("data: [1, 2\n")),
        ValueError,
        r"config.yaml: expected a YAML config, but it cannot be parsed",
    ),
    "lp csv_file count": (
        "lightning_pose",
        _lp(lambda r: _update_config(r, {"csv_file": ["CollectedData_top.csv"]}, "data")),
        ValueError,
        r"config.yaml: data.csv_file: expected one label file per view \(2: \['top', 'side'\]\), but got 1",
    ),
    "lp label file missing": (
        "lightning_pose",
        _lp(lambda r: (r / "CollectedData_side.csv").unlink()),
        FileNotFoundError,
        r"data.csv_file: label file CollectedData_side.csv of view 'side' not found",
    ),
    "lp keypoints differ": (
        "lightning_pose",
        _lp(_drop_column),
        ValueError,
        r"CollectedData_side.csv: expected keypoints \['nose', 'ear', 'tail'\] \(as in CollectedData_top.csv\), "
        r"but got \['nose', 'ear'\]",
    ),
    "lp rows differ": (
        "lightning_pose",
        _lp(
            lambda r: (r / "CollectedData_side.csv").write_text(
                "\n".join((r / "CollectedData_side.csv").read_text().splitlines()[:-1]) + "\n"
            )
        ),
        ValueError,
        r"CollectedData_side.csv: expected 6 rows \(as in CollectedData_top.csv\), but got 5",
    ),
    "lp no labels": (
        "lightning_pose",
        lambda r: (r.mkdir(), r)[1],
        FileNotFoundError,
        r"expected label files CollectedData.csv or CollectedData_<view>.csv, but found none",
    ),
    "dlc no config": (
        "deeplabcut",
        _dlc(lambda r: (r / "config.yaml").unlink()),
        FileNotFoundError,
        r"expected a DeepLabCut project with config.yaml, but there is none",
    ),
    "dlc no bodyparts": (
        "deeplabcut",
        _dlc(lambda r: _update_config(r, {"bodyparts": []})),
        ValueError,
        r"config.yaml: bodyparts: expected the keypoint names, but got none",
    ),
    "dlc no individuals": (
        "deeplabcut",
        _dlc(lambda r: _update_config(r, {"individuals": [], "uniquebodyparts": []}), multi_animal=True),
        ValueError,
        r"config.yaml: individuals: expected the animals of a multi-animal project, but got none",
    ),
    "dlc bodyparts not a list": (
        "deeplabcut",
        _dlc(lambda r: _update_config(r, {"bodyparts": "snout"})),
        ValueError,
        r"config.yaml: bodyparts: expected a list of names, but got 'snout'",
    ),
    "dlc table not hdf5": (
        "deeplabcut",
        _dlc(lambda r: (r / "labeled-data" / "trial1" / "CollectedData_Ann.h5").write_text("no")),
        ValueError,
        r"CollectedData_Ann.h5: expected a DeepLabCut pandas table, but got",
    ),
    "anipose no cam_regex": (
        "anipose",
        _anipose(_replace("config.toml", "cam_regex = '-cam([A-Z])$'\n", "")),
        ValueError,
        r"config.toml: triangulation.cam_regex: expected the regex of the camera names, but got none",
    ),
    "anipose cam_regex without group": (
        "anipose",
        _anipose(_replace("config.toml", "'-cam([A-Z])$'", "'-cam[A-Z]$'")),
        ValueError,
        r"config.toml: triangulation.cam_regex: expected a group for the camera name, but got '-cam\[A-Z\]\$'",
    ),
    "anipose bad regex": (
        "anipose",
        _anipose(_replace("config.toml", "'-cam([A-Z])$'", "'-cam([A-Z]$'")),
        ValueError,
        r"config.toml: triangulation.cam_regex: expected a regular expression, but got",
    ),
    "anipose config not toml": (
        "anipose",
        _anipose(lambda r: (r / "config.toml").write_text("nesting = \n")),
        ValueError,
        r"config.toml: expected a TOML config, but it cannot be parsed",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_projects(tmp_path, case):
    kind, make, error, message = BAD[case]
    module = importlib.import_module(f"lp3d_io.{kind}")
    source = make(tmp_path / "src")
    with pytest.raises(error, match=message) as info:
        getattr(module, f"read_{kind}_project")(source)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_bad_sleap_files(tmp_path):
    sio = pytest.importorskip("sleap_io")
    from lp3d_io.sleap import read_sleap_project

    (tmp_path / "bad.slp").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"bad.slp: expected a SLEAP .slp file, but sleap-io cannot read it"):
        read_sleap_project(tmp_path / "bad.slp")
    rng = np.random.default_rng(8)
    video = tool_projects.write_video(tmp_path / "two" / "v.mp4", rng.integers(0, 256, (5, 24, 32, 3), dtype=np.uint8))
    tool_projects.sleap_labels(tmp_path / "two" / "a.slp", video, rng, [1], nodes=["a", "b"], tracks=None)
    tool_projects.sleap_labels(tmp_path / "two" / "b.slp", video, rng, [2], nodes=["a", "c"], tracks=None)
    with pytest.raises(
        ValueError, match=r"b.slp: expected the skeleton nodes \['a', 'b'\] \(as in .*a.slp\), but got \['a', 'c'\]"
    ):
        read_sleap_project(tmp_path / "two")
    labels = sio.load_slp(str(tmp_path / "two" / "a.slp"))
    labels.skeletons.append(sio.Skeleton(["x"]))
    sio.save_slp(labels, str(tmp_path / "skeletons.slp"), verbose=False)
    with pytest.raises(ValueError, match=r"skeletons.slp: expected one skeleton, but the file has 2"):
        read_sleap_project(tmp_path / "skeletons.slp")
    with pytest.raises(FileNotFoundError, match=r"expected a .slp file, a folder of them, or sleap-anipose sessions"):
        read_sleap_project(tmp_path / "nothing")
    from lp3d_io.pose_table import PoseTable
    from lp3d_io.sleap import to_sleap_slp

    to_sleap_slp(PoseTable.from_numpy(np.ones((3, 2, 2)), keypoint_names=["a", "b"]), tmp_path / "p.slp")
    with pytest.raises(
        ValueError,
        match=r"p.slp: expected user-labeled instances in the .slp files, but found none, only 3 predicted "
        r"instances \(pass --predicted to import them\)",
    ):
        read_sleap_project(tmp_path / "p.slp")


def test_skipped_with_reasons(tmp_path):
    """What cannot be imported is listed with why: a folder without labels, check_labels output, a
    video naming no view, a calibration without the views' cameras, a session missing a video."""
    from lp3d_io.deeplabcut import read_deeplabcut_project
    from lp3d_io.lightning_pose import read_lightning_pose_project

    tool_projects.deeplabcut(tmp_path / "dlc", cameras=["camA", "camB"])
    (tmp_path / "dlc" / "labeled-data" / "trial3-camA").mkdir()
    (tmp_path / "dlc" / "labeled-data" / "trial1-camA_labeled").mkdir()
    tool_projects.write_video(tmp_path / "dlc" / "videos" / "other.mp4", np.zeros((2, 24, 32, 3), np.uint8))
    (tmp_path / "dlc" / "videos" / "trial2-camB.mp4").unlink()
    project = read_deeplabcut_project(tmp_path / "dlc", views=["camA", "camB"])
    why = {s.what.split("/")[-1]: s.why for s in project.skipped}
    assert why["trial3-camA"] == "expected CollectedData_Ann.h5 or .csv, but found none"
    assert why["trial1-camA_labeled"] == "DeepLabCut's check_labels output, not labels"
    assert why["other.mp4"] == "its name names none of the views ['camA', 'camB']"
    assert why["videos trial2-camA.mp4"] == "session trial2 has no video of view(s) ['camB']"
    assert project.videos.keys() == {"trial1"}

    tool_projects.lightning_pose_multiview(tmp_path / "lp")
    tool_projects.write_anipose_toml(tmp_path / "lp" / "calibrations" / "b.toml", ["left", "right"], 0)
    project = read_lightning_pose_project(tmp_path / "lp")
    assert list(project.calibrations) == ["s1"]
    (bad,) = [s for s in project.skipped if s.what.startswith("calibration")]
    assert bad.what.endswith("b.toml") and "expected cameras ['top', 'side'], but got ['left', 'right']" in bad.why


def test_importers_and_writers_import_numpy_alone():
    import subprocess

    heavy = {"xarray", "zarr", "pandas", "pyarrow", "dask", "cv2", "h5py", "h5netcdf", "sleap_io", "yaml", "tables"}
    code = (
        "import sys, lp3d_io.projects, lp3d_io.lightning_pose, lp3d_io.deeplabcut, lp3d_io.sleap, lp3d_io.anipose, "
        "lp3d_io.movement, lp3d_io.hdf5, lp3d_io.readers\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert heavy.isdisjoint(out.split()), sorted(heavy & set(out.split()))
