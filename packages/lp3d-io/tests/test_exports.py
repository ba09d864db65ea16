"""Writers for the files labs analyse with: DeepLabCut HDF5, SLEAP analysis HDF5 and .slp, movement
netCDF. Each file is read back by the tool's own library (pandas for DeepLabCut's table, sleap-io,
movement) and by lp3d's reader where there is one, and compared with what was written."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("tables")
h5py = pytest.importorskip("h5py")

from lp3d_io.hdf5 import from_dlc_h5, from_sleap_analysis_h5, to_dlc_h5, to_sleap_analysis_h5  # noqa: E402
from lp3d_io.movement import to_movement_netcdf  # noqa: E402
from lp3d_io.pose_table import PoseTable  # noqa: E402

SEED = 11
KEYPOINTS = ["nose", "ear", "tail"]


def _poses(T=12, K=3, I=1, D=2, seed=SEED):  # noqa: E741
    rng = np.random.default_rng(seed)
    position = rng.uniform(-5, 500, size=(T, K, I, D))
    position[rng.uniform(size=(T, K, I)) < 0.15] = np.nan
    position[3] = np.nan  # a frame where nothing was found
    confidence = rng.uniform(size=(T, K, I))
    confidence[np.isnan(position[..., 0])] = np.nan
    return position, confidence


def _movement():
    return pytest.importorskip("movement.io.load_poses")


@pytest.mark.parametrize("individuals", [None, ["mouse1", "mouse2"]])
def test_dlc_h5(tmp_path, individuals):
    I = 1 if individuals is None else 2  # noqa: E741
    position, confidence = _poses(I=I)
    index = np.arange(100, 112)
    path = tmp_path / "videoDLC_lp3d.h5"
    table = PoseTable.from_numpy(
        position, confidence, keypoint_names=KEYPOINTS, individual_names=individuals, index=index
    )
    to_dlc_h5(table, path)
    frame = pd.read_hdf(path, key="df_with_missing")
    names = ["individual_0"] if individuals is None else individuals
    if individuals is None:
        assert list(frame.columns.names) == ["scorer", "bodyparts", "coords"]
    else:
        assert list(frame.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert frame.index.tolist() == index.tolist()
    for i, ind in enumerate(names):
        for k, kp in enumerate(KEYPOINTS):
            key = ("lp3d", kp) if individuals is None else ("lp3d", ind, kp)
            np.testing.assert_array_equal(frame[(*key, "x")], position[:, k, i, 0])
            np.testing.assert_array_equal(frame[(*key, "y")], position[:, k, i, 1])
            np.testing.assert_array_equal(frame[(*key, "likelihood")], confidence[:, k, i])
    table = from_dlc_h5(path)
    np.testing.assert_array_equal(table.position, position)
    np.testing.assert_array_equal(table.confidence, confidence)
    ds = _movement().from_dlc_file(path)
    assert list(ds["individuals"].values) == (["individual_0"] if individuals is None else individuals)
    np.testing.assert_array_equal(ds["position"].values, position.transpose(0, 3, 1, 2).astype(ds["position"].dtype))


def test_dlc_h5_3d(tmp_path):
    position, _ = _poses(D=3)
    to_dlc_h5(PoseTable.from_numpy(position, keypoint_names=KEYPOINTS), tmp_path / "p3d.h5")
    frame = pd.read_hdf(tmp_path / "p3d.h5", key="df_with_missing")
    assert sorted(set(frame.columns.get_level_values("coords"))) == ["x", "y", "z"]
    np.testing.assert_array_equal(from_dlc_h5(tmp_path / "p3d.h5").position, position)


@pytest.mark.parametrize("individuals", [None, ["fly1", "fly2"]])
def test_sleap_analysis_h5(tmp_path, individuals):
    sio = pytest.importorskip("sleap_io")
    I = 1 if individuals is None else 2  # noqa: E741
    position, confidence = _poses(T=6, I=I)
    frames = np.array([2, 3, 5, 6, 7, 9])  # the file holds frames 0..9, NaN where none was written
    path = tmp_path / "v.analysis.h5"
    table = PoseTable.from_numpy(
        position, confidence, keypoint_names=KEYPOINTS, individual_names=individuals, index=frames
    )
    to_sleap_analysis_h5(table, path, video_path="v.mp4", edges=[("nose", "ear")])
    full = np.full((10, 3, I, 2), np.nan)
    full[frames] = position
    scores = np.full((10, 3, I), np.nan)
    scores[frames] = confidence
    table = from_sleap_analysis_h5(path)
    np.testing.assert_array_equal(table.position, full)
    np.testing.assert_array_equal(table.confidence, scores)
    with h5py.File(path) as f:
        assert f["tracks"].shape == (I, 2, 3, 10) and f["track_occupancy"].shape == (10, I)
        np.testing.assert_array_equal(f["track_occupancy"][()], ~np.isnan(full).all(axis=(1, 3)))
    labels = sio.load_analysis_h5(str(path))
    assert [n for n in labels.skeletons[0].node_names] == KEYPOINTS
    assert [t.name for t in labels.tracks] == (["individual_0"] if individuals is None else individuals)
    assert labels.videos[0].filename == "v.mp4"
    for lf in labels.labeled_frames:
        for inst in lf.instances:
            i = [t.name for t in labels.tracks].index(inst.track.name)
            np.testing.assert_array_equal(inst.numpy(), full[lf.frame_idx, :, i])
    assert sorted({lf.frame_idx for lf in labels.labeled_frames if lf.instances}) == sorted(
        f for f in range(10) if not np.isnan(full[f]).all()
    )
    ds = _movement().from_sleap_file(path)
    np.testing.assert_array_equal(ds["position"].values, full.transpose(0, 3, 1, 2).astype(np.float32))
    np.testing.assert_array_equal(ds["confidence"].values, scores.astype(np.float32))


@pytest.mark.parametrize("fps", [None, 50.0])
def test_movement_netcdf(tmp_path, fps):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("movement")
    from movement.kinematics import compute_velocity
    from movement.validators.datasets import ValidPosesInputs

    position, confidence = _poses(I=2, D=3)
    variance = np.random.default_rng(SEED + 1).uniform(0.1, 2, size=position.shape)
    index = np.arange(10, 22)
    path = tmp_path / "poses.nc"
    table = PoseTable.from_numpy(
        position, confidence, keypoint_names=KEYPOINTS, individual_names=["a", "b"], index=index, scorer="lp3d_eks"
    )
    to_movement_netcdf(table, path, fps=fps, variance=variance)
    with xr.open_dataset(path) as ds:  # movement's netCDF loader: xarray, then its poses validator
        ValidPosesInputs.validate(ds)
        assert ds["position"].dims == ("time", "space", "keypoints", "individuals")
        assert ds.attrs["ds_type"] == "poses" and ds.attrs["source_software"] == "lp3d_eks"
        np.testing.assert_array_equal(ds["position"].values, position.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(ds["confidence"].values, confidence)
        np.testing.assert_array_equal(ds["position_variance"].values, variance.transpose(0, 3, 1, 2))
        assert list(ds["space"].values) == ["x", "y", "z"] and list(ds["keypoints"].values) == KEYPOINTS
        if fps is None:
            assert ds.attrs["time_unit"] == "frames" and "fps" not in ds.attrs
            np.testing.assert_array_equal(ds["time"].values, index)
        else:
            assert ds.attrs["time_unit"] == "seconds" and ds.attrs["fps"] == fps
            np.testing.assert_allclose(ds["time"].values, index / fps, rtol=0, atol=1e-12)
        velocity = compute_velocity(ds["position"])  # movement's own kinematics run on it
        assert velocity.shape == ds["position"].shape


def test_slp_round_trip(tmp_path):
    sio = pytest.importorskip("sleap_io")
    from lp3d_io.sleap import from_sleap_slp, to_sleap_slp

    position, confidence = _poses(I=2)
    position[-2:] = np.nan  # trailing frames without detections still count
    path = tmp_path / "v.predictions.slp"
    to_sleap_slp(
        PoseTable.from_numpy(position, confidence, keypoint_names=KEYPOINTS, individual_names=["m1", "m2"]),
        path,
        video="v.mp4",
    )
    table = from_sleap_slp(path)
    assert table.keypoint_names == KEYPOINTS and table.individual_names == ["m1", "m2"] and table.n_frames == 12
    np.testing.assert_array_equal(table.position, position)
    np.testing.assert_array_equal(table.confidence, np.where(np.isnan(position[..., 0]), np.nan, confidence))
    labels = sio.load_slp(str(path), open_videos=False)
    assert labels.videos[0].filename == "v.mp4" and [t.name for t in labels.tracks] == ["m1", "m2"]
    for lf in labels.labeled_frames:
        for inst in lf.predicted_instances:
            i = ["m1", "m2"].index(inst.track.name)
            np.testing.assert_array_equal(inst.numpy(), position[lf.frame_idx, :, i])


def test_slp_predictions_prefer_user_instances(tmp_path):
    """A proofread file: user instances replace the predictions they came from; confidence is the
    predicted points' score, NaN for user points; rows are the video's frames."""
    pytest.importorskip("sleap_io")
    import sys
    from pathlib import Path

    from lp3d_io.sleap import from_sleap_slp

    sys.path.insert(0, str(Path(__file__).parent))
    import tool_projects

    sys.path.pop(0)
    rng = np.random.default_rng(SEED)
    video = tool_projects.write_video(tmp_path / "v.mp4", rng.integers(0, 256, (15, 24, 32, 3), dtype=np.uint8))
    made = tool_projects.sleap_labels(tmp_path / "p.slp", video, rng, [1, 3], nodes=["a", "b"], tracks=["t1", "t2"])
    table = from_sleap_slp(tmp_path / "p.slp")
    assert table.n_frames == 15 and table.individual_names == ["t1", "t2"]
    for frame, (user, pred) in made.items():
        np.testing.assert_array_equal(table.position[frame], user if frame in (1, 3) else pred)
        assert np.isnan(table.confidence[frame]).all() == (frame in (1, 3))
    assert np.isnan(table.position[[0, 2, 5, 14]]).all()


def test_slp_reader_errors(tmp_path):
    sio = pytest.importorskip("sleap_io")
    from lp3d_io.sleap import from_sleap_slp

    skeleton = sio.Skeleton(["a"])
    videos = [sio.Video(filename=f"{n}.mp4", open_backend=False) for n in ("left", "right")]
    frames = [
        sio.LabeledFrame(
            video=v, frame_idx=0, instances=[sio.PredictedInstance.from_numpy(np.ones((1, 2)), skeleton=skeleton)]
        )
        for v in videos
    ]
    sio.save_slp(sio.Labels(frames), str(tmp_path / "two.slp"), verbose=False)
    with pytest.raises(
        ValueError, match=r"two.slp: expected the predictions of one video, but the file has 2 \(left.mp4, right.mp4\)"
    ):
        from_sleap_slp(tmp_path / "two.slp")
    crowd = [sio.PredictedInstance.from_numpy(np.full((1, 2), x), skeleton=skeleton) for x in (1.0, 2.0)]
    sio.save_slp(
        sio.Labels([sio.LabeledFrame(video=videos[0], frame_idx=4, instances=crowd)]),
        str(tmp_path / "crowd.slp"),
        verbose=False,
    )
    with pytest.raises(
        ValueError, match=r"crowd.slp: expected tracked instances .* but frame 4 has 2 untracked instances"
    ):
        from_sleap_slp(tmp_path / "crowd.slp")
    with pytest.raises(FileNotFoundError, match=r"missing.slp: file not found"):
        from_sleap_slp(tmp_path / "missing.slp")


def test_slp_files_group_into_members_and_views(tmp_path):
    """The registry: a folder of .slp predictions reads as ensemble members and views, like CSVs."""
    pytest.importorskip("sleap_io")
    from lp3d_io.grouping import read_predictions_arrays
    from lp3d_io.sleap import to_sleap_slp

    truth = {}
    for m in range(2):
        for v, view in enumerate(("top", "bot")):
            position, confidence = _poses(seed=10 * m + v)
            truth[(m, view)] = position, confidence
            to_sleap_slp(
                PoseTable.from_numpy(position, confidence, keypoint_names=KEYPOINTS), tmp_path / f"s_{view}.rng={m}.slp"
            )
    ds = read_predictions_arrays(tmp_path, ["top", "bot"], dtype=np.float64)
    assert ds["member"].values.tolist() == ["rng=0", "rng=1"] and ds.attrs["source_software"] == "Lightning Pose"
    for (m, view), (position, confidence) in truth.items():
        v = ["top", "bot"].index(view)
        np.testing.assert_array_equal(ds["position"].values[m, v], position)
        np.testing.assert_array_equal(
            ds["confidence"].values[m, v], np.where(np.isnan(position[..., 0]), np.nan, confidence)
        )


@pytest.mark.parametrize(
    ("writer", "table", "options", "message"),
    [
        ("analysis", {"position": np.zeros((12, 3, 3))}, {}, r"expected 2D poses \(x, y\) for a SLEAP analysis file"),
        ("analysis", {"index": np.zeros(12, int)}, {}, r"index: expected 12 distinct frame numbers >= 0"),
        (
            "analysis",
            {},
            {"edges": [("nose", "leg")]},
            r"edges: expected pairs of keypoint names, but got \('nose', 'leg'\)",
        ),
        ("movement", {}, {"fps": 0.0}, r"fps: expected a positive number, but got 0.0"),
        (
            "movement",
            {},
            {"variance": np.zeros((2, 3, 2))},
            r"variance: expected shape \(12, 3, 1, 2\) \(as position\)",
        ),
        (
            "movement",
            {"index": [f"img{t}.png" for t in range(12)]},
            {},
            r"index: expected frame numbers, but got \['img0",
        ),
        ("slp", {"position": np.zeros((12, 3, 3))}, {}, r"expected 2D poses \(x, y\) for a SLEAP file, but got 3D"),
    ],
)
def test_writer_errors(tmp_path, writer, table, options, message):
    """What a format cannot hold is an error before anything is written."""
    if writer == "slp":
        pytest.importorskip("sleap_io")
    from lp3d_io.sleap import to_sleap_slp

    functions = {"analysis": to_sleap_analysis_h5, "movement": to_movement_netcdf, "slp": to_sleap_slp}
    position, _ = _poses()
    target = tmp_path / "out.file"
    target.write_text("earlier")
    with pytest.raises(ValueError, match=message):
        functions[writer](
            PoseTable.from_numpy(**{"position": position, "keypoint_names": KEYPOINTS, **table}), target, **options
        )
    assert target.read_text() == "earlier" and [p.name for p in tmp_path.iterdir()] == ["out.file"]


def test_a_table_read_from_one_format_writes_to_another(tmp_path):
    """CSV -> DeepLabCut HDF5 -> SLEAP analysis -> CSV: the same table (names, scorer of the first
    files, confidence, frame numbers)."""
    from lp3d_io.csv import from_pose_csv, to_pose_csv

    position, confidence = _poses(I=2)
    index = np.arange(40, 52)
    to_pose_csv(
        PoseTable.from_numpy(position, confidence, keypoint_names=KEYPOINTS, individual_names=["a", "b"], index=index),
        tmp_path / "a.csv",
    )
    to_dlc_h5(from_pose_csv(tmp_path / "a.csv"), tmp_path / "b.h5")
    to_sleap_analysis_h5(from_dlc_h5(tmp_path / "b.h5"), tmp_path / "c.analysis.h5")
    table = from_sleap_analysis_h5(tmp_path / "c.analysis.h5")  # frames 0 .. 51, NaN before 40
    to_pose_csv(
        PoseTable.from_numpy(
            table.position[40:],
            table.confidence[40:],
            keypoint_names=table.keypoint_names,
            individual_names=table.individual_names,
            index=table.index[40:],
        ),
        tmp_path / "d.csv",
    )
    back = from_pose_csv(tmp_path / "d.csv")
    assert back.keypoint_names == KEYPOINTS and back.individual_names == ["a", "b"]
    assert back.index.tolist() == index.tolist()
    np.testing.assert_array_equal(back.position, position)
    np.testing.assert_array_equal(back.confidence, confidence)
