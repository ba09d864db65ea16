"""Making a project from nothing: its files, videos checked for frame-accurate seeking and converted
all-intra, calibrations checked against the views, and views whose frame counts or rates differ."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from lp3d_workflows.errors import UserError
from lp3d_workflows.project import describe_project, video_mismatches
from lp3d_workflows.project_setup import (
    check_video,
    convert_all_intra,
    create_project,
    prepare_video,
    save_calibration,
    save_skeleton,
)


def write_video(path, n: int, fps: float = 30.0, fourcc: str = "mp4v", size=(64, 48)):
    """Frames with their index drawn as a bar's position (each frame tells which it is)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for t in range(n):
        image = np.full((size[1], size[0], 3), 30, np.uint8)
        image[:, (t * 7) % size[0] : (t * 7) % size[0] + 4] = 230
        image[: 2 + t % 40, :3] = 200
        writer.write(image)
    writer.release()
    return path


def frames_of(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    out = []
    while (read := capture.read())[0]:
        out.append(read[1])
    capture.release()
    return out


def test_a_created_project_is_read_back_as_created(tmp_path):
    import yaml
    from lp3d_models.config import load_config

    create_project(tmp_path, "mouse", ["top", "side"], ["nose", "tail"], [("nose", "tail")])
    project = describe_project(tmp_path)
    assert project.name == "mouse" and project.views == ["side", "top"] and project.keypoints == ["nose", "tail"]
    assert project.skeleton == [("nose", "tail")] and project.n_labeled == 0
    assert all("video" in p.message for p in project.problems)  # nothing else is missing
    config = yaml.safe_load((tmp_path / "lp3d.yaml").read_text())
    assert config["data"]["views"] == ["top", "side"] and config["run_dir"] == "runs/mouse"
    loaded = load_config(tmp_path / "lp3d.yaml")  # a config the trainer reads
    assert loaded.data.views == ["top", "side"]
    with pytest.raises(UserError, match="a project is here already"):
        create_project(tmp_path, "again", ["top"], ["nose"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("../x", ["top"], ["nose"], []), "name: expected letters"),
        (("p", ["top", "top"], ["nose"], []), "views: expected distinct names"),
        (("p", ["a b"], ["nose"], []), "view 'a b'"),
        (("p", ["top"], [], []), "keypoints: expected at least one name"),
        (("p", ["top"], ['no"se'], []), "without commas, quotes"),
        (("p", ["top"], ["nose", "tail"], [("nose", "paw")]), "expected bones of two distinct keypoints"),
        (("p", ["top"], ["nose", "tail"], [("nose", "tail"), ("tail", "nose")]), "is given twice"),
    ],
)
def test_a_bad_project_writes_nothing(tmp_path, args, message):
    with pytest.raises(UserError, match=message):
        create_project(tmp_path / "p", *args)
    assert not (tmp_path / "p").exists()


def test_the_skeleton_file(tmp_path):
    save_skeleton(tmp_path, ["a", "b", "c"], [("a", "b"), ("c", "b")])
    assert (tmp_path / "skeleton.csv").read_text() == "a,b\nc,b\n"
    save_skeleton(tmp_path, ["a", "b", "c"], [])
    assert (tmp_path / "skeleton.csv").read_text() == ""


def test_an_all_intra_video_seeks_and_a_conversion_keeps_every_frame(tmp_path):
    source = write_video(tmp_path / "a.mp4", 40)
    check = check_video(source)
    assert (check.n_frames, check.declared, check.width, check.height, check.fps) == (40, 40, 64, 48, 30.0)
    assert check.key_frames < 40 and not check.all_intra  # mp4v: a key frame now and then
    assert check.seeks and check.reason == ""
    steps = []
    target = convert_all_intra(source, tmp_path / "b.avi", lambda d, done, total: steps.append((done, total)))
    after = check_video(target)
    assert after.all_intra and after.seeks and after.n_frames == 40 and after.fps == 30.0
    assert steps[-1] == (40, 40)
    for a, b in zip(frames_of(source), frames_of(target), strict=True):  # Motion JPEG: lossy, close
        assert np.abs(a.astype(int) - b).mean() < 3
    from lp3d_io.video import VideoReader

    with VideoReader(target, rgb=False) as reader:  # any frame by its index
        for t in (33, 2, 17):
            assert np.abs(reader.read(t).astype(int) - frames_of(target)[t]).max() == 0


