"""Labels: the frames to label and labeled (``GET /api/labels``), one frame's images, labels, prefill
and draft, its save into every view's label file, its draft (autosave), and the cameras' guide
(triangulation suggestions, epipolar curves, reprojection errors). Frames are named by ids the
server made (:mod:`lp3d_workflows.labeling`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from lp3d_workflows import labeling
from lp3d_workflows.labeling import Drafts, FrameEntry
from lp3d_workflows.project import Project

from lp3d_app.responses import NumpyJSONResponse
from lp3d_app.schemas import (
    DraftOut,
    DraftRequest,
    FrameSummaryOut,
    GuideOut,
    GuideRequest,
    LabelFrameOut,
    LabelsOut,
    SaveLabelsRequest,
)
from lp3d_app.state import ProjectDep, StateDep

router = APIRouter(tags=["labels"])


def get_frame(frame_id: str, project: ProjectDep) -> FrameEntry:
    return labeling.find_frame(project, frame_id)  # an unknown id: KeyError, a 404 (lp3d_app.server)


FrameDep = Annotated[FrameEntry, Depends(get_frame)]


def summary(project: Project, entry: FrameEntry, drafts: set[str]) -> FrameSummaryOut:
    session = labeling.frame_session(project, entry)
    q = entry.queued
    return FrameSummaryOut(
        id=entry.id,
        session=entry.session,
        session_id=None if session is None or not session.videos else session.id,
        frame=entry.frame,
        row=entry.row,
        n_points=entry.n_points,
        method=None if q is None else q.method,
        score=None if q is None else q.score,
        source=None if q is None else q.source,
        has_draft=entry.key in drafts,
    )


@router.get("/labels", response_model=LabelsOut)
def list_labels(project: ProjectDep) -> LabelsOut:
    """The labeled frames (rows of the label files), then the frames extracted for labeling."""
    drafts = Drafts(project.root).keys()
    return LabelsOut(
        views=project.views,
        keypoints=project.keypoints,
        skeleton=project.skeleton,
        frames=[summary(project, e, drafts) for e in labeling.list_frames(project)],
    )


@router.get("/labels/{frame_id}", response_model=LabelFrameOut)
def get_label_frame(frame: FrameDep, project: ProjectDep) -> LabelFrameOut:
    """One frame: its images' sizes, saved labels, prefill, draft, and whether it is calibrated."""
    return LabelFrameOut(**labeling.frame_details(project, frame, Drafts(project.root)))


@router.get(
    "/labels/{frame_id}/image/{view}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the view's image of the frame"}},
)
def get_label_image(view: str, frame: FrameDep, project: ProjectDep) -> Response:
    path = labeling.frame_image(project, frame, view)
    media = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return Response(path.read_bytes(), media_type=media, headers={"Cache-Control": "private, max-age=60"})


@router.put("/labels/{frame_id}", response_model=FrameSummaryOut)
def save_labels(request: SaveLabelsRequest, frame: FrameDep, project: ProjectDep, state: StateDep) -> FrameSummaryOut:
    """Saves a frame's labels into every view's ``CollectedData_<view>.csv`` at once (a view or
    keypoint left out keeps no label: send every placed point); its draft is removed."""
    sizes = labeling.frame_image_sizes(project, frame)
    positions = labeling.check_points(request.points, project.views, project.keypoints, sizes)
    saved = labeling.save_frame(project, frame, positions)
    state.changed()  # the labeled frames' counts
    drafts = Drafts(project.root)
    drafts.delete(frame.key)
    return summary(project, saved, drafts.keys())


@router.put("/labels/{frame_id}/draft", response_model=DraftOut)
def save_draft(request: DraftRequest, frame: FrameDep, project: ProjectDep) -> DraftOut:
    """Keeps what the page typed and did not save (any JSON object; the page's own format)."""
    return DraftOut(saved=Drafts(project.root).put(frame.key, request.draft))


@router.delete("/labels/{frame_id}/draft", status_code=204)
def delete_draft(frame: FrameDep, project: ProjectDep) -> Response:
    Drafts(project.root).delete(frame.key)
    return Response(status_code=204)


@router.post("/labels/{frame_id}/guide", response_model=GuideOut)
def guide(request: GuideRequest, frame: FrameDep, project: ProjectDep) -> Response:
    """With the session's calibration: each keypoint placed in two views or more triangulated and
    projected into every view (suggestions), the reprojection error of each placed point, and the
    epipolar curves of ``keypoint`` in the other views."""
    rig = labeling.session_rig(project, frame)
    if rig is None:
        raise HTTPException(400, f"session {frame.session or '(none)'}: expected a calibration, but it has none")
    sizes = labeling.frame_image_sizes(project, frame)
    positions = labeling.check_points(request.points, project.views, project.keypoints, sizes)
    keypoint = None
    if request.keypoint is not None:
        if request.keypoint not in project.keypoints:
            raise HTTPException(400, f"keypoint {request.keypoint!r}: expected one of {project.keypoints}")
        keypoint = project.keypoints.index(request.keypoint)
    found = labeling.guide(rig, positions, project.views, keypoint)
    return NumpyJSONResponse(found.as_dict(project.views, project.keypoints))
