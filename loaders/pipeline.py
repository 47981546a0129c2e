"""From a file to validated canonical batches: open, map, check, quarantine."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from loaders.canonical import DEFAULT_TIMEZONE
from loaders.mapping import Mapping
from loaders.quarantine import QuarantinePart
from loaders.readers import LINE, RAW_JSON, Source, open_source
from loaders.validate import Validator


@dataclass
class EventStream:
    """A source being read: accepted batches out, rejected rows to quarantine.

    `rows_read` and `rows_rejected` grow as the batches are consumed.
    """

    source: Source
    validator: Validator
    rows_read: int = 0
    rows_rejected: int = 0

    def batches(self, quarantine: QuarantinePart | None) -> Iterator[pa.Table]:
        # Reading and checking run a batch ahead in a thread, so they overlap
        # with the store writing the previous batch.
        return read_ahead(self._checked(quarantine))

    def _checked(self, quarantine: QuarantinePart | None) -> Iterator[pa.Table]:
        try:
            for raw in self.source.batches():
                checked = self.validator.check(raw)
                self.rows_read += raw.num_rows
                self.rows_rejected += checked.rejected.num_rows
                if quarantine is not None:
                    quarantine.write(checked.rejected)
                yield checked.accepted
        finally:
            self.validator.close()


def read_ahead(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Produce the next batches in a thread while the consumer works on the
    current one; Arrow's parsers and DuckDB both release the GIL."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def fill() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ahead.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put(exc)

    worker = threading.Thread(target=fill, name="read-ahead", daemon=True)
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
    path: Path, mapping: Mapping | None = None, timezone: str = DEFAULT_TIMEZONE
) -> EventStream:
    """Open `path` for ingest. Fails with a clear `SearchlightError` before any
    row is read when the file is unreadable or lacks a required column."""
    source = open_source(Path(path))
    mapping = mapping or Mapping()
    columns = mapping.resolve(source.columns, str(path))
    header = [*source.columns]
    # Readers append their bookkeeping columns after the file's own.
    if source.format == "jsonl":
        header.append(RAW_JSON)
    header.append(LINE)
    return EventStream(source, Validator(header, columns, mapping, timezone))
