"""From a file to validated canonical batches: open, map, check, quarantine.

Each row makes one event, or, with a mapping's `[[events]]`, one per entry
whose `when` holds (`loaders.row_events`): every batch is checked once per
event, each check filtering out the rows its conditions skip. The counts
keep `events = accepted events + rejected` (a row that cannot be read at all
is one rejected event) and, without such unreadable rows,
`read x entries = events + skipped`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from loaders.canonical import DEFAULT_TIMEZONE
from loaders.errors import MappingError, Note, joined
from loaders.mapping import Mapping, header_column
from loaders.notes import Plan, unused_columns
from loaders.quarantine import QuarantinePart
from loaders.readers import LINE, RAW_JSON, Source, open_source
from loaders.row_events import CARRIED_BY
from loaders.validate import DEFAULT_TIME_BOUNDS, REJECTED_SCHEMA, TimeBounds, Validator


@dataclass
class EventStream:
    """A source being read: accepted batches out, rejected rows to quarantine.

    `validators` holds one (event type, validator) per event a row can make
    (type None: the row's own type column). `rows_read`, `events`,
    `rows_rejected` (rejected events) and `skipped` grow as the batches are
    consumed; `notes` say which columns no event uses.
    """

    source: Source
    validators: list[tuple[str | None, Validator]]
    notes: list[str] = field(default_factory=list)
    rows_read: int = 0
    events: int = 0
    rows_rejected: int = 0
    skipped: int = 0
    _running: Iterator[pa.Table] | None = field(default=None, repr=False)

    def batches(self, quarantine: QuarantinePart | None) -> Iterator[pa.Table]:
        # Reading and checking run a batch ahead in a thread, so they overlap
        # with the store writing the previous batch.
        self._running = read_ahead(self._checked(quarantine))
        return self._running

    def close(self) -> None:
        """Stop reading (joining the read-ahead thread) and free the checker.
        Safe to call twice, and after the batches were read to the end."""
        if self._running is not None:
            self._running.close()
        for _, validator in self.validators:
            validator.close()

    def _checked(self, quarantine: QuarantinePart | None) -> Iterator[pa.Table]:
        for raw in self.source.batches():
            accepted, rejected = [], []
            for kind, validator in self.validators:
                checked = validator.check(raw)
                self.skipped += checked.skipped
                accepted.append(checked.accepted)
                rejected.append(_naming(checked.rejected, kind))
            malformed = self._malformed()
            rejected.append(malformed)
            rejected_rows = sum(t.num_rows for t in rejected)
            events = sum(t.num_rows for t in accepted) + rejected_rows
            self.rows_read += raw.num_rows + malformed.num_rows
            self.events += events
            self.rows_rejected += rejected_rows
            if quarantine is not None and rejected_rows:
                quarantine.write(pa.concat_tables(rejected))
            yield accepted[0] if len(accepted) == 1 else pa.concat_tables(accepted)

    def _malformed(self) -> pa.Table:
        rows = self.source.take_malformed()
        return pa.table(
            {
                "line": pa.array([r[0] for r in rows], pa.int64()),
                "field": pa.array(["(row)"] * len(rows), pa.string()),
                "reason": pa.array([f"(row): {r[1]}" for r in rows], pa.string()),
                "row": pa.array([r[2] for r in rows], pa.string()),
            },
            schema=REJECTED_SCHEMA,
        )


def _naming(rejected: pa.Table, kind: str | None) -> pa.Table:
    """Rejections of one of a row's several events name that event."""
    if kind is None or not rejected.num_rows:
        return rejected
    reason = pc.binary_join_element_wise(rejected["reason"], f" [{kind} event]", "")
    return rejected.set_column(rejected.schema.get_field_index("reason"), "reason", reason)


def read_ahead(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Produce the next batches in a thread while the consumer works on the
    current one; Arrow's parsers and DuckDB both release the GIL.

    A producer error is raised in the consumer. When the consumer stops early
    (closed, or an error of its own), the producer is stopped and closed too.
    """
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def offer(item: object) -> bool:
        # Never block for good: the consumer may have stopped reading.
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # let the producer release its files

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ahead.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def open_events(
    path: Path,
    mapping: Mapping | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    *,
    tolerant: bool = False,
    bounds: TimeBounds = DEFAULT_TIME_BOUNDS,
) -> EventStream:
    """Open `path` for ingest. Fails with a clear `SearchlightError` before any
    row is read when the file is unreadable or lacks a required column.
    `tolerant` is `open_source`'s: malformed CSV rows are rejected, not fatal."""
    source = open_source(Path(path), tolerant=tolerant)
    mapping = mapping or Mapping()
    plans, left_out = _plans(mapping, source.columns, str(path))
    header = [*source.columns]
    # Readers append their bookkeeping columns after the file's own.
    if source.format == "jsonl":
        header.append(RAW_JSON)
    header.append(LINE)
    validators: list[tuple[str | None, Validator]] = []
    try:
        for spec, m, columns in plans:
            kind = spec.type if spec else None
            when = spec.when if spec else ()
            validator = Validator(header, columns, m, timezone, bounds, when=when, id_suffix=kind)
            validators.append((kind, validator))
    except BaseException:
        for _, validator in validators:
            validator.close()
        raise
    notes = left_out + unused_columns(source.columns, mapping, plans)
    return EventStream(source, validators, notes)


def _plans(mapping: Mapping, header: list[str], source: str) -> tuple[list[Plan], list[str]]:
    """Each event's spec (its conditions on the header's own column names),
    mapping and columns; and a note for each optional event the file lacks
    the columns of. Raises `MappingError` when an event that is not optional
    cannot be made, or none can."""
    plans: list[Plan] = []
    left_out: list[str] = []
    for spec, m in mapping.per_event():
        if spec is None:
            plans.append((None, m, m.resolve(header, source)))
            continue
        own = dict.fromkeys([*spec.columns.values(), *(c.column for c in spec.when)])
        missing = [c for c in own if header_column(header, c) is None]
        if spec.optional and missing:
            names = ", ".join(repr(c) for c in missing)
            left_out.append(
                Note(
                    "the {type} event is not made: the file has no column {names}",
                    type=spec.type,
                    names=names,
                )
            )
            continue
        try:
            columns = m.resolve(header, source)
        except MappingError as exc:
            raise MappingError(
                "{error} (for the {type} event)", error=exc, type=spec.type
            ) from None
        columns.pop("type", None)  # an event's type is fixed, never a column
        for fld, types in CARRIED_BY.items():  # nor does a join take a column named amount
            if spec.type not in types and fld not in spec.columns:
                columns.pop(fld, None)
        when = tuple(
            replace(c, column=_condition_column(c.column, header, spec.type, source))
            for c in spec.when
        )
        plans.append((replace(spec, when=when), m, columns))
    if not plans:
        raise MappingError(
            "{source}: no event can be made from this file: {reasons}",
            source=source,
            reasons=joined(left_out),
        )
    return plans, left_out


def _condition_column(name: str, header: list[str], kind: str, source: str) -> str:
    found = header_column(header, name)
    if found is None:
        raise MappingError(
            "{source}: column {name!r} (in the condition of the {kind} event) is not in "
            "the file; its columns are: {columns}",
            source=source,
            name=name,
            kind=kind,
            columns=", ".join(header) or "(none)",
        )
    return found
