"""A job kind for the app's tests: waits until it is stopped (the job process imports it by name: the
tests put this folder on ``PYTHONPATH``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lp3d_workflows.jobs import JobKind


def check_wait(params: dict[str, Any]) -> Path:
    return Path(params["out"])


def run_wait(params: dict[str, Any], progress) -> dict[str, Any]:
    progress("waiting", 0, None)
    print("waiting", flush=True)
    time.sleep(600)
    return {}


WAIT = JobKind(check_wait, run_wait)
