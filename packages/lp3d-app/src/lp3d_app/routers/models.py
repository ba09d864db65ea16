"""Models: the model form's options and its config (checked by the trainer's own rules, shown as
YAML), each run's config and metrics, runs compared on their held-out labeled frames, and
distillations (their pseudo-labeled frames with weights). Training, prediction, evaluation and
distillation run as jobs (:mod:`lp3d_app.routers.jobs`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query, Response
from lp3d_workflows import model_runs

from lp3d_app.responses import NumpyJSONResponse
from lp3d_app.schemas import CompareOut, ConfigOut, DistillationOut, ModelForm, ModelOptionsOut, RunDetailOut
from lp3d_app.state import ProjectDep

router = APIRouter(tags=["models"])


def model_settings(form: ModelForm, project) -> model_runs.ModelSettings:
    """The form as the workflow's settings (a weights id resolved in the project)."""
    values = form.model_dump()
    values["pretrained"] = model_runs.pretrained_value(project, form.pretrained)
    return model_runs.ModelSettings(**values)


@router.get("/models/options", response_model=ModelOptionsOut)
def get_options(project: ProjectDep) -> ModelOptionsOut:
    """What the model form offers: backbones and their size multiples, weight files, calibration."""
    return ModelOptionsOut(**model_runs.model_options(project))


@router.post("/models/config", response_model=ConfigOut)
def check_config(form: ModelForm, project: ProjectDep) -> ConfigOut:
    """The config the form makes, checked as the trainer checks it (one line naming the key when it
    would reject it), as YAML."""
    config = model_runs.model_config(project, model_settings(form, project))
    run_dir = Path(config.run_dir)
    return ConfigOut(
        yaml=model_runs.config_yaml(config),
        run_dir=project.relative(run_dir),
        exists=(run_dir / "config.yaml").is_file(),
    )


@router.get("/runs/compare", response_model=CompareOut)
def compare(project: ProjectDep, runs: str = Query(description="comma-separated run ids")) -> Response:
    """Each run's errors on its held-out labeled frames (from its evaluation), per keypoint and view."""
    chosen = [project.run(r) for r in runs.split(",") if r]
    return NumpyJSONResponse(model_runs.comparison(chosen))


@router.get("/runs/{run_id}", response_model=RunDetailOut)
def get_run(run_id: str, project: ProjectDep) -> Response:
    """A run: its config, members, best validation errors, metrics (live while it trains)."""
    return NumpyJSONResponse(model_runs.run_detail(project, project.run(run_id)))


@router.get("/distillations", response_model=list[str])
def list_distillations(project: ProjectDep) -> list[str]:
    """Names of the students with pseudo-labels (``runs/<name>/pseudo_labels/``)."""
    return [name for name, _ in model_runs.find_distillations(project)]


@router.get("/distillations/{name}", response_model=DistillationOut)
def get_distillation(name: str, project: ProjectDep) -> Response:
    """A student's pseudo-labeled frames: each view's pseudo-labels and their weights."""
    return NumpyJSONResponse(model_runs.distillation_detail(project, name))


@router.get(
    "/distillations/{name}/image/{index}/{view}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "a pseudo-labeled frame's image"}},
)
def get_distillation_image(name: str, index: int, view: str, project: ProjectDep) -> Response:
    path = model_runs.distillation_image(project, name, index, view)
    return Response(path.read_bytes(), media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


__all__ = ["router", "model_settings"]
