"""The API's requests and responses (pydantic): what the OpenAPI schema and the typed client say.

The answers about the project's parts are :mod:`lp3d_workflows.project`'s dataclasses less their
paths (:func:`response_of`): a field added there is in the API, and a path is never sent.

Numbers that may be missing (NaN) are ``null``. Arrays keep the dataset's axis order, written in
each field's description.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal

from lp3d_workflows.project import PredictionFolder, Problem, RunInfo, SourceInfo, VideoInfo
from lp3d_workflows.project_setup import NAME_PATTERN as NAME  # names that become file names
from pydantic import BaseModel, ConfigDict, Field, create_model

Num = float | None


class Out(BaseModel):
    """A response read from an object's attributes: ``SomeOut.model_validate(info)``."""

    model_config = ConfigDict(from_attributes=True)


def response_of(name: str, info: type, *, hidden: tuple[str, ...] = (), **fields: Any) -> type[Out]:
    """The response model ``name`` of a :mod:`lp3d_workflows.project` dataclass: its fields (every one
    required in the answer) less ``hidden``; ``fields`` (``(type, Field(...))``) add fields or describe
    its own. A path must be hidden: the client names things by ids, never by paths.

    Raises:
        TypeError: a path field that is not hidden.
    """
    types = typing.get_type_hints(info)
    shown = {f.name: (types[f.name], ...) for f in dataclasses.fields(info) if f.name not in hidden}
    paths = [key for key, (kind, _) in shown.items() if Path in (kind, *typing.get_args(kind))]
    if paths:
        raise TypeError(f"{name}: expected {info.__name__}'s paths {paths} hidden (the client names things by ids)")
    return create_model(name, __base__=Out, **{**shown, **fields})


class ErrorOut(BaseModel):
    error: str = Field(description="one line: what was expected, and what came")


ProblemOut = response_of("ProblemOut", Problem)
VideoOut = response_of("VideoOut", VideoInfo, hidden=("path",))


class SessionSummary(BaseModel):
    id: str
    name: str
    views: list[str] = Field(description="views with a video")
    n_frames: int
    calibration: str | None
    sources: list[str]
    n_labeled: int


class CalibrationOut(BaseModel):
    id: str
    label: str
    views: list[str]


RunOut = response_of("RunOut", RunInfo, hidden=("path",))
SourceOut = response_of(
    "SourceOut",
    SourceInfo,
    hidden=("store", "predictions", "smoothed", "image_sizes"),
    has_members=(bool, Field(description="the store holds ensemble predictions")),
    has_smoothed=(bool, Field(description="the store holds a smoothed result")),
    individuals=(list[str], Field(description="the animals (one for a single animal)")),
)
PredictionFolderOut = response_of("PredictionFolderOut", PredictionFolder, hidden=("path",))


class ProjectOut(BaseModel):
    name: str
    config: str | None
    data_root: str | None
    run_dir: str | None
    views: list[str]
    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    n_labeled: int
    sessions: list[SessionSummary]
    calibrations: list[CalibrationOut]
    runs: list[RunOut]
    sources: list[SourceOut]
    prediction_folders: list[PredictionFolderOut]
    problems: list[ProblemOut]


class SessionOut(BaseModel):
    id: str
    name: str
    views: list[str] = Field(description="the session's views: its videos', else its sources'")
    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    n_frames: int
    fps: float
    videos: list[VideoOut]
    missing_videos: list[str] = Field(
        description="views without a video (the viewer draws their overlays on a blank image)"
    )
    image_sizes: dict[str, tuple[int, int]] = Field(
        description="each view's image (width, height): its video's, else its calibration's; unknown views left out"
    )
    calibration: str | None
    sources: list[SourceOut]
    individuals: list[str] = Field(
        description="the animals of its sources (several: the viewer colours and toggles each)"
    )


