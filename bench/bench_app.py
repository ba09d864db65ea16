"""lp3d app benchmark: the viewer's server-side reads on a long session, and video frames by index.

Builds (once, under ``bench/out/app``) a session of ``frames`` x 20 keypoints x 4 views x 5
members: simulated 3D tracks seen by a synthetic 4-camera rig (640 x 512), ensemble predictions
with noise, outliers and missing detections, smoothed by the calibrated smoother, written as
``lp3d smooth`` writes it (``<session>.zarr`` with ``predictions/ensemble``, ``smoothed/eks``,
``calibration``), and 4 short videos of 640 x 512. Then measures, through the app's HTTP API
(FastAPI's ``TestClient``, in process: server time without the network):

- opening the session in the viewer: the project, the session, the first frame's overlays and
  video frames, one keypoint's series (what the viewer page requests when it opens);
- one frame's overlays: a frame in a chunk not read before (cold), and the next frames (warm);
- one keypoint's series over all frames, decimated to 1,500 columns (cold and warm);
- video frames: 4 views played in order as the viewer does while playing (JPEG per view), and
  random frames (seeks);
- the labeler on a project of ``--labeled`` labeled frames x 3 views x 17 keypoints (label files
  written in a temporary folder): the frame list, opening a frame, saving one.

    .venv/bin/python bench/bench_app.py                  # 100,000 frames (first run builds the store: a few minutes)
    .venv/bin/python bench/bench_app.py --frames 20000    # quicker
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_KEYPOINTS, N_VIEWS, N_MEMBERS = 20, 4, 5
SIZE = (640, 512)
VIDEO_FRAMES = 300


def build_store(root: Path, frames: int, seed: int = 0) -> Path:
    """The project folder of the benchmark: ``<root>/smoothed/bench.zarr`` and ``<root>/videos``."""
    import cv2
    from lp3d_io.dataset import predictions_arrays
    from lp3d_io.synthetic import make_ensemble_predictions, make_rig
    from lp3d_workflows.smoothing import SmoothSettings, smooth_predictions, write_smoothed_outputs

    rng = np.random.default_rng(seed)
    rig = make_rig(N_VIEWS, SIZE, seed=seed)
    t = np.arange(frames)[:, None]
    centre = np.stack([60 * np.sin(t / 300.0), 60 * np.cos(t / 410.0), 20 + 5 * np.sin(t / 50.0)], axis=-1)
    offsets = rng.normal(0, 25, size=(1, N_KEYPOINTS, 3))
    wobble = 4 * np.sin(t[..., None] / rng.uniform(15, 40, size=(1, N_KEYPOINTS, 3)))
    points = centre + offsets + wobble  # (time, keypoint, 3) mm
    truth = rig.project(points)  # (view, time, keypoint, 2)
    simulated = make_ensemble_predictions(truth, n_members=N_MEMBERS, seed=seed)
    views = rig.names
    predictions = predictions_arrays(
        simulated.position.astype(np.float32),
        simulated.confidence.astype(np.float32),
        view_names=views,
        keypoint_names=[f"kp{k:02d}" for k in range(N_KEYPOINTS)],
        fps=30.0,
        session="bench",
    )
    _, smoothed = smooth_predictions(predictions, rig, SmoothSettings())
    out = root / "smoothed"
    out.mkdir(parents=True, exist_ok=True)
    write_smoothed_outputs(out, "bench", predictions, smoothed, rig)
    rig.to_toml(root / "calibration.toml")
    (root / "videos").mkdir(exist_ok=True)
    for v, view in enumerate(views):
        writer = cv2.VideoWriter(str(root / "videos" / f"bench_{view}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, SIZE)
        for i in range(VIDEO_FRAMES):
            frame = np.full((SIZE[1], SIZE[0], 3), 40, np.uint8)
            cv2.putText(frame, f"{view} {i}", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
            for k in range(N_KEYPOINTS):
                x, y = truth[v, i, k]
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(frame, (int(x), int(y)), 6, (50 + 10 * k, 200, 255 - 10 * k), -1)
            writer.write(frame)
        writer.release()
    return root


def _ms(samples: list[float]) -> str:
    return f"{1000 * statistics.median(samples):.1f} ms (median of {len(samples)}; max {1000 * max(samples):.1f})"


def _open_session(c, headers: dict, keypoint: str = "kp00") -> tuple[float, float, dict, dict, dict]:
    """What the viewer page requests when it opens: the project, the session, frame 0 with its video
    frames (the page is usable: seconds to here), then one keypoint's series over the whole session
    (seconds to here)."""
    start = time.perf_counter()
    project = c.get("/api/project", headers=headers).json()
    session = project["sessions"][0]
    source = next(s for s in project["sources"] if s["has_smoothed"])
    c.get(f"/api/sessions/{session['id']}", headers=headers)
    c.get(f"/api/sessions/{session['id']}/frames/0", headers=headers)
    for view in session["views"]:
        c.get(f"/api/sessions/{session['id']}/video/{view}/0", headers=headers)
    usable = time.perf_counter() - start
    r = c.get(f"/api/sources/{source['id']}/series?keypoint={keypoint}&width=1500", headers=headers)
    assert r.status_code == 200, r.text
    return usable, time.perf_counter() - start, project, session, source


def measure(root: Path, *, fresh: bool = True) -> list[tuple[str, str, str]]:
    from fastapi.testclient import TestClient
    from lp3d_app.security import Security
    from lp3d_app.server import create_app
    from lp3d_workflows.viewer_data import CACHE_DIR, OVERVIEW_BLOCK

    token = "bench-token-123456"
    headers = {"Authorization": f"token {token}"}
    if fresh:
        shutil.rmtree(root / CACHE_DIR, ignore_errors=True)  # the overview is built again
    rows = []
    app = create_app(root, Security(token, True), frontend=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        usable, seconds, project, session, source = _open_session(c, headers)
        cache = (
            sum(f.stat().st_size for f in (root / CACHE_DIR).rglob("*") if f.is_file())
            if (root / CACHE_DIR).is_dir()
            else 0
        )
        rows.append(
            (
                "open the session in the viewer, first time (server cold): video and overlays shown",
                f"{usable:.2f} s",
                "< 2 s",
            )
        )
        rows.append(
            (
                f"... and its first time series (the overview is built, once per store: "
                f"{cache / 2**20:.0f} MiB in {CACHE_DIR})",
                f"{seconds:.2f} s",
                "< 2 s",
            )
        )
    app = create_app(root, Security(token, True), frontend=False)  # a new server: the overview is on disk
    rows_after = []
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        usable, seconds, project, session, source = _open_session(c, headers, "kp19")
        rows.append(
            (
                "open it again, server restarted (overview cached): video, overlays and time series",
                f"{seconds:.2f} s",
                "< 2 s",
            )
        )
        n = source["n_frames"]
        frame_url = f"/api/sessions/{session['id']}/frames"
        cold, warm = [], []
        for chunk in range(5, 25, 4):
            frame = chunk * 4096 + 17
            if frame + 10 >= n:
                break
            t = time.perf_counter()
            assert c.get(f"{frame_url}/{frame}", headers=headers).status_code == 200
            cold.append(time.perf_counter() - t)
            for f in range(frame + 1, frame + 11):
                t = time.perf_counter()
                c.get(f"{frame_url}/{f}", headers=headers)
                warm.append(time.perf_counter() - t)
        rows.append(("one frame's overlays, a frame in a chunk not read before (cold: a jump)", _ms(cold), "< 20 ms"))
        rows.append(("one frame's overlays, the next frames (warm)", _ms(warm), "< 20 ms"))
        playing = []
        start = 3 * n // 4
        for f in range(start, start + 600):  # 20 s at 30 fps: crosses several chunks (read ahead on a thread)
            t = time.perf_counter()
            c.get(f"{frame_url}/{f}", headers=headers)
            playing.append(time.perf_counter() - t)
            time.sleep(max(0.0, 1 / 30 - (time.perf_counter() - t)))
        rows.append(("one frame's overlays while playing at 30 fps (600 frames in order)", _ms(playing), "< 20 ms"))
        series_url = f"/api/sources/{source['id']}/series"
        for members in (False, True):
            samples = []
            for k in range(1, 6):
                t = time.perf_counter()
                r = c.get(f"{series_url}?keypoint=kp{k:02d}&width=1500&members={str(members).lower()}", headers=headers)
                samples.append(time.perf_counter() - t)
            what = "with each member's x and y" if members else "without members (the default)"
            rows.append(
                (
                    f"one keypoint's series, all {n:,} frames, 1,500 columns, {what} "
                    f"({len(r.content) // 1024} KiB JSON)",
                    _ms(samples),
                    "< 200 ms",
                )
            )
        for frames, what in ((5000, "read from the chunks"), (20_000, f"overview blocks of {OVERVIEW_BLOCK}")):
            samples = []
            for k in range(6, 11):
                lo = (k * 7919) % (n - frames)
                t = time.perf_counter()
                r = c.get(f"{series_url}?keypoint=kp{k:02d}&start={lo}&stop={lo + frames}&width=1500", headers=headers)
                samples.append(time.perf_counter() - t)
            rows_after.append(
                (
                    f"one keypoint's series, a zoom on {frames:,} frames "
                    f"({what}; {len(r.json()['time']) // 2} columns)",
                    _ms(samples),
                    "(zoom)",
                )
            )
        rows.extend(rows_after)
        t = time.perf_counter()
        assert c.get(f"/api/sources/{source['id']}/statistics", headers=headers).status_code == 200
        rows.append(
            (
                "diagnostics: statistics and worst frames of the source (one pass over the store)",
                f"{time.perf_counter() - t:.2f} s",
                "(once)",
            )
        )
        # the videos of this folder are not a labeled project's: the frame server the video route calls
        videos = sorted((root / "videos").glob("*.mp4"))
        frames_server = app.state.lp3d.frames
        pool = ThreadPoolExecutor(len(videos))

        def frame_set(f: int) -> None:
            list(pool.map(lambda path: frames_server.jpeg(path, f), videos))

        t = time.perf_counter()
        for f in range(1, 151):
            frame_set(f)
        rate = 150 / (time.perf_counter() - t)
        rows.append(
            (
                f"video: {len(videos)} views of {SIZE[0]}x{SIZE[1]} played in order (JPEG each)",
                f"{rate:.1f} frames/s",
                ">= 30 frames/s",
            )
        )
        rng = np.random.default_rng(1)
        t = time.perf_counter()
        for f in rng.integers(151, VIDEO_FRAMES, 20):
            frame_set(int(f))
        rows.append(
            (
                f"video: {len(videos)} views, random frames (seeks)",
                f"{20 / (time.perf_counter() - t):.1f} frames/s",
                "(jumps)",
            )
        )
    return rows


def measure_labeler(n_labeled: int) -> list[tuple[str, str, str]]:
    """The labeler's requests on a project of ``n_labeled`` labeled frames (3 views, 17 keypoints)."""
    import tempfile

    from fastapi.testclient import TestClient
    from lp3d_app.security import Security
    from lp3d_app.server import create_app
    from lp3d_io.layout import labels_file
    from lp3d_workflows.labeling import new_label_file
    from lp3d_workflows.project_setup import create_project

    views, keypoints = ["top", "side", "front"], [f"kp{k:02d}" for k in range(17)]
    token = "bench-token-123456"
    headers = {"Authorization": f"token {token}"}
    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        create_project(root, "labels", views, keypoints)
        for view in views:
            labels = new_label_file(root / labels_file(view), keypoints)
            for row in range(n_labeled):
                labels.set(f"labeled-data/s1_{view}/img{row:05d}.png", keypoints, rng.uniform(0, 400, (17, 2)))
            (root / labels_file(view)).write_text(labels.text())
        app = create_app(root, Security(token, True), frontend=False)
        with TestClient(app, base_url="http://127.0.0.1:8080") as c:
            listing, opening, saving = [], [], []
            for _ in range(5):
                t = time.perf_counter()
                frames = c.get("/api/labels", headers=headers).json()["frames"]
                listing.append(time.perf_counter() - t)
            for i in range(0, n_labeled, max(1, n_labeled // 20)):
                t = time.perf_counter()
                assert c.get(f"/api/labels/{frames[i]['id']}", headers=headers).status_code == 200
                opening.append(time.perf_counter() - t)
            for i in range(5):  # open, save, open the next: what labeling does
                xy = rng.uniform(0, 400, (len(views), len(keypoints), 2)).tolist()
                points = {v: dict(zip(keypoints, xy[j], strict=True)) for j, v in enumerate(views)}
                t = time.perf_counter()
                r = c.put(f"/api/labels/{frames[i]['id']}", json={"points": points}, headers=headers)
                assert r.status_code == 200, r.text
                assert c.get(f"/api/labels/{frames[i + 1]['id']}", headers=headers).status_code == 200
                saving.append(time.perf_counter() - t)
    what = f"labeler, {n_labeled:,} labeled frames x {len(views)} views x {len(keypoints)} keypoints"
    return [
        (f"{what}: the frame list", _ms(listing), ""),
        (f"{what}: open a frame", _ms(opening), ""),
        (f"{what}: save a frame, then open the next", _ms(saving), ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--labeled", type=int, default=1000, help="labeled frames of the labeler's project")
    parser.add_argument(
        "--root", type=Path, help="an existing benchmark folder (e.g. one written by an earlier lp3d-io)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    root = args.root or HERE / "out" / f"app{args.frames // 1000}k"
    if not (root / "smoothed" / "bench.zarr").exists():
        print(f"building the benchmark session in {root} ...", flush=True)
        build_store(root, args.frames)
    rows = measure(root) + measure_labeler(args.labeled)
    print(
        f"\n| lp3d app, {args.frames:,} frames x {N_KEYPOINTS} keypoints x {N_VIEWS} views x {N_MEMBERS} members "
        "| measured | goal |"
    )
    print("|---|---|---|")
    for what, got, goal in rows:
        print(f"| {what} | {got} | {goal} |")


if __name__ == "__main__":
    main()
