from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.auth import admin
from api.deps import ServiceDep
from api.ingest import ingest_events, ingest_upload
from api.models import ErrorBody, IngestResult

router = APIRouter(prefix="/v1/events", tags=["ingest"], dependencies=[Depends(admin)])
_ERRORS = {400: {"model": ErrorBody}, 413: {"model": ErrorBody}}


@router.post(
    "",
    response_model=IngestResult,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}},
                    "example": [
                        {
                            "event_id": "e-1",
                            "type": "join",
                            "inviter_id": "u-1",
                            "invitee_id": "u-2",
                            "occurred_at": "2026-11-01T10:00:00+08:00",
                            "campaign": "double11",
                        }
                    ],
                },
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_events(
    request: Request,
    service: ServiceDep,
    campaign: Annotated[
        str | None, Query(max_length=200, description="for events naming none")
    ] = None,
    timezone: Annotated[str | None, Query(max_length=64, description="zone of naive times")] = None,
) -> IngestResult:
    """Ingest events: a JSON array of event objects or NDJSON, canonical field
    names (DESIGN.md), at most KOC_MAX_EVENTS_PER_REQUEST. One all-or-nothing
    batch; rejected rows are quarantined and listed; re-sent events are
    counted as duplicates, never twice."""
    body = await request.body()
    return await run_in_threadpool(ingest_events, service, body, campaign, timezone)


@router.post("/upload", response_model=IngestResult, responses=_ERRORS)
def upload_events(
    file: Annotated[UploadFile, File(description="CSV, XLSX, JSONL or Parquet")],
    service: ServiceDep,
    mapping: Annotated[
        UploadFile | None, File(description="a mapping file, TOML or JSON (docs/ingest.md)")
    ] = None,
    campaign: Annotated[str | None, Form(max_length=200)] = None,
    timezone: Annotated[str | None, Form(max_length=64)] = None,
    preset: Annotated[
        str | None,
        Query(max_length=64, description="an SCRM export's mapping (docs/ingest.md, 'Presets')"),
    ] = None,
) -> IngestResult:
    """Ingest an event file, with an optional column mapping or preset; the
    same report as `koc ingest`."""
    return ingest_upload(
        service,
        file.file,
        file.filename or "upload",
        mapping.file if mapping else None,
        mapping.filename if mapping else None,
        campaign,
        timezone,
        preset,
    )
