"""Quarantine: the rows an ingest rejected, with where they were and why.

One CSV per ingest run (UTF-8 with BOM, so Excel shows Chinese correctly) with
the columns `source, line, field, reason, row`: the file, the row's line
(header = line 1), the fields at fault, every reason, and the original row as
a JSON object of its columns (or the raw JSONL line). A source's rows are
staged in a part file and only appended once its batch is committed, so a
failed batch leaves nothing behind.
"""

from __future__ import annotations

import codecs
import contextlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

QUARANTINE_COLUMNS = ("source", "line", "field", "reason", "row")


class Quarantine:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows = 0
        self._started = False

    def part(self, source: str) -> QuarantinePart:
        return QuarantinePart(self, source)

    def _append(self, part_path: Path, rows: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The first committed part of this run replaces an older file.
        mode = "ab" if self._started else "wb"
        with open(self.path, mode) as out:
            if not self._started:
                out.write(codecs.BOM_UTF8)
                out.write((",".join(QUARANTINE_COLUMNS) + "\n").encode())
            with open(part_path, "rb") as part:
                while chunk := part.read(1 << 20):
                    out.write(chunk)
        self._started = True
        self.rows += rows


class QuarantinePart:
    """Rejected rows of one source, pending the commit of its batch."""

    def __init__(self, quarantine: Quarantine, source: str) -> None:
        self._quarantine = quarantine
        self._source = source
        self._tmp = quarantine.path.with_name(f".{quarantine.path.name}.{os.getpid()}.part")
        self._writer: pacsv.CSVWriter | None = None
        self._sink = None
        self.rows = 0

    def write(self, rejected: pa.Table) -> None:
        if rejected.num_rows == 0:
            return
        # One chunk per column: pyarrow's CSV writer (seen in 26.0) emits heap
        # garbage for a table holding a zero-length chunk.
        table = (
            rejected.add_column(
                0, "source", pa.array([self._source] * rejected.num_rows, pa.string())
            )
            .select(list(QUARANTINE_COLUMNS))
            .combine_chunks()
        )
        if self._writer is None:
            self._tmp.parent.mkdir(parents=True, exist_ok=True)
            self._sink = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit/discard
            self._writer = pacsv.CSVWriter(
                self._sink, table.schema, write_options=pacsv.WriteOptions(include_header=False)
            )
        self._writer.write_table(table)
        self.rows += table.num_rows

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None

    def commit(self) -> None:
        self._close()
        if self.rows:
            self._quarantine._append(self._tmp, self.rows)
        self.discard()

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
