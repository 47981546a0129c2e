"""Why a row was rejected, in the reader's language.

An ingest stores each rejected row's reason in English (`loaders.validate`
writes it in SQL, the readers for rows they cannot read, `graph.conflicts`
for an event id stored before with other content): the quarantine
CSV is data and keeps it so. A reason is `field: problem` pairs joined by
`; `, with ` [TYPE event]` after them when the row makes several events;
a problem may echo the bad value in quotes (at most 60 characters).
`reason_text` says it again in the reader's language, problem by
problem, the echoed values as they were; a reason it cannot read whole
stays in English.

>>> from api.i18n import use_lang
>>> with use_lang("zh"):
...     reason_text("invitee_id: missing; amount: not a number '12元'")
"invitee_id：缺失；amount：不是数字 '12元'"
"""

from __future__ import annotations

import re
from functools import cache

from api.i18n import N_, _, current_lang

# Each problem the loaders write, as a message of the catalogue. {value} is
# an echoed value with its quotes; the other fields are words or numbers.
PROBLEMS = (
    N_("type: missing"),
    N_(
        "type: unknown type {value} (expected invite, join, convert or churn; "
        "map others with --map-type)"
    ),
    N_("invitee_id: missing"),
    N_("inviter_id: missing (required for invite)"),
    N_("inviter_id: self-referral (inviter_id equals invitee_id)"),
    N_("occurred_at: missing"),
    N_("occurred_at: unparseable timestamp {value}"),
    N_("occurred_at: {value} has no real UTC offset (real ones stay within ±14:00)"),
    N_("occurred_at: {value} is outside {span} (KOC_EVENT_EARLIEST, KOC_EVENT_LATEST)"),
    N_("amount: missing (required for convert)"),
    N_("amount: not a number {value}"),
    N_("amount: negative amount {value}"),
    N_(
        "{field}: id in scientific notation {value} was rounded by a spreadsheet; "
        "export ids as text"
    ),
    N_("{field}: control character (NUL, tab, line break, ...) in the id"),
    N_("{field}: control character (NUL, tab, line break, ...) in the name"),
    N_("{field}: longer than {limit} characters"),
    N_("{column}: not a number {value} (the event is made only when it is above 0)"),
    N_("(row): unreadable row ({error})"),
    N_("(row): not valid {encoding} (bytes shown as \\x escapes)"),
    N_("(row): row has {found} fields, the header has {width}"),
    N_("(row): {count} value(s) outside the header's columns {first} to {last} (in {names})"),
    # graph.conflicts: an event id stored before with other content
    N_(
        "event_id: {value} is already stored (batch {batch}, line {line}) with a different "
        "{fields}; not applied (a correction needs its own event_id: docs/ingest.md, "
        "'Conflicts and corrections')"
    ),
    N_(
        "event_id: {value} is already stored (line {line} of the same source) with a "
        "different {fields}; not applied (a correction needs its own event_id: "
        "docs/ingest.md, 'Conflicts and corrections')"
    ),
)
# What a field of a problem matches: an echoed value is quoted.
_FIELD_PATTERNS = {
    "value": r"'.{0,60}?'",
    "field": r"\w+",
    "limit": r"[\d,]+",
    "found": r"[\d,]+",
    "width": r"[\d,]+",
    "count": r"[\d,]+",
    "first": r"[A-Z]+",
    "last": r"[A-Z]+",
    "encoding": r"\S+",
    "batch": r"\d+",
    "line": r"\d+",
    "fields": r"[\w, ]+?",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_EVENT = re.compile(r" \[(\w+) event\]\Z")
# A problem ends at the next one or at the end.
_END = r"(?=; |\Z)"


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled = []
    for problem in PROBLEMS:
        parts, at = [], 0
        for m in _PLACEHOLDER.finditer(problem):
            parts.append(re.escape(problem[at : m.start()]))
            name = m.group(1)
            parts.append(f"(?P<{name}>{_FIELD_PATTERNS.get(name, '.+?')})")
            at = m.end()
        parts.append(re.escape(problem[at:]))
        compiled.append((problem, re.compile("".join(parts) + _END, re.DOTALL)))
    return tuple(compiled)


def problems(reason: str) -> list[tuple[str, dict[str, str]]] | None:
    """A reason as its problems (each a message of `PROBLEMS` and the
    values it echoes), or None when some part is not one of them."""
    found, at = [], 0
    while at < len(reason):
        for problem, pattern in _patterns():
            m = pattern.match(reason, at)
            if m:
                found.append((problem, m.groupdict()))
                at = m.end() + 2  # past "; "
                break
        else:
            return None
    return found if reason else None


def reason_text(reason: str) -> str:
    """A stored rejection reason in the reader's language."""
    if current_lang() == "en":
        return reason
    event = _EVENT.search(reason)
    body = reason[: event.start()] if event else reason
    parsed = problems(body)
    if parsed is None:
        return reason
    text = "；".join(_(problem, **values) for problem, values in parsed)
    return _("{reasons} [{kind} event]", reasons=text, kind=event.group(1)) if event else text
