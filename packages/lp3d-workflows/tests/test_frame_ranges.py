"""Option values given as text: name lists, positive numbers, frame ranges."""

from __future__ import annotations

import pytest
from lp3d_cli.errors import UserError
from lp3d_cli.parsing import parse_frame_ranges, parse_positive_numbers, resolve_frame_ranges, split_names


def test_split_names_accepts_repeats_and_commas():
    assert split_names(["top,bot", " side "]) == ["top", "bot", "side"]
    assert split_names(None) is None
    assert split_names([" , "]) is None


def test_positive_numbers():
    assert parse_positive_numbers(["1.5,2", "3e-2"], "--s") == (1.5, 2.0, 0.03)
    assert parse_positive_numbers(None, "--s") is None


@pytest.mark.parametrize("text", ["abc", "0", "-1", "inf", "nan", "1,,x"])
def test_bad_numbers(text):
    with pytest.raises(UserError, match=r"^--s: expected positive numbers, but got '"):
        parse_positive_numbers([text], "--s")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:100,200:300", [(0, 100), (200, 300)]),
        (" 0 : 100 ", [(0, 100)]),
        ("500", [(0, 500)]),
        (":100,1000:", [(None, 100), (1000, None)]),
        ("[(0,100),(200, 300)]", [(0, 100), (200, 300)]),
        ("(5,10)", [(5, 10)]),
        (None, None),
    ],
)
def test_frame_ranges(text, expected):
    assert parse_frame_ranges(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "expected ranges like '0:500,1000:1500'"),
        ("0-100", "expected ranges like"),
        ("", "expected ranges like"),
        ("0:100,", "expected ranges like"),
        ("[(0,100)", "expected ranges like"),
        ("[(0,100),x]", "expected ranges like"),
        ("100:50", "expected START < STOP in each range, but got '100:50'"),
        ("-5:10", "expected non-negative frame numbers, but got -5"),
    ],
)
def test_bad_frame_ranges(text, message):
    with pytest.raises(UserError, match=f"^--s-frames: {message}".replace("(", r"\(").replace(")", r"\)")):
        parse_frame_ranges(text)


def test_resolve_closes_open_ends_and_checks_the_session_length():
    assert resolve_frame_ranges([(None, 100), (400, None)], 500) == [(0, 100), (400, 500)]
    assert resolve_frame_ranges(None, 500) is None
    with pytest.raises(UserError, match="within the 500 frames of the session, but got 400:600"):
        resolve_frame_ranges([(400, 600)], 500)
    with pytest.raises(UserError, match="within the 500 frames of the session, but got 500:"):
        resolve_frame_ranges([(500, None)], 500)
    with pytest.raises(UserError, match="at least 2 frames in each range, but 498:499 has 1"):
        resolve_frame_ranges([(498, 499)], 500)
