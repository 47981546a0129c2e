"""The reader's language for each HTTP request.

In order: the `lang` query parameter (the pages' switch), the `koc_lang`
cookie (the switch remembered), `Accept-Language`, then `KOC_LANG`. The
choice is the context's language while the request is answered, so error
details, reasons and exports come out in it.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from api.i18n import Lang, accepted_lang, parse_lang, use_lang

COOKIE = "koc_lang"


def request_lang(query: str, cookie: str | None, accept: str | None, default: Lang) -> Lang:
    """The language a request asks for.

    >>> request_lang("lang=en", "koc_lang=zh", "zh-CN", "zh")
    'en'
    >>> request_lang("", None, "en-US,en;q=0.9", "zh")
    'en'
    >>> request_lang("lang=fr", None, None, "zh")
    'zh'
    """
    asked = parse_lang((parse_qs(query[:4096]).get("lang") or [""])[0])
    if asked is None and cookie:
        jar = SimpleCookie()
        try:
            jar.load(cookie[:4096])
        except Exception:  # a malformed Cookie header is someone else's cookie
            jar = SimpleCookie()
        morsel = jar.get(COOKIE)
        asked = parse_lang(morsel.value if morsel else None)
    return asked or accepted_lang(accept) or default


class RequestLanguage:
    """ASGI middleware: answers each request in its reader's language."""

    def __init__(self, app: ASGIApp, default: Lang) -> None:
        self.app, self.default = app, default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        lang = request_lang(
            scope.get("query_string", b"").decode("latin-1"),
            headers.get(b"cookie", b"").decode("latin-1") or None,
            headers.get(b"accept-language", b"").decode("latin-1") or None,
            self.default,
        )
        scope.setdefault("state", {})["lang"] = lang
        with use_lang(lang):
            await self.app(scope, receive, send)
