"""Notes for the ingest report: the columns of a file that no event uses.

Nothing is dropped without a word: a column the mapping maps but no event
reads, a column named like a canonical field that is not read, the columns
the mapping knows and leaves unused (`unused = [...]`, a preset's list of
its export's other headers) and the columns it does not know at all are
each said once per file.
"""

from __future__ import annotations

from collections.abc import Sequence

from loaders.canonical import FIELDS
from loaders.mapping import Mapping, header_column
from loaders.row_events import CARRIED_BY, EventSpec

# Column names listed in one note; more are counted.
NAMES_SHOWN = 20

Plan = tuple[EventSpec | None, Mapping, dict[str, str]]


def unused_columns(header: Sequence[str], mapping: Mapping, plans: Sequence[Plan]) -> list[str]:
    """The notes for `header` read with `mapping`, whose events (`plans`:
    each event's spec, mapping and resolved field -> column) are known."""
    used = {c for _, _, columns in plans for c in columns.values()}
    for spec, _, _ in plans:
        for cond in spec.when if spec else ():
            used.add(header_column(header, cond.column) or cond.column)
    notes = []
    for fld, wanted in mapping.columns.items():
        column = header_column(header, wanted)
        if column is not None and column not in used:
            carried = CARRIED_BY.get(fld)
            why = f" (only {' and '.join(carried)} events carry {fld})" if carried else ""
            notes.append(f"column {column!r} (mapped to {fld}) is used by no event{why}")
            used.add(column)  # said once
    known = {header_column(header, c) for c in mapping.unused}
    recognised, unknown = [], []
    for column in header:
        if column in used:
            continue
        fld = header_column(FIELDS, column)
        if fld is not None:
            notes.append(_canonical_note(column, fld, mapping, plans))
        elif column in known:
            recognised.append(column)
        else:
            unknown.append(column)
    if recognised:
        notes.append(f"columns the mapping knows and does not use: {_names(recognised)}")
    if unknown:
        what = "the mapping does not know" if mapping.unused else "no event uses"
        notes.append(f"columns {what}, not read: {_names(unknown)}")
    return notes


def _canonical_note(column: str, fld: str, mapping: Mapping, plans: Sequence[Plan]) -> str:
    sources = sorted({columns[fld] for _, _, columns in plans if fld in columns})
    if fld == "type" and mapping.events:
        why = "each event's type is fixed by the mapping"
    elif sources:
        why = f"{fld} comes from {', '.join(repr(s) for s in sources)}"
    else:
        why = "no event reads it"  # e.g. an amount where no event is a convert
    return f"column {column!r} is named like the field {fld}, but is not read: {why}"


def _names(columns: list[str]) -> str:
    shown = ", ".join(columns[:NAMES_SHOWN])
    more = len(columns) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
