"""What the server keeps between requests, and the dependencies that resolve ids inside the project.

The project is described once (:func:`lp3d_workflows.project.describe_project`) and again on
refresh or when a job ends; every id a client sends is looked up in that description, so nothing
outside the project folder can be named. Readers of sources and video files are opened once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from lp3d_workflows.errors import one_line
from lp3d_workflows.jobs import JobManager
from lp3d_workflows.project import Project, SessionInfo, SourceInfo, describe_project
from lp3d_workflows.viewer_data import CACHE_DIR, SourceReader

from lp3d_app.video_frames import FrameServer

log = logging.getLogger("lp3d_app")

JOBS_CHECK_SECONDS = 0.5

__all__ = ["AppState", "get_state", "get_project", "get_session", "get_source", "get_reader"]


class AppState:
    """The project folder, its description, open readers and the jobs."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._project: Project | None = None
        self._readers: dict[str, SourceReader] = {}
        self._lock = threading.Lock()
        self.frames = FrameServer()
        self.jobs = JobManager(self.root)
        self._finished_jobs: set[str] = set()
        self._jobs_checked = 0.0
        self._ended = 0
        self._statistics: dict[tuple, dict] = {}
        self._warmer = ThreadPoolExecutor(1, thread_name_prefix="lp3d-overview")

    def project(self) -> Project:
        """The project's description (described again after a job finished: at once for the jobs of
        this server; the job folder is looked at at most every :data:`JOBS_CHECK_SECONDS`, not on
        every frame a viewer asks for)."""
        now, ended = time.monotonic(), self.jobs.ended()
        if self._project is not None and ended == self._ended and now - self._jobs_checked < JOBS_CHECK_SECONDS:
            return self._project
        finished = {j.id for j in self.jobs.list() if j.state == "done"}
        with self._lock:
            self._jobs_checked, self._ended = now, ended
            if self._project is None or finished - self._finished_jobs:
                self._finished_jobs = finished
                self._project = describe_project(self.root)
                self._readers.clear()
            return self._project

    def changed(self) -> None:
        """The project's files changed (labels saved): the next request describes it again."""
        with self._lock:
            self._project = None

    def seen_job(self, record) -> None:
        """A client saw ``record``: when it is a job that finished since the project was described,
        the next request describes it again (the job's outputs show at once, even before its
        process has been collected)."""
        if record.state == "done" and record.id not in self._finished_jobs:
            self.changed()

    def refresh(self) -> Project:
        with self._lock:
            self._project = None
        return self.project()

    def reader(self, source: SourceInfo) -> SourceReader:
        with self._lock:
            reader = self._readers.get(source.id)
            if reader is None:
                cache = self.root / CACHE_DIR / source.id
                reader = SourceReader(source.store, source.predictions, source.smoothed, source.calibrated, cache=cache)
                self._readers[source.id] = reader
            return reader

    def prepare(self, sources: list[SourceInfo]) -> None:
        """Starts reading (or building, the first time) the sources' overviews on a thread: a viewer
        that opens a session asks for a time series next."""
        for source in sources:
            self._warmer.submit(self._overview, source)

    def _overview(self, source: SourceInfo) -> None:
        try:
            self.reader(source).overview()
        except Exception as err:  # the series request that needs it reports it
            log.debug(f"overview of {source.id}: {one_line(err)}")

    def close(self) -> None:
        self._warmer.shutdown(wait=False, cancel_futures=True)
        self.frames.close()

    def statistics(self, source: SourceInfo, options: tuple, compute: Callable[[], dict]) -> dict:
        """A source's statistics with ``options`` (hashable), computed once per state of its store
        (the reader's group versions)."""
        reader = self.reader(source)
        key = (source.id, options, *(tuple(g.version) for g in (reader.predictions, reader.smoothed) if g is not None))
        with self._lock:
            found = self._statistics.get(key)
        if found is None:
            found = compute()
            with self._lock:
                self._statistics[key] = found
        return found


def get_state(request: Request) -> AppState:
    return request.app.state.lp3d


StateDep = Annotated[AppState, Depends(get_state)]


def get_project(state: StateDep) -> Project:
    return state.project()


ProjectDep = Annotated[Project, Depends(get_project)]


def get_session(session_id: str, project: ProjectDep) -> SessionInfo:
    return project.session(session_id)  # an unknown id: KeyError, a 404 (lp3d_app.server)


SessionDep = Annotated[SessionInfo, Depends(get_session)]


def get_source(source_id: str, project: ProjectDep) -> SourceInfo:
    return project.source(source_id)  # an unknown id: KeyError, a 404 (lp3d_app.server)


SourceDep = Annotated[SourceInfo, Depends(get_source)]


def get_reader(source: SourceDep, state: StateDep) -> SourceReader:
    return state.reader(source)


ReaderDep = Annotated[SourceReader, Depends(get_reader)]
