"""Every string a person reads, in Simplified Chinese and English.

English is the source language, as gettext has it: code writes the English
text, `_` looks it up in the reader's language. The Chinese catalogue is the
`.po` files under `api/locale/zh/` (one per area, read as one catalogue; a
message may live in only one of them). Placeholders are `{name}` fields,
filled after translation, so word order may change:

>>> with use_lang("zh"):
...     _("{users} users", users="1,204")
'1,204 位用户'
>>> with use_lang("en"):
...     _("{users} users", users="1,204")
'1,204 users'

The reader's language lives in a context variable: the API sets it per
request (`?lang`, the `koc_lang` cookie, `Accept-Language`), the CLI from
`--lang`; `KOC_LANG` is the default for both. Text that is defined before
anyone reads it (column headers, table titles) is marked with `N_` and
translated with `_` where it is shown. Messages that errors carry from
`graph/` and `loaders/` (`SearchlightError`) are translated by `error_text`,
and the notes they make (`loaders.errors.Note`) by `note_text`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Literal, cast, get_args

from babel.messages.pofile import read_po

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = get_args(Lang)
DEFAULT_LANG: Lang = "zh"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
# Babel's locale for each language: numbers, money and dates.
BABEL_LOCALES: dict[Lang, str] = {"zh": "zh_CN", "en": "en"}

_current: ContextVar[Lang | None] = ContextVar("koc_lang", default=None)


def default_lang() -> Lang:
    """`KOC_LANG` (zh or en), else Chinese: the operators read Chinese."""
    value = os.environ.get("KOC_LANG", "").strip().lower()
    return cast(Lang, value) if value in LANGS else DEFAULT_LANG


def current_lang() -> Lang:
    """The language of whoever reads the text being made now."""
    return _current.get() or default_lang()


def set_lang(lang: Lang) -> None:
    """Set the reader's language for the rest of this context (a CLI run)."""
    _current.set(lang)


@contextmanager
def use_lang(lang: Lang) -> Iterator[None]:
    """Make text in `lang` inside the block."""
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


def parse_lang(value: str | None) -> Lang | None:
    """`zh`, `zh-CN`, `zh_Hans`, `en-US`, … as a language we have; None otherwise."""
    if not value:
        return None
    head = value.strip().lower().replace("_", "-").split("-")[0]
    return cast(Lang, head) if head in LANGS else None


def accepted_lang(header: str | None) -> Lang | None:
    """The first language we have in an `Accept-Language` header, by its q
    order (`en-US,en;q=0.9,zh;q=0.8` is English)."""
    if not header:
        return None
    ranked: list[tuple[float, int, Lang]] = []
    for i, item in enumerate(header[:1000].split(",")[:30]):
        tag, _sep, params = item.partition(";")
        lang = parse_lang(tag)
        if lang is None:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _eq, number = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


@cache
def catalog(lang: Lang) -> dict[str, str]:
    """Every message of `lang` (English msgid → text). English maps each
    message to itself, so it holds no entries."""
    if lang == "en":
        return {}
    messages: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=BABEL_LOCALES[lang]):
                if not message.id or not message.string:
                    continue
                if isinstance(message.id, str):
                    messages[message.id] = cast(str, message.string)
                else:  # ngettext's pair: Chinese has one form for both
                    for msgid in message.id:
                        messages[msgid] = message.string[0]
    return messages


def translate(msgid: str, lang: Lang | None = None) -> str:
    """`msgid` in `lang` (the current language by default), unformatted.
    A message missing from the catalogue shows in English (and a test fails)."""
    return catalog(lang or current_lang()).get(msgid, msgid)


def _(msgid: str, /, **params: object) -> str:
    """`msgid` in the reader's language, its `{fields}` filled from `params`."""
    text = translate(msgid)
    return text.format(**params) if params else text


def N_(msgid: str, /) -> str:
    """Marks text for the catalogue without translating it yet."""
    return msgid


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """`singular` or `plural` by `n` in English; Chinese has one form for
    both. `{n}` is filled with `n` unless `params` gives it (formatted)."""
    return _(singular if n == 1 else plural, **{"n": n, **params})


def labelled(labels: dict[str, str], key: str) -> str:
    """`key`'s label (an `N_`-marked entry of `labels`) in the reader's
    language; a key without one as it is."""
    label = labels.get(key)
    return _(label) if label else key


def messages_for(lang: Lang, msgids: list[str]) -> dict[str, str]:
    """The texts of `msgids` in `lang`: what a page's script needs."""
    return {m: translate(m, lang) for m in msgids}


def error_text(error: BaseException) -> str:
    """An error in the reader's language: a `SearchlightError`'s message
    translated and its fields filled (a field that is itself such an error
    is translated too); any other error as it reads."""
    from loaders.errors import SearchlightError

    if not isinstance(error, SearchlightError):
        return str(error)
    params = {k: _field_text(v) for k, v in error.params.items()}
    return _(error.message, **params) if params else translate(error.message)


def note_text(note: object) -> str:
    """A note from `graph/` or `loaders/` in the reader's language: a
    `loaders.errors.Note` translated from its template and fields (a field
    that is a Note or an error is translated too); any other text as it is."""
    from loaders.errors import Note

    if not isinstance(note, Note):
        return str(note)
    params = {k: _field_text(v) for k, v in note.params.items()}
    return _(note.message, **params) if params else translate(note.message)


def notes_text(notes: list) -> list[str]:
    """`note_text` of each note."""
    return [note_text(note) for note in notes]


def _field_text(value: object) -> object:
    from loaders.errors import Note, SearchlightError

    if isinstance(value, SearchlightError):
        return error_text(value)
    return note_text(value) if isinstance(value, Note) else value
