"""End to end: the real server (``lp3d app`` in a subprocess) and Chromium driven by Playwright.

Screenshots go to ``tests/artifacts/``. Without Chromium or Playwright these tests skip, except under
``CI=true``, where they must run (``make test`` installs Chromium as root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TOKEN = "browser-test-token-42"
WAIT = 90_000  # ms: a loaded 2-core machine


def _require_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"chromium ({CHROMIUM})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install 'lp3d-app[test]')")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run under CI, but {', '.join(missing)} missing")
        pytest.skip(f"{', '.join(missing)} missing")


@contextlib.contextmanager
def running_app(root: Path):
    """``lp3d app ROOT`` in a subprocess on a free port; yields its URL; stopped (SIGTERM) at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = root.parent / f"server-{root.name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "lp3d_cli", "app", str(root), "--port", str(port), "--token", TOKEN, "--no-browser"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None:
                        raise AssertionError(log_path.read_text()) from None
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(project_dir, tmp_path_factory):
    _require_browser()
    root = tmp_path_factory.mktemp("browser") / "project"
    shutil.copytree(project_dir, root)
    with running_app(root) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def open_page(browser, url: str):
    """A page of the app at ``url`` (signed in with the token); fails on any script error."""
    context = browser.new_context(viewport={"width": 1500, "height": 1200})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(WAIT)
    page.goto(f"{url}/?token={TOKEN}")
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def page(browser, server):
    with open_page(browser, server) as page:
        yield page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def frames_drawn(page) -> set[str]:
    return set(page.eval_on_selector_all(".video-grid canvas", "cs => cs.map(c => c.dataset.frame)"))


def test_viewer_plays_scrubs_and_follows_the_time_series(page, server):
    assert "token" not in page.url  # the token became a cookie
    page.wait_for_selector("[data-testid=sessions]")
    assert "synthetic" in page.inner_text("[data-testid=sessions]")
    shot(page, "project")
    page.click("[data-testid=open-synthetic]")
    page.wait_for_selector("[data-testid=viewer-page][data-shown='0']")
    assert frames_drawn(page) == {"0"}
    page.click("[data-testid=step]")
    page.wait_for_selector("[data-testid=viewer-page][data-shown='1']")
    page.click("[data-testid=jump]")
    page.wait_for_selector("[data-testid=viewer-page][data-shown='11']")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("[data-testid=viewer-page][data-shown='10']")
    page.fill("[data-testid=goto]", "40")
    page.press("[data-testid=goto]", "Enter")
    page.wait_for_selector("[data-testid=viewer-page][data-shown='40']")
    assert frames_drawn(page) == {"40"}  # every view shows the same frame
    assert "frame 40 / 89" in page.inner_text("[data-testid=frame]")
    # play, then pause: the frame advanced, all views together
    page.click("[data-testid=play]")
    page.wait_for_function("Number(document.querySelector('[data-testid=viewer-page]').dataset.shown) >= 50")
    page.click("[data-testid=play]")
    drawn = frames_drawn(page)
    assert len(drawn) == 1 and int(drawn.pop()) >= 50
    # overlays: toggle the EKS layer off and on; the 3D view follows the frame
    page.uncheck("[data-testid=layer-smoothed]")
    page.check("[data-testid=layer-triangulated]")
    shown = page.get_attribute("[data-testid=viewer-page]", "data-shown")
    page.wait_for_selector(f"[data-testid=scene3d][data-frame='{shown}']")
    page.check("[data-testid=layer-smoothed]")
    # the time series: click a point, land on its frame
    page.wait_for_function("document.querySelector('[data-testid=timeseries]').dataset.ready")
    plot = page.locator(".uplot .u-over").first
    box = plot.bounding_box()
    plot.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    page.wait_for_function(
        "Math.abs(Number(document.querySelector('[data-testid=viewer-page]').dataset.shown) - 22) <= 2"
    )
    page.wait_for_function(
        "document.querySelector('[data-testid=scene3d]').dataset.frame === "
        "document.querySelector('[data-testid=viewer-page]').dataset.shown"
    )
    shot(page, "viewer")