class SourceFrameOut(BaseModel):
    source: str
    individual: str | None = Field(None, description="the animal these layers are of (one entry per source and animal)")
    members: list[list[list[list[Num]]]] | None = Field(None, description="(member, view, keypoint, 2) pixels")
    center: list[list[list[Num]]] = Field(description="(view, keypoint, 2) ensemble centre")
    smoothed: list[list[list[Num]]] | None = Field(None, description="(view, keypoint, 2) smoothed track")
    smoothed_variance: list[list[list[Num]]] | None = Field(None, description="(view, keypoint, 2) pixels²")
    inflated: list[list[bool]] | None = Field(None, description="(view, keypoint)")
    triangulated: list[list[list[Num]]] | None = Field(
        None, description="(view, keypoint, 2) DLT of the centres, reprojected"
    )
    position3d: list[list[Num]] | None = Field(None, description="(keypoint, 3) world units")
    variance3d: list[list[Num]] | None = Field(None, description="(keypoint, 3)")


class FrameOut(BaseModel):
    frame: int
    sources: list[SourceFrameOut]


class SeriesOut(BaseModel):
    source: str
    individual: str | None = Field(None, description="the animal")
    keypoint: str
    start: int
    stop: int
    step: int = Field(description="frames per column; 1: every frame")
    time: list[float]
    views: dict[str, dict[str, list[Num]]]
    space: dict[str, list[Num]]
    s: float | None
    overview: bool = Field(False, description="columns of whole blocks of frames from the source's overview")


class KeypointViewStatsOut(BaseModel):
    keypoint: str
    view: str
    inflated: float
    ensemble_variance: Num
    posterior_variance: Num
    error_median: Num
    error_p95: Num
    histogram: list[int]
    edges: list[float]
    n_observed: int


class WorstFrameOut(BaseModel):
    frame: int
    score: float
    keypoint: str
    view: str | None


class StatisticsOut(BaseModel):
    source: str
    n_frames: int
    keypoints: list[str]
    views: list[str]
    s: dict[str, float]
    motion: dict[str, str] = Field(
        default_factory=dict, description="the motion prior of each keypoint: 'random walk' or 'constant velocity'"
    )
    stats: list[KeypointViewStatsOut]
    inconsistent: list[WorstFrameOut]
    uncertain: list[WorstFrameOut]
    individual: str = Field(description="the animal these statistics are of")


class BoxOut(BaseModel):
    n: int
    mean: Num
    low: Num
    q1: Num
    median: Num
    q3: Num
    high: Num


class ErrorGroupOut(BaseModel):
    model: str
    source: str
    stage: str
    overall: BoxOut
    by_keypoint: dict[str, BoxOut]
    by_view: dict[str, BoxOut]
    n_frames: int
    individual: str | None = Field(None, description="the animal scored, in a session of several")


class ErrorsOut(BaseModel):
    groups: list[ErrorGroupOut]
    message: str | None = None
    scored: str | None = Field(None, description="which labeled frames are scored, in words")


class SmoothRequest(BaseModel):
    input: str = Field(description="a source id (its predictions) or a prediction folder id")
    calibration: str | None = Field(None, description="a calibration id; none: smooth without one")
    name: str = Field(description="output name: results go to lp3d-app/smoothed/<name>/", pattern=NAME)
    ensemble: Literal["median", "mean"] = "median"
    variance: Literal["var", "confidence-weighted"] = "var"
    s: float | None = Field(None, gt=0, description="fixed smoothing parameter; none: chosen per keypoint")
    s_frames: str | None = Field(None, description="frames used to choose s, e.g. '0:2000,5000:7000'")
    inflate: bool | None = Field(None, description="variance inflation; none: the smoother's default")
    motion: Literal["auto", "random walk", "constant velocity"] = Field(
        "auto", description="motion prior; auto: chosen per keypoint (lp3d_eks.SmoothOptions.motion)"
    )
    overwrite: bool = False


class JobOut(BaseModel):
    id: str
    kind: str
    label: str
    state: Literal["running", "done", "failed", "cancelled", "interrupted"]
    output: str = Field(description="the output folder, relative to the project")
    created: float
    finished: float | None
    progress_description: str
    progress_done: float
    progress_total: float | None
    error: str | None
    result: dict | None
    device: Literal["cpu", "gpu"] = Field("cpu", description="a GPU job runs alone on the GPU")


