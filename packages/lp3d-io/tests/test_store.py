from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import lp3d_io.store as lstore
import numpy as np
import pytest
import xarray as xr
from lp3d_io.dataset import labels_dataset, smoothed_dataset
from lp3d_io.store import append_frames, list_groups, open_store, read_group, write_group


def test_open_store_creates_and_checks(tmp_path):
    path = tmp_path / "s.zarr"
    with pytest.raises(FileNotFoundError, match="no store there"):
        open_store(path, "r")
    store = open_store(path, session="mouse1")
    assert store.format_version == lstore.STORE_FORMAT and store.session == "mouse1"
    assert open_store(path, "r").session == "mouse1"
    with pytest.raises(ValueError, match="expected session 'mouse2'"):
        open_store(path, session="mouse2")
    with pytest.raises(ValueError, match="opened read-only"):
        write_group(open_store(path, "r"), "predictions/x", xr.Dataset())


@pytest.mark.parametrize("small", [True, False])
def test_predictions_round_trip_is_lazy_and_chunked(tmp_path, make_predictions, monkeypatch, small):
    if not small:
        monkeypatch.setattr(lstore, "SMALL_VARIABLE_BYTES", 10_000)  # position is 57,600 bytes
    ds = make_predictions(M=2, V=3, T=300, K=4, fps=60, session="s")
    write_group(tmp_path / "s.zarr", "predictions/ensemble", ds, time_chunk=128)
    back = read_group(tmp_path / "s.zarr", "predictions/ensemble")
    assert back["position"].encoding["chunks"] == (2, 3, 128, 4, 1, 2)  # whole frames, every keypoint
    if back["position"].chunks is not None:  # dask installed
        assert back["position"].chunks[2] == (128, 128, 44) and back["position"].chunks[3] == (4,)
    xr.testing.assert_identical(back.load(), ds)
    assert list_groups(tmp_path / "s.zarr") == ["predictions/ensemble"]
    compressor = (tmp_path / "s.zarr" / "predictions" / "ensemble" / "position" / ".zarray").read_text()
    assert ('"compressor": null' in compressor) == small  # large variables are Blosc-compressed
    # A session shorter than time_chunk is one chunk along time (no padding).
    write_group(tmp_path / "s.zarr", "predictions/short", ds.isel(time=slice(0, 50)), time_chunk=128)
    assert read_group(tmp_path / "s.zarr", "predictions/short")["position"].encoding["chunks"][2] == 50


def test_one_frame_reads_only_its_chunks(tmp_path, make_predictions, monkeypatch):
    monkeypatch.setattr(lstore, "SMALL_VARIABLE_BYTES", 0)  # a long session: compressed frame chunks
    monkeypatch.setattr(lstore, "CHUNK_BYTES", 1000)  # position: 48 bytes a frame -> 16 frames a chunk
    ds = make_predictions(M=1, V=2, T=100, K=3)
    write_group(tmp_path / "s.zarr", "predictions/p", ds)
    folder = tmp_path / "s.zarr" / "predictions" / "p" / "position"
    assert read_group(tmp_path / "s.zarr", "predictions/p")["position"].encoding["chunks"] == (1, 2, 16, 3, 1, 2)
    for chunk in folder.glob("*.*.2.*.*.*"):  # frames 32..47 become garbage
        chunk.write_bytes(b"garbage")
    back = read_group(tmp_path / "s.zarr", "predictions/p")
    for frames in (slice(0, 32), slice(48, 100)):
        got, want = (d["position"].isel(time=frames).values for d in (back, ds))
        np.testing.assert_array_equal(got, want)
    with pytest.raises(RuntimeError, match="blosc"):  # the garbage reaches the codec
        back["position"].isel(time=40).load()


