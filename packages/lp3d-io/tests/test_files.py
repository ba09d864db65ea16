"""Outputs appear whole or not at all, and replace an earlier output only on success."""

from __future__ import annotations

import os

import pytest
from lp3d_io.files import atomic_path, check_target, is_occupied, staged_directory, write_text_atomic


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
    with pytest.raises(RuntimeError, match="nothing was written"), atomic_path(tmp_path / "x.zarr", create=False):
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
    with pytest.raises(FileExistsError, match="already exists and is not empty \\(pass --overwrite to replace it\\)"):
        check_target(tmp_path / "full", overwrite=False)
    check_target(tmp_path / "full", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="expected a folder, but it is a file"):
        check_target(tmp_path / "file", overwrite=True)
    with pytest.raises(NotADirectoryError, match="to be a folder, but it is a file"):
        check_target(tmp_path / "file" / "out", overwrite=True)


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.csv"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n" and _hidden(tmp_path) == []
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_text("new\n")
    assert target.read_text() == "new\n" and _hidden(tmp_path) == []


def test_atomic_file_has_the_mode_of_a_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "a")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
