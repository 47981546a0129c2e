"""What routes share: the service, cached JSON answers, time parameters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


async def cached_json(service: Service, key: tuple, compute: Callable[[], BaseModel]) -> Response:
    """The JSON of compute(), made once per store version: a hit is answered
    on the event loop without touching the store; a miss works in a thread."""
    key = ("json", *key)
    body = service.peek(key)
    if body is None:
        body = await run_in_threadpool(
            service.cached, key, lambda: compute().model_dump_json().encode()
        )
    return Response(body, media_type="application/json")


def aware(value: datetime | None, zone: str) -> datetime | None:
    """A query time; naive times are in the configured zone (KOC_TIMEZONE)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(zone))


def check_window(since: datetime | None, until: datetime | None) -> None:
    if since and until and since >= until:
        raise ApiError(422, "since must be before until", field="since", location="query")


ServiceDep = Annotated[Service, Depends(get_service)]
