"""The project: what the folder holds (``GET /api/project``), described again on request; a new
project created in an empty folder (``POST /api/project``); its skeleton (``PUT /api/project/skeleton``)."""

from __future__ import annotations

from fastapi import APIRouter
from lp3d_workflows.project import Project, SourceInfo
from lp3d_workflows.project_setup import create_project, save_skeleton

from lp3d_app.schemas import (
    CalibrationOut,
    CreateProjectRequest,
    PredictionFolderOut,
    ProblemOut,
    ProjectOut,
    RunOut,
    SessionSummary,
    SkeletonRequest,
    SourceOut,
)
from lp3d_app.state import ProjectDep, StateDep

router = APIRouter(tags=["project"])


def source_out(source: SourceInfo) -> SourceOut:
    groups = {"has_members": source.predictions is not None, "has_smoothed": source.smoothed is not None}
    return SourceOut.model_validate({**vars(source), **groups})


def project_out(project: Project) -> ProjectOut:
    def rel(path):
        return None if path is None else project.relative(path)

    return ProjectOut(
        name=project.name,
        config=rel(project.config),
        data_root=rel(project.data_root),
        run_dir=rel(project.run_dir),
        views=project.views,
        keypoints=project.keypoints,
        skeleton=project.skeleton,
        n_labeled=project.n_labeled,
        sessions=[
            SessionSummary(
                id=s.id,
                name=s.name,
                views=list(s.videos),
                n_frames=s.n_frames or max((project.source(i).n_frames for i in s.sources), default=0),
                calibration=s.calibration,
                sources=s.sources,
                n_labeled=s.n_labeled,
            )
            for s in project.sessions
        ],
        calibrations=[
            CalibrationOut(id=c.id, label=project.relative(c.path), views=c.views) for c in project.calibrations
        ],
        runs=[RunOut.model_validate(r) for r in project.runs],
        sources=[source_out(s) for s in project.sources],
        prediction_folders=[PredictionFolderOut.model_validate(f) for f in project.prediction_folders],
        problems=[ProblemOut.model_validate(p) for p in project.problems],
    )


@router.get("/project", response_model=ProjectOut)
def get_project_info(project: ProjectDep) -> ProjectOut:
    """The project folder: views, keypoints, skeleton, sessions, calibrations, runs, results, problems."""
    return project_out(project)


@router.post("/project/refresh", response_model=ProjectOut)
def refresh_project(state: StateDep) -> ProjectOut:
    """Looks at the folder again (new videos, stores or runs)."""
    return project_out(state.refresh())


@router.post("/project", response_model=ProjectOut, status_code=201)
def create(request: CreateProjectRequest, state: StateDep) -> ProjectOut:
    """Creates a project in the app's folder (which holds none yet): label files, skeleton, config."""
    create_project(state.root, request.name, request.views, request.keypoints, request.skeleton)
    return project_out(state.refresh())


@router.put("/project/skeleton", response_model=ProjectOut)
def set_skeleton(request: SkeletonRequest, project: ProjectDep, state: StateDep) -> ProjectOut:
    """Replaces the skeleton's bones (``skeleton.csv`` in the data folder)."""
    if project.data_root is None:
        raise ValueError("skeleton: expected a project with a data folder (create the project first)")
    save_skeleton(project.data_root, project.keypoints, request.bones)
    return project_out(state.refresh())
