"""CSV: Arrow's fast reader, or a tolerant line-by-line one that quarantines
rows it cannot split or decode."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from loaders.errors import SourceError
from loaders.limits import MAX_HEADER_BYTES
from loaders.source import BATCH_ROWS, Source, check_header, file_encoding, text_batch, with_line

# Big blocks: DuckDB spreads a batch over both cores only past ~120k rows.
_CSV_BLOCK_BYTES = 32 << 20
_UNDECODABLE = re.compile("[\udc80-\udcff]")


class MalformedCsvError(SourceError):
    """The fast CSV reader met a row it cannot split or decode; re-read with
    `tolerant=True`."""


def header_line(path: Path, encoding: str) -> tuple[list[str], str]:
    """The header's columns and the delimiter they are split by.

    The header line must end within `MAX_HEADER_BYTES`; a longer one is
    refused rather than cut (a cut header names columns that are not there).
    """
    with open(path, "rb") as f:
        sample = f.read(MAX_HEADER_BYTES + 1)
    whole = len(sample) <= MAX_HEADER_BYTES
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=whole)
    text = text.lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    if not whole and len(first) == len(text):  # no line end within the limit
        raise SourceError(
            "{path}: the header line does not end within its first {limit:,} bytes; a "
            "header may be at most {limit:,} bytes",
            path=path,
            limit=MAX_HEADER_BYTES,
        )
    if not first.strip():
        raise SourceError("{path}: empty file, no header row", path=path)
    # The header decides the delimiter: exports use commas, tabs or semicolons.
    delimiter = max([",", "\t", ";", "|"], key=first.count)
    try:
        header = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    except csv.Error as exc:  # e.g. a header field over the CSV field limit
        raise SourceError(
            "{path}: the header row cannot be read ({error})", path=path, error=exc
        ) from None
    check_header(path, header)
    return header, delimiter


def open_csv(path: Path) -> Source:
    encoding = file_encoding(path)
    header, delimiter = header_line(path, encoding)
    handle = open(path, "rb")  # noqa: SIM115 - closed when the batches are exhausted
    try:
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding == "utf-8" else encoding,
                block_size=_CSV_BLOCK_BYTES,
                column_names=header,
                skip_rows=1,
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # the first block is parsed on open
        handle.close()
        raise MalformedCsvError(
            "{path}: malformed CSV in its first rows ({error})", path=path, error=exc
        ) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        line = 2
        try:
            for batch in reader:
                yield with_line(batch, line)
                line += batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise MalformedCsvError(
                "{path}: malformed CSV after line {line} ({error})",
                path=path,
                line=line - 1,
                error=exc,
            ) from exc
        finally:
            handle.close()

    return Source(path, "csv", header, encoding, _batches=batches(), _position=handle.tell)


def open_csv_tolerant(path: Path) -> Source:
    encoding = file_encoding(path)
    header, delimiter = header_line(path, encoding)
    # Undecodable bytes survive as surrogates, so only their row is rejected.
    handle = open(  # noqa: SIM115 - closed when the batches are exhausted
        path,
        encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        errors="surrogateescape",
        newline="",
    )
    source = Source(path, "csv", header, encoding, _position=handle.buffer.tell)

    def batches() -> Iterator[pa.RecordBatch]:
        reader = csv.reader(handle, delimiter=delimiter)
        width = len(header)
        try:
            next(reader, None)
            columns: list[list[str]] = [[] for _ in header]
            lines: list[int] = []
            while True:
                first_line = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    source.malformed.append((first_line, f"unreadable row ({exc})", ""))
                    continue
                if not row:
                    continue
                if _UNDECODABLE.search("".join(row)):
                    source.malformed.append(
                        (
                            first_line,
                            f"not valid {encoding} (bytes shown as \\x escapes)",
                            json.dumps([_escaped(v, encoding) for v in row], ensure_ascii=False),
                        )
                    )
                    continue
                if len(row) != width:
                    source.malformed.append(
                        (
                            first_line,
                            f"row has {len(row)} fields, the header has {width}",
                            json.dumps(row, ensure_ascii=False),
                        )
                    )
                    continue
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
                lines.append(first_line)
                if len(lines) >= BATCH_ROWS:
                    yield text_batch(header, columns, lines)
                    columns, lines = [[] for _ in header], []
            if lines or source.malformed:
                yield text_batch(header, columns, lines)
        finally:
            handle.close()

    source._batches = batches()
    return source


def _escaped(value: str, encoding: str) -> str:
    """Undecodable bytes (kept as surrogates) as \\x escapes."""
    return value.encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")
