"""Resumable stages: each runs when its outputs are missing or older than its inputs.

A stage's completion stamp (``stages/<stage>.json``) records its settings; a stage is skipped when
its stamp exists, records the same settings, and is newer than its inputs (the stamps of the stages
before it, and the files it reads). A stage that runs first deletes its stamp and its old outputs
and writes the stamp last (atomically), so a stage that was stopped midway is redone from its
start, and everything after a redone stage is redone.

Several ranks (training on several devices: :mod:`lp3d_models.distributed`) run the same stages.
Only rank 0 decides whether a stage runs (the others follow its decision once the ranks are
connected), deletes old outputs and writes stamps. A stage that trains (``all_ranks``) runs on
every rank; any other runs on rank 0 alone while the others wait for it. Without lp3d-models (no
ranks) there is one process, rank 0.
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
    """One step: its name, what it runs, the files it reads, its settings, the folders it writes, and
    whether every rank runs it (a training stage) or rank 0 alone."""

    name: str
    run: Callable[[], None]
    inputs: list[Path]
    settings: dict[str, Any]
    outputs: list[Path]
    all_ranks: bool = False


class _OneProcess:
    """The ranks of a command without lp3d-models: one."""

    @staticmethod
    def is_rank_zero() -> bool:
        return True

    @staticmethod
    def barrier() -> None:
        pass

    @staticmethod
    def broadcast(value: Any) -> Any:
        return value


def _ranks() -> Any:
    try:
        from lp3d_models import distributed
    except ImportError:
        return _OneProcess
    return distributed


class StageRunner:
    """Runs stages in order, skipping those whose stamp is newer than their inputs."""

    def __init__(self, root: Path) -> None:
        self.stamps = root / "stages"
        self.ran: list[str] = []
        self.seconds: dict[str, float] = {}
        self.ranks = _ranks()

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
        ranks = self.ranks
        primary = ranks.is_rank_zero()
        current = ranks.broadcast(self.up_to_date(stage) if primary else None)
        if current is None:  # not connected: each rank decides from the same files
            current = self.up_to_date(stage)
        if current:
            log.info(f"{stage.name}: up to date")
            return
        if primary:
            self.stamps.mkdir(parents=True, exist_ok=True)
            self.stamp(stage.name).unlink(missing_ok=True)
            for out in stage.outputs:
                if out.is_dir():
                    shutil.rmtree(out)
            log.info(f"{stage.name}: running")
        ranks.barrier()  # the old outputs are gone before any rank starts
        start = time.perf_counter()
        if primary or stage.all_ranks:
            stage.run()
        self.seconds[stage.name] = time.perf_counter() - start
        self.ran.append(stage.name)
        if primary:
            record = {"stage": stage.name, "settings": stage.settings, "seconds": self.seconds[stage.name]}
            write_text_atomic(self.stamp(stage.name), json.dumps(record, indent=1, default=str))
            log.info(f"{stage.name}: done in {self.seconds[stage.name]:.1f} s")
        ranks.barrier()  # the next stage reads what this one wrote
