"""The command surface in-process: help with examples everywhere, the version, one-line usage errors."""

from __future__ import annotations

import pytest
from lp3d_cli.console import SETTINGS
from lp3d_cli.main import app, main

COMMANDS = ["smooth", "triangulate", "convert", "report", "info", "demo", "distill", "pipeline"]
COMMANDS += ["train", "predict", "evaluate", "init", "app"]  # lp3d-models' and lp3d-app's


@pytest.fixture(autouse=True)
def _reset_settings():
    yield
    SETTINGS.verbosity, SETTINGS.debug = 1, False


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out and f"lp3d {command}" in out
    for option in ("--quiet", "--verbose", "--debug"):
        assert option in out


def test_top_level_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lp3d 0.1.0 (lp3d-eks ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "lp3d: error: No such command 'bogus'. (see 'lp3d --help')"),
        (["smooth", "x", "--out", "o", "--frobnicate"], "lp3d smooth: error: No such option: --frobnicate"),
        (["report", "store.zarr"], "lp3d report: error: Missing option '--out'"),
    ],
)
def test_usage_errors_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(message)


def test_no_arguments_shows_the_help(capsys):
    assert main([]) == 2
    assert "Usage: lp3d" in capsys.readouterr().out


def test_quiet_and_verbose_before_or_after_the_command(tmp_path, capsys):
    assert main(["-q", "info", str(tmp_path / "none")]) == 2
    assert SETTINGS.verbosity == 0
    SETTINGS.verbosity = 1
    assert main(["info", str(tmp_path / "none"), "--verbose"]) == 2
    assert SETTINGS.verbosity == 2
    SETTINGS.verbosity = 1
    assert main(["init", str(tmp_path / "none"), "-q"]) == 2  # a command of lp3d-models
    assert SETTINGS.verbosity == 0


def test_console_script_is_the_app():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "lp3d"]
    assert script.value == "lp3d_cli.main:app" and script.load() is app