class JobLogOut(BaseModel):
    text: str
    offset: int


# --- part 2: project set-up, labels, models --------------------------------------------------------------


Point = tuple[float, float] | None
Points = dict[str, dict[str, Point]]
"""``{view: {keypoint: [x, y] or null}}`` in each view's image pixels (pixel centres at integers)."""


class CreateProjectRequest(BaseModel):
    name: str = Field(pattern=NAME)
    views: list[str] = Field(min_length=1, max_length=64)
    keypoints: list[str] = Field(min_length=1, max_length=512)
    skeleton: list[tuple[str, str]] = Field(default_factory=list, description="bones: two keypoint names each")


class SkeletonRequest(BaseModel):
    bones: list[tuple[str, str]]


class FrameSummaryOut(BaseModel):
    id: str
    session: str
    session_id: str | None = Field(description="the session's id when it has videos (for temporal context)")
    frame: int | None
    row: int | None = Field(description="its row in the label files; null: not saved yet")
    n_points: int = Field(description="labeled positions (keypoints x views)")
    method: str | None = Field(None, description="how it was chosen for labeling, if it was extracted")
    score: float | None = None
    source: str | None = Field(None, description="the result its prefill comes from")
    has_draft: bool = False


class LabelsOut(BaseModel):
    views: list[str]
    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    frames: list[FrameSummaryOut]


class LabelFrameOut(BaseModel):
    id: str
    session: str
    session_id: str | None
    frame: int | None
    n_frames: int = Field(description="frames of the session's videos (0 without videos)")
    views: list[str]
    keypoints: list[str]
    image_sizes: dict[str, tuple[int, int]]
    points: Points = Field(description="the saved labels")
    prefill: Points | None = Field(None, description="positions to start from (a model's smoothed result)")
    prefill_source: str | None = None
    draft: dict | None = Field(None, description="what was typed and not saved (as the page sent it)")
    draft_saved: float | None = None
    calibrated: bool = Field(description="the session has a calibration: suggestions, epipolar curves, errors")


class SaveLabelsRequest(BaseModel):
    points: Points


class DraftRequest(BaseModel):
    draft: dict


class DraftOut(BaseModel):
    saved: float


class GuideRequest(BaseModel):
    points: Points
    keypoint: str | None = Field(None, description="the keypoint whose epipolar curves to draw")


class EpipolarOut(BaseModel):
    source: str = Field(description="the view where the point is placed")
    target: str = Field(description="the view the curve is drawn in")
    curves: list[list[tuple[float, float]]]


class GuideOut(BaseModel):
    suggested: dict[str, dict[str, tuple[float, float]]] = Field(
        description="the triangulation of the placed points projected into every view (keypoints placed in 2+ views)"
    )
    errors: dict[str, dict[str, float]] = Field(description="reprojection error of each placed point (pixels)")
    epipolar: list[EpipolarOut]


class ExtractRequest(BaseModel):
    session: str = Field(description="a session id")
    method: Literal["uniform", "kmeans", "motion", "uncertain", "inconsistent"]
    n: int = Field(ge=1, le=500)
    source: str | None = Field(None, description="a smoothed source of the session (uncertain, inconsistent)")
    min_gap: int = Field(10, ge=0, le=100000)


class BackboneOut(BaseModel):
    name: str
    multiple: int = Field(description="the model's sides must be a multiple of this")
    proposed: tuple[int, int] | None = Field(
        None, description="a model (height, width) for the views' images (lp3d init's proposal)"
    )


class WeightsOut(BaseModel):
    id: str
    label: str


class ModelOptionsOut(BaseModel):
    backbones: list[BackboneOut]
    weights: list[WeightsOut] = Field(description="backbone weight files in the project (weights/ or its top folder)")
    calibrated: bool = Field(description="some session has a calibration (3D augmentation, triangulation loss)")
    n_labeled: int
    image_sizes: list[tuple[int, int]] = Field(description="the views' image sizes (width, height)")
    runs: list[str] = Field(description="names of the runs in runs/")
    message: str | None = Field(None, description="why models cannot be trained here, if they cannot")


