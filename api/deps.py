"""What routes share: the service, cached JSON answers, time parameters, user
ids in paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError
from api.i18n import _, current_lang
from api.service import Service


# Dependencies are `async def` where they do no I/O: FastAPI runs a plain
# `def` dependency in a worker thread, a hop that cost more than a user page.
async def get_service(request: Request) -> Service:
    return request.app.state.service


async def cached_json(
    service: Service, key: tuple, compute: Callable[[], BaseModel], inline: bool = False
) -> Response:
    """The JSON of compute(), made once per store version: a hit is answered
    on the event loop without touching the store; a miss works in a thread,
    or, `inline`, on the loop too (for work of well under a millisecond from
    memory, where the thread hop would cost more). Answers are kept per
    language: reasons and labels in them are in the reader's."""
    key = json_key(key, current_lang())
    body = service.peek(key)
    if body is None:
        if inline:
            body = json_body(service, key, compute)
        else:
            body = await run_in_threadpool(json_body, service, key, compute)
    return Response(body, media_type="application/json")


def json_key(key: tuple, lang: str) -> tuple:
    """Where `cached_json` keeps the answer to `key` in `lang`."""
    return ("json", lang, *key)


def json_body(service: Service, key: tuple, compute: Callable[[], BaseModel]) -> bytes:
    """The JSON of compute() kept under `key` (a `json_key`), made once per
    store version; call it in the language `key` names."""
    return service.cached(key, lambda: compute().model_dump_json().encode())


def json_response(model: BaseModel) -> Response:
    """The model's JSON, as the route's response model already describes it:
    FastAPI would validate a returned model a second time."""
    return Response(model.model_dump_json(), media_type="application/json")


def aware(value: datetime | None, zone: str) -> datetime | None:
    """A query time; naive times are in the configured zone (KOC_TIMEZONE)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(zone))


def check_window(since: datetime | None, until: datetime | None) -> None:
    if since and until and since >= until:
        raise ApiError(422, _("since must be before until"), field="since", location="query")


ServiceDep = Annotated[Service, Depends(get_service)]


# -- user ids in paths ----------------------------------------------------------

USER_PATHS = ("/v1/users/", "/v1/flags/")
MAX_USER_ID = 256  # as ingest accepts (loaders.validate.MAX_ID_LENGTH)


class EncodedUserPaths:
    """Routes the user paths on the path as sent, still percent-encoded.

    An id may hold '/' (ingest takes any text id), and a decoded path cannot
    tell `/v1/users/a%2Fnetwork` (the user "a/network") from
    `/v1/users/a/network` (user "a"'s network). Encoded, an id is always one
    path segment; `user_id_param` decodes it, once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw:
            path = raw.split(b"?", 1)[0].decode("ascii", errors="replace")
            if path.startswith(USER_PATHS):
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)


async def user_id_param(
    user_id: Annotated[
        str, Path(min_length=1, max_length=3 * MAX_USER_ID, description="the user's id")
    ],
) -> str:
    """The user id of the path, percent-decoded (see `EncodedUserPaths`)."""
    decoded = unquote(user_id)
    if len(decoded) > MAX_USER_ID:
        raise ApiError(
            422,
            _("a user id is at most {limit} characters", limit=MAX_USER_ID),
            field="user_id",
            location="path",
        )
    return decoded


UserIdDep = Annotated[str, Depends(user_id_param)]
