"""Readers: CSV, XLSX, JSONL and Parquet files as batches of text columns.

Every reader yields Arrow record batches whose columns are the file's own
columns, all as text exactly as written (ids keep leading zeros and all their
digits), plus `__line__`: the row's line in the file, the header being line 1
(for Parquet, the row number). Turning text into typed canonical events is
`loaders.validate`'s job.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loaders.errors import SourceError

LINE = "__line__"
FORMATS = ("csv", "xlsx", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_SAMPLE_BYTES = 1 << 20
# Big blocks: DuckDB spreads a batch over both cores only past ~120k rows.
_CSV_BLOCK_BYTES = 32 << 20
_BATCH_ROWS = 250_000


def detect_format(path: Path) -> str:
    """The file's format from its extension, else from its first bytes."""
    by_ext = _EXTENSIONS.get(path.suffix.lower())
    if by_ext:
        return by_ext
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    raise SourceError(
        f"{path}: unknown format (extension {path.suffix or 'none'}); "
        f"expected one of: {', '.join(FORMATS)}"
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


class MalformedCsvError(SourceError):
    """The fast CSV reader met a row it cannot split or decode; re-read with
    `tolerant=True`."""


def open_source(path: Path, *, tolerant: bool = False) -> Source:
    """Open a file of any supported format; raises `SourceError` if unreadable.

    CSV is read with Arrow's parser, which stops at a row whose field count is
    wrong (`MalformedCsvError`). `tolerant=True` reads CSV line by line
    instead: slower, but such rows become `Source.malformed` with their line.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    fmt = detect_format(path)
    opener = {
        "csv": _open_csv_tolerant if tolerant else _open_csv,
        "xlsx": _open_xlsx,
        "jsonl": _open_jsonl,
        "parquet": _open_parquet,
    }
    try:
        source = opener[fmt](path)
    except SourceError:
        raise
    except (OSError, pa.ArrowInvalid, ValueError) as exc:
        raise SourceError(f"{path}: cannot be read as {fmt} ({exc})") from exc
    source.size_bytes = path.stat().st_size
    return source


def _with_line(batch: pa.RecordBatch, first_line: int) -> pa.RecordBatch:
    lines = pa.array(np.arange(first_line, first_line + batch.num_rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([*batch.columns, lines], [*batch.schema.names, LINE])


def _file_encoding(path: Path) -> str:
    with open(path, "rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    try:
        return detect_encoding(sample)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from exc


def _header_line(path: Path, encoding: str) -> tuple[list[str], str]:
    with open(path, "rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
    text = text.lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise SourceError(f"{path}: empty file, no header row")
    # The header decides the delimiter: exports use commas, tabs or semicolons.
    delimiter = max([",", "\t", ";", "|"], key=first.count)
    try:
        header = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    except csv.Error as exc:  # e.g. a header field over the CSV field limit
        raise SourceError(f"{path}: the header row cannot be read ({exc})") from None
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise SourceError(f"{path}: column(s) {', '.join(dupes)} appear more than once")
    return header, delimiter


def _open_csv(path: Path) -> Source:
    encoding = _file_encoding(path)
    header, delimiter = _header_line(path, encoding)
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
        raise MalformedCsvError(f"{path}: malformed CSV in its first rows ({exc})") from exc

    def batches() -> Iterator[pa.RecordBatch]:
        line = 2
        try:
            for batch in reader:
                yield _with_line(batch, line)
                line += batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise MalformedCsvError(f"{path}: malformed CSV after line {line - 1} ({exc})") from exc
        finally:
            handle.close()

    return Source(path, "csv", header, encoding, _batches=batches(), _position=handle.tell)


def _open_csv_tolerant(path: Path) -> Source:
    encoding = _file_encoding(path)
    header, delimiter = _header_line(path, encoding)
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
                if len(lines) >= _BATCH_ROWS:
                    yield _text_batch(header, columns, lines)
                    columns, lines = [[] for _ in header], []
            if lines or source.malformed:
                yield _text_batch(header, columns, lines)
        finally:
            handle.close()

    source._batches = batches()
    return source


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _escaped(value: str, encoding: str) -> str:
    """Undecodable bytes (kept as surrogates) as \\x escapes."""
    return value.encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")


def _text_batch(header: list[str], columns: list[list[str]], lines: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(c, pa.string()) for c in columns]
    return pa.RecordBatch.from_arrays([*arrays, pa.array(lines, pa.int64())], [*header, LINE])


def _cell_text(value: object) -> str:
    """An Excel cell as the text a person sees, never rounding an integer id."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Integral floats up to 2**53 are exact; larger ones were already rounded
        # by Excel and are kept in scientific form so validation rejects them.
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _open_xlsx(path: Path) -> Source:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
        rows = sheet.to_python()
    except Exception as exc:  # calamine raises its own exception types
        raise SourceError(f"{path}: cannot be read as xlsx ({exc})") from exc
    if not rows:
        raise SourceError(f"{path}: the first sheet is empty, no header row")
    header = [_cell_text(c).strip() for c in rows[0]]
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise SourceError(f"{path}: column(s) {', '.join(dupes)} appear more than once")
    first_row = sheet.start[0] + 1 if sheet.start else 1

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(1, len(rows), _BATCH_ROWS):
            chunk = rows[start : start + _BATCH_ROWS]
            kept = [
                (first_row + start + i, row)
                for i, row in enumerate(chunk)
                if any(c not in (None, "") for c in row)
            ]
            columns = [
                pa.array([_cell_text(r[j]) if j < len(r) else "" for _, r in kept], pa.string())
                for j in range(len(header))
            ]
            lines = pa.array([n for n, _ in kept], pa.int64())
            yield pa.RecordBatch.from_arrays([*columns, lines], [*header, LINE])

    return Source(path, "xlsx", header, _batches=batches())


RAW_JSON = "__raw__"


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _open_jsonl(path: Path) -> Source:
    encoding = _file_encoding(path)
    # Bytes the encoding cannot decode stay in the line as \\x escapes: the
    # line is then not valid JSON and is quarantined whole, never a crash.
    handle = open(  # noqa: SIM115
        path,
        encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        errors="backslashreplace",
    )

    # Numbers are kept as their text, so 19-digit ids are never rounded.
    decode = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str).decode
    header: list[str] = []
    first: list[tuple[int, str]] = []
    for number, text in enumerate(handle, start=1):
        if text.strip():
            first.append((number, text))
            if len(first) >= 1000:
                break
    for _, text in first:
        try:
            obj = decode(text)
        except (json.JSONDecodeError, RecursionError):  # too deep: not an event
            continue
        if isinstance(obj, dict):
            header.extend(k for k in obj if k not in header)
    if not header:
        handle.close()
        raise SourceError(f"{path}: no JSON object in its first lines")

    def rows() -> Iterator[tuple[int, str]]:
        yield from first
        for number, text in enumerate(handle, start=(first[-1][0] + 1 if first else 1)):
            if text.strip():
                yield number, text

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            chunk: list[tuple[int, str]] = []
            for item in rows():
                chunk.append(item)
                if len(chunk) >= _BATCH_ROWS:
                    yield _json_batch(chunk, header, decode)
                    chunk = []
            if chunk:
                yield _json_batch(chunk, header, decode)
        finally:
            handle.close()

    return Source(path, "jsonl", header, encoding, _batches=batches(), _position=handle.buffer.tell)