def test_smoothing_job_runs_and_opens_in_the_viewer(page):
    page.goto(page.url.split("#")[0] + "#/smoothing")
    page.wait_for_selector("[data-testid=smooth-input]")
    label = page.locator("[data-testid=smooth-input] option", has_text="prediction files").first.get_attribute("value")
    page.select_option("[data-testid=smooth-input]", label)
    page.fill("[data-testid=smooth-name]", "browser-run")
    page.fill("[data-testid=smooth-s]", "3")
    page.select_option("[data-testid=smooth-motion]", "random walk")
    page.click("[data-testid=smooth-start]")
    try:
        page.wait_for_selector("[data-testid=jobs] [data-state=done]", timeout=60_000)
    finally:
        shot(page, "smoothing")
    shot(page, "smoothing")
    page.click("[data-testid=open-result]")
    page.wait_for_selector("[data-testid=viewer-page][data-shown='0']")
    assert page.locator("text=lp3d-app/smoothed/browser-run").count() >= 1
    assert page.locator("[data-testid=missing-videos]").count() == 0  # the result joined the session of its videos


def test_diagnostics_show_box_plots_and_worst_frames(page):
    page.goto(page.url.split("#")[0] + "#/diagnostics")
    page.wait_for_selector("[data-testid=boxplot]")
    page.wait_for_selector("[data-testid=worst-inconsistent] li a")
    assert page.inner_text("[data-testid=scored]").startswith("Scored: every labeled frame (12;")
    assert page.locator("[data-testid=stats-table] tr").count() == 2 + 11  # two header rows, a row per keypoint
    motions = set(page.locator("[data-testid=stats-motion]").all_inner_texts())
    assert motions and motions <= {"random walk", "constant velocity"}, motions
    shot(page, "diagnostics")
    href = page.get_attribute("[data-testid=worst-inconsistent] li a", "href")
    frame = int(href.split("frame=")[1])
    page.click("[data-testid=worst-inconsistent] li a")
    page.wait_for_selector(f"[data-testid=viewer-page][data-shown='{frame}']")


def test_views_without_video_are_drawn_at_their_calibrated_size_and_say_so(project_dir, browser, tmp_path):
    _require_browser()
    root = tmp_path / "project"
    shutil.copytree(project_dir, root, ignore=shutil.ignore_patterns("lp3d-app", ".lp3d-app", "videos"))
    with running_app(root) as url, open_page(browser, url) as page:
        page.click("[data-testid=open-synthetic]")
        page.wait_for_selector("[data-testid=viewer-page][data-shown='0']")
        assert "No video for cam0, cam1, cam2" in page.inner_text("[data-testid=missing-videos]")
        size = page.eval_on_selector("[data-testid=view-cam2]", "c => [c.width, c.height, c.dataset.frame]")
        assert size == [96, 80, "0"]  # the calibration's image size, drawn with the overlays
        assert "no video" in page.inner_text("figure:has([data-testid=view-cam2]) figcaption")
        shot(page, "viewer-without-videos")


_PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"


def test_two_animals_in_their_colours_with_a_toggle_each(two_animals_dir, browser, tmp_path):
    _require_browser()
    root = tmp_path / "project"
    shutil.copytree(two_animals_dir, root, ignore=shutil.ignore_patterns(".lp3d-app"))
    with running_app(root) as url, open_page(browser, url) as page:
        page.click("[data-testid=open-synthetic]")
        page.wait_for_selector("[data-testid=viewer-page][data-shown='0']")
        canvas = "[data-testid=view-cam0]"
        page.wait_for_selector("[data-testid=scene3d][data-animals='2']")
        shot(page, "viewer-two-animals")
        assert page.inner_text("[data-testid=individuals]").split() == ["light", "dark"]
        assert page.get_attribute("[data-testid=individual-color-dark]", "value") == "#e040fb"
        assert page.get_attribute(canvas, "data-animals") == "light,dark"
        both = np.array(page.eval_on_selector(canvas, _PIXELS))
        page.uncheck("[data-testid=individual-dark]")
        page.wait_for_selector("[data-testid=scene3d][data-animals='1']")
        assert page.get_attribute(canvas, "data-animals") == "light"
        light = np.array(page.eval_on_selector(canvas, _PIXELS))
        page.fill("[data-testid=individual-color-light]", "#00ffff")  # a colour input's value, as a picker sets it
        recoloured = np.array(page.eval_on_selector(canvas, _PIXELS))
        assert (both != light).sum() > 100 and (light != recoloured).sum() > 20
        page.wait_for_function("document.querySelector('[data-testid=timeseries]').dataset.individual === 'light'")
        page.select_option("[data-testid=series-individual]", "dark")
        page.wait_for_function("document.querySelector('[data-testid=timeseries]').dataset.individual === 'dark'")


