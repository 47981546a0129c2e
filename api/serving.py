"""How `koc serve` runs uvicorn: its timeouts and limits from the settings,
and the bounds on a request's head that uvicorn lacks.

uvicorn closes idle kept-alive connections, but a client that sends a
request's headers slowly (slowloris), or sends them without end, is never
stopped: each held connection costs a socket and its buffered bytes. Here a
connection's request head must be complete within
KOC_HEADER_TIMEOUT_SECONDS of the connection opening (or of the previous
response) and within KOC_MAX_HEADER_BYTES; else the server answers 408 or
431 and closes it, with one log line.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from api.settings import Settings

log = logging.getLogger("searchlight.api")
# A timer that would close a connection looks once more this much later: after
# the event loop stood still (another thread held the GIL for seconds), timers
# run before the sockets are read, and closing on a request that is waiting
# unread would reset it.
SECOND_LOOK = 0.1


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments for `uvicorn.run` that bound what clients hold."""
    return {
        "http": bounded_head_protocol(settings.header_timeout_seconds, settings.max_header_bytes),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
    }


def _refusal(status: bytes, text: str) -> bytes:
    body = text.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


def bounded_head_protocol(seconds: float, max_bytes: int) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol, with a deadline and a size limit on each
    request's head: from the connection's start, or from the previous
    response, until the request's headers are all in."""

    class BoundedHead(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _deadline: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _since: Any = None  # the request cycle current when the wait began
        _looked = _idle_looked = False  # the deadline / keep-alive looked once already

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._await_head()

        def on_response_complete(self) -> None:
            self._idle_looked = False
            super().on_response_complete()
            self._await_head()

        def timeout_keep_alive_handler(self) -> None:
            if not self._idle_looked:
                self._idle_looked = True
                self.timeout_keep_alive_task = self.loop.call_later(
                    SECOND_LOOK, self.timeout_keep_alive_handler
                )
                return
            super().timeout_keep_alive_handler()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            waiting = self._waiting()
            super().data_received(data)
            if not waiting:
                return
            if not self._waiting():  # this data completed the headers
                self._stop_waiting()
                return
            self._head_bytes += len(data)
            if self._head_bytes > max_bytes:
                self._refuse(
                    b"431 Request Header Fields Too Large",
                    f"request headers over {max_bytes:,} bytes",
                )

        def _waiting(self) -> bool:
            """No request's headers have completed since the wait began."""
            cycle = self.cycle
            return (
                self._deadline is not None
                and cycle is self._since
                and (cycle is None or cycle.response_complete)
            )

        def _await_head(self) -> None:
            self._stop_waiting()
            if self.transport.is_closing():
                return
            self._since, self._head_bytes, self._looked = self.cycle, 0, False
            self._deadline = self.loop.call_later(seconds, self._late)

        def _stop_waiting(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _late(self) -> None:
            waiting = self._waiting()
            if waiting and not self._looked:
                self._looked = True
                self._deadline = self.loop.call_later(SECOND_LOOK, self._late)
                return
            self._deadline = None
            if not waiting or self.transport.is_closing():
                return
            if self._head_bytes:
                self._refuse(
                    b"408 Request Timeout",
                    f"request headers not complete within {seconds:g} s",
                )
            else:  # idle since connecting or since its last answer: nothing to say
                self.transport.close()

        def _refuse(self, status: bytes, why: str) -> None:
            self._stop_waiting()
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.warning("closed the connection from %s: %s", client, why)
            self.transport.write(_refusal(status, why + "\n"))
            self.transport.close()

    return BoundedHead
