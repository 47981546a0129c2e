from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from api import queries
from api.auth import admin
from api.deps import ServiceDep
from api.exports import KocExport, manifest_json, to_csv, to_xlsx
from api.i18n import current_lang
from api.models import ErrorBody
from api.routes.reads import KocParamsDep
from api.service import Service
from graph.analysis.kocs import KocParams

router = APIRouter(prefix="/v1/exports", tags=["exports"], dependencies=[Depends(admin)])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Lang = Annotated[
    Literal["zh", "en"] | None,
    Query(description="the file's language (headers, reasons, manifest); default the reader's"),
]


def _export(service: Service, params: KocParams, lang: str | None) -> KocExport:
    # Cached so the file and its manifest, fetched apart, agree.
    lang = lang or current_lang()
    return service.cached(
        ("export", params, lang), lambda: queries.koc_export(service, params, lang)
    )


@router.get(
    "/kocs",
    responses={
        200: {"content": {"text/csv": {}, XLSX: {}}, "description": "the KOC list file"},
        409: {"model": ErrorBody},
    },
    response_class=Response,
)
async def export_kocs(
    service: ServiceDep,
    params: KocParamsDep,
    format: Annotated[Literal["csv", "xlsx"], Query(description="file format")] = "csv",
    lang: Lang = None,
) -> Response:
    """The KOC list for rewards, as CSV (UTF-8 with BOM) or XLSX (with a
    manifest sheet). Only users not flagged, or approved on review. The CSV's
    manifest is at /v1/exports/kocs/manifest with the same parameters."""
    export = await run_in_threadpool(_export, service, params, lang)
    body = await run_in_threadpool(to_csv if format == "csv" else to_xlsx, export)
    query = (
        f"k={params.k}&strategy={params.strategy}&lang={export.manifest['lang']}"
        + (f"&quota={params.quota}" if params.quota else "")
        + (f"&sharers={params.sharers:g}" if params.sharers != KocParams.sharers else "")
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8" if format == "csv" else XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename(format)}"',
            "Link": f'</v1/exports/kocs/manifest?{query}>; rel="describedby"',
        },
    )


@router.get("/kocs/manifest", responses={409: {"model": ErrorBody}})
async def export_manifest(
    service: ServiceDep,
    params: KocParamsDep,
    lang: Lang = None,
) -> Response:
    """The manifest of an export: snapshot, parameters, time, rows."""
    export = await run_in_threadpool(_export, service, params, lang)
    return Response(manifest_json(export), media_type="application/json")