# --- the whole life cycle (issue #14) -------------------------------------------------------------------


def _screen(page, view: str, xy) -> tuple[float, float]:
    """Page coordinates of image position ``xy`` in a view of the labeler (its canvas says its viewport)."""
    canvas = page.locator(f"[data-testid=label-view-{view}]")
    box = canvas.bounding_box()
    scale, ox, oy = (float(canvas.get_attribute(f"data-{k}")) for k in ("scale", "ox", "oy"))
    # Chromium's mouse events carry whole CSS pixels: the nearest one (at most half a pixel off)
    return round(box["x"] + (xy[0] + 0.5) * scale + ox), round(box["y"] + (xy[1] + 0.5) * scale + oy)


def _wait_job(page, kind: str, n_done: int, timeout: float = 300_000) -> None:
    """Waits until ``n_done`` jobs of ``kind`` are done; fails at once with the error of a failed one."""
    page.wait_for_function(
        f"""() => {{
            const failed = document.querySelector('[data-kind={kind}][data-state=failed] .error');
            if (failed) throw new Error('{kind} job failed: ' + failed.textContent);
            return document.querySelectorAll('[data-kind={kind}][data-state=done]').length >= {n_done};
        }}""",
        timeout=timeout,
    )


def _open_frame(page, frame_id: str | None = None) -> str:
    """Waits for the labeler to show a frame (``frame_id``, or any) with its images; returns its id."""
    page.wait_for_selector(f"[data-testid=label-page][data-frame='{frame_id}']" if frame_id else "[data-frame]")
    page.wait_for_selector("[data-testid=label-view-cam0][data-scale]")
    return page.get_attribute("[data-testid=label-page]", "data-frame")


def _train(page, name: str, extra: list[str], n_trained: int) -> None:
    """Trains run ``runs/<name>`` from the model form (the tiny model, ``extra`` settings); returns when it
    is listed: the ``n_trained``-th train job is done."""
    page.goto(page.url.split("#")[0] + "#/models")
    page.wait_for_selector("[data-testid=model-name]")
    page.fill("[data-testid=model-name]", name)
    page.select_option("[data-testid=model-backbone]", "vit_tiny_p8")
    page.select_option("[data-testid=model-pretrained]", "false")
    for key, value in (("height", "64"), ("width", "64"), ("steps", "20"), ("batch", "2"), ("seeds", "0, 1")):
        page.fill(f"[data-testid=model-{key}]", value)
    page.fill("[data-testid=model-masking]", "0")
    page.fill("[data-testid=model-extra]", "\n".join(extra))
    page.click("[data-testid=model-check]")
    page.wait_for_selector("[data-testid=model-ok]")
    assert "run_dir: " in page.inner_text("[data-testid=model-yaml]")
    page.click("[data-testid=model-train]")
    _wait_job(page, "train", n_trained)
    page.wait_for_selector(f"[data-run='runs/{name}']")


def _open_run_details(page, name: str) -> None:
    """Opens the details of run ``name`` (a running training's are open already: a click would close
    them) and waits for its loss curve."""
    if page.locator(f"[data-testid='run-detail-{name}']").is_hidden():
        page.click(f"[data-testid='run-details-{name}']")
    page.wait_for_selector(f"[data-testid='run-detail-{name}'] .chart[data-metric='train/loss']")


