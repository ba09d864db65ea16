"""Frames of a session: every source's overlays at one frame, and each view's video frame as JPEG."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Response

from lp3d_app.responses import NumpyJSONResponse
from lp3d_app.schemas import FrameOut
from lp3d_app.state import ProjectDep, SessionDep, StateDep

router = APIRouter(tags=["frames"])


@router.get("/sessions/{session_id}/frames/{frame}", response_model=FrameOut)
def get_frame(
    *,
    frame: int = Path(ge=0),
    sources: str | None = Query(None, description="comma-separated source ids (default: all of the session)"),
    session: SessionDep,
    project: ProjectDep,
    state: StateDep,
) -> Response:
    """Every layer of the chosen sources at one frame (read by chunk from the stores): one entry per source
    and animal."""
    chosen = session.sources if not sources else [s for s in sources.split(",") if s]
    unknown = [s for s in chosen if s not in session.sources]
    if unknown:
        raise HTTPException(
            404, f"sources: expected ids of this session's sources {session.sources}, but got {unknown}"
        )
    out = []
    for source_id in chosen:
        reader = state.reader(project.source(source_id))
        if frame >= reader.n_frames:
            raise HTTPException(404, f"frame: expected 0..{reader.n_frames - 1}, but got {frame}")
        for individual in reader.individuals:
            o = reader.frame(frame, individual)
            out.append(
                {
                    "source": source_id,
                    "individual": individual,
                    "members": o.members,
                    "center": o.center,
                    "smoothed": o.smoothed,
                    "smoothed_variance": o.smoothed_variance,
                    "inflated": o.inflated,
                    "triangulated": o.triangulated,
                    "position3d": o.position3d,
                    "variance3d": o.variance3d,
                }
            )
    return NumpyJSONResponse({"frame": frame, "sources": out})


@router.get(
    "/sessions/{session_id}/video/{view}/{frame}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the frame as JPEG"}},
)
def get_video_frame(
    *,
    view: str,
    frame: int = Path(ge=0),
    session: SessionDep,
    state: StateDep,
) -> Response:
    """One view's video frame by index."""
    video = session.videos.get(view)
    if video is None:
        raise HTTPException(404, f"view: expected one of the session's videos {list(session.videos)}, but got {view!r}")
    if frame >= video.n_frames:
        raise HTTPException(404, f"frame: expected 0..{video.n_frames - 1}, but got {frame}")
    data = state.frames.jpeg(video.path, frame)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
