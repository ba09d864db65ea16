"""Live tracking (issue #18): a synthetic session's videos replayed through a tiny run gives exactly what
smoothing its stored predictions with the same lag gives; dropped sets are whole and marked; an earlier
store's parameters; the socket; OpenCV capture of synchronized sets; one-line errors."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

LAG, FIT = 2, 30


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny run of two members trained on a calibrated 3-view synthetic session (48 x 48, 60 frames; the
    run writes it into its folder: ``data.synthetic``), and the session's videos and calibration."""
    import torch
    from lp3d_io.layout import SYNTHETIC_DIR
    from lp3d_models.config import config_from_dict, tiny_model
    from lp3d_models.training import train

    run = tmp_path_factory.mktemp("live") / "run"
    values = tiny_model(
        run_dir=str(run),
        data={"synthetic": {"n_views": 3, "width": 48, "height": 48, "n_frames": 60, "labeled_frames": 20, "seed": 5}},
        training={"max_steps": 4, "val_every_steps": 4, "batch_size": 4, "seeds": [0, 1]},
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config_from_dict(values), [0, 1])
    finally:
        torch.set_num_threads(threads)
    return {
        "run": run,
        "videos": sorted((run / SYNTHETIC_DIR / "videos").glob("*.mp4")),
        "calibration": run / SYNTHETIC_DIR / "calibration.toml",
    }


def _settings(session, **kwargs):
    from lp3d_workflows.live import LiveSettings

    return LiveSettings(calibration=session["calibration"], lag=LAG, fit_frames=FIT, threads=1, **kwargs)


def _smoothed(store: Path):
    from lp3d_io.layout import SMOOTHED_GROUP
    from lp3d_io.store import read_group

    return read_group(store, SMOOTHED_GROUP).load()


def _assert_same_as_smoothing_the_store(result, session, tmp_path):
    """``lp3d smooth STORE --lag --fit-frames`` on the live store's predictions gives the live posteriors."""
    from lp3d_workflows.batch import smooth_inputs
    from lp3d_workflows.smoothing import SmoothSettings

    settings = SmoothSettings(calibration=session["calibration"], lag=LAG, fit_frames=FIT)
    smooth_inputs([result.store], tmp_path / "again", settings)
    live, again = _smoothed(result.store), _smoothed(tmp_path / "again" / result.store.name)
    assert live.sizes["time"] == again.sizes["time"] == result.n_frames
    for name in ("position", "position_covariance", "reprojection", "reprojection_variance", "inflation"):
        np.testing.assert_array_equal(live[name].values, again[name].values, err_msg=name)
    np.testing.assert_array_equal(live["smoothing_parameter"].values, again["smoothing_parameter"].values)


def test_replay_equals_smoothing_the_stored_predictions(session, tmp_path):
    from lp3d_workflows.live import STAGES, run_live

    lines: list[str] = []
    result = run_live(
        session["run"], session["videos"], tmp_path / "live", _settings(session, realtime=False), on_line=lines.append
    )
    assert (result.n_frames, result.n_dropped, result.session, result.fitted) == (60, 0, "synthetic", True)
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(60)) and not any(r["dropped"] for r in records)
    _assert_same_as_smoothing_the_store(result, session, tmp_path)
    position = _smoothed(result.store)["position"].values  # (time, keypoint, individual, space)
    keypoints = list(records[0]["points"]["individual_0"])
    xyz = np.array([[r["points"]["individual_0"][k]["xyz"] for k in keypoints] for r in records])
    np.testing.assert_allclose(xyz, position[:, :, 0], atol=1e-5)
    assert all(r["latency_ms"] > 0 and r["capture_time"] > 1e9 for r in records)
    rows = (tmp_path / "live" / "frames.csv").read_text().splitlines()
    assert rows[0].startswith("frame,capture_time,dropped") and len(rows) == 61
    summary = json.loads((tmp_path / "live" / "live.json").read_text())
    assert summary["frames"] == 60 and set(summary["latency_ms"]) == set(STAGES)
    assert summary["parameters"]["fitted_on_first_frames"] and len(summary["parameters"]["individuals"][0]["s"]) == 11
    assert result.latency["model"].n == 60 - FIT and result.latency["end_to_end"].p50_ms > 0


