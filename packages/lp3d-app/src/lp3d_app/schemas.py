"""The API's requests and responses (pydantic): what the OpenAPI schema and the typed client say.

Numbers that may be missing (NaN) are ``null``. Arrays keep the dataset's axis order, written in
each field's description.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Num = float | None


class ErrorOut(BaseModel):
    error: str = Field(description="one line: what was expected, and what came")


class ProblemOut(BaseModel):
    where: str
    message: str


class VideoOut(BaseModel):
    view: str
    n_frames: int
    fps: float
    width: int
    height: int


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


class RunOut(BaseModel):
    id: str
    name: str
    views: list[str]
    keypoints: list[str]
    members: list[str]
    trained: list[str]


class SourceOut(BaseModel):
    id: str
    label: str
    session: str
    has_members: bool
    has_smoothed: bool
    calibrated: bool
    smoother: str | None
    views: list[str]
    keypoints: list[str]
    members: list[str]
    n_frames: int
    fps: float | None


class PredictionFolderOut(BaseModel):
    id: str
    label: str
    n_files: int


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


class SourceFrameOut(BaseModel):
    source: str
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
    stats: list[KeypointViewStatsOut]
    inconsistent: list[WorstFrameOut]
    uncertain: list[WorstFrameOut]


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


class ErrorsOut(BaseModel):
    groups: list[ErrorGroupOut]
    message: str | None = None
    scored: str | None = Field(None, description="which labeled frames are scored, in words")


class SmoothRequest(BaseModel):
    input: str = Field(description="a source id (its predictions) or a prediction folder id")
    calibration: str | None = Field(None, description="a calibration id; none: smooth without one")
    name: str = Field(
        description="output name: results go to lp3d-app/smoothed/<name>/", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
    )
    ensemble: Literal["median", "mean"] = "median"
    variance: Literal["var", "confidence-weighted"] = "var"
    s: float | None = Field(None, gt=0, description="fixed smoothing parameter; none: chosen per keypoint")
    s_frames: str | None = Field(None, description="frames used to choose s, e.g. '0:2000,5000:7000'")
    inflate: bool | None = Field(None, description="variance inflation; none: the smoother's default")
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


class JobLogOut(BaseModel):
    text: str
    offset: int
