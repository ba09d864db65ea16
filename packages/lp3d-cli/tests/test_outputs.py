"""Outputs appear whole or not at all, and replace an earlier output only on success."""

from __future__ import annotations

import os

import pytest
from lp3d_cli.errors import UserError
from lp3d_cli.outputs import check_target, is_occupied, staged_directory, staged_path


def _hidden(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_staged_directory_appears_on_success(tmp_path):
    target = tmp_path / "deep" / "out"
    with staged_directory(target) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert _hidden(target.parent) == []


def test_failure_leaves_nothing_and_keeps_the_previous_output(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), staged_directory(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert not target.exists() and _hidden(tmp_path) == []

    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), staged_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    with staged_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert _hidden(tmp_path) == []


def test_staged_path_needs_something_written(tmp_path):
    with pytest.raises(RuntimeError, match="nothing was written"), staged_path(tmp_path / "x.zarr"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with staged_directory(tmp_path / "out") as tmp:
            (tmp / "a").write_text("a")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750


def test_check_target(tmp_path):
    check_target(tmp_path / "new", overwrite=False)
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty", overwrite=False)
    assert not is_occupied(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UserError, match="already exists and is not empty \\(pass --overwrite to replace it\\)"):
        check_target(tmp_path / "full", overwrite=False)
    check_target(tmp_path / "full", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="expected a folder, but it is a file"):
        check_target(tmp_path / "file", overwrite=True)
    with pytest.raises(UserError, match="to be a folder, but it is a file"):
        check_target(tmp_path / "file" / "out", overwrite=True)
