"""Every string a person reads exists in Chinese and English (api/i18n)."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from api.i18n import LOCALE_DIR, _, accepted_lang, catalog, error_text, ngettext, use_lang
from api.i18n import formats as f
from api.i18n.extract import fields, used_messages
from loaders.errors import SourceError

CJK = re.compile(r"[\u3400-\u9fff]")
# Messages that read the same in Chinese: names of things and symbols.
SAME_IN_BOTH = re.compile(r"^[A-Z0-9][A-Za-z0-9 /%().:+\-@#]*$|^\W*$")


@pytest.fixture(scope="module")
def used():
    with contextlib.redirect_stderr(io.StringIO()) as warnings:
        found = used_messages()
    return found, warnings.getvalue()


def test_every_message_the_code_uses_has_chinese(used) -> None:
    found, _warnings = used
    have = catalog("zh")
    missing = [f"{m.where}: {m.msgid!r}" for m in found.values() if m.msgid not in have]
    assert not missing, "untranslated (python -m api.i18n.extract):\n" + "\n".join(missing)


def test_no_message_is_built_where_it_cannot_be_translated(used) -> None:
    """An f-string handed to `_` or to an error cannot be looked up: its
    fields must go in as parameters."""
    _found, warnings = used
    skipped = [line for line in warnings.splitlines() if "Skipping f-string" in line]
    assert not skipped, "\n".join(skipped)


def test_translations_fill_the_same_fields_and_are_chinese(used) -> None:
    found, _warnings = used
    have = catalog("zh")
    wrong = []
    for msgid in found:
        text = have.get(msgid)
        if text is None:
            continue
        if fields(text) != fields(msgid):
            wrong.append(f"{msgid!r}: fields {sorted(fields(text))} ≠ {sorted(fields(msgid))}")
        if not CJK.search(text) and not SAME_IN_BOTH.match(msgid):
            wrong.append(f"{msgid!r}: {text!r} is not Chinese")
    assert not wrong, "\n".join(wrong)


def test_the_catalogue_holds_each_message_once_and_only_used_ones(used) -> None:
    found, _warnings = used
    seen: dict[str, str] = {}
    twice = []
    for path in sorted((LOCALE_DIR / "zh").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle):
                for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
                    if not msgid:
                        continue
                    if msgid in seen:
                        twice.append(f"{msgid!r} in {seen[msgid]} and {path.name}")
                    seen[msgid] = path.name
    assert not twice, "\n".join(twice)
    unused = sorted(set(seen) - set(found))
    assert not unused, "no code uses (python -m api.i18n.extract --unused):\n" + "\n".join(unused)


def test_fields_are_filled_after_translation() -> None:
    with use_lang("zh"):
        assert _("{users} users", users="1,204") == "1,204 位用户"
    with use_lang("en"):
        assert _("{users} users", users="1,204") == "1,204 users"
        assert ngettext("{n} user", "{n} users", 1) == "1 user"
        assert ngettext("{n} user", "{n} users", 2) == "2 users"


def test_errors_from_the_stores_and_loaders_show_in_the_readers_language() -> None:
    error = SourceError("{users} users", users=3)
    assert str(error) == "3 users"
    with use_lang("zh"):
        assert error_text(error) == "3 位用户"
    with use_lang("en"):
        assert error_text(error) == "3 users"
    # Text a source put in a field is never read as a template.
    assert str(SourceError("{users} users", users="{x}")) == "{x} users"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("fr-FR,en;q=0.5,zh;q=0.9", "zh"),
        ("fr-FR", None),
        ("zh;q=0, en", "en"),
        ("en;q=abc, zh", "zh"),
        ("", None),
    ],
)
def test_accept_language_picks_the_first_language_we_have(header: str, lang: str | None) -> None:
    assert accepted_lang(header) == lang


def test_numbers_money_and_dates_are_written_for_the_language() -> None:
    when = datetime(2026, 3, 5, 12, 3, tzinfo=UTC)
    with use_lang("zh"):
        assert f.money(38569.34) == "¥38,569.34"
        assert f.count(123_456) == "12.3万"
        assert f.count(123_456_789) == "1.2亿"
        assert f.count(9_999) == "9,999"
        assert f.day(date(2026, 3, 5)) == "2026年3月5日"
        assert f.moment(when, "Asia/Shanghai") == "2026年3月5日 20:03"
        assert f.percent(0.1234) == "12.3%"
    with use_lang("en"):
        assert f.money(-38569.34) == "-¥38,569.34"
        assert f.count(123_456) == "123.5K"
        assert f.day(date(2026, 3, 5)) == "Mar 5, 2026"
        assert f.moment(when, "Asia/Shanghai") == "Mar 5, 2026, 8:03 PM"
        assert f.integer(1_234_567) == "1,234,567"


def test_every_template_and_script_is_read_by_the_extractor(used) -> None:
    """A page whose text the extractor cannot see would go untranslated."""
    found, _warnings = used
    api_dir = Path(__file__).resolve().parents[2] / "api"
    for page in [*api_dir.glob("templates/*.html"), *api_dir.glob("static/*.js")]:
        if page.name == "i18n.js":
            continue
        assert any(
            m.where.startswith(f"api/{page.relative_to(api_dir)}") for m in found.values()
        ), page