@pytest.mark.slow
def test_the_whole_life_cycle_in_the_browser(browser, tmp_path):
    """Create a project from videos and a calibration, extract frames, label them by clicking at the
    generator's true positions (the triangulation suggestion accepted in one view), train a tiny
    ensemble, predict, smooth, view, pick the most uncertain frames, correct one, retrain."""
    _require_browser()
    from lp3d_io.synthetic import SyntheticConfig, make_session, write_session
    from lp3d_models.config import as_overrides, tiny_model
    from lp3d_workflows.labeling import read_label_file

    recording = tmp_path / "recording"
    session = make_session(SyntheticConfig(n_views=3, image_size=(96, 80), n_frames=90, seed=3, session_name="mouse1"))
    write_session(session, recording, labeled_frames=0)
    views, keypoints = session.view_names, session.keypoint_names
    truth = session.points2d  # (view, time, keypoint, 2)
    inside = ((truth >= -0.5) & (truth <= np.array([95.5, 79.5]))).all(-1)
    root = tmp_path / "project"
    root.mkdir()
    extra = as_overrides(tiny_model(training={"val_every_steps": 10, "log_every_steps": 2}, loss={"kind": "kl"}))
    form_keys = ("model.backbone=", "model.pretrained=", "model.height=", "model.width=")  # the form's own fields
    extra = [line for line in extra if not line.startswith(form_keys)]
    with running_app(root) as url, open_page(browser, url) as page:
        # the project: views, keypoints, two bones
        page.wait_for_selector("[data-testid=create-project-page]")
        page.fill("[data-testid=create-name]", "mouse")
        page.fill("[data-testid=create-views]", ", ".join(views))
        page.fill("[data-testid=create-keypoints]", "\n".join(keypoints))
        page.select_option("[data-testid=bone-from]", "back")
        page.select_option("[data-testid=bone-to]", "neck")
        page.click("[data-testid=bone-add]")
        page.click("[data-testid=bone-add]")  # chained: neck - nose
        assert page.locator("[data-testid=bones] li").count() == 2
        shot(page, "lifecycle-1-create")
        page.click("[data-testid=create-project]")
        # a session: one video per view and the calibration
        page.wait_for_selector("[data-testid=session-name]")
        page.fill("[data-testid=session-name]", "mouse1")
        for view in views:
            page.set_input_files(f"[data-testid=video-{view}]", str(recording / "videos" / f"mouse1_{view}.mp4"))
        page.set_input_files("[data-testid=calibration-file]", str(recording / "calibration.toml"))
        page.click("[data-testid=upload-session]")
        page.wait_for_selector("[data-testid=sessions] tr[data-session=mouse1]")
        row = page.inner_text("[data-testid=sessions] tr[data-session=mouse1]")
        assert "90" in row and "calibrations/mouse1.toml" in row and "cam0, cam1, cam2" in row
        shot(page, "lifecycle-2-project")

        # frames to label: uniform
        page.goto(url + "/#/frames")
        page.select_option("[data-testid=extract-method]", "uniform")
        page.fill("[data-testid=extract-n]", "4")
        page.click("[data-testid=extract-start]")
        _wait_job(page, "extract", 1, 120_000)
        page.click("[data-testid=label-extracted]")

        # label them: click the true positions in two views, accept the triangulation in the third
        labeled = []
        for _ in range(4):
            frame_id = _open_frame(page)
            t = int(page.inner_text("[data-testid=label-frame]").split("frame ")[1].split(" ")[0])
            for v, view in enumerate(views[:2]):
                for k, keypoint in enumerate(keypoints):
                    if inside[v, t, k]:
                        page.click(f"[data-testid=keypoint-list] li[data-keypoint={keypoint}]")
                        page.mouse.click(*_screen(page, view, truth[v, t, k]))
            page.hover(f"[data-testid=label-view-{views[2]}]")
            # the suggestions of every click (an answer to an earlier click is not enough: under load
            # it can arrive after the last click, and accepting it left keypoints out)
            page.wait_for_function(
                "(() => { const d = document.querySelector('[data-testid=label-page]').dataset;"
                " return !!d.guideWanted && d.guided === d.guideWanted; })()"
            )
            page.keyboard.press("Shift+T")  # every suggestion of the third view
            if not labeled:
                shot(page, "lifecycle-3-label")
            page.keyboard.press("Control+s")
            page.wait_for_selector(f"[data-testid=label-page][data-saved='{frame_id}']")
            labeled.append(t)
            if len(labeled) < 4:
                page.keyboard.press("n")
                page.wait_for_selector(f"[data-testid=label-page]:not([data-frame='{frame_id}'])")
        files = {view: read_label_file(root / f"CollectedData_{view}.csv") for view in views}
        for v, view in enumerate(views):
            assert len(files[view].rows) == 4
            for row, t in enumerate(labeled):
                got = files[view].positions(row, keypoints)
                want = np.where(inside[v, t][:, None], truth[v, t], np.nan)
                tolerance = 0.2 if v < 2 else 0.6  # half a screen pixel; the triangulation of two clicks
                np.testing.assert_allclose(got, want, atol=tolerance)

        # train a tiny ensemble: live curves, then predict, smooth and view
        _train(page, "run1", extra, n_trained=1)
        _open_run_details(page, "runs/run1")
        shot(page, "lifecycle-4-trained")
        page.check("[data-testid=predict-smooth]")
        page.click("[data-testid=predict-start]")
        _wait_job(page, "predict", 1)
        page.click("[data-kind=predict][data-state=done] [data-testid=open-result]")
        page.wait_for_selector("[data-testid=viewer-page][data-shown='0']")
        page.wait_for_function("document.querySelector('[data-testid=timeseries]').dataset.ready")
        shot(page, "lifecycle-5-viewer")

        # the frames the smoother found most uncertain, pre-filled: correct one
        page.goto(url + "/#/frames")
        page.select_option("[data-testid=extract-method]", "uncertain")
        page.fill("[data-testid=extract-n]", "2")
        page.fill("[data-testid=extract-gap]", "5")
        page.click("[data-testid=extract-start]")
        _wait_job(page, "extract", 2, 120_000)
        page.locator("[data-testid=label-extracted]").first.click()
        frame_id = _open_frame(page)
        page.wait_for_selector("[data-testid=label-prefilled]")
        t = int(page.inner_text("[data-testid=label-frame]").split("frame ")[1].split(" ")[0])
        prefill = page.request.get(f"{url}/api/labels/{frame_id}").json()["prefill"]
        shot(page, "lifecycle-6-prefilled")
        moved = 0
        for v, view in enumerate(views):
            for k, keypoint in enumerate(keypoints):
                start = prefill[view][keypoint]
                if start is None or not inside[v, t, k] or np.hypot(*(np.array(start) - truth[v, t, k])) < 1.0:
                    continue
                page.mouse.move(*_screen(page, view, start))
                page.mouse.down()
                page.mouse.move(*_screen(page, view, truth[v, t, k]), steps=3)
                page.mouse.up()
                moved += 1
        page.keyboard.press("a")  # the rest of the prefill is right
        page.keyboard.press("Control+s")
        page.wait_for_selector(f"[data-testid=label-page][data-saved='{frame_id}']")
        shot(page, "lifecycle-7-corrected")
        corrected = read_label_file(root / "CollectedData_cam0.csv")
        assert len(corrected.rows) == 5 and moved > 0
        row = corrected.find(f"labeled-data/mouse1_cam0/img{t:05d}.png")
        assert row == 4

        # retrain on the five frames, and compare the runs on their held-out frames
        _train(page, "run2", extra, n_trained=2)
        page.check("[data-testid='compare-runs/run1']")
        page.check("[data-testid='compare-runs/run2']")
        page.click("[data-testid=compare-runs]")
        page.wait_for_selector("[data-testid=compare-table] tr.total", timeout=300_000)
        shot(page, "lifecycle-8-compare")
