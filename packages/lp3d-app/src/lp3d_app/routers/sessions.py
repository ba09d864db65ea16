"""Sessions: their views, videos and sources (``GET /api/sessions/{session_id}``)."""

from __future__ import annotations

from fastapi import APIRouter

from lp3d_app.routers.project import source_out
from lp3d_app.schemas import SessionOut, VideoOut
from lp3d_app.state import ProjectDep, SessionDep, StateDep

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
        videos=[
            VideoOut(view=v.view, n_frames=v.n_frames, fps=v.fps, width=v.width, height=v.height)
            for v in session.videos.values()
        ],
        missing_videos=[v for v in views if v not in session.videos],
        image_sizes={v: session.image_sizes[v] for v in views if v in session.image_sizes},
        calibration=session.calibration,
        sources=[source_out(s) for s in sources],
    )
