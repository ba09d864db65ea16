"""Options of the model commands given as text: per-view frame offsets and crop boxes."""

from __future__ import annotations

import pytest
from lp3d_cli.parsing import parse_crops, parse_offsets
from lp3d_workflows.errors import UserError


def test_offsets():
    assert parse_offsets(["top=12", " bot = 0 "]) == {"top": 12, "bot": 0}
    assert parse_offsets(None) is None


@pytest.mark.parametrize("value", ["top", "top=", "=3", "top=-1", "top=1.5", "top=x"])
def test_bad_offsets(value):
    with pytest.raises(UserError, match=r"^--offset: expected VIEW=FRAME"):
        parse_offsets([value])


def test_crops():
    assert parse_crops(["top=0,0,396,168", "bot=0, 168, 396, 238"]) == {
        "top": [0, 0, 396, 168],
        "bot": [0, 168, 396, 238],
    }
    assert parse_crops(None) is None


@pytest.mark.parametrize("values", [["top=0,0,396"], ["top=0,0,0,10"], ["top=a,0,1,1"], ["top=0,0,1,1", "top=0,0,2,2"]])
def test_bad_crops(values):
    with pytest.raises(UserError, match=r"^--crop: expected VIEW=X,Y,WIDTH,HEIGHT"):
        parse_crops(values)
