"""The life-cycle endpoints of the app (issue #14) through FastAPI's TestClient: a project created
from nothing, a session's videos and calibration uploaded, frames extracted and labeled, the cameras'
guide, drafts, the model form's config, and (slow) train -> predict + smooth -> evaluate / compare ->
distill. Answers are checked against the generator's truth and the files, and every bad request gets
one clear JSON error."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from lp3d_app.security import Security
from lp3d_app.server import create_app
from lp3d_workflows.testing import wait_for

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"token {TOKEN}"}
SIZE = (96, 80)
N_FRAMES = 90
FORM_KEYS = {"model.backbone", "model.pretrained", "model.height", "model.width"}


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("static")
    (folder / "assets").mkdir()
    (folder / "index.html").write_text("<!doctype html><html><head></head><body></body></html>")
    return folder


def client_for(root: Path, static: Path) -> TestClient:
    app = create_app(root, Security(TOKEN, True), assets_dir=static)
    return TestClient(app, base_url="http://127.0.0.1:8080", raise_server_exceptions=False)


def ended(client: TestClient, job: dict, timeout: float = 120.0) -> dict:
    """The job's record once it no longer runs."""
    path = f"/api/jobs/{job['id']}"
    return wait_for(lambda: (r := client.get(path, headers=AUTH).json())["state"] != "running" and r, timeout)


def wait_job(client: TestClient, job: dict, timeout: float = 300.0) -> dict:
    """The job's record once it is done (its log in the failure of one that is not)."""
    record = ended(client, job, timeout)
    assert record["state"] == "done", (record, client.get(f"/api/jobs/{job['id']}/log", headers=AUTH).json())
    return record


def one_error(r, status: int, message: str) -> str:
    """The response is ``status`` with one JSON error line containing ``message``."""
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in r.text, body
    assert message in body["error"], body
    return body["error"]


def inside(xy: np.ndarray) -> np.ndarray:
    return ((xy >= -0.5) & (xy <= np.array(SIZE) - 0.5)).all(-1)


def true_points(session, t: int, views=None) -> dict:
    """``{view: {keypoint: [x, y] or None}}`` of the generator's truth at frame ``t`` (None outside)."""
    names = session.view_names
    return {
        view: {
            k: session.points2d[v, t, i].tolist() if inside(session.points2d[v, t, i]) else None
            for i, k in enumerate(session.keypoint_names)
        }
        for v, view in enumerate(names)
        if views is None or view in views
    }


