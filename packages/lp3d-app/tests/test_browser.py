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
