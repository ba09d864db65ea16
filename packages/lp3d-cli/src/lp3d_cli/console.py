"""Terminal output: verbosity, rich tables and progress bars (rich is imported only when used).

Results (tables) go to stdout, messages, progress and errors to stderr, so
``lp3d smooth ... > summary.txt`` keeps the table alone. ``--quiet`` keeps only errors;
``--verbose`` adds details (files found, options, stage timings). The workflows' log records
(logger ``lp3d_workflows``) are shown the same way (:func:`show_workflow_logs`), and their progress
callbacks draw a bar (:func:`progress_callback`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SETTINGS",
    "Settings",
    "stdout",
    "stderr",
    "info",
    "detail",
    "warn",
    "failure",
    "print_table",
    "progress",
    "progress_callback",
    "show_workflow_logs",
    "shows_progress_bars",
    "quiet_training_logs",
]


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
        self.completed = 0.0

    def update(self, description: str | None = None, advance: float = 0.0, total: float | None = None) -> None:
        """Changes the description and advances the bar (no-op when silent)."""
        self.completed += advance
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


@contextlib.contextmanager
def progress_callback(description: str = "") -> Iterator[Callable[[str, float, float | None], None]]:
    """A workflow progress callback (:mod:`lp3d_workflows.progress`) drawing one transient bar: a
    spinner while the total is unknown, then a bar."""
    with progress(description) as bar:

        def update(what: str, done: float, total: float | None) -> None:
            if total is None:
                bar.update(description=what)
            else:
                bar.update(description=what, total=total, advance=done - bar.completed)

        yield update


def with_progress(description: str, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``operation(*args, **kwargs, progress=...)`` under one transient bar (:func:`progress_callback`):
    how a command runs a workflow that reports progress."""
    with progress_callback(description) as bar:
        return operation(*args, **kwargs, progress=bar)


class _ConsoleHandler(logging.Handler):
    """Log records of the workflows as the command's own messages (info, detail, warning)."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            warn(message)
        elif record.levelno >= logging.INFO:
            info(message)
        else:
            detail(message)


def show_workflow_logs() -> None:
    """Shows the log records of lp3d's libraries (``lp3d_workflows``, ``lp3d_models``) on stderr, per
    the verbosity (once per process)."""
    for name in ("lp3d_workflows", "lp3d_models"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
            logger.addHandler(_ConsoleHandler())
        logger.setLevel(logging.DEBUG)
        logger.propagate = False


def shows_progress_bars() -> bool:
    """Whether progress bars are drawn (stderr is a terminal and not ``--quiet``): the models' own bars
    (training, prediction) follow this too."""
    return SETTINGS.verbosity >= 1 and stderr().is_terminal


def quiet_training_logs() -> None:
    """Hides Lightning's banner lines (accelerators, tips) unless ``--verbose``."""
    if SETTINGS.verbosity < 2:
        # Lightning sets its loggers' level when it is imported: import it first (the training will)
        with contextlib.suppress(ImportError):
            import lightning.pytorch  # noqa: F401
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
