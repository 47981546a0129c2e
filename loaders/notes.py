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
from loaders.errors import Note
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
            notes.append(_unread_note(column, fld))
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
        notes.append(
            Note("columns the mapping knows and does not use: {names}", names=_names(recognised))
        )
    if unknown:
        notes.append(
            Note("columns the mapping does not know, not read: {names}", names=_names(unknown))
            if mapping.unused
            else Note("columns no event uses, not read: {names}", names=_names(unknown))
        )
    return notes


def _unread_note(column: str, fld: str) -> Note:
    carried = CARRIED_BY.get(fld) or ()
    if len(carried) == 1:
        return Note(
            "column {column!r} (mapped to {field}) is used by no event (only {event} events "
            "carry {field})",
            column=column,
            field=fld,
            event=carried[0],
        )
    if carried:
        return Note(
            "column {column!r} (mapped to {field}) is used by no event (only {first} and "
            "{second} events carry {field})",
            column=column,
            field=fld,
            first=carried[0],
            second=" and ".join(carried[1:]),
        )
    return Note(
        "column {column!r} (mapped to {field}) is used by no event", column=column, field=fld
    )


def _canonical_note(column: str, fld: str, mapping: Mapping, plans: Sequence[Plan]) -> Note:
    sources = sorted({columns[fld] for _, _, columns in plans if fld in columns})
    if fld == "type" and mapping.events:
        why = Note("each event's type is fixed by the mapping")
    elif sources:
        why = Note(
            "{field} comes from {columns}", field=fld, columns=", ".join(repr(s) for s in sources)
        )
    else:
        why = Note("no event reads it")  # e.g. an amount where no event is a convert
    return Note(
        "column {column!r} is named like the field {field}, but is not read: {why}",
        column=column,
        field=fld,
        why=why,
    )


def _names(columns: list[str]) -> str:
    shown = ", ".join(columns[:NAMES_SHOWN])
    more = len(columns) - NAMES_SHOWN
    return Note("{shown} and {more} more", shown=shown, more=more) if more > 0 else shown
