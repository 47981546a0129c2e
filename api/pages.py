"""The operators' pages, rendered in the reader's language.

Each page is a Jinja2 template under `api/templates/` (autoescaped) that
calls `_` for its text; its script gets the messages it uses as a JSON block
(`#messages`), read by `static/i18n.js`. The pages hold no data: their
scripts ask the API with the operator's key.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.extract import extract_from_file
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.i18n import LANGS, _, current_lang, messages_for
from api.i18n.web import COOKIE

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# Everything a page loads comes from this server.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'"
)
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["_"] = _


@cache
def script_messages(script: str) -> tuple[str, ...]:
    """The msgids a static script passes to `_` (Babel's JavaScript extractor)."""
    with (STATIC / script).open("rb") as handle:
        found = extract_from_file("javascript", handle.name, keywords={"_": None})
    return tuple(dict.fromkeys(m for _line, m, _c, _x in found if isinstance(m, str)))


def render_page(
    request: Request, template: str, scripts: tuple[str, ...], **context
) -> HTMLResponse:
    """`template` in the request's language, with its scripts' messages; a
    `?lang=` choice is remembered in the `koc_lang` cookie."""
    lang = current_lang()
    msgids = [m for script in scripts for m in script_messages(script)]
    html = _env.get_template(template).render(
        lang=lang,
        html_lang="zh-CN" if lang == "zh" else "en",
        langs=LANGS,
        path=request.url.path,
        messages=messages_for(lang, msgids),
        settings=request.app.state.settings,
        **context,
    )
    response = HTMLResponse(html, headers={"Content-Security-Policy": PAGE_POLICY})
    if request.query_params.get("lang") == lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response