@pytest.mark.parametrize(
    ("per_frame", "time_chunk", "frames", "expected"),
    [
        (1280, 4096, 100_000, 128),  # 4 views x 20 keypoints x 2 x float64: 160 KiB chunks
        (3200, 4096, 100_000, 64),  # 5 members x 4 views x 20 keypoints x 2 x float32: 200 KiB
        (8, 4096, 1_000_000, 4096),  # at most time_chunk
        (1 << 20, 4096, 100_000, 16),  # at least MIN_TIME_CHUNK
        (1 << 19, 4096, 10, 10),  # no longer than the session (a group that grows: 16)
    ],
)
def test_large_arrays_are_chunked_by_whole_frames_of_about_256_kib(per_frame, time_chunk, frames, expected):
    dims = ("view", "time", "keypoint", "image_space")
    chunks, compressed = lstore.storage(dims, (per_frame // 8, frames, 1, 1), 8, time_chunk)
    assert chunks == (per_frame // 8, expected, 1, 1) and compressed
    growing, _ = lstore.storage(dims, (per_frame // 8, 10, 1, 1), 8, time_chunk, growable=True)
    assert growing[1] == (16 if frames == 10 else expected)  # not capped by its length


@pytest.mark.parametrize("kind", ["calibrated", "linear"])
def test_smoothed_and_labels_round_trip(tmp_path, make_result, kind):
    res = make_result(kind, V=3, T=30, K=2)
    ds = smoothed_dataset(res, view_names=["a", "b", "c"], keypoint_names=["p", "q"], fps=30, source_files=["x.csv"])
    write_group(tmp_path / "s.zarr", "smoothed/eks", ds)
    xr.testing.assert_identical(read_group(tmp_path / "s.zarr", "smoothed/eks").load(), ds)
    rng = np.random.default_rng(0)
    paths = np.array([[f"labeled-data/{v}/img{i:03d}.png" for i in range(7)] for v in "abc"])
    labels = labels_dataset(rng.normal(size=(3, 7, 2, 2)), paths, view_names=list("abc"), keypoint_names=["p", "q"])
    write_group(tmp_path / "s.zarr", "labels/train", labels)
    xr.testing.assert_identical(read_group(tmp_path / "s.zarr", "labels/train").load(), labels)
    assert list_groups(tmp_path / "s.zarr") == ["smoothed/eks", "labels/train"]


def test_calibration_in_store(tmp_path, fly_dir):
    pytest.importorskip("lp3d_eks")
    from lp3d_io.calibration import from_anipose_toml
    from lp3d_io.store import read_calibration, write_calibration

    rig = from_anipose_toml(fly_dir / "calibration.toml")
    write_calibration(tmp_path / "s.zarr", rig)
    back = read_calibration(tmp_path / "s.zarr")
    assert back.names == rig.names and back.metadata == rig.metadata
    np.testing.assert_array_equal(back["Cam-C"].rvec, rig["Cam-C"].rvec)


def test_overwrite_rules(tmp_path, make_predictions, monkeypatch):
    store = open_store(tmp_path / "s.zarr")
    first, second = make_predictions(T=10, seed=1), make_predictions(T=12, seed=2)
    write_group(store, "predictions/p", first)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        write_group(store, "predictions/p", second)

    def fail(path):
        raise OSError("disk full")

    monkeypatch.setattr(lstore, "_commit", fail)
    with pytest.raises(OSError, match="disk full"):
        write_group(store, "predictions/p", second, overwrite=True)
    monkeypatch.undo()
    xr.testing.assert_identical(read_group(store, "predictions/p").load(), first)  # old group intact
    assert sorted(p.name for p in (tmp_path / "s.zarr" / "predictions").iterdir()) == [
        ".zattrs",
        ".zgroup",
        "p",
    ]  # no temp left
    write_group(store, "predictions/p", second, overwrite=True)
    xr.testing.assert_identical(read_group(store, "predictions/p").load(), second)


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("predictions", "expected 'predictions/<name>'"),
        ("predictions/a/b", "expected 'predictions/<name>'"),
        ("predictions/.hidden", "expected 'predictions/<name>'"),
        ("smoothed/x", "expected a smoothed dataset, but got lp3d_kind='predictions'"),
    ],
)
def test_group_names_are_checked(tmp_path, make_predictions, group, message):
    with pytest.raises(ValueError, match=message):
        write_group(tmp_path / "s.zarr", group, make_predictions(T=3))


def test_read_missing_group_lists_groups(tmp_path, make_predictions):
    write_group(tmp_path / "s.zarr", "predictions/a", make_predictions(T=3))
    with pytest.raises(
        FileNotFoundError, match=r"expected a group 'predictions/b', but the store has \['predictions/a'\]"
    ):
        read_group(tmp_path / "s.zarr", "predictions/b")


def test_append_frames_streams(tmp_path, make_predictions):
    full = make_predictions(M=2, V=2, T=50, K=3, seed=3)
    store = open_store(tmp_path / "s.zarr")
    counts = []
    for start in range(0, 50, 7):  # chunks of 7 frames cross the 16-frame zarr chunks
        piece = full.isel(time=slice(start, start + 7))
        piece = piece.assign_coords(time=np.arange(piece.sizes["time"]))  # numbered from 0: continued
        counts.append(append_frames(store, "predictions/live", piece, time_chunk=16))
    assert counts == [7, 14, 21, 28, 35, 42, 49, 50]
    back = read_group(store, "predictions/live")
    assert back["position"].encoding["chunks"][2] == 16
    xr.testing.assert_identical(back.load(), full)


@pytest.mark.parametrize("individuals", [1, 2])
def test_an_appended_group_of_unequal_frame_chunks_exports_to_csvs(tmp_path, make_predictions, individuals):
    from lp3d_io import read_predictions, to_prediction_csvs

    full = make_predictions(M=2, V=2, T=600, K=11, I=individuals, seed=4)
    store = open_store(tmp_path / "s.zarr")
    for start in range(0, 600, 50):
        append_frames(store, "predictions/live", full.isel(time=slice(start, start + 50)))
    back = read_group(store, "predictions/live")
    chunks = {name: back[name].encoding["chunks"][2] for name in ("position", "confidence")}
    assert chunks["position"] < chunks["confidence"]  # each array its own frames per chunk
    to_prediction_csvs(back, tmp_path / "csv")
    again = read_predictions(tmp_path / "csv", ["cam0", "cam1"])
    np.testing.assert_array_equal(again["position"].values, full["position"].values)
    np.testing.assert_array_equal(again["individual"].values, full["individual"].values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda ds: ds.assign_coords(keypoint=["a", "b", "c"]),
            r"coordinate 'keypoint': expected \['kp0', 'kp1', 'kp2'\]",
        ),
        (lambda ds: ds.assign_coords(time=ds["time"].values + 3), r"expected time 5..9 \(continuing the store\)"),
        (lambda ds: ds.drop_vars("confidence").assign(confidence=ds["confidence"].isel(member=0)), "confidence"),
    ],
    ids=["keypoints", "time", "dims"],
)
def test_append_frames_checks_chunks(tmp_path, make_predictions, change, message):
    ds = make_predictions(T=5, K=3)
    append_frames(tmp_path / "s.zarr", "predictions/live", ds)
    with pytest.raises(ValueError, match=message):
        append_frames(tmp_path / "s.zarr", "predictions/live", change(ds))
    assert read_group(tmp_path / "s.zarr", "predictions/live").sizes["time"] == 5


# --- a writer killed mid-append -------------------------------------------------------------------

CHUNK = 5

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from lp3d_io.dataset import predictions_dataset
    from lp3d_io.store import append_frames, open_store

    path, kill_at = sys.argv[1], sys.argv[2]
    chunk = int(sys.argv[3])
    M, V, K = 2, 2, 3

    def frames(t0, n):
        t = np.arange(t0, t0 + n, dtype=np.float64)
        pos = t[None, None, :, None, None, None] * 10 + np.arange(K)[:, None, None] + np.array([0.25, 0.5])
        pos = np.broadcast_to(pos, (M, V, n, K, 1, 2)).astype(np.float32)
        conf = np.broadcast_to((t % 97 / 97)[None, None, :, None, None], (M, V, n, K, 1)).astype(np.float32)
        return predictions_dataset(pos, conf, view_names=["a", "b"], keypoint_names=["k0", "k1", "k2"])

    store = open_store(path)
    real_replace = os.replace
    calls = [0]

    def replace(src, dst):
        calls[0] += 1
        hit = kill_at == "commit" and str(dst).endswith(".zmetadata") or kill_at == str(calls[0])
        if armed[0] and hit:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    armed = [False]
    os.replace = replace
    n = 0
    while True:
        if kill_at != "never" and n == 2 * chunk:
            armed[0], calls[0] = True, 0
        n = append_frames(store, "predictions/live", frames(n, chunk), time_chunk=8)
        print(n, flush=True)
    """
)


def _expected_position(n: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    pos = t[None, None, :, None, None, None] * 10 + np.arange(3)[:, None, None] + np.array([0.25, 0.5])
    return np.broadcast_to(pos, (2, 2, n, 3, 1, 2)).astype(np.float32)


def _check_consistent(path, at_least: int, at_most: int) -> int:
    ds = read_group(path, "predictions/live").load()
    n = ds.sizes["time"]
    assert at_least <= n <= at_most and n % CHUNK == 0
    assert ds["time"].values.tolist() == list(range(n))
    np.testing.assert_array_equal(ds["position"].values, _expected_position(n))
    return n


def _recover(path, n: int) -> None:
    """The next writer continues from the committed length, and the result reads back whole."""
    ds = read_group(path, "predictions/live").isel(time=slice(0, CHUNK)).load()
    more = ds.assign(position=ds["position"] + n * 10.0)
    assert append_frames(path, "predictions/live", more) == n + CHUNK
    _check_consistent(path, n + CHUNK, n + CHUNK)


@pytest.mark.parametrize("kill_at", ["1", "4", "commit"])
def test_writer_killed_mid_append_leaves_store_readable(tmp_path, kill_at):
    path = tmp_path / "s.zarr"
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), kill_at, str(CHUNK)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.split() == [str(CHUNK), str(2 * CHUNK)]  # killed during the third append
    n = _check_consistent(path, 2 * CHUNK, 2 * CHUNK)
    _recover(path, n)


def test_writer_killed_at_a_random_moment(tmp_path):
    path = tmp_path / "s.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "never", str(CHUNK)], stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in range(4):  # let it commit a few appends, then kill it wherever it is
            last = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    n = _check_consistent(path, last, last + 3 * CHUNK)
    _recover(path, n)


def test_lazy_without_dask(tmp_path, make_predictions, monkeypatch):
    ds = make_predictions(T=20)
    write_group(tmp_path / "s.zarr", "predictions/p", ds)
    monkeypatch.setattr(lstore, "lazy_chunks", lambda: None)  # as if dask were not installed
    back = read_group(tmp_path / "s.zarr", "predictions/p")
    assert back["position"].chunks is None
    np.testing.assert_array_equal(
        back["position"].isel(time=slice(3, 6)).values, ds["position"].isel(time=slice(3, 6)).values
    )


# --- the numpy writer and the zarr writer ---------------------------------------------------------


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("small", [True, False])
def test_numpy_writer_writes_what_the_zarr_writer_writes(tmp_path, make_result, monkeypatch, small):
    from lp3d_io.calibration import calibration_arrays
    from lp3d_io.dataset import NumpyDataset, labels_arrays, predictions_arrays, smoothed_arrays
    from lp3d_io.synthetic import make_rig

    if not small:
        monkeypatch.setattr(lstore, "SMALL_VARIABLE_BYTES", 1000)  # compressed chunks
    rng = np.random.default_rng(8)
    position = rng.uniform(0, 500, size=(2, 3, 70, 4, 2, 2)).astype(np.float32)
    position[rng.uniform(size=position.shape) < 0.1] = np.nan
    specs = {
        "predictions/ens": predictions_arrays(
            position, rng.uniform(size=position.shape[:-1]), view_names=["a", "b", "c"], keypoint_names=list("pqrs"),
            individual_names=["m1", "m2"], fps=50, session="s", source_files=["x.csv"], time=np.arange(10, 80),
        ),
        "smoothed/eks": smoothed_arrays(make_result("linear", V=3, T=70, K=4), view_names=["a", "b", "c"],
                                      keypoint_names=list("pqrs"), session="s"),
        "labels/train": labels_arrays(rng.normal(size=(3, 5, 4, 2)),
                                    np.array([[f"labeled-data/{v}/img{i}.png" for i in range(5)] for v in "abc"]),
                                    view_names=["a", "b", "c"], keypoint_names=list("pqrs")),
        "calibration": calibration_arrays(make_rig(3)),
    }  # fmt: skip
    for group, spec in specs.items():
        write_group(tmp_path / "numpy.zarr", group, spec, time_chunk=32)  # numpy + json, no zarr
        write_group(tmp_path / "zarr.zarr", group, spec.to_xarray(), time_chunk=32)  # through xarray and zarr
        numpy_back, zarr_back = (read_group(tmp_path / f"{w}.zarr", group).load() for w in ("numpy", "zarr"))
        xr.testing.assert_identical(numpy_back, zarr_back)
        xr.testing.assert_identical(numpy_back, spec.to_xarray())
        for name in numpy_back.variables:
            assert numpy_back[name].encoding["chunks"] == zarr_back[name].encoding["chunks"], name
        assert NumpyDataset.from_xarray(numpy_back).sizes == spec.sizes
    # Same files, byte for byte: metadata, attributes, _ARRAY_DIMENSIONS, chunk keys and padded chunks.
    assert _files(tmp_path / "numpy.zarr") == _files(tmp_path / "zarr.zarr")
    chunks = read_group(tmp_path / "numpy.zarr", "predictions/ens")["position"].encoding["chunks"]
    assert chunks == (2, 3, 32, 4, 2, 2)

    import zarr  # plain zarr reads it too, and consolidates the metadata as the commit does

    for group in specs:
        committed = (tmp_path / "numpy.zarr" / group / ".zmetadata").read_bytes()
        zarr.consolidate_metadata(str(tmp_path / "numpy.zarr" / group), zarr_format=2)
        assert (tmp_path / "numpy.zarr" / group / ".zmetadata").read_bytes() == committed
    group = zarr.open_group(tmp_path / "numpy.zarr" / "predictions" / "ens", mode="r", zarr_format=2)
    np.testing.assert_array_equal(group["position"][:], position)
    assert group["position"].attrs["_ARRAY_DIMENSIONS"] == ["member", "view", "time", "keypoint", "individual", "space"]
    assert zarr.open_group(tmp_path / "numpy.zarr", mode="r").attrs["lp3d_store_format"] == lstore.STORE_FORMAT


def test_appending_to_a_group_written_by_numpy(tmp_path, make_predictions):
    from lp3d_io.dataset import NumpyDataset

    full = make_predictions(M=2, V=2, T=30, K=3, seed=4)
    write_group(tmp_path / "s.zarr", "predictions/p", NumpyDataset.from_xarray(full.isel(time=slice(0, 20))))
    piece = full.isel(time=slice(20, 30))
    assert append_frames(tmp_path / "s.zarr", "predictions/p", piece.assign_coords(time=np.arange(10))) == 30
    xr.testing.assert_identical(read_group(tmp_path / "s.zarr", "predictions/p").load(), full)


def test_writing_a_store_imports_neither_zarr_nor_xarray(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from lp3d_io.dataset import predictions_arrays
        from lp3d_io.store import open_store, write_group
        spec = predictions_arrays(np.zeros((1, 2, 5, 3, 2)), view_names=["a", "b"], keypoint_names=["p", "q", "r"])
        write_group(open_store({str(tmp_path / "s.zarr")!r}, session="s"), "predictions/p", spec)
        print(sorted({{"zarr", "xarray", "pandas", "numcodecs", "dask"}} & {{m.split(".")[0] for m in sys.modules}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert read_group(tmp_path / "s.zarr", "predictions/p").sizes["time"] == 5
