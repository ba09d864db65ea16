"""Sessions: their views, videos and sources (``GET /api/sessions/{session_id}``); a session's
videos and calibration uploaded (``PUT /api/sessions/{name}/videos/{view}``, ``.../calibration``).

Uploads are the request's body (no form encoding: a video of many gigabytes streams to disk),
written only inside the project: a video into a fresh folder of ``.lp3d-app/uploads/`` under a name
the server makes (``<session>_<view>`` and a video suffix), then a ``video`` job checks it and moves
it into ``videos/``, converted all-intra when it does not seek frame-accurately
(:mod:`lp3d_workflows.project_setup`); a calibration straight to ``calibrations/<session>.toml``,
after it is read. Both have a size limit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path as FilePath

from fastapi import APIRouter, HTTPException, Path, Query, Request
from lp3d_io.files import atomic_path
from lp3d_io.layout import VIDEO_SUFFIXES, VIDEOS
from lp3d_workflows.project import APP_DIR
from lp3d_workflows.project_setup import save_calibration

from lp3d_app.routers.jobs import job_out
from lp3d_app.routers.project import source_out
from lp3d_app.schemas import NAME, CalibrationOut, JobOut, SessionOut, VideoOut
from lp3d_app.state import ProjectDep, SessionDep, StateDep

UPLOADS = f"{APP_DIR}/uploads"
MAX_VIDEO_BYTES = 64 << 30
MAX_CALIBRATION_BYTES = 1 << 20

router = APIRouter(tags=["sessions"])


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session_info(session: SessionDep, project: ProjectDep, state: StateDep) -> SessionOut:
    """A session: what the viewer needs to open it (its sources' overviews are read meanwhile)."""
    sources = [project.source(i) for i in session.sources]
    state.prepare(sorted(sources, key=lambda s: s.smoothed is None))  # smoothed first: the time series shows one
    views = list(dict.fromkeys([*(sources[0].views if sources else []), *session.videos]))  # videos may lack a view
    n_frames = session.n_frames or max((s.n_frames for s in sources), default=0)
    fps = (
        next((v.fps for v in session.videos.values() if v.fps > 0), None)
        or next((s.fps for s in sources if s.fps), None)
        or 30.0
    )
    keypoints = sources[0].keypoints if sources else project.keypoints
    return SessionOut(
        id=session.id,
        name=session.name,
        views=views,
        keypoints=keypoints,
        skeleton=[b for b in project.skeleton if b[0] in keypoints and b[1] in keypoints],
        n_frames=n_frames,
        fps=fps,
        videos=[VideoOut.model_validate(v) for v in session.videos.values()],
        missing_videos=[v for v in views if v not in session.videos],
        image_sizes={v: session.image_sizes[v] for v in views if v in session.image_sizes},
        calibration=session.calibration,
        sources=[source_out(s) for s in sources],
        individuals=list(dict.fromkeys(i for s in sources for i in s.individuals)),
    )


async def _body(request: Request, limit: int, what: str) -> AsyncIterator[bytes]:
    """The request's body in chunks, refused past ``limit`` bytes (413)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{what}: expected at most {limit} bytes, but got {declared}")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"{what}: expected at most {limit} bytes, but got more")
        yield chunk
    if size == 0:
        raise HTTPException(400, f"{what}: expected the file as the request's body, but got nothing")


def _view(project, view: str) -> str:
    if view not in project.views:
        raise HTTPException(404, f"view: expected one of the project's views {project.views}, but got {view!r}")
    return view


@router.put("/sessions/{name}/videos/{view}", response_model=JobOut, status_code=201)
async def upload_video(
    *,
    request: Request,
    name: str = Path(pattern=NAME, description="the session (new or existing)"),
    view: str,
    filename: str = Query(description="the uploaded file's name (its suffix says its container)"),
    overwrite: bool = Query(False, description="replace the session's video of this view"),
    state: StateDep,
    project: ProjectDep,
) -> JobOut:
    """A session's video of one view (the body): stored, then checked and, if it does not seek
    frame-accurately, converted all-intra by a ``video`` job (its progress is the conversion's)."""
    _view(project, view)
    if project.data_root is None:
        raise HTTPException(400, "videos: expected a project with a data folder (create the project first)")
    suffix = FilePath(filename).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise HTTPException(400, f"filename: expected a {', '.join(VIDEO_SUFFIXES)} video, but got {filename!r}")
    folder = project.root / UPLOADS / f"upload-{os.urandom(6).hex()}"
    folder.mkdir(parents=True)
    target = folder / f"{name}_{view}{suffix}"
    try:
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            async for chunk in _body(request, MAX_VIDEO_BYTES, "video"):
                f.write(chunk)
        params = {
            "upload": str(target),
            "videos": str(project.data_root / VIDEOS),
            "session": name,
            "view": view,
            "overwrite": overwrite,
        }
        record = state.jobs.start("video", params, f"video {name} {view} ({FilePath(filename).name})")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job_out(record, project)


@router.put("/sessions/{name}/calibration", response_model=CalibrationOut)
async def upload_calibration(
    *,
    request: Request,
    name: str = Path(pattern=NAME, description="the session (new or existing)"),
    state: StateDep,
    project: ProjectDep,
) -> CalibrationOut:
    """A session's anipose calibration (the body: TOML, pinhole or fisheye cameras named after the
    views), written as ``calibrations/<session>.toml``."""
    if project.data_root is None:
        raise HTTPException(400, "calibration: expected a project with a data folder (create the project first)")
    body = b"".join([chunk async for chunk in _body(request, MAX_CALIBRATION_BYTES, "calibration")])
    path = save_calibration(body, project.data_root, name, project.views)
    refreshed = state.refresh()
    found = next(c for c in refreshed.calibrations if c.path == FilePath(os.path.realpath(path)))
    return CalibrationOut(id=found.id, label=refreshed.relative(found.path), views=found.views)
