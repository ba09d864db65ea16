"""The app's HTTP API through FastAPI's TestClient: every endpoint, bad input, and the security rules."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lp3d_app.openapi import schema
from lp3d_app.routers.assets import FrontendMissing, load_assets
from lp3d_app.security import Security
from lp3d_app.server import app_url, create_app, normalize_base_url
from lp3d_workflows.testing import wait_for

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"token {TOKEN}"}
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory) -> Path:
    """A stand-in for the built front end (the browser tests use the real build)."""
    folder = tmp_path_factory.mktemp("static")
    (folder / "assets").mkdir()
    (folder / "index.html").write_text("<!doctype html><html><head><title>lp3d</title></head><body></body></html>")
    (folder / "assets" / "app.js").write_text("console.log('lp3d')")
    return folder


def client_for(
    root: Path, static: Path, *, token: str | None = TOKEN, loopback: bool = True, base: str = ""
) -> TestClient:
    app = create_app(root, Security(token, loopback, base), assets_dir=static)
    return TestClient(app, base_url="http://127.0.0.1:8080", raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(project_dir, static_dir):
    with client_for(project_dir, static_dir) as c:
        yield c


@pytest.fixture(scope="module")
def project(client) -> dict:
    r = client.get("/api/project", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def smoothed_source(project: dict) -> dict:
    return next(s for s in project["sources"] if s["has_smoothed"])


# --- project, sessions, frames, sources ----------------------------------------------------------------


def test_project_describes_the_folder(project):
    assert project["views"] == ["cam0", "cam1", "cam2"]
    assert len(project["keypoints"]) == 11 and project["n_labeled"] == 12
    [session] = project["sessions"]
    assert session["name"] == "synthetic" and session["views"] == ["cam0", "cam1", "cam2"] and session["n_frames"] == 90
    assert session["calibration"] is not None and session["n_labeled"] == 12
    assert smoothed_source(project)["smoother"] == "calibrated"
    assert [f["n_files"] for f in project["prediction_folders"]] == [9]
    assert all("/" not in s["id"] or s["id"].startswith("src-") for s in project["sources"])


def test_session_and_frame_overlays_match_the_store(client, project, project_dir):
    from lp3d_io.store import read_group

    session = client.get("/api/sessions/synthetic", headers=AUTH).json()
    assert session["n_frames"] == 90 and session["fps"] == 30 and len(session["videos"]) == 3
    assert session["missing_videos"] == [] and session["image_sizes"] == {v: [96, 80] for v in ("cam0", "cam1", "cam2")}
    source = smoothed_source(project)
    r = client.get(f"/api/sessions/synthetic/frames/42?sources={source['id']}", headers=AUTH)
    assert r.status_code == 200, r.text
    [got] = r.json()["sources"]
    truth = read_group(project_dir / "smoothed/synthetic/synthetic.zarr", "smoothed/eks").isel(time=42, individual=0)
    expected = truth["reprojection"].transpose("view", "keypoint", "image_space").values
    np.testing.assert_allclose(np.array(got["smoothed"], dtype=float), expected, rtol=1e-12)
    members = read_group(project_dir / "smoothed/synthetic/synthetic.zarr", "predictions/ensemble").isel(
        time=42, individual=0
    )
    np.testing.assert_allclose(
        np.array(got["members"], dtype=float),
        members["position"].transpose("member", "view", "keypoint", "space").values,
        rtol=1e-12,
    )
    assert np.array(got["position3d"]).shape == (11, 3) and np.array(got["triangulated"]).shape == (3, 11, 2)


def test_video_frame_is_the_frame_of_that_index(client, project_dir):
    import cv2

    r = client.get("/api/sessions/synthetic/video/cam1/17", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    got = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).astype(float)
    capture = cv2.VideoCapture(str(project_dir / "videos/synthetic_cam1.mp4"))
    frames = [capture.read()[1] for _ in range(18)]
    capture.release()
    errors = [np.abs(got - f.astype(float)).mean() for f in frames]
    assert int(np.argmin(errors)) == 17 and errors[17] < 4.0


def test_series_is_decimated_min_max(client, project):
    source = smoothed_source(project)
    full = client.get(f"/api/sources/{source['id']}/series?keypoint=nose&width=1000", headers=AUTH).json()
    assert full["step"] == 1 and len(full["time"]) == 90 and full["s"] > 0
    small = client.get(f"/api/sources/{source['id']}/series?keypoint=nose&width=10", headers=AUTH).json()
    assert small["step"] == 9 and len(small["time"]) == 20
    x = np.array(full["views"]["cam0"]["x_smoothed"], dtype=float)
    d = np.array(small["views"]["cam0"]["x_smoothed"], dtype=float)
    np.testing.assert_allclose(d[0::2], x.reshape(10, 9).min(axis=1))
    np.testing.assert_allclose(d[1::2], x.reshape(10, 9).max(axis=1))
    assert set(full["space"]) == {"x", "y", "z", "variance"}


def test_viewer_data_names_every_individual(two_animals_dir, static_dir):
    from lp3d_io.store import read_group

    with client_for(two_animals_dir, static_dir) as client:
        session = client.get("/api/sessions/synthetic", headers=AUTH).json()
        assert session["individuals"] == ["light", "dark"]
        source = next(s for s in session["sources"] if s["has_smoothed"])
        assert source["individuals"] == ["light", "dark"]
        r = client.get(f"/api/sessions/synthetic/frames/7?sources={source['id']}", headers=AUTH)
        assert r.status_code == 200, r.text
        got = r.json()["sources"]
        assert [(s["source"], s["individual"]) for s in got] == [(source["id"], "light"), (source["id"], "dark")]
        eks = read_group(two_animals_dir / "smoothed/synthetic/synthetic.zarr", "smoothed/eks").isel(time=7)
        for entry in got:
            expected = eks["reprojection"].sel(individual=entry["individual"])
            expected = expected.transpose("view", "keypoint", "image_space").values
            np.testing.assert_allclose(np.array(entry["smoothed"], dtype=float), expected, rtol=1e-12)
            assert np.array(entry["position3d"]).shape == (11, 3)
        url = f"/api/sources/{source['id']}/series?keypoint=nose&width=1000"
        dark = client.get(f"{url}&individual=dark", headers=AUTH).json()
        assert dark["individual"] == "dark" and client.get(url, headers=AUTH).json()["individual"] == "light"
        everything = read_group(two_animals_dir / "smoothed/synthetic/synthetic.zarr", "smoothed/eks")
        x = everything["reprojection"].sel(individual="dark", keypoint="nose", view="cam0", image_space="x").values
        np.testing.assert_allclose(np.array(dark["views"]["cam0"]["x_smoothed"], dtype=float), x, rtol=1e-6)
        r = client.get(f"{url}&individual=grey", headers=AUTH)
        assert r.status_code == 400 and "individual: expected one of ['light', 'dark']" in r.json()["error"]


def test_errors_on_labeled_frames_per_animal(two_animals_dir, static_dir):
    import csv

    from lp3d_io.store import read_group

    eks = read_group(two_animals_dir / "smoothed/synthetic/synthetic.zarr", "smoothed/eks").load()
    views = [str(v) for v in eks["view"].values]
    errors: dict[str, list[float]] = {"light": [], "dark": []}
    for view in views:  # the 4-row label files, cell by cell
        with open(two_animals_dir / f"CollectedData_{view}.csv", newline="") as f:
            rows = list(csv.reader(f))
        individuals, bodyparts, coords = rows[1][1:], rows[2][1:], rows[3][1:]
        for row in rows[4:]:
            frame = int(row[0].rsplit("img", 1)[1].split(".")[0])
            columns = zip(individuals, bodyparts, coords, row[1:], strict=True)
            cells = {(i, b, c): float(v or "nan") for i, b, c, v in columns}  # empty: not labeled
            for animal in errors:
                for k, keypoint in enumerate(eks["keypoint"].values):
                    x, y = cells[(animal, str(keypoint), "x")], cells[(animal, str(keypoint), "y")]
                    reprojection = eks["reprojection"].sel(individual=animal, view=view).isel(time=frame, keypoint=k)
                    errors[animal].append(float(np.hypot(*(reprojection.values - [x, y]))))
    with client_for(two_animals_dir, static_dir) as client:
        got = client.get("/api/diagnostics/errors", headers=AUTH).json()
    smoothed = {g["individual"]: g for g in got["groups"] if g["stage"] == "smoothed"}
    assert set(smoothed) == {"light", "dark"} and all(g["individual"] for g in got["groups"])
    for animal, values in errors.items():
        values = np.array(values)
        values = values[np.isfinite(values)]
        assert smoothed[animal]["model"].endswith(f"({animal}): EKS") and smoothed[animal]["n_frames"] == 12
        assert smoothed[animal]["overall"]["n"] == values.size
        assert smoothed[animal]["overall"]["median"] == pytest.approx(np.median(values))
    assert smoothed["light"]["overall"]["median"] != smoothed["dark"]["overall"]["median"]


def test_statistics_per_animal(two_animals_dir, static_dir):
    from lp3d_io.store import read_group

    store = two_animals_dir / "smoothed/synthetic/synthetic.zarr"
    eks = read_group(store, "smoothed/eks").load()
    with client_for(two_animals_dir, static_dir) as client:
        source = next(s for s in client.get("/api/project", headers=AUTH).json()["sources"] if s["has_smoothed"])
        url = f"/api/sources/{source['id']}/statistics"
        first = client.get(url, headers=AUTH).json()
        by_animal = {a: client.get(f"{url}?individual={a}", headers=AUTH).json() for a in ("light", "dark")}
        bad = client.get(f"{url}?individual=grey", headers=AUTH)
    assert first == by_animal["light"] and by_animal["dark"]["individual"] == "dark"
    assert bad.status_code == 400 and "individual: expected one of ['light', 'dark']" in bad.json()["error"]
    for animal, stats in by_animal.items():
        one = eks.sel(individual=animal)
        for k, keypoint in enumerate(stats["keypoints"]):  # s and the inflated share, from the store itself
            assert stats["s"][keypoint] == pytest.approx(float(one["smoothing_parameter"].isel(keypoint=k)))
        cell = next(c for c in stats["stats"] if c["keypoint"] == "nose" and c["view"] == "cam1")
        nose = one.sel(keypoint="nose", view="cam1")
        seen = np.isfinite(nose["ensemble_center"]).all("image_space").values
        assert cell["n_observed"] == int(seen.sum())
        assert cell["inflated"] == pytest.approx(((nose["inflation"].values > 1) & seen).sum() / seen.sum())
    assert by_animal["light"]["s"] != by_animal["dark"]["s"]


def test_uncertain_frames_of_two_animals_score_the_worse_one(two_animals_dir, tmp_path):
    from lp3d_io.store import read_group
    from lp3d_workflows.frame_extraction import extract_frames
    from lp3d_workflows.labeling import read_queue
    from lp3d_workflows.project import describe_project

    root = tmp_path / "p"
    shutil.copytree(two_animals_dir, root, ignore=shutil.ignore_patterns(".lp3d-app"))
    project = describe_project(root)
    source = next(s for s in project.sources if s.smoothed is not None)
    eks = read_group(source.store, "smoothed/eks")
    variance = eks["position_variance"].sum("space").fillna(0.0).mean("keypoint")  # (time, individual)
    worst = variance.max("individual").values
    labeled = {int(p.stem.removeprefix("img")) for p in (root / "labeled-data").rglob("img*.png")}
    found = extract_frames(project, project.sessions[0].id, "uncertain", 3, source=source.id, min_gap=1)
    expected = [int(t) for t in np.argsort(-worst, kind="stable") if int(t) not in labeled][:3]
    assert found.frames == expected
    assert [q.score for q in read_queue(project)] == pytest.approx([worst[t] for t in expected], rel=1e-4)
    assert not np.allclose(variance.sel(individual="light"), variance.sel(individual="dark"))


def test_statistics_and_errors(client, project):
    source = smoothed_source(project)
    stats = client.get(f"/api/sources/{source['id']}/statistics?n_worst=5", headers=AUTH).json()
    assert len(stats["stats"]) == 33 and len(stats["inconsistent"]) == 5 and len(stats["uncertain"]) == 5
    assert set(stats["motion"]) == set(stats["keypoints"])
    assert set(stats["motion"].values()) <= {"random walk", "constant velocity"}
    scores = [w["score"] for w in stats["inconsistent"]]
    assert scores == sorted(scores, reverse=True)
    errors = client.get("/api/diagnostics/errors", headers=AUTH).json()
    models = {g["model"].rsplit(": ", 1)[1] for g in errors["groups"]}
    assert {"EKS", "ensemble centre", "member_0"} <= models
    assert all(g["n_frames"] == 12 for g in errors["groups"])


NOT_FOUND = [  # (path, part of the error): what a request names does not exist
    ("/api/sessions/nope", "session 'nope': not in this project"),
    ("/api/sessions/synthetic/frames/90", "frame: expected 0..89, but got 90"),
    ("/api/sessions/synthetic/frames/1?sources=src-nope", "sources: expected ids"),
    ("/api/sessions/synthetic/video/cam9/1", "view: expected one of"),
    ("/api/sessions/synthetic/video/cam0/90", "frame: expected 0..89"),
    ("/api/sources/src-nope/series?keypoint=nose", "source 'src-nope': not in this project"),
    ("/api/sources/{src}/series?keypoint=tail", "keypoint 'tail': expected one of"),
    ("/api/jobs/nope", "job 'nope': no such job"),
    ("/api/nothing-here", "Not Found"),
]
MALFORMED = [  # (path, part of the error): a parameter that is not what the endpoint takes
    ("/api/sessions/synthetic/frames/-1", "frame"),
    ("/api/sources/{src}/series?keypoint=nose&width=abc", "width"),
    ("/api/sources/{src}/series?keypoint=nose&start=50&stop=10", "expected start < stop"),
]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [(path, 404, message) for path, message in NOT_FOUND] + [(path, 400, message) for path, message in MALFORMED],
)
def test_bad_requests_get_one_line_errors(client, project, path, status, message):
    r = client.get(path.replace("{src}", smoothed_source(project)["id"]), headers=AUTH)
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"] and message in body["error"] and "\n" not in body["error"]
    assert "Traceback" not in r.text


# --- security --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/sessions/%2Fetc%2Fpasswd/frames/0",
        "/api/sessions/synthetic/video/..%2F..%2Fvideos%2Fsynthetic_cam0.mp4/0",
        "/api/sources/..%2Fsmoothed%2Fsynthetic%2Fsynthetic.zarr/series?keypoint=nose",
        "/api/sources/%2Ftmp/statistics",
        "/assets/..%2F..%2F..%2Fetc%2Fpasswd",
        "/assets/%2Fetc%2Fpasswd",
        "/api/jobs/..%2F..%2F..%2Fetc/log",
    ],
)
def test_paths_from_clients_reach_nothing(client, path):
    r = client.get(path, headers=AUTH)
    assert r.status_code == 404, r.text
    assert "root:" not in r.text


def test_symlinks_out_of_the_project_are_not_followed(project_dir, static_dir, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(project_dir / "smoothed", outside)
    root = tmp_path / "project"
    shutil.copytree(project_dir, root, ignore=shutil.ignore_patterns(".lp3d-app", "lp3d-app"))
    os.symlink(outside, root / "linked")
    os.symlink("/etc", root / "etc")
    with client_for(root, static_dir) as c:
        p = c.get("/api/project", headers=AUTH).json()
        assert all(not s["label"].startswith("linked") for s in p["sources"])
        assert {x["where"] for x in p["problems"]} >= {"linked", "etc"}


def test_token_is_required_everywhere(client):
    for path in ("/api/project", "/assets/app.js", "/api/sessions/synthetic/video/cam0/0", "/api/api/openapi.json"):
        r = client.get(path)
        assert r.status_code in (401, 404), (path, r.status_code)
    assert client.get("/api/project").status_code == 401
    assert client.get("/api/project", headers={"Authorization": "token wrong-token-123"}).status_code == 401
    assert client.get("/assets/app.js").status_code == 401
    assert client.get("/assets/app.js", headers=AUTH).status_code == 200
    assert client.get(f"/api/project?token={TOKEN}").status_code == 200
    assert client.get("/").status_code == 401


def test_query_token_becomes_a_cookie_and_leaves_the_url(client):
    r = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=strict" in r.headers["set-cookie"]
    with TestClient(client.app, base_url="http://127.0.0.1:8080", cookies={"lp3d_token": TOKEN}) as c:
        page = c.get("/")
        assert page.status_code == 200 and '<base href="/">' in page.text
        assert c.get("/api/project").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.nip.io:8080", "attacker.com:8080"])
def test_foreign_host_is_refused_on_loopback(client, host):
    r = client.get("/api/project", headers={**AUTH, "Host": host})
    assert r.status_code == 403 and "Host header" in r.json()["error"]


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"])
def test_loopback_hosts_are_accepted(client, host):
    assert client.get("/api/project", headers={**AUTH, "Host": host}).status_code == 200


def test_cross_origin_requests_are_refused(client):
    r = client.post("/api/project/refresh", headers={**AUTH, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin" in r.json()["error"]
    assert client.get("/api/project", headers={**AUTH, "Origin": "null"}).status_code == 403
    assert client.post("/api/project/refresh", headers={**AUTH, "Origin": "http://127.0.0.1:8080"}).status_code == 200


def test_remote_binding_needs_a_token_and_accepts_any_host(project_dir, static_dir):
    with pytest.raises(ValueError, match="expected a token"):
        Security(None, False)
    with client_for(project_dir, static_dir, loopback=False) as c:
        assert c.get("/api/project", headers={**AUTH, "Host": "lab-server:8080"}).status_code == 200
        assert c.get("/api/project", headers={"Host": "lab-server:8080"}).status_code == 401


def test_base_url_prefixes_everything(project_dir, static_dir):
    assert normalize_base_url("lp3d/") == "/lp3d" and normalize_base_url("/") == ""
    with pytest.raises(ValueError):
        normalize_base_url("/a/../b")
    assert app_url("127.0.0.1", 8080, "/lp3d", "t0k3n-abc") == "http://localhost:8080/lp3d/?token=t0k3n-abc"
    with client_for(project_dir, static_dir, base="/lp3d") as c:
        assert c.get("/lp3d/api/project", headers=AUTH).status_code == 200
        assert c.get("/api/project", headers=AUTH).status_code == 404
        r = c.get(f"/lp3d/?token={TOKEN}", follow_redirects=False)
        assert r.headers["location"] == "/lp3d/"
        c.cookies.set("lp3d_token", TOKEN)
        assert '<base href="/lp3d/">' in c.get("/lp3d/").text


def test_token_never_reaches_the_logs(project_dir, static_dir, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    with client_for(project_dir, static_dir) as c:
        c.get(f"/api/project?token={TOKEN}")
        c.get(f"/?token={TOKEN}", follow_redirects=False)
        c.get("/api/sessions/nope", headers=AUTH)
    server_lines = [r.getMessage() for r in caplog.records if r.name.startswith(("lp3d", "uvicorn", "fastapi"))]
    assert server_lines and not any(TOKEN in line for line in server_lines)


def test_missing_front_end_is_one_line(tmp_path):
    with pytest.raises(FrontendMissing, match="make frontend"):
        load_assets(tmp_path)


def test_committed_openapi_matches_the_server():
    committed = json.loads((HERE.parent / "frontend" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(schema())), (
        "run: python -m lp3d_app.openapi > packages/lp3d-app/frontend/openapi.json"
    )


# --- jobs ------------------------------------------------------------------------------------------------


def smoothing_request(project: dict, name: str, /, **fields) -> dict:
    """A body of ``POST /api/jobs/smooth``: output ``name``, of the project's prediction folder, without
    a calibration; ``fields`` add to it or replace (any of) these."""
    return {"input": project["prediction_folders"][0]["id"], "calibration": None, "name": name, **fields}


@pytest.fixture
def own_project(project_dir, static_dir, tmp_path):
    """A copy of the project that the test may change, a client of it, and its description."""
    root = tmp_path / "p"
    shutil.copytree(project_dir, root)
    with client_for(root, static_dir) as c:
        yield root, c, c.get("/api/project", headers=AUTH).json()


def test_smoothing_job_writes_a_result_the_viewer_opens(own_project):
    root, c, p = own_project
    body = smoothing_request(p, "run1", calibration=p["calibrations"][0]["id"], s=2.0, motion="random walk")
    r = c.post("/api/jobs/smooth", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    job = r.json()
    assert c.post("/api/jobs/smooth", json=body, headers=AUTH).status_code == 400  # same output while it runs
    with c.stream("GET", f"/api/jobs/{job['id']}/events", headers=AUTH) as events:
        states = [json.loads(line[6:])["state"] for line in events.iter_lines() if line.startswith("data: ")]
    assert states[-1] == "done", c.get(f"/api/jobs/{job['id']}/log", headers=AUTH).json()
    done = c.get(f"/api/jobs/{job['id']}", headers=AUTH).json()
    assert done["output"] == "lp3d-app/smoothed/run1" and done["result"]["s"][0] == [2.0] * 11
    assert done["result"]["motion"][0] == ["random walk"] * 11
    assert "job done" in c.get(f"/api/jobs/{job['id']}/log", headers=AUTH).json()["text"]
    p = c.get("/api/project", headers=AUTH).json()
    [result] = [s for s in p["sources"] if s["label"].startswith("lp3d-app/smoothed/run1")]
    assert result["session"] == "synthetic"  # it joins the session of its videos
    # the job prepared it for the viewer: the overview of its store is in the project's cache
    assert (root / ".lp3d-app" / "cache" / result["id"] / "overview-0" / "values.npy").is_file()
    r = c.post("/api/jobs/smooth", json=body, headers=AUTH)
    assert r.status_code == 400 and "already exist" in r.json()["error"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "../escape"}, "name"),
        ({"name": "/abs"}, "name"),
        ({"s": -1}, "s"),
        ({"ensemble": "mode"}, "ensemble"),
        ({"input": "src-nope"}, "not a source or prediction folder"),
        ({"calibration": "cal-nope"}, "calibration 'cal-nope'"),
        ({"s_frames": "5:1"}, "s_frames"),
        ({"motion": "spline"}, "motion"),
    ],
)
def test_bad_smoothing_requests(client, project, change, message):
    body = smoothing_request(project, "bad", **change)
    r = client.post("/api/jobs/smooth", json=body, headers=AUTH)
    assert r.status_code in (400, 404) and message in r.json()["error"], r.text


def test_failed_job_shows_its_error_and_leaves_nothing(own_project):
    root, c, p = own_project
    body = smoothing_request(p, "linear", variance="confidence-weighted", s_frames="0:5000")
    job = c.post("/api/jobs/smooth", json=body, headers=AUTH).json()
    done = wait_for(lambda: (j := c.get(f"/api/jobs/{job['id']}", headers=AUTH).json())["state"] != "running" and j)
    assert done["state"] == "failed" and "expected --views" in done["error"] and "\n" not in done["error"]
    assert not (root / "lp3d-app/smoothed/linear").exists()


@pytest.fixture
def waiting_job(monkeypatch, tmp_path, static_dir):
    """``with waiting_job() as (client, job)``: a client of an app of an empty folder, and a job of it
    that waits until it is stopped (this folder's ``app_test_jobs``), running."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]))
    import app_test_jobs

    @contextlib.contextmanager
    def start():
        with client_for(tmp_path, static_dir) as c:
            jobs = c.app.state.lp3d.jobs
            jobs.kinds = {"wait": app_test_jobs.WAIT}
            yield c, jobs.start("wait", {"out": str(tmp_path / "o")}, "wait")

    return start


def test_a_running_job_through_the_api_log_events_and_cancel(waiting_job):
    with waiting_job() as (c, job):
        wait_for(lambda: "waiting" in c.get(f"/api/jobs/{job.id}/log", headers=AUTH).json()["text"])
        with c.stream("GET", f"/api/jobs/{job.id}/events", headers=AUTH) as events:
            first = next(line for line in events.iter_lines() if line.startswith("data: "))
        assert json.loads(first[6:])["state"] == "running"
        # the client went away: the job runs on
        assert c.get(f"/api/jobs/{job.id}", headers=AUTH).json()["state"] == "running"
        assert [j["id"] for j in c.get("/api/jobs", headers=AUTH).json()] == [job.id]
        log = c.get(f"/api/jobs/{job.id}/log", headers=AUTH).json()
        assert c.get(f"/api/jobs/{job.id}/log?offset={log['offset']}", headers=AUTH).json() == {
            "text": "",
            "offset": log["offset"],
        }
        cancelled = c.delete(f"/api/jobs/{job.id}", headers=AUTH).json()
        assert cancelled["state"] == "cancelled" and cancelled["error"] == "cancelled"
        assert c.delete(f"/api/jobs/{job.id}", headers=AUTH).json()["state"] == "cancelled"
        assert c.get(f"/api/jobs/{job.id}/log?offset=-1", headers=AUTH).status_code == 400


def test_server_shutdown_stops_its_jobs(waiting_job):
    with waiting_job() as (c, job):
        assert c.get(f"/api/jobs/{job.id}", headers=AUTH).json()["state"] == "running"
    assert (
        not Path(f"/proc/{job.pid}").exists()
        or Path(f"/proc/{job.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    )
    assert c.app.state.lp3d.jobs.get(job.id).state == "interrupted"
