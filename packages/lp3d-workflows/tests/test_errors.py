"""Which errors a front end shows as the user's to fix, and how batch items record them."""

from __future__ import annotations

import pytest
from lp3d_workflows.errors import MissingExtraError, UserError, failure_fields, is_user_error, one_line


@pytest.mark.parametrize(
    "err",
    [
        UserError("--s: expected positive numbers"),
        FileNotFoundError(2, "No such file or directory", "a.csv"),
        ImportError("reading .slp files needs sleap-io: pip install 'lp3d-io[sleap]'"),
        MissingExtraError("this needs lp3d-models"),
    ],
)
def test_fixable_errors_are_user_errors(err):
    assert is_user_error(err)


@pytest.mark.parametrize("err", [RuntimeError("boom"), KeyError("x"), ZeroDivisionError()])
def test_bugs_are_not_user_errors(err):
    assert not is_user_error(err)


def test_one_line_names_the_file_of_an_os_error():
    assert one_line(FileNotFoundError(2, "No such file or directory", "a.csv")) == "a.csv: No such file or directory"
    assert one_line(ValueError("two\n  lines")) == "two lines"


def test_failure_fields_of_a_batch_item():
    try:
        raise ValueError("bad\ninput")
    except ValueError as err:
        fields = failure_fields(err)
    assert fields["error"] == "bad input" and fields["user_error"] is True
    assert "ValueError" in fields["traceback"]
