"""Bad input: every case gives one line naming the file, the place in it, and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lp3d_io.csv import from_pose_csv, to_pose_csv
from lp3d_io.grouping import read_labels, read_predictions
from lp3d_io.pose_table import PoseTable
from lp3d_io.store import open_store, read_group

GOOD = (
    "scorer,lp,lp,lp,lp,lp,lp\nbodyparts,nose,nose,nose,tail,tail,tail\ncoords,x,y,likelihood,x,y,likelihood\n"
    + "".join(f"{t},{t}.5,{2 * t}.25,0.9,{t + 1},{t + 2},0.8\n" for t in range(5))
)


def _csv(text: str) -> Callable[[Path], Callable[[], object]]:
    def make(tmp: Path) -> Callable[[], object]:
        path = tmp / "pred.csv"
        path.write_text(text)
        return lambda: from_pose_csv(path)

    return make


def _views(top: dict, bot: dict) -> Callable[[Path], Callable[[], object]]:
    """Two views of one model, written from keyword overrides (keypoint names, frames)."""

    def make(tmp: Path) -> Callable[[], object]:
        rng = np.random.default_rng(0)
        for view, kw in (("top", top), ("bot", bot)):
            names = kw.get("names", ["nose", "tail"])
            table = PoseTable.from_numpy(rng.normal(size=(kw.get("T", 6), len(names), 2)), keypoint_names=names)
            to_pose_csv(table, tmp / f"s.rng=0.{view}.csv")
        return lambda: read_predictions(tmp, ["top", "bot"])

    return make


def _labels(tmp: Path) -> Callable[[], object]:
    rng = np.random.default_rng(1)
    for view, T in (("top", 4), ("bot", 3)):
        table = PoseTable.from_numpy(
            rng.normal(size=(T, 2, 2)), keypoint_names=["a", "b"], index=[f"img{i}.png" for i in range(T)]
        )
        to_pose_csv(table, tmp / f"CollectedData_{view}.csv")
    return lambda: read_labels(tmp, ["top", "bot"])


def _calibration(text: str) -> Callable[[Path], Callable[[], object]]:
    def make(tmp: Path) -> Callable[[], object]:
        pytest.importorskip("lp3d_eks")
        from lp3d_io.calibration import from_anipose_toml

        path = tmp / "calibration.toml"
        path.write_text(text)
        return lambda: from_anipose_toml(path)

    return make


CAM = """[cam_{i}]
name = "{name}"
size = [ 640, 480,]
matrix = [ [ 800.0, 0.0, 320.0,], [ 0.0, 800.0, 240.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.0, 0.0, 0.0, 0.0, 0.0,]
rotation = [ 0.0, 0.0, 0.0,]
{translation}
"""
TRANSLATION = "translation = [ 0.0, 0.0, 10.0,]"


def _newer_store(tmp: Path) -> Callable[[], object]:
    import zarr

    open_store(tmp / "s.zarr")
    zarr.open_group(tmp / "s.zarr", mode="r+", zarr_format=2).attrs["lp3d_store_format"] = 99
    return lambda: read_group(tmp / "s.zarr", "predictions/x")


CSV_CASES = {  # what: (the text of pred.csv, the error)
    "truncated csv": (GOOD + "5,5.5,10.25,0."[:9], r"line 9: expected 7 fields, but got 3 \(truncated file\?\)"),
    "truncated header": (
        "scorer,lp,lp\nbodyparts,nose,nose\n",
        r"line 3, column 1: expected 'coords'.*'<end of file>'",
    ),
    "empty file": ("", "empty file; expected a 3-row header"),
    "no data rows": (GOOD.split("0,")[0], "expected at least one data row"),
    "wrong first header row": (
        GOOD.replace("scorer", "frame", 1),
        r"line 1, column 1: expected 'scorer'.*but got 'frame'",
    ),
    "coords row missing": (
        GOOD.replace("coords,x,y,likelihood,x,y,likelihood\n", ""),
        r"line 3, column 1: expected 'coords' .*but got '0'",
    ),
    "ragged header": (GOOD.replace("tail,tail,tail", "tail,tail"), "line 2: expected 7 header fields"),
    "non-numeric cell": (
        GOOD.replace("3.5,6.25", "3.5,oops"),
        r"line 7, column 3 \(nose/y\): expected a number, but got 'oops'",
    ),
    "missing y column": (
        GOOD.replace("x,y,likelihood,x,y", "x,y,likelihood,x,z"),
        r"keypoint 'tail': expected a column 'y'",
    ),
    "repeated column": (
        GOOD.replace("tail,tail,tail", "nose,nose,nose"),
        r"columns 2 and 5: expected each individual_0/nose/x once",
    ),
}

CASES = [(what, _csv(text), "pred.csv", message) for what, (text, message) in CSV_CASES.items()] + [
    (
        "keypoints differ across views",
        _views({}, {"names": ["nose", "ear"]}),
        "s.rng=0.bot.csv",
        r"expected keypoints \['nose', 'tail'\] \(as in s.rng=0.top.csv\), but got \['nose', 'ear'\]",
    ),
    (
        "frame counts differ across views",
        _views({}, {"T": 5}),
        "s.rng=0.bot.csv",
        r"expected 6 rows \(as in s.rng=0.top.csv\), but got 5",
    ),
    (
        "label rows differ across views",
        _labels,
        "CollectedData_bot.csv",
        r"expected 4 rows \(as in CollectedData_top.csv\), but got 3",
    ),
    (
        "duplicated camera names",
        _calibration(
            CAM.format(i=0, name="Cam-A", translation=TRANSLATION)
            + CAM.format(i=1, name="Cam-A", translation=TRANSLATION)
        ),
        "calibration.toml",
        r"camera names must be unique, but \['Cam-A'\]",
    ),
    (
        "calibration missing a field",
        _calibration(CAM.format(i=0, name="A", translation=TRANSLATION) + CAM.format(i=1, name="B", translation="")),
        "calibration.toml",
        r"\[cam_1\] is missing field\(s\) translation",
    ),
    ("store from a newer version", _newer_store, "s.zarr", r"expected store format <= 1, but got 99"),
]


@pytest.mark.parametrize(("what", "make", "file_name", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(tmp_path, what, make, file_name, message):
    action = make(tmp_path)
    with pytest.raises(ValueError, match=message) as err:
        action()
    text = str(err.value)
    assert "\n" not in text
    assert file_name in text