class ModelForm(BaseModel):
    name: str = Field(pattern=NAME, description="the run: runs/<name>/")
    backbone: str
    pretrained: bool | str = Field(description="true: timm's weights; false: random; or a weights id")
    height: int = Field(gt=0, le=4096)
    width: int = Field(gt=0, le=4096)
    steps: int = Field(gt=0, le=10_000_000)
    batch_size: int = Field(gt=0, le=4096)
    seeds: list[int] = Field(min_length=1, max_length=32)
    masking: float = Field(0.3, ge=0, lt=1)
    geometry: bool = False
    augment_3d: bool = True
    triangulation_loss: bool = True
    val_fraction: float | None = Field(None, ge=0, lt=1)
    test_fraction: float | None = Field(None, ge=0, lt=1)
    extra: list[str] = Field(default_factory=list, description="more settings, section.key=value each")


class ConfigOut(BaseModel):
    yaml: str = Field(description="the config as the run folder's config.yaml will hold it")
    run_dir: str
    exists: bool = Field(description="a run of this name exists")


class TrainRequest(BaseModel):
    form: ModelForm | None = Field(None, description="a new run (or more seeds of one) from the model form")
    run: str | None = Field(None, description="a run id to resume (its members continue from their last checkpoint)")
    student: str | None = Field(None, description="a distillation's name: train its student")
    overwrite: bool = Field(False, description="start the run again (its members and split removed)")


class PredictRequest(BaseModel):
    run: str = Field(description="a run id (all its trained members)")
    sessions: list[str] = Field(min_length=1, description="session ids (their videos)")
    name: str | None = Field(None, pattern=NAME, description="output name (default the run's)")
    smooth: bool = Field(True, description="then smooth (with each session's calibration)")


class EvaluateRequest(BaseModel):
    runs: list[str] = Field(min_length=1, description="run ids")


class DistillRequest(BaseModel):
    teacher: str = Field(description="a run id")
    sources: list[str] = Field(min_length=1, description="smoothed sources of its predictions")
    name: str = Field(pattern=NAME, description="the student: runs/<name>/")
    n_frames: int = Field(100, ge=1, le=100000)
    variance_quantile: float | None = Field(None, gt=0, le=1)
    steps: int | None = Field(None, gt=0, description="student optimizer steps (default the teacher's)")
    seeds: list[int] | None = None
    overwrite: bool = False


class SeriesPointsOut(BaseModel):
    step: list[float]
    value: list[float]


class RunDetailOut(BaseModel):
    id: str
    name: str
    config: str = Field(description="config.yaml")
    members: list[str]
    trained: list[str]
    best_val_error: dict[str, float | None] = Field(description="lowest val/pixel_error per member")
    evaluated: bool
    student_of: str | None = Field(None, description="the teacher's run, for a distilled student")
    metrics: dict[str, dict[str, SeriesPointsOut]] = Field(description="{member: {metric: steps and values}}")


class ComparisonRowOut(BaseModel):
    model: str
    view: str
    keypoint: str
    n: int
    mean: Num
    median: Num
    p90: Num


class RunComparisonOut(BaseModel):
    run: str
    part: str = Field(description="the held-out part it was scored on: test, val, or '' (unknown)")
    n_frames: int
    frames_key: str = Field(description="runs with the same key were scored on the same frames")
    rows: list[ComparisonRowOut]


class CompareOut(BaseModel):
    runs: list[RunComparisonOut]
    missing: list[str] = Field(description="runs not evaluated yet")


class PseudoFrameOut(BaseModel):
    session: str
    frame: int
    frame_variance: float
    mean_weight: float
    views: list[str]
    points: dict[str, list[Point]]
    weights: dict[str, list[Num]]


class DistillationOut(BaseModel):
    name: str
    teacher: str | None
    keypoints: list[str]
    frames: list[PseudoFrameOut]
    trained: bool
