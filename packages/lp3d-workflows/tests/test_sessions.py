"""INPUT arguments to sessions, where their outputs go, and reading a session's predictions."""

from __future__ import annotations

import pytest
from lp3d_workflows.batch import plan_outputs
from lp3d_workflows.errors import UserError
from lp3d_workflows.sessions import PredictionSession, find_prediction_sessions, load_predictions

TOP_BOT = ["s.rng=0.top.csv", "s.rng=0.bot.csv", "s.rng=1.top.csv", "s.rng=1.bot.csv"]


def test_a_folder_of_files_is_one_session(tmp_path, csvs):
    files = csvs(tmp_path / "mouse", TOP_BOT)
    (tmp_path / "mouse" / "calibration.toml").write_text("")
    (sessions,) = find_prediction_sessions([tmp_path / "mouse"])
    assert sessions == PredictionSession("mouse", tuple(sorted(files)))
    (sessions,) = find_prediction_sessions(files[:2])
    assert sessions.name == "mouse" and sessions.paths == tuple(files[:2]) and not sessions.batch


def test_a_folder_of_session_folders_is_a_batch(tmp_path, csvs):
    csvs(tmp_path / "all" / "day1", TOP_BOT)
    csvs(tmp_path / "all" / "day2", TOP_BOT)
    (tmp_path / "all" / "empty").mkdir()
    (tmp_path / "all" / ".hidden").mkdir()
    sessions = find_prediction_sessions([tmp_path / "all"])
    assert [s.name for s in sessions] == ["day1", "day2"]
    assert all(s.batch and len(s.paths) == 4 for s in sessions)
    outs = plan_outputs(sessions, tmp_path / "out", overwrite=False)
    assert outs == [tmp_path / "out" / "day1", tmp_path / "out" / "day2"]
    (tmp_path / "out" / "day2").mkdir(parents=True)
    (tmp_path / "out" / "day2" / "x").write_text("x")
    with pytest.raises(UserError, match=r"day2 already exists \(pass --overwrite to replace\)"):
        plan_outputs(sessions, tmp_path / "out", overwrite=False)
    assert plan_outputs(sessions[:1], tmp_path / "out", overwrite=False) == [tmp_path / "out" / "day1"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "expected prediction files"),
        (lambda p: (p / "nothing").mkdir() or p / "nothing", "expected prediction files .* or session folders"),
    ],
)
def test_bad_inputs(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        find_prediction_sessions([make(tmp_path)])


def test_sessions_need_distinct_names(tmp_path, csvs):
    csvs(tmp_path / "a" / "day1", TOP_BOT[:1])
    csvs(tmp_path / "b" / "day1", TOP_BOT[:1])
    with pytest.raises(UserError, match=r"distinct names, but \['day1'\]"):
        find_prediction_sessions([tmp_path / "a" / "day1", tmp_path / "b" / "day1"])


def test_views_are_asked_for_when_names_differ_beyond_the_seed(tmp_path, csvs):
    csvs(tmp_path / "m", TOP_BOT)
    (session,) = find_prediction_sessions([tmp_path / "m"])
    with pytest.raises(UserError, match="look like several views \\(bot, top\\); .* e.g. --views bot,top"):
        load_predictions(session)
    ds = load_predictions(session, view_names=["top", "bot"])
    assert list(ds["view"].values) == ["top", "bot"] and list(ds["member"].values) == ["rng=0", "rng=1"]
    single = find_prediction_sessions([tmp_path / "m" / "s.rng=0.top.csv", tmp_path / "m" / "s.rng=1.top.csv"])[0]
    assert load_predictions(single).sizes["member"] == 2  # one view, two members: nothing to ask


def test_files_of_other_views_are_skipped_and_missing_views_named(tmp_path, csvs, caplog):
    csvs(tmp_path / "m", TOP_BOT + ["s.rng=0.side.csv"])
    (session,) = find_prediction_sessions([tmp_path / "m"])
    ds = load_predictions(session, view_names=["top", "bot"])
    assert ds.sizes["view"] == 2
    assert "skipping 1 file(s) naming none of the views ['top', 'bot']: s.rng=0.side.csv" in caplog.text
    with pytest.raises(UserError, match="expected view 'front' \\(from --views\\) in the name of a prediction file"):
        load_predictions(session, view_names=["top", "front"])
