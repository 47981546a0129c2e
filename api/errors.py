"""Errors as JSON: every 4xx names the field and the problem, unknown ids give
404, oversized bodies 413, and nothing a client sends gives a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.i18n import N_, _, error_text, translate, validation
from api.ingest import BadRequestError, TooManyEventsError
from api.models import ErrorBody, ErrorItem
from api.queries import CommunityNotFoundError
from api.service import AnalysisRunningError, BusyError
from graph.analysis.kocs import SnapshotMissingError
from graph.neo4j_gds import GdsUnavailableError
from graph.neo4j_runner import StoreUnavailableError
from graph.ranking import SnapshotNeededError
from graph.review import NotFlaggedError
from graph.store import StoreLockedError, UserNotFoundError
from loaders.errors import SearchlightError

log = logging.getLogger("searchlight.api")
# Starlette's reason phrases, the detail of its own HTTP errors.
_REASONS = (
    N_("Method Not Allowed"),
    N_("Not Found"),
    N_("Bad Request"),
    N_("Unsupported Media Type"),
)


class ApiError(Exception):
    """An error with its status, said in the error body's terms. `detail`
    is already in the reader's language: raise it with `_("…", **params)`
    or `error_text(exc)`."""

    def __init__(
        self,
        status: int,
        detail: str,
        field: str = "",
        location: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers
        self.items = [ErrorItem(field=field, location=location, problem=detail)] if field else []


def error_response(
    status: int, detail: str, items: list[ErrorItem] | None = None, headers=None
) -> JSONResponse:
    body = ErrorBody(detail=detail, errors=items or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# Domain errors and the status each one means, most specific first.
_STATUS: list[tuple[type[Exception], int, str, str]] = [
    (StoreUnavailableError, 503, "store", "store"),
    (TooManyEventsError, 413, "body", "body"),
    (UserNotFoundError, 404, "user_id", "path"),
    (CommunityNotFoundError, 404, "community_id", "path"),
    (NotFlaggedError, 409, "user_id", "path"),
    (SnapshotMissingError, 409, "snapshot", "store"),
    (SnapshotNeededError, 409, "by", "query"),
    (AnalysisRunningError, 409, "analysis", "store"),
    (StoreLockedError, 503, "store", "store"),
    (BusyError, 503, "request", "request"),
    (GdsUnavailableError, 422, "engine", "query"),
]


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ())]
            where = loc[0] if loc else "request"
            field = ".".join(loc[1:]) or where
            items.append(ErrorItem(field=field, location=where, problem=validation.problem(e)))
        detail = validation.request_detail([(i.field, i.problem) for i in items])
        return error_response(422, detail, items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        field, location = {
            404: ("path", "path"),
            405: ("method", "request"),
            413: ("body", "body"),
        }.get(exc.status_code, ("request", "request"))
        if exc.status_code == 404 and detail == "Not Found":
            detail = _("no route {path}; see /docs", path=request.url.path)
        else:
            detail = translate(detail)  # Starlette's reason phrases (_REASONS)
        items = [ErrorItem(field=field, location=location, problem=detail)]
        return error_response(exc.status_code, detail, items, getattr(exc, "headers", None))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.items, exc.headers)

    @app.exception_handler(SearchlightError)
    async def domain(request: Request, exc: SearchlightError) -> JSONResponse:
        status, field, location = 400, "request", "request"
        if isinstance(exc, BadRequestError):
            field, location = exc.field, exc.location
        for kind, code, f, where in _STATUS:
            if isinstance(exc, kind):
                status, field, location = code, f, where
                break
        detail = error_text(exc)
        items = [ErrorItem(field=field, location=location, problem=detail)]
        # A store that is down or refusing us, or a server at its limit of
        # expensive work, is the server's trouble, not the request's.
        retry = getattr(exc, "retry_after", 10)
        headers = {"Retry-After": str(retry)} if status == 503 else None
        return error_response(status, detail, items, headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, _("internal error; the server log has the details"))


class BodyLimit:
    """413 for a body over the route's limit, by Content-Length or, for a
    streamed body, as soon as it grows past it; and one log line, not a
    traceback, when the client leaves before its body is all in."""

    def __init__(self, app: ASGIApp, default: int, uploads: int, upload_paths: tuple[str, ...]):
        self.app, self.default, self.uploads, self.upload_paths = (
            app,
            default,
            uploads,
            upload_paths,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.uploads if scope["path"] in self.upload_paths else self.default
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._reject(send, 400, _("Content-Length is not a number"), "Content-Length")
                return
            if int(declared) > limit:
                await self._reject(send, 413, _too_large(int(declared), limit), "body")
                return
        seen = 0
        started = complete = left = False

        async def counted() -> Message:
            nonlocal seen, complete, left
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > limit:
                    raise _TooLarge(413, _too_large(seen, limit))
            elif message["type"] == "http.disconnect" and not complete:
                left = True
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._reject(send, 413, _too_large(seen, limit), "body")
        except ClientDisconnect:
            if not left:
                raise
        if left:
            _log_left(scope, seen, declared)

    @staticmethod
    async def _reject(send: Send, status: int, detail: str, field: str) -> None:
        response = error_response(
            status,
            detail,
            [
                ErrorItem(
                    field=field, location="header" if field != "body" else "body", problem=detail
                )
            ],
        )
        await send(
            {"type": "http.response.start", "status": status, "headers": response.raw_headers}
        )
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(StarletteHTTPException):
    """Raised from inside the app's body reading; an HTTPException so that
    FastAPI's body parsing passes it on instead of calling it a parse error."""


def _log_left(scope: Scope, seen: int, declared: bytes | None) -> None:
    """One line for a client that left mid-body (an upload cut off, say)."""
    client = scope.get("client")
    who = f"{client[0]}:{client[1]}" if client else "a client"
    of = f" of {int(declared):,}" if declared else ""
    log.warning(
        "client %s left during %s %s after %s%s body bytes; nothing was applied",
        who,
        scope.get("method"),
        scope.get("path"),
        f"{seen:,}",
        of,
    )


def _too_large(size: int, limit: int) -> str:
    return _(
        "request body of {size:,} bytes or more is over this route's limit of {limit:,} bytes",
        size=size,
        limit=limit,
    )