def test_dropped_sets_are_whole_and_marked(session, tmp_path, monkeypatch):
    """A model slower than the frame rate: whole sets dropped, marked, NaN in the store for every view."""
    from lp3d_io.layout import ENSEMBLE_GROUP
    from lp3d_io.store import read_group
    from lp3d_models import prediction
    from lp3d_workflows.live import run_live

    slow = prediction.predict_batch

    def predict_slowly(*args, **kwargs):
        time.sleep(0.08)  # the videos play at 30 frames/s: ~2 of every 3 sets dropped
        return slow(*args, **kwargs)

    monkeypatch.setattr(prediction, "predict_batch", predict_slowly)
    lines: list[str] = []
    result = run_live(
        session["run"], session["videos"], tmp_path / "live", _settings(session, max_frames=45), on_line=lines.append
    )
    records = [json.loads(line) for line in lines]
    dropped = np.array([r["dropped"] for r in records])
    assert [r["frame"] for r in records] == list(range(45))
    assert result.n_frames == 45 and result.n_dropped == dropped.sum() >= 15
    preds = read_group(result.store, ENSEMBLE_GROUP)["position"].values  # (member, view, time, keypoint, individual, 2)
    missing = np.isnan(preds).all(axis=(0, 1, 3, 4, 5))
    assert np.array_equal(missing, dropped) and not np.isnan(preds[:, :, ~dropped]).any()
    _assert_same_as_smoothing_the_store(result, session, tmp_path)


def test_parameters_from_an_earlier_store(session, tmp_path):
    from lp3d_io.store import read_group
    from lp3d_workflows.live import run_live

    first = run_live(session["run"], session["videos"], tmp_path / "first", _settings(session, realtime=False))
    lines: list[str] = []
    settings = _settings(session, realtime=False, parameters=first.store, max_frames=10)
    result = run_live(session["run"], session["videos"], tmp_path / "second", settings, on_line=lines.append)
    assert not result.fitted and len(lines) == 10
    stored = read_group(first.store, "smoothed/eks")["smoothing_parameter"].values[:, 0]
    np.testing.assert_array_equal(result.parameters[0].s, stored)
    assert result.latency["model"].n == 10  # nothing waited for a fit


def test_socket_streams_lines_and_drops_a_client_that_does_not_read(tmp_path):
    from lp3d_workflows.live import LineServer

    server = LineServer(tmp_path / "lp3d.sock")
    try:
        with socket.socket(socket.AF_UNIX) as reader, socket.socket(socket.AF_UNIX) as idle:
            reader.connect(str(tmp_path / "lp3d.sock"))
            idle.connect(str(tmp_path / "lp3d.sock"))
            for _ in range(100):
                if server.n_clients == 2:
                    break
                time.sleep(0.01)
            server.send('{"frame": 0}')
            assert reader.recv(100) == b'{"frame": 0}\n'
            reader.setblocking(False)
            start = time.perf_counter()
            big = "x" * 100_000
            for _ in range(200):  # 20 MB to each client; the idle one is dropped instead of blocking
                server.send(big)
                try:
                    while reader.recv(1 << 20):
                        pass
                except BlockingIOError:
                    pass
            assert server.n_clients == 1 and time.perf_counter() - start < 10
    finally:
        server.close()
    assert not (tmp_path / "lp3d.sock").exists()


def test_camera_source_takes_synchronized_sets(session):
    """The OpenCV capture path (grab every camera, then decode each), with files standing in for devices."""
    import threading

    from lp3d_io.video import VideoReader
    from lp3d_workflows.live import CameraSource, _Mailbox

    views = ["cam0", "cam1", "cam2"]
    source = CameraSource(dict(zip(views, map(str, session["videos"]), strict=True)), max_frames=5)
    mailbox = _Mailbox(keep_all=True)
    sets = []
    thread = threading.Thread(target=source.run, args=(mailbox, threading.Event(), False))
    thread.start()
    while (item := mailbox.get()) is not None:
        sets.append(item)
    thread.join()
    source.close()
    assert [s.index for s in sets] == list(range(5)) and source.frame_sizes["cam0"] == (48, 48)
    for view, path in zip(views, session["videos"], strict=True):
        with VideoReader(path) as reader:
            np.testing.assert_array_equal(sets[3].frames[view], reader.read(3))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"sources": ["missing_cam0.mp4"]}, "UserError", "missing_cam0.mp4: no such video"),
        ({"sources": ["0", "1"]}, "UserError", "cameras: expected one device per view"),
        ({"lag": -1}, "UserError", "--lag: expected a number of frames >= 0"),
        ({"occupied": True}, "FileExistsError", "already exists and is not empty"),
    ],
)
def test_errors_are_one_line(session, tmp_path, change, error, message):
    from lp3d_workflows.live import run_live

    out = tmp_path / "live"
    if change.get("occupied"):
        out.mkdir()
        (out / "x").write_text("x")
    settings = _settings(session, realtime=False)
    if "lag" in change:
        from dataclasses import replace

        settings = replace(settings, lag=change["lag"])
    with pytest.raises(Exception) as err:
        run_live(session["run"], change.get("sources", session["videos"]), out, settings)
    assert type(err.value).__name__ == error
    assert message in str(err.value) and "\n" not in str(err.value)
