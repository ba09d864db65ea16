"""Small projects in each tool's own layout, written with the tools' own conventions (pandas for
DeepLabCut's HDF5 tables, sleap-io for .slp files, hand-written anipose TOML), with the truth to
compare an import against. Seeded; shared by the lp3d-io, lp3d-workflows and end-to-end tests
(loaded by path: ``load_tool_projects()`` in those test files).

Every builder returns a :class:`Truth`: the label of every (session, view, frame) that must arrive,
the image of every labeled frame (the pixels to find in the project), the videos and calibrations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

W, H = 32, 24  # image size of every frame


@dataclass
class Truth:
    views: list[str]
    keypoints: list[str]
    individuals: list[str]
    labels: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)  # (K, I, 2)
    images: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)  # RGB (H, W, 3)
    videos: dict[tuple[str, str], Path] = field(default_factory=dict)
    calibrations: dict[str, Path] = field(default_factory=dict)

    @property
    def rows(self) -> list[tuple[str, int]]:
        """The (session, frame) rows an import must write, sorted."""
        return sorted({(s, f) for s, _, f in self.labels})


def image(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_video(path: Path, frames: np.ndarray) -> Path:
    """An mp4v video of RGB ``frames`` (lossy: compare decoded frames, not the arrays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (W, H))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def decoded(video: Path, frame: int) -> np.ndarray:
    """Frame ``frame`` of a video as OpenCV decodes it (RGB)."""
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, bgr = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_anipose_toml(path: Path, cameras: list[str], seed: int) -> Path:
    """An anipose calibration file, as anipose writes it (one [cam_i] table per camera)."""
    rng = np.random.default_rng(seed)
    lines = []
    for i, name in enumerate(cameras):
        f = 40.0 + rng.uniform(0, 5)
        lines += [
            f"[cam_{i}]",
            f'name = "{name}"',
            f"size = [ {W}, {H},]",
            f"matrix = [ [ {f}, 0.0, {W / 2},], [ 0.0, {f}, {H / 2},], [ 0.0, 0.0, 1.0,],]",
            f"distortions = [ {rng.normal(0, 0.01)}, 0.0, 0.0, 0.0, 0.0,]",
            f"rotation = [ {rng.normal(0, 0.3)}, {rng.normal(0, 0.3)}, {rng.normal(0, 0.3)},]",
            f"translation = [ {rng.normal(0, 1)}, {rng.normal(0, 1)}, {10 + rng.normal(0, 1)},]",
            "",
        ]
    lines += ["[metadata]", "adjusted = false", "error = 0.5", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def _labels(rng: np.random.Generator, K: int, I: int) -> np.ndarray:  # noqa: E741
    """Labels with a few NaN (unlabeled) keypoints, values of every precision."""
    xy = rng.uniform(0, [W, H], size=(K, I, 2)) + rng.choice([0, 1e-9, 1 / 3], size=(K, I, 1))
    xy[rng.uniform(size=(K, I)) < 0.2] = np.nan
    return xy


def _dlc_frame(columns: list[tuple], names: list[str], rows: list[np.ndarray], index):
    import pandas as pd

    return pd.DataFrame(
        np.stack([r.reshape(-1) for r in rows]) if rows else np.empty((0, len(columns))),
        columns=pd.MultiIndex.from_tuples(columns, names=names),
        index=index,
    )


# --- Lightning Pose --------------------------------------------------------------------------------


def lightning_pose_multiview(root: Path, seed: int = 0) -> Truth:
    """A moved multi-view Lightning Pose project: config (data_dir and video_dir point to where it
    was), two sessions, a third session with videos only, calibrations.csv naming image keys and a
    folder prefix, a frame with a missing image (skipped)."""
    import pandas as pd
    import yaml

    rng = np.random.default_rng(seed)
    views, keypoints = ["top", "side"], ["nose", "ear", "tail"]
    truth = Truth(views, keypoints, ["individual_0"])
    frames = {"s1": [3, 10, 42], "s2": [0, 7]}
    index = {v: [] for v in views}
    rows = {v: [] for v in views}
    for session, numbers in frames.items():
        for frame in numbers:
            for view in views:
                path = f"labeled-data/{session}_{view}/img{frame:05d}.png"
                truth.labels[(session, view, frame)] = xy = _labels(rng, 3, 1)
                truth.images[(session, view, frame)] = pixels = image(rng)
                write_png(root / path, pixels)
                index[view].append(path)
                rows[view].append(xy[:, 0])
    # a row whose image is missing in one view: skipped
    for view in views:
        index[view].append(f"labeled-data/s2_{view}/img00099.png")
        rows[view].append(np.ones((3, 2)))
    (root / "labeled-data/s2_side/img00099.png").unlink(missing_ok=True)
    write_png(root / "labeled-data/s2_top/img00099.png", image(rng))
    columns = [("lp", k, c) for k in keypoints for c in ("x", "y")]
    for view in views:
        frame = _dlc_frame(columns, ["scorer", "bodyparts", "coords"], rows[view], pd.Index(index[view]))
        frame.to_csv(root / f"CollectedData_{view}.csv")
    for session in ("s1", "s2", "s3"):
        for view in views:
            truth.videos[(session, view)] = write_video(
                root / "videos" / f"{session}_{view}.mp4", rng.integers(0, 256, (50, H, W, 3), dtype=np.uint8)
            )
    a = write_anipose_toml(root / "calibrations" / "a.toml", views, seed)
    b = write_anipose_toml(root / "calibrations" / "b.toml", list(reversed(views)) + ["extra"], seed + 1)
    lines = [",file"] + [f"labeled-data/s1/img{f:05d}.png,calibrations/a.toml" for f in frames["s1"]]
    lines += ["labeled-data/s2,calibrations/b.toml", "labeled-data/s3,calibrations/b.toml"]
    (root / "calibrations.csv").write_text("\n".join(lines) + "\n")
    truth.calibrations = {"s1": a, "s2": b, "s3": b}
    config = {
        "data": {
            "data_dir": "/nowhere/original/data",
            "video_dir": "/nowhere/original/videos",
            "csv_file": [f"CollectedData_{v}.csv" for v in views],
            "view_names": views,
            "keypoint_names": keypoints,
            "num_keypoints": 3,
            "image_orig_dims": {"height": H, "width": W},
            "camera_params_file": "calibrations.csv",
        },
        "training": {"imgaug": "dlc"},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return truth


def lightning_pose_single(root: Path, seed: int = 1) -> Truth:
    """A single-view Lightning Pose project: CollectedData.csv, labeled-data/<video>/, videos/<video>.mp4."""
    import pandas as pd
    import yaml

    rng = np.random.default_rng(seed)
    keypoints = ["paw1", "paw2"]
    truth = Truth(["view_0"], keypoints, ["individual_0"])
    index, rows = [], []
    for video, numbers in (("mouse1", [5, 6]), ("mouse2", [100])):
        truth.videos[(video, "view_0")] = write_video(
            root / "videos" / f"{video}.mp4", rng.integers(0, 256, (10, H, W, 3), dtype=np.uint8)
        )
        for frame in numbers:
            path = f"labeled-data/{video}/img{frame:04d}.png"
            truth.labels[(video, "view_0", frame)] = xy = _labels(rng, 2, 1)
            truth.images[(video, "view_0", frame)] = pixels = image(rng)
            write_png(root / path, pixels)
            index.append(path)
            rows.append(xy[:, 0])
    columns = [("lp", k, c) for k in keypoints for c in ("x", "y")]
    _dlc_frame(columns, ["scorer", "bodyparts", "coords"], rows, pd.Index(index)).to_csv(root / "CollectedData.csv")
    (root / "config.yaml").write_text(yaml.safe_dump({"data": {"csv_file": "CollectedData.csv", "num_keypoints": 2}}))
    return truth


# --- DeepLabCut ------------------------------------------------------------------------------------


def deeplabcut(root: Path, seed: int = 2, *, multi_animal: bool = False, cameras: list[str] | None = None) -> Truth:
    """A DeepLabCut project: config.yaml, labeled-data/<video>/CollectedData_<scorer>.h5 (and .csv)
    with DeepLabCut's 3-level row index, videos/. With ``cameras``, videos ``trial<n>-<camera>`` of
    synchronized cameras labeled at the same frames (and one frame labeled in one camera only,
    filled from the other camera's video). Multi-animal: individuals and unique body parts."""
    import pandas as pd
    import yaml

    rng = np.random.default_rng(seed)
    scorer = "Ann"
    if multi_animal:
        bodyparts, unique, animals = ["head", "tail"], ["feeder"], ["mouse1", "mouse2"]
        keypoints, individuals = bodyparts + unique, animals + ["single"]
    else:
        keypoints, individuals = ["snout", "paw", "tail"], ["individual_0"]
    views = cameras or ["view_0"]
    truth = Truth(views, keypoints, individuals)
    recordings = {"trial1": [4, 12], "trial2": [0]}
    for recording, numbers in recordings.items():
        for camera in views:
            video = f"{recording}-{camera}" if cameras else recording
            session = recording
            frames_video = rng.integers(0, 256, (20, H, W, 3), dtype=np.uint8)
            truth.videos[(session, camera)] = write_video(root / "videos" / f"{video}.mp4", frames_video)
            labeled = list(numbers) + ([17] if cameras and camera == views[0] and recording == "trial1" else [])
            rows, index = [], []
            for frame in labeled:
                name = f"img{frame:03d}.png"
                pixels = image(rng)
                write_png(root / "labeled-data" / video / name, pixels)
                index.append(("labeled-data", video, name))
                if multi_animal:
                    xy = _labels(rng, len(keypoints), len(individuals))
                    xy[len(bodyparts) :, :2] = np.nan  # unique body parts belong to "single" only
                    xy[: len(bodyparts), 2] = np.nan
                    flat = np.concatenate(
                        [xy[: len(bodyparts), i].reshape(-1) for i in range(2)] + [xy[len(bodyparts) :, 2].reshape(-1)]
                    )
                else:
                    xy = _labels(rng, len(keypoints), 1)
                    flat = xy[:, 0].reshape(-1)
                truth.labels[(session, camera, frame)] = xy
                truth.images[(session, camera, frame)] = pixels
                rows.append(flat)
            if multi_animal:
                columns = [(scorer, a, b, c) for a in animals for b in bodyparts for c in ("x", "y")]
                columns += [(scorer, "single", b, c) for b in unique for c in ("x", "y")]
                names = ["scorer", "individuals", "bodyparts", "coords"]
            else:
                columns = [(scorer, b, c) for b in keypoints for c in ("x", "y")]
                names = ["scorer", "bodyparts", "coords"]
            frame = _dlc_frame(columns, names, rows, pd.MultiIndex.from_tuples(index))
            folder = root / "labeled-data" / video
            frame.to_hdf(folder / f"CollectedData_{scorer}.h5", key="df_with_missing", mode="w")
            frame.to_csv(folder / f"CollectedData_{scorer}.csv")
    # the frame labeled in one camera only: the other cameras' images come from their videos
    if cameras:
        for camera in views[1:]:
            truth.labels[("trial1", camera, 17)] = np.full((len(keypoints), len(individuals), 2), np.nan)
            truth.images[("trial1", camera, 17)] = decoded(truth.videos[("trial1", camera)], 17)
    config = {
        "Task": "reach",
        "scorer": scorer,
        "date": "Jan1",
        "project_path": "/nowhere/reach-Ann-2024-01-01",
        "video_sets": {f"/nowhere/{p.name}": {"crop": f"0, {W}, 0, {H}"} for p in truth.videos.values()},
        "skeleton": [["snout", "paw"]],
    }
    if multi_animal:
        config.update(
            multianimalproject=True,
            individuals=animals,
            uniquebodyparts=unique,
            multianimalbodyparts=bodyparts,
            bodyparts="MULTI!",
        )
    else:
        config.update(multianimalproject=False, bodyparts=keypoints)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return truth


# --- SLEAP -----------------------------------------------------------------------------------------


def sleap_labels(
    path: Path, video: Path, rng: np.random.Generator, frames: list[int], *, nodes: list[str], tracks: list[str] | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """A .slp of user instances at ``frames`` of ``video`` (one per track, or one untracked), plus a
    predicted instance at every labeled frame (replaced by the user one) and at one more frame.

    Returns ``{frame: (user labels (K, I, 2), predicted (K, I, 2))}`` including the extra
    predicted-only frame (user labels NaN there)."""
    import sleap_io as sio

    skeleton = sio.Skeleton(list(nodes))  # sleap-io turns the names of the list it gets into Nodes
    media = sio.Video.from_filename(str(video))
    track_objs = [sio.Track(t) for t in tracks] if tracks else [None]
    out = {}
    labeled = []
    extra = max(frames) + 1
    for frame in [*frames, extra]:
        user = np.full((len(nodes), len(track_objs), 2), np.nan)
        pred = np.full((len(nodes), len(track_objs), 2), np.nan)
        instances = []
        for i, track in enumerate(track_objs):
            pred[:, i] = rng.uniform(0, [W, H], size=(len(nodes), 2))
            p = sio.PredictedInstance.from_numpy(
                pred[:, i], skeleton=skeleton, point_scores=rng.uniform(size=len(nodes)), score=0.9, track=track
            )
            instances.append(p)
            if frame != extra:
                user[:, i] = _labels(rng, len(nodes), 1)[:, 0]
                instances.append(sio.Instance.from_numpy(user[:, i], skeleton=skeleton, track=track, from_predicted=p))
        labeled.append(sio.LabeledFrame(video=media, frame_idx=frame, instances=instances))
        out[frame] = (user, pred)
    labels = sio.Labels(
        labeled_frames=labeled, videos=[media], skeletons=[skeleton], tracks=[t for t in track_objs if t is not None]
    )
    sio.save_slp(labels, str(path), verbose=False)
    return out


def sleap_anipose(root: Path, seed: int = 3) -> Truth:
    """sleap-anipose sessions: <session>/<view>/{video, labels .slp}, <session>/calibration.toml;
    view ``back`` of session ``s1`` labels one frame the other view does not (filled from its video)."""
    rng = np.random.default_rng(seed)
    views, nodes, tracks = ["back", "top"], ["head", "thorax"], ["fly1", "fly2"]
    truth = Truth(views, nodes, tracks)
    for session, frames in (("s1", {"back": [2, 5, 8], "top": [2, 5]}), ("s2", {"back": [1], "top": [1]})):
        for view in views:
            video = write_video(
                root / session / view / f"{view}_recording.mp4", rng.integers(0, 256, (12, H, W, 3), dtype=np.uint8)
            )
            truth.videos[(session, view)] = video
            made = sleap_labels(
                root / session / view / f"{view}_tracks.slp", video, rng, frames[view], nodes=nodes, tracks=tracks
            )
            for frame in frames[view]:
                truth.labels[(session, view, frame)] = made[frame][0]
                truth.images[(session, view, frame)] = decoded(video, frame)
        truth.calibrations[session] = write_anipose_toml(root / session / "calibration.toml", views, seed)
    for frame in (8,):  # labeled in back only
        truth.labels[("s1", "top", frame)] = np.full((2, 2, 2), np.nan)
        truth.images[("s1", "top", frame)] = decoded(truth.videos[("s1", "top")], frame)
    return truth


# --- anipose ---------------------------------------------------------------------------------------


def anipose(root: Path, seed: int = 4) -> Truth:
    """An anipose project: config.toml (nesting 1, cam_regex, model_folder), two sessions of raw
    videos ``vid-trial1-cam<X>.mp4``, the project's calibration (used by s1) and s2's own, and a
    DeepLabCut project (outside the session folders) labeled at the same frames in both cameras."""
    import pandas as pd
    import yaml

    rng = np.random.default_rng(seed)
    cameras, keypoints = ["A", "B"], ["wrist", "thumb"]
    truth = Truth(cameras, keypoints, ["individual_0"])
    root.mkdir(parents=True)
    (root / "config.toml").write_text(
        "project = 'hand'\n"
        "model_folder = 'hand-dlc'\n"
        "nesting = 1\n"
        "video_extension = 'mp4'\n\n"
        "[calibration]\nboard_type = 'charuco'\nboard_size = [10, 7]\n\n"
        "[triangulation]\ncam_regex = '-cam([A-Z])$'\nscore_threshold = 0.5\n"
    )
    shared = write_anipose_toml(root / "calibration" / "calibration.toml", cameras, seed)
    own = write_anipose_toml(root / "s2" / "calibration" / "calibration.toml", cameras, seed + 1)
    truth.calibrations = {"s1_vid-trial1": shared, "s2_vid-trial2": own}
    dlc = root / "hand-dlc"
    for folder, recording in (("s1", "vid-trial1"), ("s2", "vid-trial2")):
        session = f"{folder}_{recording}"
        for camera in cameras:
            name = f"{recording}-cam{camera}"
            frames_video = rng.integers(0, 256, (15, H, W, 3), dtype=np.uint8)
            truth.videos[(session, camera)] = write_video(root / folder / "videos-raw" / f"{name}.mp4", frames_video)
            rows, index = [], []
            for frame in (3, 9):
                png = f"img{frame:03d}.png"
                truth.images[(session, camera, frame)] = pixels = image(rng)
                write_png(dlc / "labeled-data" / name / png, pixels)
                truth.labels[(session, camera, frame)] = xy = _labels(rng, 2, 1)
                rows.append(xy[:, 0].reshape(-1))
                index.append(("labeled-data", name, png))
            columns = [("Bo", k, c) for k in keypoints for c in ("x", "y")]
            frame_df = _dlc_frame(columns, ["scorer", "bodyparts", "coords"], rows, pd.MultiIndex.from_tuples(index))
            frame_df.to_hdf(dlc / "labeled-data" / name / "CollectedData_Bo.h5", key="df_with_missing", mode="w")
    dlc.mkdir(exist_ok=True)
    (dlc / "config.yaml").write_text(
        yaml.safe_dump({"Task": "hand", "scorer": "Bo", "bodyparts": keypoints, "multianimalproject": False})
    )
    (root / "s1" / "pose-2d").mkdir()
    (root / "s1" / "pose-2d" / "vid-trial1-camA.h5").write_bytes(b"")
    return truth


# --- what an import must have written ------------------------------------------------------------


def check_project(out: Path, truth: Truth, *, videos: bool = True) -> None:
    """Checks an imported project against the truth, reading it with pandas and OpenCV: the same rows
    in every view's CollectedData_<view>.csv (labeled-data/<session>_<view>/img%05d.png), every label
    value, every image's pixels, the videos' bytes and each session's calibration file."""
    import filecmp

    import pandas as pd

    multi = len(truth.individuals) > 1
    rows = None
    for view in truth.views:
        frame = pd.read_csv(out / f"CollectedData_{view}.csv", header=[0, 1, 2, 3] if multi else [0, 1, 2], index_col=0)
        names = list(frame.columns.names)
        assert names[-2:] == ["bodyparts", "coords"] and (names[1] == "individuals") == multi
        keys = []
        for path in frame.index:
            folder, name = path.split("/")[-2:]
            assert path == f"labeled-data/{folder}/{name}" and folder.endswith(f"_{view}"), path
            keys.append((folder[: -len(view) - 1], int(name[3:8])))
        assert keys == truth.rows, (view, keys, truth.rows)
        rows = rows or keys
        by_name = {column[1:]: column for column in frame.columns}  # without the scorer
        for r, (session, number) in enumerate(keys):
            want = truth.labels.get((session, view, number))
            if want is None:
                want = np.full((len(truth.keypoints), len(truth.individuals), 2), np.nan)
            for k, keypoint in enumerate(truth.keypoints):
                for i, individual in enumerate(truth.individuals):
                    for c, coord in enumerate("xy"):
                        name = (individual, keypoint, coord) if multi else (keypoint, coord)
                        got = frame[by_name[name]].iloc[r] if name in by_name else np.nan
                        np.testing.assert_array_equal(got, want[k, i, c], err_msg=f"{view} {session} {number} {name}")
            pixels = cv2.cvtColor(cv2.imread(str(out / frame.index[r])), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(pixels, truth.images[(session, view, number)], err_msg=frame.index[r])
    if videos:
        for (session, view), source in truth.videos.items():
            copied = out / "videos" / f"{session}_{view}{source.suffix}"
            assert copied.is_file() and filecmp.cmp(copied, source, shallow=False), copied
    from lp3d_io.layout import find_calibration_files

    sessions = sorted({s for s, _ in truth.rows} | {s for s, _ in truth.videos})
    found = find_calibration_files(np.array(sessions), np.array([f"labeled-data/{s}" for s in sessions]), [out])
    assert set(found) == set(truth.calibrations), (found, truth.calibrations)
    for session, source in truth.calibrations.items():
        assert filecmp.cmp(found[session], source, shallow=False), session
