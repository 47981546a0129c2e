"""From a file to validated canonical batches: open, map, check, quarantine."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from loaders.canonical import DEFAULT_TIMEZONE
from loaders.mapping import Mapping
from loaders.quarantine import QuarantinePart
from loaders.readers import LINE, RAW_JSON, Source, open_source
from loaders.validate import DEFAULT_TIME_BOUNDS, REJECTED_SCHEMA, TimeBounds, Validator


@dataclass
class EventStream:
    """A source being read: accepted batches out, rejected rows to quarantine.

    `rows_read` and `rows_rejected` grow as the batches are consumed.
    """

    source: Source
    validator: Validator
    rows_read: int = 0
    rows_rejected: int = 0
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
        self.validator.close()

    def _checked(self, quarantine: QuarantinePart | None) -> Iterator[pa.Table]:
        for raw in self.source.batches():
            checked = self.validator.check(raw)
            malformed = self._malformed()
            rejected = (
                pa.concat_tables([checked.rejected, malformed])
                if malformed.num_rows
                else checked.rejected
            )
            self.rows_read += raw.num_rows + rejected.num_rows - checked.rejected.num_rows
            self.rows_rejected += rejected.num_rows
            if quarantine is not None:
                quarantine.write(rejected)
            yield checked.accepted

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
    columns = mapping.resolve(source.columns, str(path))
    header = [*source.columns]
    # Readers append their bookkeeping columns after the file's own.
    if source.format == "jsonl":
        header.append(RAW_JSON)
    header.append(LINE)
    return EventStream(source, Validator(header, columns, mapping, timezone, bounds))
