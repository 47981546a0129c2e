"""WeCom's callback URL (docs/wecom.md). No API key: WeCom signs every
callback with the corp's token instead, and a callback that is not signed,
fresh and sealed for our corp is refused (403). Without KOC_WECOM_CORP_ID,
KOC_WECOM_TOKEN and KOC_WECOM_AES_KEY the routes answer 404."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from api.errors import ApiError
from api.i18n import _, error_text
from api.models import ErrorBody
from api.wecom.crypto import CallbackRejected
from api.wecom.inbox import InboxError
from api.wecom.pushes import PushError
from api.wecom.receiver import MAX_PUSH_BYTES, Receiver

log = logging.getLogger("searchlight.wecom")
router = APIRouter(prefix="/v1/wecom", tags=["wecom"])
_ERRORS = {code: {"model": ErrorBody} for code in (400, 403, 404, 413, 503)}

Signature = Annotated[
    str | None, Query(max_length=128, description="SHA-1 of token, timestamp, nonce, ciphertext")
]
Timestamp = Annotated[str | None, Query(max_length=32, description="seconds since the epoch")]
Nonce = Annotated[str | None, Query(max_length=128)]


def _receiver(request: Request) -> Receiver:
    wecom = getattr(request.app.state, "wecom", None)
    if wecom is None:
        raise ApiError(
            404,
            _(
                "WeCom callbacks are off: set KOC_WECOM_CORP_ID, KOC_WECOM_TOKEN and "
                "KOC_WECOM_AES_KEY (docs/wecom.md)"
            ),
            field="path",
            location="path",
        )
    return wecom.receiver


@contextmanager
def _answered(request: Request) -> Iterator[None]:
    """A refused callback as 403, a malformed one as 400, an inbox that
    cannot be written as 503; each logged with its reason."""
    peer = request.client.host if request.client else "?"
    try:
        yield
    except CallbackRejected as exc:
        log.warning("WeCom callback from %s refused (403): %s", peer, exc)
        raise ApiError(403, error_text(exc), field=exc.field, location="query") from None
    except PushError as exc:
        log.warning("WeCom callback from %s malformed (400): %s", peer, exc)
        raise ApiError(400, error_text(exc), field="body", location="body") from None
    except InboxError as exc:
        log.error("WeCom push from %s not filed (503): %s", peer, exc)
        raise ApiError(503, error_text(exc), headers={"Retry-After": "5"}) from None


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PUSH_BYTES:
            raise ApiError(
                413,
                _("a WeCom push is far below {limit:,} bytes", limit=MAX_PUSH_BYTES),
                "body",
                "body",
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/callback", response_class=PlainTextResponse, responses=_ERRORS)
async def verify_url(
    request: Request,
    msg_signature: Signature = None,
    timestamp: Timestamp = None,
    nonce: Nonce = None,
    echostr: Annotated[str | None, Query(max_length=4096, description="encrypted")] = None,
) -> PlainTextResponse:
    """WeCom's URL verification: answers the decrypted `echostr`."""
    receiver = _receiver(request)
    with _answered(request):
        plain = receiver.verify_url(msg_signature, timestamp, nonce, echostr or "")
    return PlainTextResponse(plain)


@router.post("/callback", response_class=PlainTextResponse, responses=_ERRORS)
async def push(
    request: Request,
    msg_signature: Signature = None,
    timestamp: Timestamp = None,
    nonce: Nonce = None,
) -> PlainTextResponse:
    """An event WeCom pushes (encrypted XML): answered (empty, 200) once it
    is on disk in the inbox; the graph has it a micro-batch later."""
    receiver = _receiver(request)
    body = await _body(request)
    with _answered(request):
        # Checked and decrypted here (about 0.1 ms); the inbox's writer
        # thread syncs it to disk while the loop serves other requests.
        await receiver.receive(msg_signature, timestamp, nonce, body)
    return PlainTextResponse("")
