"""The callback receiver: what `/v1/wecom/callback` does, and its start and
stop with the server.

A callback is taken only when its timestamp is within
KOC_WECOM_MAX_SKEW_SECONDS of the server's clock, its msg_signature is
ours, it decrypts, and it was sealed for KOC_WECOM_CORP_ID; anything else
is refused (`CallbackRejected`, 403) with the reason. A push is answered
once it is in the inbox, on disk; the store sees it a micro-batch later.
A push sent again (WeCom retries within seconds; a replay inside the
window) makes the same events, counted as duplicates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from api.service import Service
from api.settings import Settings
from api.wecom.applier import Applier
from api.wecom.crypto import CallbackRejected, WeComCrypto
from api.wecom.inbox import Inbox
from api.wecom.pushes import PushError

MAX_PUSH_BYTES = 1 << 20  # the route's limit; a push is a few hundred bytes


class Receiver:
    """Verifies, decrypts and files callbacks for one corp."""

    def __init__(self, settings: Settings, inbox: Inbox) -> None:
        assert settings.wecom_token and settings.wecom_aes_key and settings.wecom_corp_id
        self.crypto = WeComCrypto(
            settings.wecom_token.get_secret_value(),
            settings.wecom_aes_key.get_secret_value(),
            settings.wecom_corp_id,
        )
        self.max_skew = settings.wecom_max_skew_seconds
        self.inbox = inbox

    def _opened(
        self, msg_signature: str | None, timestamp: str | None, nonce: str | None, encrypted: str
    ) -> str:
        """The plaintext of a callback that passes every check."""
        for name, value in (
            ("msg_signature", msg_signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
        ):
            if not value:
                raise CallbackRejected("{name} is missing", name, name=name)
        assert msg_signature and timestamp and nonce
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise CallbackRejected("timestamp is not a number of seconds", "timestamp")
        skew = abs(time.time() - int(timestamp))
        if skew > self.max_skew:
            raise CallbackRejected(
                "timestamp is {skew:.0f} s from the server's clock, more than "
                "KOC_WECOM_MAX_SKEW_SECONDS ({max_skew}): a replayed or delayed callback",
                "timestamp",
                skew=skew,
                max_skew=self.max_skew,
            )
        self.crypto.verify(msg_signature, timestamp, nonce, encrypted)
        return self.crypto.decrypt(encrypted)

    def verify_url(
        self, msg_signature: str | None, timestamp: str | None, nonce: str | None, echostr: str
    ) -> str:
        """WeCom's URL check: the decrypted echostr, to be answered as is."""
        if not echostr:
            raise CallbackRejected("echostr is missing", "echostr")
        # WeCom URL-encodes it; a "+" sent bare arrives as a space (no base64 has one).
        return self._opened(msg_signature, timestamp, nonce, echostr.replace(" ", "+"))

    def accept(
        self, msg_signature: str | None, timestamp: str | None, nonce: str | None, body: bytes
    ) -> dict[str, str]:
        """The inbox record of a pushed event that passes every check."""
        try:
            envelope = fromstring(body, forbid_dtd=True)
        except (ParseError, DefusedXmlException) as exc:
            raise PushError("the body is not WeCom's XML: {error}", error=exc) from None
        encrypted = (envelope.findtext("Encrypt") or "").strip()
        if not encrypted:
            raise PushError("the body has no <Encrypt> element")
        # The push itself is read when applied (a signed push that is no
        # XML, never seen from WeCom, is logged there): one parse here, not two.
        xml = self._opened(msg_signature, timestamp, nonce, encrypted)
        return {"received_at": datetime.now(UTC).isoformat(), "xml": xml}

    async def receive(
        self, msg_signature: str | None, timestamp: str | None, nonce: str | None, body: bytes
    ) -> None:
        """File a pushed event in the inbox; return once it is on disk."""
        record = self.accept(msg_signature, timestamp, nonce, body)
        await self.inbox.append_async(record)


@dataclass
class WeCom:
    """The receiver and the applier's thread of a running server."""

    receiver: Receiver
    inbox: Inbox
    applier: Applier
    thread: threading.Thread
    stopping: threading.Event

    def stop(self) -> None:
        """Take no more pushes, apply every one taken, close the inbox."""
        self.inbox.stop_appending()
        self.stopping.set()
        self.thread.join()
        self.inbox.close()


def start_wecom(service: Service) -> WeCom | None:
    """The callback receiver and applier over the service's store, or None
    when KOC_WECOM_* are not set (the routes then answer 404)."""
    settings: Settings = service.settings
    if not settings.wecom_enabled:
        return None
    inbox = Inbox(settings.wecom_inbox_dir, writer=True)
    try:
        receiver = Receiver(settings, inbox)
        applier = Applier(
            service.store, inbox, settings, on_change=partial(service.changed, kept_latest=True)
        )
    except BaseException:
        inbox.close()
        raise
    stopping = threading.Event()
    thread = service.in_background(lambda: applier.run(stopping), "wecom-applier")
    return WeCom(receiver, inbox, applier, thread, stopping)
