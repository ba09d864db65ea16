"""How a long workflow says how far it is: a callback that every front end adapts.

A workflow that takes more than a second accepts ``progress: ProgressCallback | None`` and calls it
as ``progress(description, done, total)``: what it is doing now, how many of ``total`` steps are
done (``total`` None: a step of unknown length, shown as a spinner). The command line draws a
progress bar from these calls; the app streams them to the page. Messages go through :mod:`logging`
(logger ``lp3d_workflows``): ``info`` for what a user wants to see, ``debug`` for details.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressCallback", "report"]

ProgressCallback = Callable[[str, float, "float | None"], None]


def report(progress: ProgressCallback | None, description: str, done: float = 0.0, total: float | None = None) -> None:
    """Calls ``progress`` when there is one."""
    if progress is not None:
        progress(description, done, total)
