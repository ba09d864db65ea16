"""Sources (a session's stores): one keypoint's series, and the statistics and worst frames."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from lp3d_workflows.diagnostics import source_statistics

from lp3d_app.responses import NumpyJSONResponse, dataclass_json
from lp3d_app.schemas import SeriesOut, StatisticsOut
from lp3d_app.state import ReaderDep, SourceDep, StateDep

router = APIRouter(tags=["sources"])


@router.get("/sources/{source_id}/series", response_model=SeriesOut)
def get_series(
    *,
    keypoint: str,
    start: int = Query(0, ge=0),
    stop: int | None = Query(None, ge=1),
    width: int = Query(1500, ge=1, le=20000, description="screen columns: at most 2 points per column"),
    members: bool = Query(False, description="each member's x and y too"),
    views: str | None = Query(None, description="comma-separated views (default all)"),
    individual: str | None = Query(None, description="the animal (default the first)"),
    source: SourceDep,
    reader: ReaderDep,
) -> Response:
    """One keypoint over a range of frames, every view, decimated on the server (min / max per column)."""
    series = reader.series(
        keypoint,
        start,
        stop,
        width,
        views=None if not views else views.split(","),
        members=members,
        individual=individual,
    )
    return NumpyJSONResponse(
        {
            "source": source.id,
            "individual": individual or next(iter(reader.individuals), None),
            "keypoint": series.keypoint,
            "start": series.start,
            "stop": series.stop,
            "step": series.step,
            "time": series.time,
            "views": series.views,
            "space": series.space,
            "s": series.s,
            "overview": series.overview,
        }
    )


@router.get("/sources/{source_id}/statistics", response_model=StatisticsOut)
def get_statistics(
    *,
    n_worst: int = Query(20, ge=1, le=1000),
    individual: str | None = Query(None, description="the animal (default: the first)"),
    source: SourceDep,
    reader: ReaderDep,
    state: StateDep,
) -> Response:
    """Per keypoint and view: inflated share, variances, reprojection-error histogram; the worst frames
    (of one animal)."""
    found = state.statistics(
        source,
        (n_worst, individual),
        lambda: dataclass_json(source_statistics(reader, source.id, n_worst=n_worst, individual=individual)),
    )
    return NumpyJSONResponse(found)
