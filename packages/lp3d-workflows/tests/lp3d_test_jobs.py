"""Job kinds for the tests of :mod:`lp3d_workflows.jobs` (imported by the job processes by name:
the tests put this folder on ``PYTHONPATH``)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lp3d_io.files import staged_directory
from lp3d_workflows.errors import UserError
from lp3d_workflows.jobs import JobKind


def check_wait(params: dict[str, Any]) -> Path:
    if not isinstance(params.get("steps", 1), int) or params.get("steps", 1) < 1:
        raise UserError(f"steps: expected a positive number, but got {params.get('steps')!r}")
    return Path(params["out"])


def run_wait(params: dict[str, Any], progress) -> dict[str, Any]:
    """Writes ``steps`` files into a staged ``out`` folder, one every ``seconds / steps``, reporting
    progress; with ``child``, first starts a process of its own (its pid in ``<out>.child``); with
    ``fail``, raises it half-way."""
    steps = int(params.get("steps", 1))
    if params.get("child"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(params["out"] + ".child").write_text(str(child.pid))
    with staged_directory(Path(params["out"])) as tmp:
        for i in range(steps):
            progress("waiting", i, steps)
            logging.getLogger("lp3d_workflows").info(f"step {i + 1} of {steps}")
            (tmp / f"part{i}.txt").write_text(str(i))
            time.sleep(float(params.get("seconds", 0.0)) / steps)
            if params.get("fail") and i == steps // 2:
                raise UserError(str(params["fail"]))
    progress("done", steps, steps)
    return {"steps": steps}


WAIT = JobKind(check_wait, run_wait)
