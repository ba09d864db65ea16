"""Frame ranges given as text (the command line's --s-frames, the app's forms)."""

from __future__ import annotations

import pytest
from lp3d_workflows.errors import UserError
from lp3d_workflows.frame_ranges import parse_frame_ranges, resolve_frame_ranges


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
