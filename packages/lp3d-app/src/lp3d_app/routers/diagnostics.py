"""Diagnostics across models: pixel errors on the labeled frames, per model and stage."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from lp3d_workflows.diagnostics import labeled_errors
from lp3d_workflows.project import Project

from lp3d_app.responses import NumpyJSONResponse, dataclass_json
from lp3d_app.schemas import ErrorsOut
from lp3d_app.state import AppState, get_project, get_state

router = APIRouter(tags=["diagnostics"])


@router.get("/diagnostics/errors", response_model=ErrorsOut)
def get_errors(project: Project = Depends(get_project), state: AppState = Depends(get_state)) -> Response:
    """Box-plot statistics of the pixel error on labeled frames, for every source (model and stage)."""
    if not project.label_files():
        return NumpyJSONResponse({"groups": [], "message": "no labeled frames in this project (CollectedData_<view>.csv)"})
    readers = {s.id: state.reader(s) for s in project.sources}
    groups = [dataclass_json(g) for g in labeled_errors(project, readers)]
    message = None if groups else "no source covers a labeled frame of its session"
    return NumpyJSONResponse({"groups": groups, "message": message})
