from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from lp3d_io.csv import from_pose_csv, to_pose_csv
from lp3d_io.grouping import candidate_views, group_prediction_files, match_view, member_token, read_predictions
from lp3d_io.pose_table import PoseTable


@pytest.mark.parametrize(
    ("name", "views", "expected"),
    [
        ("fly_Cam-A_rot.rng=0.csv", ["Cam-A", "Cam-B"], "Cam-A"),
        ("fly_Cam-AB_rot.rng=0.csv", ["Cam-A", "Cam-AB"], "Cam-AB"),  # longest match wins
        ("180607_004.train_frames=75.rng=0.bot.csv", ["top", "bot"], "bot"),
        ("robot_top.csv", ["top", "bot"], "top"),  # delimited beats embedded in a word
        ("session_side.csv", ["top", "bot"], None),
    ],
)
def test_match_view(name, views, expected):
    assert match_view(name, views) == expected


def test_match_view_ambiguous():
    with pytest.raises(ValueError, match=r"found \['bot', 'top'\]"):
        match_view("top_vs_bot.csv", ["top", "bot"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.rng=3.csv", "rng=3"),
        ("model_seed_12_top.csv", "seed_12"),
        ("member-0.csv", "member-0"),
        ("strong1.csv", None),
    ],
)
def test_member_token(name, expected):
    assert member_token(name) == expected


def _touch(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_text("")
    return [folder / n for n in names]


def test_group_real_fly_files(fly_dir):
    files = sorted(fly_dir.glob("*.csv"))
    grouped = group_prediction_files(files, ["Cam-A", "Cam-B", "Cam-C"])
    assert list(grouped) == [(f"rng={m}", v) for m in range(3) for v in ("Cam-A", "Cam-B", "Cam-C")]
    for (member, view), path in grouped.items():
        assert view in path.name and path.name.endswith(f"{member}.csv")


def test_group_by_name_template_without_seeds(tmp_path):
    files = _touch(tmp_path, ["modelB_top.csv", "modelA_bot.csv", "modelA_top.csv", "modelB_bot.csv"])
    grouped = group_prediction_files(files, ["top", "bot"])
    assert {k: p.name for k, p in grouped.items()} == {
        ("member_0", "top"): "modelA_top.csv",
        ("member_0", "bot"): "modelA_bot.csv",
        ("member_1", "top"): "modelB_top.csv",
        ("member_1", "bot"): "modelB_bot.csv",
    }


def test_group_single_view_and_natural_member_order(tmp_path):
    files = _touch(tmp_path, [f"pred.rng={i}.csv" for i in (10, 2, 1)])
    grouped = group_prediction_files(files)
    assert list(grouped) == [("rng=1", "view_0"), ("rng=2", "view_0"), ("rng=10", "view_0")]


@pytest.mark.parametrize(
    ("names", "views"),
    [
        (["s.rng=0.top.csv", "s.rng=0.bot.csv", "s.rng=1.top.csv", "s.rng=1.bot.csv"], ["bot", "top"]),
        ([f"fly_{v}_x.rng={m}.csv" for m in (0, 1) for v in ("camA", "camB")], ["camA", "camB"]),
        (["pred.rng=0.csv", "pred.rng=1.csv"], None),  # one view: the names differ only in the seed
        (["top_a.csv", "bot_a.csv"], None),  # no seeds: nothing to tell members from views
    ],
    ids=["suffix", "infix", "one view", "no seeds"],
)
def test_names_that_differ_beyond_the_seed_need_view_names(tmp_path, names, views):
    files = _touch(tmp_path, names)
    assert candidate_views(files) == views
    if views is None:
        return
    with pytest.raises(ValueError, match=rf"look like several views \({', '.join(views)}\); pass view_names="):
        group_prediction_files(files)
    assert {v for _, v in group_prediction_files(files, views)} == set(views)


def test_group_with_mapping_fallback(tmp_path):
    files = _touch(tmp_path, ["a.rng=0.top.csv", "a.rng=0.bot.csv", "a.rng=1.top.csv", "weird_name.csv"])
    with pytest.raises(ValueError, match=r"match none: weird_name.csv"):
        group_prediction_files(files, ["top", "bot"])
    grouped = group_prediction_files(files, ["top", "bot"], mapping={"weird_name.csv": ("rng=1", "bot")})
    assert grouped[("rng=1", "bot")].name == "weird_name.csv"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["x.rng=0.top.csv", "y.rng=0.top.csv", "x.rng=0.bot.csv"], r"x.rng=0.top.csv and y.rng=0.top.csv"),
        (
            ["x.rng=0.top.csv", "x.rng=0.bot.csv", "x.rng=1.top.csv"],
            r"member 'rng=1' lacks views \['bot'\] \(has x.rng=1.top.csv\)",
        ),
        (["x.rng=0.top_bot.csv"], r"found \['bot', 'top'\]"),
    ],
    ids=["duplicate", "missing view", "ambiguous"],
)
def test_group_errors_list_files(tmp_path, names, message):
    with pytest.raises(ValueError, match=message):
        group_prediction_files(_touch(tmp_path, names), ["top", "bot"])


