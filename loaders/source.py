"""An opened source file and what every reader shares: the batch shape, the
line column, encoding detection and the header checks."""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from loaders.errors import SourceError
from loaders.limits import MAX_COLUMNS, MAX_HEADER_BYTES

LINE = "__line__"
RAW_JSON = "__raw__"
SAMPLE_BYTES = 1 << 20
BATCH_ROWS = 250_000


@dataclass
class Source:
    """An opened source: its columns, and its rows as text batches."""

    path: Path
    format: str
    columns: list[str]
    encoding: str | None = None
    size_bytes: int = 0
    _batches: Iterator[pa.RecordBatch] | None = field(default=None, repr=False)
    _position: Callable[[], int] | None = field(default=None, repr=False)
    # Rows that could not be split into the header's columns, as
    # (line, reason, original text); drained by the pipeline into quarantine.
    malformed: list[tuple[int, str, str]] = field(default_factory=list)

    def take_malformed(self) -> list[tuple[int, str, str]]:
        rows, self.malformed = self.malformed, []
        return rows

    def batches(self) -> Iterator[pa.RecordBatch]:
        assert self._batches is not None, "a source is read once"
        batches, self._batches = self._batches, None
        return batches

    def bytes_read(self) -> int:
        """How far into the file reading has got, for progress bars."""
        if self._position is None:
            return 0
        try:
            return int(self._position())
        except (OSError, ValueError):
            return self.size_bytes


def check_header(path: Path, header: list[str]) -> None:
    """Refuse a header of more than `MAX_COLUMNS` columns or `MAX_HEADER_BYTES`
    characters, or one naming a column twice (counted in one pass: a wide
    header costs linear time)."""
    if len(header) > MAX_COLUMNS:
        raise SourceError(
            "{path}: the header has {columns:,} columns; at most {limit:,} are read (an "
            "event file has about a dozen)",
            path=path,
            columns=len(header),
            limit=MAX_COLUMNS,
        )
    chars = sum(map(len, header))
    if chars > MAX_HEADER_BYTES:
        raise SourceError(
            "{path}: the column names hold {chars:,} characters; at most {limit:,} are read",
            path=path,
            chars=chars,
            limit=MAX_HEADER_BYTES,
        )
    dupes = sorted(name or "(blank)" for name, n in Counter(header).items() if n > 1)
    if dupes:
        raise SourceError(
            "{path}: column(s) {columns} appear more than once", path=path, columns=", ".join(dupes)
        )


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, told apart by decoding a sample.

    GB18030 is a superset of GBK and GB2312, which Excel on Chinese Windows
    writes. A sample cut inside a multi-byte character still counts as UTF-8,
    and so does one with at most 0.1% undecodable characters.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # A few undecodable bytes (a stray row from another system) do not decide
    # the encoding: their rows are quarantined. UTF-8 goes first, since text
    # that is almost valid UTF-8 is UTF-8.
    for encoding in ("utf-8", "gb18030"):
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
        if text.count("\ufffd") <= max(1, len(text) // 1000):
            return encoding
    raise SourceError("text is neither UTF-8 nor GB18030/GBK")


def file_encoding(path: Path) -> str:
    """`detect_encoding` of the file's first MiB."""
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    try:
        return detect_encoding(sample)
    except SourceError as exc:
        raise SourceError("{path}: text is neither UTF-8 nor GB18030/GBK", path=path) from exc


def with_line(batch: pa.RecordBatch, first_line: int) -> pa.RecordBatch:
    """The batch with `LINE` appended: first_line, first_line + 1, ..."""
    lines = pa.array(np.arange(first_line, first_line + batch.num_rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([*batch.columns, lines], [*batch.schema.names, LINE])


def text_batch(header: list[str], columns: list[list[str]], lines: list[int]) -> pa.RecordBatch:
    """Column lists of text and their lines as a batch."""
    arrays = [pa.array(c, pa.string()) for c in columns]
    return pa.RecordBatch.from_arrays([*arrays, pa.array(lines, pa.int64())], [*header, LINE])