def upload_videos(client, folder: Path, name: str, videos: dict[str, Path]) -> list[dict]:
    jobs = []
    for view, path in videos.items():
        r = client.put(
            f"/api/sessions/{name}/videos/{view}?filename={path.name}", content=path.read_bytes(), headers=AUTH
        )
        assert r.status_code == 201, r.text
        jobs.append(r.json())
    return [wait_job(client, j) for j in jobs]


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        out.append(frame)
    capture.release()
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A calibrated 3-view synthetic recording (videos, calibration, truth), as a lab brings it."""
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session

    folder = tmp_path_factory.mktemp("recording")
    session = make_session(
        SyntheticConfig(n_views=3, image_size=SIZE, n_frames=N_FRAMES, seed=3, session_name="mouse1")
    )
    write_session(session, folder, labeled_frames=0)
    return SimpleNamespace(
        session=session, folder=folder, videos={v: folder / "videos" / f"mouse1_{v}.mp4" for v in session.view_names}
    )


@pytest.fixture(scope="module")
def built(recording, static_dir, tmp_path_factory):
    """A project made through the API: created, a calibrated session uploaded, a session whose views
    differ, 4 uniform frames extracted and labeled at the true positions."""
    session = recording.session
    root = tmp_path_factory.mktemp("lifecycle") / "project"
    root.mkdir()
    with client_for(root, static_dir) as c:
        r = c.post(
            "/api/project",
            json={
                "name": "mouse",
                "views": session.view_names,
                "keypoints": session.keypoint_names,
                "skeleton": [["back", "neck"], ["neck", "nose"]],
            },
            headers=AUTH,
        )
        assert r.status_code == 201, r.text
        video_jobs = upload_videos(c, root, "mouse1", recording.videos)
        calibration = c.put(
            "/api/sessions/mouse1/calibration",
            content=(recording.folder / "calibration.toml").read_bytes(),
            headers=AUTH,
        )
        assert calibration.status_code == 200, calibration.text
        # a session whose views differ: cam0 shorter, cam1 at another rate
        frames = video_frames(recording.videos["cam0"])
        short = write_video(root.parent / "short_cam0.mp4", frames[:60], 30.0)
        slow = write_video(root.parent / "short_cam1.mp4", frames, 25.0)
        upload_videos(c, root, "odd", {"cam0": short, "cam1": slow, "cam2": recording.videos["cam2"]})
        extract = c.post("/api/jobs/extract", json={"session": "mouse1", "method": "uniform", "n": 4}, headers=AUTH)
        assert extract.status_code == 201, extract.text
        extracted = wait_job(c, extract.json())
        labels = c.get("/api/labels", headers=AUTH).json()
        for frame in labels["frames"]:
            r = c.put(f"/api/labels/{frame['id']}", json={"points": true_points(session, frame["frame"])}, headers=AUTH)
            assert r.status_code == 200, r.text
        yield SimpleNamespace(
            client=c,
            root=root,
            session=session,
            recording=recording,
            video_jobs=video_jobs,
            calibration=calibration.json(),
            extracted=extracted,
            labels=labels,
        )


def label_bytes(root: Path, views) -> dict[str, bytes]:
    return {v: (root / f"CollectedData_{v}.csv").read_bytes() for v in views}


# --- project ----------------------------------------------------------------------------------------------


def test_a_new_project_has_the_files_every_tool_reads(tmp_path, static_dir):
    from lp3d_workflows.labeling import read_label_file

    with client_for(tmp_path, static_dir) as c:
        assert c.get("/api/project", headers=AUTH).json()["views"] == []
        body = {
            "name": "fly",
            "views": ["top", "side"],
            "keypoints": ["head", "thorax", "wing tip"],
            "skeleton": [["head", "thorax"]],
        }
        r = c.post("/api/project", json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        p = r.json()
        assert (
            p["views"] == ["side", "top"] and p["keypoints"]
        )  # views: the label files', by name == ["head", "thorax", "wing tip"]
        assert p["skeleton"] == [["head", "thorax"]] and p["n_labeled"] == 0 and p["config"] == "lp3d.yaml"
        for view in ("top", "side"):
            f = read_label_file(tmp_path / f"CollectedData_{view}.csv")
            assert f.keypoints == ["head", "thorax", "wing tip"] and f.rows == []
        assert (tmp_path / "skeleton.csv").read_text() == "head,thorax\n"
        one_error(c.post("/api/project", json=body, headers=AUTH), 400, "a project is here already")
        r = c.put("/api/project/skeleton", json={"bones": [["thorax", "wing tip"]]}, headers=AUTH)
        assert r.status_code == 200 and r.json()["skeleton"] == [["thorax", "wing tip"]]
        one_error(
            c.put("/api/project/skeleton", json={"bones": [["thorax", "tail"]]}, headers=AUTH),
            400,
            "expected bones of two distinct keypoints",
        )
        # nothing labeled yet: the trainer would have nothing to train on
        form = {
            "name": "r",
            "backbone": "vit_tiny_p8",
            "pretrained": False,
            "height": 64,
            "width": 64,
            "steps": 2,
            "batch_size": 1,
            "seeds": [0],
        }
        one_error(c.post("/api/models/config", json=form, headers=AUTH), 400, "expected labeled frames")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "../up"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"views": []}, "views"),
        ({"views": ["top", "top"]}, "expected distinct names"),
        ({"views": ["../top"]}, "expected letters, digits"),
        ({"keypoints": ["a,b"]}, "without commas"),
        ({"skeleton": [["head", "tail"]]}, "expected bones of two distinct keypoints"),
        ({"skeleton": [["head", "head"]]}, "expected bones of two distinct keypoints"),
    ],
)
def test_bad_projects_are_refused_and_write_nothing(tmp_path, static_dir, change, message):
    body = {"name": "fly", "views": ["top", "side"], "keypoints": ["head", "thorax"], "skeleton": [], **change}
    with client_for(tmp_path, static_dir) as c:
        one_error(c.post("/api/project", json=body, headers=AUTH), 400, message)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".lp3d-app"] == []


# --- sessions: videos and calibrations ------------------------------------------------------------------------


def test_uploaded_videos_and_calibration_make_sessions(built):
    c, session = built.client, built.session
    for job in built.video_jobs:
        result = job["result"]
        assert (result["n_frames"], result["width"], result["height"]) == (N_FRAMES, *SIZE)
        assert result["converted"] is False  # OpenCV's mp4v seeks frame-accurately here
    assert built.calibration["label"] == "calibrations/mouse1.toml" and built.calibration["views"] == session.view_names
    p = c.get("/api/project", headers=AUTH).json()
    sessions = {s["name"]: s for s in p["sessions"]}
    assert sessions["mouse1"]["calibration"] == built.calibration["id"]
    assert sessions["mouse1"]["n_frames"] == N_FRAMES and sessions["mouse1"]["views"] == session.view_names
    for view in session.view_names:  # the same frames as the upload
        moved = built.root / "videos" / f"mouse1_{view}.mp4"
        assert moved.read_bytes() == built.recording.videos[view].read_bytes()
    assert not any((built.root / ".lp3d-app" / "uploads").iterdir())  # the uploads' folders are gone
    # the uploaded calibration is the recording's rig: same projections
    from lp3d_eks import CameraRig

    rig = CameraRig.from_toml(built.root / "calibrations" / "mouse1.toml")
    points3d = np.array([[0.0, 0.0, 20.0], [30.0, -10.0, 5.0]])
    np.testing.assert_allclose(rig.project(points3d), session.rig.project(points3d), atol=1e-6)


def test_views_whose_frame_counts_or_rates_differ_are_reported(built):
    c = built.client
    problems = [p["message"] for p in c.get("/api/project", headers=AUTH).json()["problems"]]
    assert any(
        "session odd: expected the same number of frames in every view" in m and "cam0: 60" in m for m in problems
    )
    assert any("session odd: expected the same frame rate in every view" in m and "cam1: 25" in m for m in problems)
    one_error(
        c.post("/api/jobs/extract", json={"session": "odd", "method": "uniform", "n": 2}, headers=AUTH),
        400,
        "expected the same number of frames",
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/sessions/s2/videos/cam9?filename=a.mp4", b"x", 404, "view: expected one of the project's views"),
        ("/api/sessions/s2/videos/cam0?filename=a.txt", b"x", 400, "filename: expected a"),
        ("/api/sessions/s2/videos/cam0?filename=a.mp4", b"", 400, "expected the file as the request's body"),
        ("/api/sessions/..%2F..%2Fescape/videos/cam0?filename=a.mp4", b"x", 404, ""),
        ("/api/sessions/.hidden/videos/cam0?filename=a.mp4", b"x", 400, "name"),
        ("/api/sessions/s2/calibration", b"not = [toml", 400, "calibration"),
        ("/api/sessions/s2/calibration", b"", 400, "expected the file as the request's body"),
        ("/api/sessions/.hidden/calibration", b"x", 400, "name"),
    ],
)
def test_bad_uploads_get_one_error_and_write_nothing(built, path, body, status, message):
    before = sorted(p.relative_to(built.root) for p in built.root.rglob("*") if ".lp3d-app" not in p.parts)
    r = built.client.put(path, content=body, headers=AUTH)
    if message:
        one_error(r, status, message)
    else:
        assert r.status_code == status
    after = sorted(p.relative_to(built.root) for p in built.root.rglob("*") if ".lp3d-app" not in p.parts)
    assert after == before
    assert not (built.root.parent / "escape_cam0.mp4").exists()


def test_a_calibration_without_every_view_is_refused(built, tmp_path):
    path = tmp_path / "two.toml"
    built.session.rig.subset(["cam0", "cam1"]).to_toml(path)
    one_error(
        built.client.put("/api/sessions/s2/calibration", content=path.read_bytes(), headers=AUTH),
        400,
        "['cam2'] have none",
    )
    assert not (built.root / "calibrations" / "s2.toml").exists()


def test_a_video_that_is_not_one_is_a_failed_job(built):
    c = built.client
    r = c.put("/api/sessions/s3/videos/cam0?filename=a.mp4", content=b"\0" * 4096, headers=AUTH)
    assert r.status_code == 201, r.text
    job = ended(c, r.json(), timeout=60)
    assert job["state"] == "failed" and "\n" not in job["error"] and job["error"]
    assert not list((built.root / "videos").glob("s3_*"))


# --- frames to label --------------------------------------------------------------------------------------------


def test_uniform_frames_are_extracted_as_the_videos_frames(built):
    frames = built.extracted["result"]["frames"]
    assert frames == np.round(np.linspace(0, N_FRAMES - 1, 4)).astype(int).tolist()
    for view, video in built.recording.videos.items():
        decoded = video_frames(video)
        for t in frames:
            image = cv2.imread(str(built.root / "labeled-data" / f"mouse1_{view}" / f"img{t:05d}.png"))
            assert np.abs(image.astype(int) - decoded[t]).max() <= 1
    methods = {f["frame"]: f["method"] for f in built.labels["frames"]}
    assert methods == dict.fromkeys(frames, "uniform")


def test_kmeans_frames_avoid_the_frames_taken(built, static_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("jobs"))
    with client_for(root, static_dir) as c:
        for method in ("kmeans", "motion"):
            job = wait_job(
                c,
                c.post("/api/jobs/extract", json={"session": "mouse1", "method": method, "n": 3}, headers=AUTH).json(),
            )
            chosen = job["result"]["frames"]
            assert len(chosen) == 3 and len(set(chosen)) == 3
            assert not set(chosen) & set(built.extracted["result"]["frames"])
        frames = c.get("/api/labels", headers=AUTH).json()["frames"]
        assert sorted(f["method"] for f in frames if f["row"] is None) == ["kmeans"] * 3 + ["motion"] * 3


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"method": "random"}, 400, "method"),
        ({"n": 0}, 400, "n"),
        ({"n": 501}, 400, "n"),
        ({"session": "nope"}, 404, "session 'nope': not in this project"),
        ({"session": "../mouse1"}, 404, "not in this project"),
        ({"method": "uncertain"}, 400, "source: expected a smoothed result of session mouse1"),
        ({"method": "inconsistent", "source": "src-nope"}, 404, "source 'src-nope'"),
        ({"min_gap": -1}, 400, "min_gap"),
    ],
)
def test_bad_extractions_are_refused(built, change, status, message):
    body = {"session": "mouse1", "method": "uniform", "n": 2, **change}
    one_error(built.client.post("/api/jobs/extract", json=body, headers=AUTH), status, message)


# --- labels ----------------------------------------------------------------------------------------------------


def test_saved_labels_are_the_clicked_positions_in_every_view(built):
    from lp3d_workflows.labeling import read_label_file

    session, views, keypoints = built.session, built.session.view_names, built.session.keypoint_names
    frames = [f["frame"] for f in built.labels["frames"]]
    for v, view in enumerate(views):
        f = read_label_file(built.root / f"CollectedData_{view}.csv")
        assert [f.key(r) for r in range(len(f.rows))] == [f"labeled-data/mouse1_{view}/img{t:05d}.png" for t in frames]
        for row, t in enumerate(frames):
            truth = session.points2d[v, t]
            want = np.where(inside(truth)[:, None], truth, np.nan)
            np.testing.assert_allclose(f.positions(row, keypoints), want, atol=5e-4)  # 3 decimals kept
    c = built.client
    listed = c.get("/api/labels", headers=AUTH).json()
    assert [f["row"] for f in listed["frames"]] == [0, 1, 2, 3]
    n_inside = [int(inside(session.points2d[:, t]).sum()) for t in frames]
    assert [f["n_points"] for f in listed["frames"]] == n_inside
    detail = c.get(f"/api/labels/{listed['frames'][1]['id']}", headers=AUTH).json()
    assert detail["calibrated"] and detail["image_sizes"] == dict.fromkeys(views, list(SIZE))
    assert detail["points"] == {
        view: {k: (None if p is None else pytest.approx(p, abs=5e-4)) for k, p in pts.items()}
        for view, pts in true_points(session, frames[1]).items()
    }
    image = c.get(f"/api/labels/{listed['frames'][1]['id']}/image/cam2", headers=AUTH)
    assert image.headers["content-type"] == "image/png"
    assert image.content == (built.root / f"labeled-data/mouse1_cam2/img{frames[1]:05d}.png").read_bytes()
    one_error(c.get(f"/api/labels/{listed['frames'][1]['id']}/image/cam9", headers=AUTH), 404, "view 'cam9'")


def test_a_correction_changes_that_frame_only(built, static_dir, tmp_path):
    import shutil

    from lp3d_workflows.labeling import read_label_file

    root = tmp_path / "copy"
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("jobs"))
    with client_for(root, static_dir) as c:
        frames = c.get("/api/labels", headers=AUTH).json()["frames"]
        before = {v: read_label_file(root / f"CollectedData_{v}.csv") for v in built.session.view_names}
        points = true_points(built.session, frames[2]["frame"])
        nose = points["cam1"]["nose"]
        points["cam1"]["nose"] = [nose[0] + 1.25, nose[1] - 0.5]
        points["cam0"]["nose"] = None  # not visible
        assert c.put(f"/api/labels/{frames[2]['id']}", json={"points": points}, headers=AUTH).status_code == 200
        for view, old in before.items():
            new = read_label_file(root / f"CollectedData_{view}.csv")
            assert new.header == old.header and len(new.rows) == len(old.rows)
            changed = [r for r in range(len(old.rows)) if new.rows[r] != old.rows[r]]
            assert changed == ([2] if view in ("cam0", "cam1") else [])
        nose_x = before["cam1"].column("nose", "x")
        row = read_label_file(root / "CollectedData_cam1.csv").rows[2]
        assert float(row[nose_x]) == pytest.approx(nose[0] + 1.25, abs=5e-4)
        assert read_label_file(root / "CollectedData_cam0.csv").rows[2][nose_x] == ""


@pytest.mark.parametrize(
    ("points", "status", "message"),
    [
        ({"cam0": {"nose": [96.0, 10.0]}}, 400, "expected a position inside the 96 x 80 image"),
        ({"cam0": {"nose": [10.0, -0.6]}}, 400, "but got (10, -0.6)"),
        ({"cam0": {"tail": [10.0, 10.0]}}, 400, "keypoint 'tail': expected one of"),
        ({"cam9": {"nose": [10.0, 10.0]}}, 400, "view 'cam9': expected one of"),
        ({"cam0": {"nose": [10.0]}}, 400, "points"),
        ({"cam0": {"nose": ["a", 1]}}, 400, "points"),
        ({"cam0": ["nose"]}, 400, "points"),
    ],
)
def test_bad_labels_get_one_error_and_change_no_file(built, points, status, message):
    c = built.client
    views = built.session.view_names
    frame = c.get("/api/labels", headers=AUTH).json()["frames"][0]
    before = label_bytes(built.root, views)
    one_error(c.put(f"/api/labels/{frame['id']}", json={"points": points}, headers=AUTH), status, message)
    one_error(c.post(f"/api/labels/{frame['id']}/guide", json={"points": points}, headers=AUTH), status, message)
    assert label_bytes(built.root, views) == before


def test_unknown_frames_are_not_found(built):
    c = built.client
    for method, path in (
        ("get", "/api/labels/frame-nope"),
        ("put", "/api/labels/frame-nope/draft"),
        ("delete", "/api/labels/frame-nope/draft"),
    ):
        r = getattr(c, method)(path, headers=AUTH, **({"json": {"draft": {}}} if method == "put" else {}))
        one_error(r, 404, "frame 'frame-nope': not in this project")
    one_error(c.get("/api/labels/..%2F..%2Fetc%2Fpasswd", headers=AUTH), 404, "")


def test_drafts_are_kept_until_saved(built, static_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("jobs"))
    with client_for(root, static_dir) as c:
        frame = c.get("/api/labels", headers=AUTH).json()["frames"][0]
        draft = {"points": {"cam0": {"nose": [12.5, 30.25]}}, "keypoint": "nose", "history": [1, 2]}
        r = c.put(f"/api/labels/{frame['id']}/draft", json={"draft": draft}, headers=AUTH)
        assert r.status_code == 200 and r.json()["saved"] <= time.time()
    with client_for(root, static_dir) as c:  # the server died: a new one has it
        assert c.get(f"/api/labels/{frame['id']}", headers=AUTH).json()["draft"] == draft
        assert [f["has_draft"] for f in c.get("/api/labels", headers=AUTH).json()["frames"]][:2] == [True, False]
        one_error(
            c.put(f"/api/labels/{frame['id']}/draft", json={"draft": {"x": "a" * (1 << 20)}}, headers=AUTH),
            400,
            "draft: expected at most",
        )
        one_error(c.put(f"/api/labels/{frame['id']}/draft", json={"draft": [1, 2]}, headers=AUTH), 400, "draft")
        assert c.delete(f"/api/labels/{frame['id']}/draft", headers=AUTH).status_code == 204
        assert c.get(f"/api/labels/{frame['id']}", headers=AUTH).json()["draft"] is None
        c.put(f"/api/labels/{frame['id']}/draft", json={"draft": draft}, headers=AUTH)
        saved = c.put(
            f"/api/labels/{frame['id']}", json={"points": true_points(built.session, frame["frame"])}, headers=AUTH
        )
        assert saved.status_code == 200 and saved.json()["has_draft"] is False
        assert c.get(f"/api/labels/{frame['id']}", headers=AUTH).json()["draft"] is None


def test_the_guide_triangulates_two_views_into_the_third(built):
    from lp3d_workflows.labeling import epipolar_curve  # noqa: F401  (the endpoint's)

    c, session = built.client, built.session
    frame = c.get("/api/labels", headers=AUTH).json()["frames"][1]
    t = frame["frame"]
    placed = true_points(session, t, views=["cam0", "cam1"])
    r = c.post(f"/api/labels/{frame['id']}/guide", json={"points": placed, "keypoint": "nose"}, headers=AUTH)
    assert r.status_code == 200, r.text
    g = r.json()
    truth = session.points2d[:, t]
    for i, k in enumerate(session.keypoint_names):
        both = inside(truth[0, i]) and inside(truth[1, i])
        assert (k in g["suggested"]["cam2"]) == both
        if both:  # exact clicks: the triangulation is the true point, seen by the third camera
            np.testing.assert_allclose(g["suggested"]["cam2"][k], truth[2, i], atol=1e-3)
            assert g["errors"]["cam0"][k] < 1e-3 and g["errors"]["cam1"][k] < 1e-3
            assert k not in g["errors"]["cam2"]
    nose = session.keypoint_names.index("nose")
    curves = {(e["source"], e["target"]): e["curves"] for e in g["epipolar"]}
    assert set(curves) == {("cam0", "cam1"), ("cam0", "cam2"), ("cam1", "cam0"), ("cam1", "cam2")}
    for (_, target), found in curves.items():  # each curve passes through the true point
        points = np.concatenate([np.array(curve) for curve in found])
        v = session.view_names.index(target)
        assert np.linalg.norm(points - truth[v, nose], axis=1).min() < 0.5
    # a bad click shows as a reprojection error
    placed["cam1"]["nose"] = [placed["cam1"]["nose"][0] + 6.0, placed["cam1"]["nose"][1]]
    placed["cam2"] = true_points(session, t, views=["cam2"])["cam2"]
    g = c.post(f"/api/labels/{frame['id']}/guide", json={"points": placed}, headers=AUTH).json()
    assert g["errors"]["cam1"]["nose"] > 2.0 and g["errors"]["cam0"]["back"] < 1e-3 and g["epipolar"] == []
    one_error(
        c.post(f"/api/labels/{frame['id']}/guide", json={"points": {}, "keypoint": "tail"}, headers=AUTH),
        400,
        "keypoint 'tail'",
    )


def test_the_guide_needs_a_calibration(built, static_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("jobs", "calibrations"))
    with client_for(root, static_dir) as c:
        frame = c.get("/api/labels", headers=AUTH).json()["frames"][0]
        assert c.get(f"/api/labels/{frame['id']}", headers=AUTH).json()["calibrated"] is False
        one_error(
            c.post(f"/api/labels/{frame['id']}/guide", json={"points": {}}, headers=AUTH),
            400,
            "session mouse1: expected a calibration",
        )


# --- the model form ------------------------------------------------------------------------------------------


def model_form(**change) -> dict:
    from lp3d_models.config import as_overrides, tiny_model

    extra = as_overrides(tiny_model(training={"val_every_steps": 2, "log_every_steps": 1}))
    form = {
        "name": "run1",
        "backbone": "vit_tiny_p8",
        "pretrained": False,
        "height": 64,
        "width": 64,
        "steps": 4,
        "batch_size": 2,
        "seeds": [0],
        "masking": 0.0,
        "extra": [line for line in extra if line.split("=")[0] not in FORM_KEYS],
    }
    return {**form, **change}


def test_the_model_form_makes_the_config_the_trainer_takes(built):
    import yaml
    from lp3d_models.backbone import input_multiple

    c = built.client
    options = c.get("/api/models/options", headers=AUTH).json()
    backbones = {b["name"]: b for b in options["backbones"]}
    assert backbones["vit_tiny_p8"]["multiple"] == input_multiple("vit_tiny_p8")
    for b in backbones.values():  # proposed sizes are ones the backbone takes
        assert b["proposed"] is None or all(side % b["multiple"] == 0 for side in b["proposed"])
    assert options["calibrated"] and options["n_labeled"] == 4 and options["image_sizes"] == [list(SIZE)]
    r = c.post("/api/models/config", json=model_form(geometry=True), headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    config = yaml.safe_load(out["yaml"])
    assert out["run_dir"] == "runs/run1" and out["exists"] is False
    assert config["model"]["backbone"] == "vit_tiny_p8" and config["model"]["height"] == 64
    assert config["training"]["max_steps"] == 4 and config["training"]["seeds"] == [0]
    assert config["geometry"]["enabled"] is True and config["data"]["views"] == built.session.view_names
    assert Path(config["data"]["root"]) == built.root.resolve()


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"height": 60}, 400, "model.height: expected a multiple of 8 for backbone vit_tiny_p8, but got 60"),
        ({"backbone": "vit_huge"}, 400, "model.backbone: expected one of"),
        ({"seeds": [0, 0]}, 400, "training.seeds: expected distinct seeds"),
        ({"val_fraction": 0.9}, 400, "expected val + test < 1"),
        ({"steps": 0}, 400, "steps"),
        ({"name": "../escape"}, 400, "name"),
        ({"pretrained": "../../etc/passwd"}, 404, "weights '../../etc/passwd': not in this project"),
        ({"extra": ["training.nope=1"]}, 400, "training.nope: unknown key"),
        ({"extra": ["model.height=32"]}, 400, "expected settings the form does not set"),
        ({"extra": ["run_dir=/tmp/elsewhere"]}, 400, "expected settings the form does not set"),
        ({"extra": ["data.root=/etc"]}, 400, "data.root: expected a path inside the project, but got /etc"),
        (
            {"extra": ["model.init_checkpoint=/etc/passwd"]},
            400,
            "model.init_checkpoint: expected a path inside the project",
        ),
        ({"extra": ["data.labels=../../../x_{view}.csv"]}, 400, "data.labels: expected a path inside the project"),
        ({"extra": ['data.split.val.images=["labeled-data/nope.png"]']}, 400, "nope.png"),
    ],
)
def test_configs_the_trainer_would_reject_are_refused_at_once(built, change, status, message):
    c = built.client
    form = model_form(**change)
    if "extra" in change:
        form["extra"] = model_form()["extra"] + change["extra"]
    one_error(c.post("/api/models/config", json=form, headers=AUTH), status, message)
    one_error(c.post("/api/jobs/train", json={"form": form}, headers=AUTH), status, message)
    assert not (built.root / "runs").exists()


def test_a_train_request_names_one_thing(built):
    c = built.client
    one_error(
        c.post("/api/jobs/train", json={}, headers=AUTH),
        400,
        "expected one of a model form, a run to resume, or a student",
    )
    one_error(
        c.post("/api/jobs/train", json={"form": model_form(), "run": "run-x"}, headers=AUTH), 400, "expected one of"
    )
    one_error(c.post("/api/jobs/train", json={"run": "run-nope"}, headers=AUTH), 404, "run 'run-nope'")
    one_error(c.post("/api/jobs/train", json={"student": "nope"}, headers=AUTH), 404, "distillation 'nope'")
    one_error(
        c.post("/api/jobs/predict", json={"run": "run-nope", "sessions": ["mouse1"]}, headers=AUTH),
        404,
        "run 'run-nope'",
    )
    one_error(c.post("/api/jobs/evaluate", json={"runs": []}, headers=AUTH), 400, "runs")
    one_error(
        c.post("/api/jobs/distill", json={"teacher": "run-nope", "sources": ["x"], "name": "s"}, headers=AUTH),
        404,
        "run 'run-nope'",
    )
    one_error(c.get("/api/runs/run-nope", headers=AUTH), 404, "run 'run-nope'")
    one_error(c.get("/api/distillations/nope", headers=AUTH), 404, "distillation 'nope'")
    one_error(c.get("/api/distillations/..%2F..%2Fetc", headers=AUTH), 404, "")


# --- train, predict and smooth, evaluate and compare, distill (slow: each job imports torch) -------------------


@pytest.mark.slow
def test_train_predict_evaluate_and_distill_through_the_api(built, static_dir, tmp_path):
    import csv
    import io
    import shutil

    from lp3d_io.store import read_group

    root = tmp_path / "copy"
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("jobs"))
    session = built.session
    with client_for(root, static_dir) as c:
        trained = wait_job(c, c.post("/api/jobs/train", json={"form": model_form()}, headers=AUTH).json())
        assert trained["output"] == "runs/run1" and trained["result"]["members"] == ["seed_0"]
        assert trained["progress_done"] == trained["progress_total"] == 4
        [run] = c.get("/api/project", headers=AUTH).json()["runs"]  # shows as soon as the job is seen done
        assert run["name"] == "runs/run1" and run["trained"] == ["seed_0"]
        one_error(c.post("/api/jobs/train", json={"form": model_form()}, headers=AUTH), 400, "seed_0 trained already")
        # the run's metrics are its metrics.csv
        detail = c.get(f"/api/runs/{run['id']}", headers=AUTH).json()
        [log] = list((root / "runs/run1/seed_0/logs").glob("version_*/metrics.csv"))
        rows = [r for r in csv.DictReader(io.StringIO(log.read_text())) if r.get("train/loss")]
        loss = detail["metrics"]["seed_0"]["train/loss"]
        assert loss["step"] == [float(r["step"]) for r in rows] and loss["value"] == pytest.approx(
            [float(r["train/loss"]) for r in rows]
        )
        assert detail["best_val_error"]["seed_0"] == pytest.approx(
            min(detail["metrics"]["seed_0"]["val/pixel_error"]["value"])
        )
        assert "max_steps: 4" in detail["config"]

        predicted = c.post("/api/jobs/predict", json={"run": run["id"], "sessions": ["mouse1"]}, headers=AUTH)
        one_error(
            c.post("/api/jobs/predict", json={"run": run["id"], "sessions": ["nope"]}, headers=AUTH),
            404,
            "session 'nope'",
        )
        predicted = wait_job(c, predicted.json())
        [entry] = predicted["result"]["sessions"]
        assert entry["n_frames"] == N_FRAMES and entry["smoothed"]["smoother"] == "calibrated"
        project = c.get("/api/project", headers=AUTH).json()
        smoothed = next(s for s in project["sources"] if s["has_smoothed"] and s["session"] == "mouse1")
        raw = next(s for s in project["sources"] if not s["has_smoothed"])
        frame = c.get(f"/api/sessions/mouse1/frames/10?sources={smoothed['id']}", headers=AUTH).json()
        store = root / "lp3d-app/smoothed/run1/mouse1.zarr"
        want = read_group(store, "smoothed/eks").isel(time=10, individual=0)["reprojection"]
        np.testing.assert_allclose(
            np.array(frame["sources"][0]["smoothed"], dtype=float),
            want.transpose("view", "keypoint", "image_space").values,
            rtol=1e-9,
        )

        # evaluate and distill at once (CPU jobs share the cores)
        evaluation = c.post("/api/jobs/evaluate", json={"runs": [run["id"]]}, headers=AUTH).json()
        bad = {"teacher": run["id"], "sources": [raw["id"]], "name": "student", "n_frames": 3}
        one_error(c.post("/api/jobs/distill", json=bad, headers=AUTH), 400, "expected a smoothed result")
        body = {"teacher": run["id"], "sources": [smoothed["id"]], "name": "student", "n_frames": 3, "steps": 2}
        distilled = c.post("/api/jobs/distill", json=body, headers=AUTH).json()
        evaluation, distilled = wait_job(c, evaluation), wait_job(c, distilled)

        compared = c.get(f"/api/runs/compare?runs={run['id']}", headers=AUTH).json()
        [scored] = compared["runs"]
        split = __import__("json").loads((root / "runs/run1/split.json").read_text())
        held_out = split[scored["part"]]["images"]
        assert scored["n_frames"] == len(held_out) == evaluation["result"]["runs"]["run1"]["n_frames"]
        per_keypoint = [
            r for r in scored["rows"] if r["model"] == "seed_0" and r["view"] != "all" and r["keypoint"] != "all"
        ]
        assert {(r["view"], r["keypoint"]) for r in per_keypoint} <= {
            (v, k) for v in session.view_names for k in session.keypoint_names
        }
        assert all(r["mean"] >= 0 and r["p90"] >= r["median"] - 1e-9 for r in per_keypoint)
        assert compared["missing"] == []

        chosen = distilled["result"]["frames"]["mouse1"]
        assert c.get("/api/distillations", headers=AUTH).json() == ["student"]
        d = c.get("/api/distillations/student", headers=AUTH).json()
        assert d["teacher"] == "runs/run1" and d["trained"] is False and d["keypoints"] == session.keypoint_names
        assert sorted(f["frame"] for f in d["frames"]) == sorted(chosen)
        smoothed_eks = read_group(store, "smoothed/eks")
        for i, f in enumerate(d["frames"]):
            for view, points in f["points"].items():
                want = (
                    smoothed_eks.isel(time=f["frame"], individual=0)
                    .sel(view=view)["reprojection"]
                    .transpose("keypoint", "image_space")
                    .values
                )
                got = np.array([[np.nan, np.nan] if p is None else p for p in points], dtype=float)
                ok = np.isfinite(got).all(-1)
                assert ok.any()
                np.testing.assert_allclose(got[ok], want[ok], atol=1e-3)
                assert all(0 <= w <= 1 for w in f["weights"][view] if w is not None)
            image = c.get(f"/api/distillations/student/image/{i}/{f['views'][0]}", headers=AUTH)
            decoded = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
            video = video_frames(built.recording.videos[f["views"][0]])[f["frame"]]
            assert np.abs(decoded.astype(int) - video).mean() < 2
        one_error(c.get("/api/distillations/student/image/99/cam0", headers=AUTH), 404, "no frame 99")
        one_error(c.post("/api/jobs/distill", json=body, headers=AUTH), 400, "exists already")

        # resume and the student's training start as train jobs (cancelled here: the same trainer as above)
        for request, label in (
            ({"run": run["id"]}, "resume runs/run1"),
            ({"student": "student"}, "train student student"),
        ):
            job = c.post("/api/jobs/train", json=request, headers=AUTH)
            assert job.status_code == 201 and job.json()["label"] == label, job.text
            assert c.delete(f"/api/jobs/{job.json()['id']}", headers=AUTH).json()["state"] == "cancelled"
