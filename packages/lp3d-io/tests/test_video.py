from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from lp3d_io.dataset import smoothed_dataset
from lp3d_io.video import (
    SyncedVideos,
    VideoReader,
    draw_keypoints,
    keypoint_colors,
    write_labeled_video,
    write_labeled_videos,
)

W, H = 64, 48


def _make_video(path: Path, n: int, fps: float = 30.0) -> Path:
    """Frame i is uniformly gray at level 10 * i (survives lossy coding to within a few levels)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    for i in range(n):
        writer.write(np.full((H, W, 3), 10 * i, dtype=np.uint8))
    writer.release()
    return path


def _level(frame: np.ndarray) -> int:
    return int(round(frame.mean() / 10))


def test_reader_properties_and_random_access(tmp_path):
    with VideoReader(_make_video(tmp_path / "a.mp4", 20, fps=25)) as reader:
        assert (reader.frame_count, reader.fps, reader.size) == (20, 25.0, (W, H))
        for i in (7, 3, 19, 0, 1, 2):  # backwards, forwards, sequential
            assert _level(reader.read(i)) == i
        assert reader[5].shape == (H, W, 3)
        frames = reader.read_many([9, 2, 14])
        assert [_level(f) for f in frames] == [9, 2, 14]
        with pytest.raises(IndexError, match=r"expected a frame index in 0..19, but got 20"):
            reader.read(20)


def test_reader_batches(tmp_path):
    with VideoReader(_make_video(tmp_path / "a.mp4", 11)) as reader:
        batches = list(reader.batches(4, start=1))
    assert [b[0].tolist() for b in batches] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert [_level(f) for f in batches[1][1]] == [5, 6, 7, 8]
    assert batches[0][1].shape == (4, H, W, 3) and batches[0][1].dtype == np.uint8


def test_reader_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4: video not found"):
        VideoReader(tmp_path / "nope.mp4")


def test_reader_real_video():
    path = (
        Path(__file__).resolve().parents[3]
        / ".."
        / "shared"
        / "data"
        / "mirror-mouse-example"
        / "videos"
        / "test_vid.mp4"
    )
    if not path.exists():
        pytest.skip(f"real data not found: {path.resolve()}")
    with VideoReader(path) as reader:
        assert reader.frame_count > 100 and reader.size == (396, 406)
        sequential = [f for _, batch in reader.batches(8, stop=16) for f in batch]
        np.testing.assert_array_equal(reader.read(12), sequential[12])  # a seek lands on the same frame


def test_synced_videos(tmp_path):
    a = _make_video(tmp_path / "a.mp4", 12)
    b = _make_video(tmp_path / "b.mp4", 14)
    with pytest.raises(
        ValueError,
        match=r"expected the same number of frames in every view \(after offsets\), but got top: 12, bot: 14",
    ):
        SyncedVideos({"top": a, "bot": b})
    with SyncedVideos({"top": a, "bot": b}, offsets={"bot": 2}) as synced:  # bot started 2 frames earlier
        assert len(synced) == 12
        frames = synced.read(3)
        assert (_level(frames["top"]), _level(frames["bot"])) == (3, 5)
        idx, batch = next(synced.batches(5, start=4))
        assert idx.tolist() == [4, 5, 6, 7, 8] and [_level(f) for f in batch["bot"]] == [6, 7, 8, 9, 10]
    with SyncedVideos([a, b], ["top", "bot"], on_mismatch="shortest") as synced:
        assert len(synced) == 12


def test_synced_videos_fps_mismatch(tmp_path):
    a = _make_video(tmp_path / "a.mp4", 5, fps=30)
    b = _make_video(tmp_path / "b.mp4", 5, fps=60)
    with pytest.raises(ValueError, match="expected the same frame rate"):
        SyncedVideos({"a": a, "b": b})


def test_draw_keypoints_ellipse_size():
    frame = np.zeros((60, 80, 3), dtype=np.uint8)
    points = np.array([[40.0, 30.0], [np.nan, 5.0]])
    variance = np.array([[25.0, 4.0], [1.0, 1.0]])  # sd 5 px in x, 2 px in y
    out = draw_keypoints(frame, points, variance, colors=np.array([[255, 0, 0], [0, 255, 0]]), radius=1, n_std=2.0)
    assert frame.max() == 0  # the input is not modified
    assert out[30, 40, 0] > 200  # the dot
    assert out[30, 50, 0] > 100 and out[30, 30, 0] > 100  # ellipse at +-2 sd = 10 px in x
    assert out[34, 40, 0] > 100  # and 4 px in y
    assert out[30, 54].max() == 0 and out[38, 40].max() == 0  # nothing beyond
    assert out[..., 1].max() == 0  # the NaN point is not drawn


def test_draw_keypoints_full_covariance_is_rotated():
    frame = np.zeros((80, 80, 3), dtype=np.uint8)
    cov = np.array([[[50.0, 49.0], [49.0, 50.0]]])  # long axis along the diagonal
    out = draw_keypoints(frame, np.array([[40.0, 40.0]]), cov, colors=np.array([[0, 0, 255]]), radius=0, n_std=2.0)
    # semi-major axis 2 * sqrt(99) ~ 19.9 px along (1, 1)/sqrt(2): about (54, 54)
    assert out[54, 54, 2] > 50 and out[26, 26, 2] > 50
    assert out[40, 54, 2] == 0 and out[54, 40, 2] == 0


def test_write_labeled_video(tmp_path, make_result):
    video = _make_video(tmp_path / "cam.mp4", 10)
    rng = np.random.default_rng(0)
    pos = rng.uniform(10, 40, size=(6, 2, 2))
    var = np.full((6, 2, 2), 4.0)
    write_labeled_video(tmp_path / "out.mp4", video, pos, var, start=2)
    with VideoReader(tmp_path / "out.mp4") as out, VideoReader(video) as src:
        assert out.frame_count == 6 and out.size == (W, H)
        drawn, plain = out.read(3).astype(int), src.read(5).astype(int)
        x, y = np.round(pos[3, 0]).astype(int)
        color = keypoint_colors(2)[0].astype(int)
        assert np.abs(drawn[y, x] - color).sum() < np.abs(plain[y, x] - color).sum()
    with pytest.raises(ValueError, match="expected at most 8 frames from frame 2"):
        write_labeled_video(tmp_path / "bad.mp4", video, np.zeros((9, 2, 2)), start=2)
    assert not (tmp_path / "bad.mp4").exists()

    res = make_result("calibrated", V=2, T=10, K=3)
    ds = smoothed_dataset(res, view_names=["top", "bot"], keypoint_names=["a", "b", "c"])
    written = write_labeled_videos(ds, {"bot": video}, tmp_path / "labeled")
    assert list(written) == ["bot"] and written["bot"].name == "bot_labeled.mp4"
    with VideoReader(written["bot"]) as out:
        assert out.frame_count == 10
