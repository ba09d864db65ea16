"""Option values given as text: name lists, positive numbers, seeds."""

from __future__ import annotations

import pytest
from lp3d_cli.parsing import parse_positive_numbers, parse_seeds, split_names
from lp3d_workflows.errors import UserError


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


def test_seeds():
    assert parse_seeds("0, 1,2") == [0, 1, 2]
    assert parse_seeds(None) is None
    with pytest.raises(UserError, match=r"^--seeds: expected comma-separated integers \(e.g. 0,1,2\), but got '0,x'"):
        parse_seeds("0,x")
