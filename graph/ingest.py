"""Ingest: a source file into a store, as one all-or-nothing batch.

Every report satisfies events = accepted + duplicates + conflicts + rejected,
where `duplicates` are valid events whose event_id the store already had or
that repeat an earlier row of the same file, with the same content, and
`conflicts` are such events with other content (not applied; quarantined
with both versions, see graph.conflicts). `read` counts rows: each makes one
event (so events = read), or with a mapping's `[[events]]` one per entry
whose condition holds; `skipped` counts the entries a row's conditions left
out (loaders.pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa

from graph.store import BatchResult, Store
from loaders.canonical import DEFAULT_TIMEZONE
from loaders.mapping import Mapping
from loaders.pipeline import EventStream, open_events
from loaders.quarantine import Quarantine, QuarantinePart
from loaders.readers import MalformedCsvError
from loaders.validate import DEFAULT_TIME_BOUNDS, TimeBounds

# progress(bytes_done, bytes_total) after each batch read.
Progress = Callable[[int, int], None]


@dataclass
class IngestReport:
    source: str
    read: int
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    quarantine: str | None
    batch_id: int
    seconds: float
    events: int = 0  # the events the rows made: accepted + duplicates + conflicts + rejected
    skipped: int = 0  # events a row's `when` conditions left out (not rejections)
    notes: list[str] = field(default_factory=list)  # columns no event uses

    def to_json(self) -> dict:
        return asdict(self)


def ingest_file(
    store: Store,
    path: Path,
    *,
    quarantine: Quarantine,
    mapping: Mapping | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    progress: Progress | None = None,
    source: str | None = None,
    bounds: TimeBounds = DEFAULT_TIME_BOUNDS,
) -> IngestReport:
    """Read, validate and apply one file. Raises `SearchlightError` (and
    changes nothing) when the file cannot be read at all. `source` names the
    file in the store's batch log and the quarantine (default: its path)."""
    started = time.perf_counter()
    name = source or str(path)
    try:
        stream, part, result = _apply(
            store, path, name, quarantine, mapping, timezone, progress, False, bounds
        )
    except MalformedCsvError:
        # A row the fast parser cannot split: the batch was rolled back; read
        # the file again line by line so that row is quarantined with its line.
        stream, part, result = _apply(
            store, path, name, quarantine, mapping, timezone, progress, True, bounds
        )
    if result.conflicts is not None:
        part.write(result.conflicts)
    part.commit()
    rejected = stream.rows_rejected
    assert stream.events == result.received + rejected, "every event is accounted for"
    return IngestReport(
        source=name,
        read=stream.rows_read,
        accepted=result.accepted,
        duplicates=result.duplicates,
        conflicts=result.conflicted,
        rejected=rejected,
        quarantine=str(quarantine.path) if rejected or result.conflicted else None,
        batch_id=result.batch_id,
        seconds=round(time.perf_counter() - started, 3),
        events=stream.events,
        skipped=stream.skipped,
        notes=stream.notes,
    )


def _apply(
    store: Store,
    path: Path,
    name: str,
    quarantine: Quarantine,
    mapping: Mapping | None,
    timezone: str,
    progress: Progress | None,
    tolerant: bool,
    bounds: TimeBounds,
) -> tuple[EventStream, QuarantinePart, BatchResult]:
    stream = open_events(Path(path), mapping, timezone, tolerant=tolerant, bounds=bounds)
    part = quarantine.part(name)
    try:
        result = store.ingest(_reported(stream, part, progress), source=name)
    except BaseException:
        stream.close()  # the reader thread stops before its quarantine part goes
        part.discard()
        raise
    stream.close()
    return stream, part, result


def _reported(
    stream: EventStream, part: QuarantinePart, progress: Progress | None
) -> Iterator[pa.Table]:
    total = stream.source.size_bytes
    for table in stream.batches(part):
        if progress:
            progress(stream.source.bytes_read(), total)
        yield table
    if progress:
        progress(total, total)
