"""Terminal output: verbosity, rich tables and progress bars (rich is imported only when used).

Results (tables) go to stdout, messages, progress and errors to stderr, so
``lp3d smooth ... > summary.txt`` keeps the table alone. ``--quiet`` keeps only errors;
``--verbose`` adds details (files found, options, stage timings).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["SETTINGS", "Settings", "stdout", "stderr", "info", "detail", "warn", "failure", "print_table", "progress"]


@dataclass
class Settings:
    """Process-wide output settings, set once from the command line.

    Attributes:
        verbosity: 0 quiet, 1 normal, 2 verbose.
        debug: show tracebacks.
    """

    verbosity: int = 1
    debug: bool = False


SETTINGS = Settings()
_consoles: dict[str, Any] = {}


def _console(name: str):
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "stderr", highlight=False, soft_wrap=name == "stderr")
    return _consoles[name]


def stdout():
    """The rich console on stdout (results)."""
    return _console("stdout")


def stderr():
    """The rich console on stderr (messages, progress)."""
    return _console("stderr")


def info(message: str) -> None:
    """A message shown unless ``--quiet``."""
    if SETTINGS.verbosity >= 1:
        stderr().print(message, markup=False)


def detail(message: str) -> None:
    """A message shown only with ``--verbose``."""
    if SETTINGS.verbosity >= 2:
        stderr().print(message, markup=False, style="dim")


def warn(message: str) -> None:
    """A warning shown unless ``--quiet``."""
    if SETTINGS.verbosity >= 1:
        stderr().print(f"warning: {message}", markup=False, style="yellow")


def failure(message: str) -> None:
    """A failure that does not end the command (one session of a batch): shown even with ``--quiet``."""
    stderr().print(message, markup=False, style="red")


def print_table(table: Any) -> None:
    """Prints a result (a :class:`rich.table.Table` or a line of text) to stdout unless ``--quiet``."""
    if SETTINGS.verbosity >= 1:
        stdout().print(table, markup=False, soft_wrap=True) if isinstance(table, str) else stdout().print(table)


class _Progress:
    """A rich progress display with one task, or a silent stand-in."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task

    def update(self, description: str | None = None, advance: float = 0.0, total: float | None = None) -> None:
        """Changes the description and advances the bar (no-op when silent)."""
        if self._progress is None:
            return
        kwargs: dict[str, Any] = {"advance": advance}
        if description is not None:
            kwargs["description"] = description
        if total is not None:
            kwargs["total"] = total
        self._progress.update(self._task, **kwargs)


@contextlib.contextmanager
def progress(description: str, total: float | None = None) -> Iterator[_Progress]:
    """A transient progress bar on stderr (a spinner when ``total`` is None).

    Silent with ``--quiet`` or when stderr is not a terminal (logs and tests stay clean).
    """
    if SETTINGS.verbosity < 1 or not stderr().is_terminal:  # --quiet never loads rich
        yield _Progress(None, None)
        return
    console = stderr()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        yield _Progress(bar, bar.add_task(description, total=total))
