"""Resumable stages: each runs when its outputs are missing or older than its inputs.

A stage's completion stamp (``stages/<stage>.json``) records its settings; a stage is skipped when
its stamp exists, records the same settings, and is newer than its inputs (the stamps of the stages
before it, and the files it reads). A stage that runs first deletes its stamp and its old outputs
and writes the stamp last (atomically), so a stage that was stopped midway is redone from its
start, and everything after a redone stage is redone.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lp3d_io.files import write_text_atomic

__all__ = ["Stage", "StageRunner"]

log = logging.getLogger(__name__)


@dataclass
class Stage:
    """One step: its name, what it runs, the files it reads, its settings and the folders it writes."""

    name: str
    run: Callable[[], None]
    inputs: list[Path]
    settings: dict[str, Any]
    outputs: list[Path]


class StageRunner:
    """Runs stages in order, skipping those whose stamp is newer than their inputs."""

    def __init__(self, root: Path) -> None:
        self.stamps = root / "stages"
        self.ran: list[str] = []
        self.seconds: dict[str, float] = {}

    def stamp(self, name: str) -> Path:
        return self.stamps / f"{name}.json"

    def up_to_date(self, stage: Stage) -> bool:
        stamp = self.stamp(stage.name)
        if not stamp.is_file():
            return False
        try:
            saved = json.loads(stamp.read_text())
        except ValueError:
            return False
        if saved.get("settings") != json.loads(json.dumps(stage.settings, default=str)):
            return False
        made = stamp.stat().st_mtime_ns
        return all(p.stat().st_mtime_ns <= made for p in stage.inputs if p.exists())

    def __call__(self, stage: Stage) -> None:
        if self.up_to_date(stage):
            log.info(f"{stage.name}: up to date")
            return
        self.stamps.mkdir(parents=True, exist_ok=True)
        self.stamp(stage.name).unlink(missing_ok=True)
        for out in stage.outputs:
            if out.is_dir():
                shutil.rmtree(out)
        log.info(f"{stage.name}: running")
        start = time.perf_counter()
        stage.run()
        self.seconds[stage.name] = time.perf_counter() - start
        self.ran.append(stage.name)
        record = {"stage": stage.name, "settings": stage.settings, "seconds": self.seconds[stage.name]}
        write_text_atomic(self.stamp(stage.name), json.dumps(record, indent=1, default=str))
        log.info(f"{stage.name}: done in {self.seconds[stage.name]:.1f} s")
