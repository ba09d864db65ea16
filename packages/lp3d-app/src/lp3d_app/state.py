"""What the server keeps between requests, and the dependencies that resolve ids inside the project.

The project is described once (:func:`lp3d_workflows.project.describe_project`) and again on
refresh or when a job ends; every id a client sends is looked up in that description, so nothing
outside the project folder can be named. Readers of sources and video files are opened once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from lp3d_workflows.jobs import JobManager
from lp3d_workflows.project import Project, SessionInfo, SourceInfo, describe_project
from lp3d_workflows.viewer_data import SourceReader

from lp3d_app.video_frames import FrameServer

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

    def project(self) -> Project:
        """The project's description (described again after a job finished)."""
        finished = {j.id for j in self.jobs.list() if j.state == "done"}
        with self._lock:
            if self._project is None or finished - self._finished_jobs:
                self._finished_jobs = finished
                self._project = describe_project(self.root)
                self._readers.clear()
            return self._project

    def refresh(self) -> Project:
        with self._lock:
            self._project = None
        return self.project()

    def reader(self, source: SourceInfo) -> SourceReader:
        with self._lock:
            reader = self._readers.get(source.id)
            if reader is None:
                reader = SourceReader(source.store, source.predictions, source.smoothed, source.calibrated)
                self._readers[source.id] = reader
            return reader


def get_state(request: Request) -> AppState:
    return request.app.state.lp3d


def get_project(state: AppState = Depends(get_state)) -> Project:
    return state.project()


def get_session(session_id: str, project: Project = Depends(get_project)) -> SessionInfo:
    try:
        return project.session(session_id)
    except KeyError as err:
        raise HTTPException(404, str(err.args[0])) from None


def get_source(source_id: str, project: Project = Depends(get_project)) -> SourceInfo:
    try:
        return project.source(source_id)
    except KeyError as err:
        raise HTTPException(404, str(err.args[0])) from None


def get_reader(source: SourceInfo = Depends(get_source), state: AppState = Depends(get_state)) -> SourceReader:
    return state.reader(source)
