from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from api.auth import admin, viewer
from api.deps import ServiceDep, aware
from api.errors import ApiError
from api.i18n import _, error_text
from api.models import AnalysisJob, AnalysisRequest, ErrorBody, SnapshotSummary
from api.notes import summary_in_words
from api.service import Job
from graph.analysis.score import DEFAULT_WEIGHTS
from graph.analysis.snapshot import AnalysisParams, ParamError

router = APIRouter(prefix="/v1/analyses", tags=["analyses"])


def _job_model(job: Job) -> AnalysisJob:
    return AnalysisJob(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        stage=job.stage,
        submitted_at=job.submitted_at,
        finished_at=job.finished_at,
        error=error_text(job.failure) if job.failure else job.error,
        snapshot=SnapshotSummary(**summary_in_words(job.summary)) if job.summary else None,
        pruned_snapshots=job.summary.get("pruned_snapshots") if job.summary else None,
    )


@router.post(
    "",
    response_model=AnalysisJob,
    status_code=201,
    dependencies=[Depends(admin)],
    responses={
        202: {"model": AnalysisJob},
        409: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)
async def start_analysis(
    response: Response,
    service: ServiceDep,
    request: AnalysisRequest | None = None,
) -> AnalysisJob:
    """Analyse the graph and save a snapshot. 201 with the result when it
    finishes within KOC_ANALYSIS_WAIT_SECONDS, else 202 and the job to poll
    (Location header). One analysis at a time (409 while one runs). A window
    with nobody in it is refused with 422 and nothing is saved."""
    request = request or AnalysisRequest()
    zone = service.settings.timezone
    try:
        params = AnalysisParams(
            since=aware(request.since, zone),
            until=aware(request.until, zone),
            campaigns=tuple(request.campaigns),
            half_life_days=request.half_life_days,
            weights=dict(DEFAULT_WEIGHTS) if request.weights is None else request.weights,
            seed=request.seed,
            fraud=service.settings.fraud,
            engine=request.engine or service.settings.analysis_engine,
            score=request.score or service.settings.score,
            horizon_days=request.horizon_days or service.settings.score_horizon_days,
        )
    except ParamError as exc:
        raise ApiError(422, error_text(exc), field=exc.field, location="body") from None
    if params.engine == "gds" and getattr(service.store, "gds", None) is None:
        raise ApiError(
            422,
            _("the gds engine runs inside Neo4j, and this server's store is the embedded one"),
            field="engine",
            location="body",
        )
    job = service.start_analysis(params)
    assert job.done is not None
    finished = await run_in_threadpool(job.done.wait, service.settings.analysis_wait_seconds)
    if finished and job.refused:  # an empty window: nothing saved
        reason = error_text(job.failure) if job.failure else _("empty window")
        raise ApiError(422, reason, field="since", location="body")
    if not finished:
        response.status_code = 202
        response.headers["Location"] = f"/v1/analyses/{job.id}"
    return _job_model(job)


@router.get(
    "/latest",
    response_model=SnapshotSummary,
    dependencies=[Depends(viewer)],
    responses={404: {"model": ErrorBody}},
)
async def latest_analysis(service: ServiceDep) -> SnapshotSummary:
    """The latest saved analysis: its parameters, sizes and stage timings."""
    snapshot = await run_in_threadpool(service.snapshot)
    if snapshot is None:
        raise ApiError(
            404, _("no analysis yet: POST /v1/analyses"), field="analysis", location="store"
        )
    return SnapshotSummary(**summary_in_words(snapshot.summary))


@router.get(
    "/{job_id}",
    response_model=AnalysisJob,
    dependencies=[Depends(viewer)],
    responses={404: {"model": ErrorBody}},
)
async def get_analysis(job_id: str, service: ServiceDep) -> AnalysisJob:
    """An analysis started on this server: running, succeeded or failed."""
    job = service.jobs.get(job_id)
    if job is None:
        raise ApiError(
            404,
            _(
                "no analysis job {job_id!r} (jobs are kept while the server runs; GET "
                "/v1/analyses/latest has the latest saved analysis)",
                job_id=job_id,
            ),
            field="job_id",
            location="path",
        )
    return _job_model(job)
