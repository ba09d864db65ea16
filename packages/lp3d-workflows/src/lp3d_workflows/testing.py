"""Helpers for the tests of lp3d_workflows and of the front ends over it (lp3d-app, the CLI), like
``numpy.testing``: waiting for what a job process or a server does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 120.0, interval: float = 0.05) -> T:
    """Calls ``predicate`` every ``interval`` seconds until it returns something true, and returns that
    (``wait_for(lambda: (job := jobs.get(id)).state != "running" and job)``).

    Raises:
        AssertionError: nothing true within ``timeout`` seconds (a test failure).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: nothing true within {timeout:g} s")
        time.sleep(interval)
