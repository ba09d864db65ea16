"""Jobs: smoothing, frame extraction, training, prediction, evaluation and distillation, each in its
own process; progress as server-sent events; log; cancel. The handlers take ids, and the workflows
(:mod:`lp3d_workflows.frame_extraction`, :mod:`lp3d_workflows.model_runs`) make the job's
parameters, refusing at once what the job would fail on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from lp3d_workflows import frame_extraction, model_runs
from lp3d_workflows.jobs import TERMINAL_STATES, JobRecord
from lp3d_workflows.project import Project

from lp3d_app.routers.models import model_settings
from lp3d_app.schemas import (
    DistillRequest,
    EvaluateRequest,
    ExtractRequest,
    JobLogOut,
    JobOut,
    PredictRequest,
    SmoothRequest,
    TrainRequest,
)
from lp3d_app.state import AppState, ProjectDep, StateDep

router = APIRouter(tags=["jobs"])

APP_OUTPUTS = "lp3d-app/smoothed"
"""Where smoothing jobs write, inside the project: ``lp3d-app/smoothed/<name>/``."""


def job_out(record: JobRecord, project: Project) -> JobOut:
    return JobOut(
        id=record.id,
        kind=record.kind,
        label=record.label,
        state=record.state,  # type: ignore[arg-type]
        output=project.relative(Path(record.output)),
        created=record.created,
        finished=record.finished,
        progress_description=str(record.progress.get("description", "")),
        progress_done=float(record.progress.get("done", 0.0)),
        progress_total=record.progress.get("total"),
        error=record.error,
        result=record.result,
        device=record.device,
    )


def _job(job_id: str, state: AppState) -> JobRecord:
    record = state.jobs.get(job_id)  # an unknown id: KeyError, a 404 (lp3d_app.server)
    state.seen_job(record)
    return record


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(state: StateDep, project: ProjectDep) -> list[JobOut]:
    """Every job of the project, newest first."""
    records = state.jobs.list()
    for record in records:
        state.seen_job(record)
    return [job_out(r, project) for r in records]


@router.post("/jobs/smooth", response_model=JobOut, status_code=201)
def start_smoothing(request: SmoothRequest, state: StateDep, project: ProjectDep) -> JobOut:
    """Starts smoothing one session's predictions (a source's store, or a folder of prediction files)."""
    try:
        source = project.source(request.input)
        if source.predictions is None:
            raise HTTPException(400, f"input: expected a source with ensemble predictions, but {source.label} has none")
        inputs, label = [str(source.store)], source.label
    except KeyError:
        try:
            folder = project.prediction_folder(request.input)
        except KeyError:
            raise HTTPException(
                404, f"input {request.input!r}: not a source or prediction folder of this project"
            ) from None
        inputs, label = [str(folder.path)], folder.label
    calibration = None
    if request.calibration:
        calibration = str(project.calibration(request.calibration).path)
    params = {
        "inputs": inputs,
        "out": str(project.root / APP_OUTPUTS / request.name),
        "calibration": calibration,
        "ensemble": request.ensemble,
        "variance": request.variance,
        "s": request.s,
        "s_frames": request.s_frames,
        "inflate": request.inflate,
        "motion": request.motion,
        "overwrite": request.overwrite,
        "n_threads": 1,
        "project": str(project.root),  # the job prepares the result for the viewer (its overview)
    }
    record = state.jobs.start("smooth", params, f"smooth {label} -> {request.name}")
    return job_out(record, project)


@router.post("/jobs/extract", response_model=JobOut, status_code=201)
def start_extraction(request: ExtractRequest, state: StateDep, project: ProjectDep) -> JobOut:
    """Extracts frames of a session to label (uniform, k-means on frames or motion energy, or the
    frames a smoothed result found most uncertain / inconsistent, pre-filled with it)."""
    params, label = frame_extraction.extract_params(
        project, request.session, request.method, request.n, source=request.source, min_gap=request.min_gap
    )
    return job_out(state.jobs.start("extract", params, label), project)


@router.post("/jobs/train", response_model=JobOut, status_code=201)
def start_training(request: TrainRequest, state: StateDep, project: ProjectDep) -> JobOut:
    """Trains a run from the model form (checked first, as the trainer checks it), resumes a run, or
    trains a distillation's student."""
    params, label = model_runs.train_params(
        project,
        None if request.form is None else model_settings(request.form, project),
        run_id=request.run,
        student=request.student,
        overwrite=request.overwrite,
    )
    return job_out(state.jobs.start("train", params, label), project)


@router.post("/jobs/predict", response_model=JobOut, status_code=201)
def start_prediction(request: PredictRequest, state: StateDep, project: ProjectDep) -> JobOut:
    """Predicts sessions' videos with every trained member of a run, then smooths each."""
    params, label = model_runs.predict_params(project, request.run, request.sessions, request.name, request.smooth)
    return job_out(state.jobs.start("predict", params, label), project)


@router.post("/jobs/evaluate", response_model=JobOut, status_code=201)
def start_evaluation(request: EvaluateRequest, state: StateDep, project: ProjectDep) -> JobOut:
    """Scores runs on their held-out labeled frames (for the comparison)."""
    params, label = model_runs.evaluate_params(project, request.runs)
    return job_out(state.jobs.start("evaluate", params, label), project)


@router.post("/jobs/distill", response_model=JobOut, status_code=201)
def start_distillation(request: DistillRequest, state: StateDep, project: ProjectDep) -> JobOut:
    """Chooses confident, diverse frames of smoothed results and writes their pseudo-labels (to
    preview); the student then trains with ``POST /jobs/train`` (``student``)."""
    options = request.model_dump(exclude={"teacher", "sources", "name"})
    params, label = model_runs.distill_params(project, request.teacher, request.sources, request.name, **options)
    return job_out(state.jobs.start("distill", params, label), project)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, state: StateDep, project: ProjectDep) -> JobOut:
    return job_out(_job(job_id, state), project)


@router.delete("/jobs/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, state: StateDep, project: ProjectDep) -> JobOut:
    """Cancels a running job (kills its whole process group); a finished job is returned as it is."""
    _job(job_id, state)
    return job_out(state.jobs.cancel(job_id), project)


@router.get("/jobs/{job_id}/log", response_model=JobLogOut)
def get_job_log(*, job_id: str, offset: int = Query(0, ge=0), state: StateDep) -> JobLogOut:
    _job(job_id, state)
    text, end = state.jobs.log(job_id, offset)
    return JobLogOut(text=text, offset=end)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
async def job_events(job_id: str, request: Request, state: StateDep, project: ProjectDep) -> StreamingResponse:
    """Server-sent events: the job (as ``GET /jobs/{id}``) each time it changes, until it ends.
    A client that goes away only stops its stream, never the job."""
    _job(job_id, state)

    async def events():
        last = None
        while True:
            record = await asyncio.to_thread(state.jobs.get, job_id)
            state.seen_job(record)
            text = job_out(record, project).model_dump_json()
            if text != last:
                last = text
                yield f"data: {text}\n\n"
            if record.state in TERMINAL_STATES or await request.is_disconnected():
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


__all__ = ["router", "APP_OUTPUTS"]