def test_group_rejects_duplicated_view_names(tmp_path):
    with pytest.raises(ValueError, match=r"view_names: expected unique names, but \['top'\]"):
        group_prediction_files(_touch(tmp_path, ["a.top.csv"]), ["top", "top"])


def test_read_predictions_fly(fly_dir):
    ds = read_predictions(fly_dir, calibration=fly_dir / "calibration.toml", fps=100, session="fly4")
    assert ds.sizes == {"member": 3, "view": 3, "time": 500, "keypoint": 12, "individual": 1, "space": 2}
    assert list(ds["view"].values) == ["Cam-A", "Cam-B", "Cam-C"]
    assert ds.attrs["source_software"] == "Lightning Pose" and len(ds.attrs["source_files"]) == 9
    one = from_pose_csv(next(fly_dir.glob("*Cam-B*rng=2.csv")), dtype=np.float32)
    np.testing.assert_array_equal(ds["position"].sel(member="rng=2", view="Cam-B").values, one.position)
    np.testing.assert_array_equal(ds["confidence"].sel(member="rng=2", view="Cam-B").values, one.confidence)


def test_read_predictions_mirror_mouse(mirror_mouse_dir):
    ds = read_predictions(mirror_mouse_dir, ["top", "bot"])
    assert ds.sizes["member"] == 5 and list(ds["member"].values) == [f"rng={i}" for i in range(5)]
    assert ds.sizes["time"] == 501


def test_read_predictions_calibration_must_cover_views(fly_dir):
    pytest.importorskip("lp3d_eks")
    with pytest.raises(ValueError, match=r"missing cameras \['Cam-D'\]"):
        read_predictions(fly_dir, ["Cam-A", "Cam-D"], calibration=fly_dir / "calibration.toml")


def _two_views(tmp_path: Path, top_kwargs: dict, bot_kwargs: dict) -> Path:
    rng = np.random.default_rng(7)
    for view, kw in (("top", top_kwargs), ("bot", bot_kwargs)):
        T = kw.get("T", 10)
        names = kw.get("names", ["a", "b"])
        table = PoseTable.from_numpy(rng.normal(size=(T, len(names), 2)), keypoint_names=names, index=kw.get("index"))
        to_pose_csv(table, tmp_path / f"s.rng=0.{view}.csv")
    return tmp_path


def test_read_predictions_keeps_frame_numbers(tmp_path):
    folder = _two_views(tmp_path, {"index": np.arange(100, 110)}, {"index": np.arange(100, 110)})
    ds = read_predictions(folder, ["top", "bot"])
    assert ds["time"].values.tolist() == list(range(100, 110))
    assert np.isnan(ds["confidence"].values).all()  # no likelihood columns


def test_read_predictions_ignores_other_files(tmp_path, fly_dir):
    for p in list(fly_dir.glob("*Cam-A*rng=0.csv")) + list(fly_dir.glob("*Cam-B*rng=0.csv")):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "notes.txt").write_text("not a prediction")
    ds = read_predictions(tmp_path, ["Cam-A", "Cam-B"])
    assert ds.sizes["member"] == 1 and ds.sizes["view"] == 2
