"""Diagnostics across models: pixel errors on the labeled frames, per model and stage."""

from __future__ import annotations

from fastapi import APIRouter, Response
from lp3d_io.layout import LABELS_FILE
from lp3d_workflows.diagnostics import labeled_errors

from lp3d_app.responses import NumpyJSONResponse, dataclass_json
from lp3d_app.schemas import ErrorsOut
from lp3d_app.state import ProjectDep, StateDep

router = APIRouter(tags=["diagnostics"])


@router.get("/diagnostics/errors", response_model=ErrorsOut)
def get_errors(project: ProjectDep, state: StateDep) -> Response:
    """Box-plot statistics of the pixel error on labeled frames (a run's held-out frames when there is
    one), for every source (model and stage)."""
    if not project.label_files():
        return NumpyJSONResponse(
            {"groups": [], "message": f"no labeled frames in this project ({LABELS_FILE})", "scored": None}
        )
    readers = {s.id: state.reader(s) for s in project.sources}
    found = labeled_errors(project, readers)
    groups = [dataclass_json(g) for g in found.groups]
    message = None if groups else f"no source covers a scored frame ({found.scored.description})"
    return NumpyJSONResponse({"groups": groups, "message": message, "scored": found.scored.description})