def test_a_video_that_does_not_seek_is_converted_once(tmp_path, monkeypatch):
    from lp3d_workflows import project_setup

    (tmp_path / "upload").mkdir()
    upload = write_video(tmp_path / "upload" / "u.mp4", 20)
    real = project_setup.check_video

    def does_not_seek(path, progress=None):
        found = real(path, progress)
        return project_setup.VideoCheck(
            **{**found.__dict__, "seeks": False, "reason": "seeking to frame 7 gives another frame"}
        )

    monkeypatch.setattr(project_setup, "check_video", does_not_seek)
    video, check, converted = prepare_video(upload, tmp_path / "videos", "s1", "top")
    assert converted and video == tmp_path / "videos" / "s1_top.avi" and not upload.exists()
    assert real(video).all_intra and check.reason.startswith("seeking")
    monkeypatch.setattr(project_setup, "check_video", real)
    second = write_video(tmp_path / "second.mp4", 20)
    with pytest.raises(UserError, match="a video of this session and view is there already"):
        prepare_video(second, tmp_path / "videos", "s1", "top")
    video, _, converted = prepare_video(second, tmp_path / "videos", "s1", "top", overwrite=True)
    assert (
        not converted
        and video.name == "s1_top.mp4"
        and sorted(p.name for p in video.parent.iterdir()) == ["s1_top.mp4"]
    )


def test_a_file_that_is_not_a_video_is_refused(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(b"\0" * 1000)
    with pytest.raises(ValueError):
        check_video(path)


def test_views_whose_frame_counts_or_rates_differ_are_reported(tmp_path):
    create_project(tmp_path, "p", ["top", "side", "front"], ["nose"])
    write_video(tmp_path / "videos" / "s1_top.mp4", 30)
    write_video(tmp_path / "videos" / "s1_side.mp4", 25)
    write_video(tmp_path / "videos" / "s1_front.mp4", 30, fps=25.0)
    write_video(tmp_path / "videos" / "s2_top.mp4", 30)
    write_video(tmp_path / "videos" / "s2_side.mp4", 30)
    write_video(tmp_path / "videos" / "s2_front.mp4", 30)
    project = describe_project(tmp_path)
    problems = [p.message for p in project.problems]
    assert any(
        "session s1: expected the same number of frames in every view" in m and "side: 25" in m for m in problems
    )
    assert any("session s1: expected the same frame rate in every view" in m and "front: 25" in m for m in problems)
    assert not any("session s2" in m for m in problems)
    s2 = project.session("s2")
    assert video_mismatches("s2", s2.videos) == []


def test_calibrations_are_checked_against_the_views(tmp_path):
    from lp3d_eks import CameraRig
    from lp3d_io.synthetic import make_rig

    rig = make_rig(3, image_size=(96, 80), seed=1)
    rig.to_toml(tmp_path / "rig.toml")
    text = (tmp_path / "rig.toml").read_bytes()
    path = save_calibration(text, tmp_path / "p", "s1", rig.names)
    assert path == tmp_path / "p" / "calibrations" / "s1.toml"
    saved = CameraRig.from_toml(path)
    point = np.array([[10.0, -5.0, 30.0]])
    np.testing.assert_allclose(saved.project(point), rig.project(point))
    import re

    def four(match):
        return f"distortions = [{', '.join(match.group(1).split(',')[:4])}]\nfisheye = true"

    fisheye = re.sub(r"distortions = \[([^\]]*)\]", four, text.decode(), count=1).encode()
    assert CameraRig.from_toml(save_calibration(fisheye, tmp_path / "p", "s2", rig.names)) is not None
    for body, views, message in [
        (b"not toml [", rig.names, "calibration:"),
        (text, [*rig.names, "extra"], r"expected a camera named after every view .* but \['extra'\] have none"),
    ]:
        with pytest.raises(UserError, match=message):
            save_calibration(body, tmp_path / "p", "s3", views)
        assert not (tmp_path / "p" / "calibrations" / "s3.toml").exists()
    with pytest.raises(UserError, match="session"):
        save_calibration(text, tmp_path / "p", "../up", rig.names)