def _json_batch(chunk: list[tuple[int, str]], header: list[str], decode) -> pa.RecordBatch:
    values: list[list[str]] = [[] for _ in header]
    for _, text in chunk:
        try:
            obj = decode(text)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            # Not an object: every field reads as missing, and validation
            # rejects the line with its raw text kept for the quarantine.
            obj = {}
        for column, name in zip(values, header, strict=True):
            column.append(_json_text(obj.get(name)))
    arrays = [pa.array(v, pa.string()) for v in values]
    raw = pa.array([text.rstrip("\r\n") for _, text in chunk], pa.string())
    lines = pa.array([n for n, _ in chunk], pa.int64())
    return pa.RecordBatch.from_arrays([*arrays, raw, lines], [*header, RAW_JSON, LINE])


def _as_text(array: pa.Array) -> pa.Array:
    """A Parquet column as text, exact for integers and timestamps (Arrow's %S
    carries the fractional seconds)."""
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.fill_null(array.cast(pa.string()), "")
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            text = pc.strftime(array.cast(pa.timestamp("us", tz="UTC")), "%Y-%m-%dT%H:%M:%S")
            text = pc.binary_join_element_wise(text, "Z", "")
        else:
            text = pc.strftime(array.cast(pa.timestamp("us")), "%Y-%m-%d %H:%M:%S")
        return pc.fill_null(text, "")
    if pa.types.is_floating(t):
        # Whole floats (ids written by pandas with a NaN in the column) lose
        # their ".0"; others keep their digits.
        as_float = array.cast(pa.float64())
        integral = pc.and_(
            pc.equal(pc.floor(as_float), as_float), pc.less(pc.abs(as_float), 2.0**53)
        )
        integral = pc.fill_null(integral, False)
        whole = pc.if_else(integral, as_float, 0.0).cast(pa.int64()).cast(pa.string())
        return pc.fill_null(pc.if_else(integral, whole, as_float.cast(pa.string())), "")
    if pa.types.is_boolean(t):
        return pc.fill_null(pc.if_else(array, "true", "false"), "")
    return pc.fill_null(array.cast(pa.string()), "")


def _open_parquet(path: Path) -> Source:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: cannot be read as parquet ({exc})") from exc
    header = list(parquet.schema_arrow.names)

    def batches() -> Iterator[pa.RecordBatch]:
        line = 1
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
            texts = [_as_text(c) for c in batch.columns]
            yield _with_line(pa.RecordBatch.from_arrays(texts, header), line)
            line += batch.num_rows

    rows_total = parquet.metadata.num_rows or 1
    size = path.stat().st_size
    done = {"rows": 0}

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in batches():
            done["rows"] += batch.num_rows
            yield batch

    return Source(
        path,
        "parquet",
        header,
        _batches=counted(),
        _position=lambda: size * done["rows"] // rows_total,
    )
