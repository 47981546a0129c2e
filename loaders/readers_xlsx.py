"""XLSX: the first sheet, streamed. The header is its first row with a value;
each later row with a value becomes a row of text, its line the sheet row.

Memory stays bounded whatever the file: the zip directory is checked before
anything is unpacked (loaders.limits), the shared strings are bounded by
size and count, and the sheet is parsed a MiB at a time into batches of at
most `_BATCH_CELLS` cells and `_BATCH_CHARS` characters.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from openpyxl.utils.datetime import from_excel

from loaders.errors import SourceError
from loaders.limits import MAX_CELL_CHARS, MAX_COLUMNS, XLSX_MAX_ROWS
from loaders.source import Source, check_header, text_batch
from loaders.xlsx_package import Workbook, local, open_workbook, parse_part

_BATCH_CELLS = 2_000_000
_BATCH_CHARS = 16 << 20
_LAST_COLUMN = 16_384  # XFD, Excel's last column
_COLUMNS: dict[str, int] = {}  # "AB" -> 28, filled as met


def open_xlsx(path: Path) -> Source:
    book = open_workbook(path)
    sheet = _SheetHandlers(path, book)
    rows = _sheet_rows(book, sheet)
    try:
        first = next(rows, None)
        if first is None:
            raise SourceError("{path}: the first sheet is empty, no header row", path=path)
        _, cells = first
        low, high = min(cells), max(cells)
        if high - low >= MAX_COLUMNS:
            raise SourceError(
                "{path}: the header row spans {columns:,} columns ({first} to {last}); at most "
                "{limit:,} are read",
                path=path,
                columns=high - low + 1,
                first=column_name(low),
                last=column_name(high),
                limit=MAX_COLUMNS,
            )
        header = [cells.get(c, "").strip() for c in range(low, high + 1)]
        check_header(path, header)
    except BaseException:
        rows.close()
        book.close()
        raise
    source = Source(path, "xlsx", header)
    source._batches = _batches(source, book, rows, low)
    size, sheet_size = path.stat().st_size, max(1, book.sheet.file_size)
    source._position = lambda: size * min(sheet.fed, sheet_size) // sheet_size
    return source


def _batches(
    source: Source, book: Workbook, rows: Iterator[tuple[int, dict[int, str]]], low: int
) -> Iterator[pa.RecordBatch]:
    """Rows as text batches of the header's columns; a row with a value outside
    them is malformed (quarantined with its reason)."""
    header = source.columns
    high = low + len(header) - 1
    batch_rows = max(1, _BATCH_CELLS // len(header))
    columns: list[list[str]] = [[] for _ in header]
    lines: list[int] = []
    chars = 0
    try:
        for number, cells in rows:
            chars += sum(map(len, cells.values()))
            if min(cells) < low or max(cells) > high:
                chars += _malformed(source, number, cells, low, high)
            else:
                for j, column in enumerate(columns, start=low):
                    column.append(cells.get(j, ""))
                lines.append(number)
            if len(lines) + len(source.malformed) >= batch_rows or chars >= _BATCH_CHARS:
                yield text_batch(header, columns, lines)
                columns, lines, chars = [[] for _ in header], [], 0
        if lines or source.malformed:
            yield text_batch(header, columns, lines)
    finally:
        rows.close()
        book.close()


def _malformed(source: Source, number: int, cells: dict[int, str], low: int, high: int) -> int:
    """Record a row with values outside the header's columns; returns the
    characters kept."""
    outside = sorted(c for c in cells if c < low or c > high)
    names = ", ".join(column_name(c) for c in outside[:5]) + (", …" if len(outside) > 5 else "")
    kept = {source.columns[c - low]: v for c, v in cells.items() if low <= c <= high}
    kept[column_name(outside[0])] = cells[outside[0]]
    text = json.dumps(kept, ensure_ascii=False)
    source.malformed.append(
        (
            number,
            f"{len(outside):,} value(s) outside the header's columns "
            f"{column_name(low)} to {column_name(high)} (in {names})",
            text,
        )
    )
    return len(text)


def _sheet_rows(book: Workbook, sheet: _SheetHandlers) -> Iterator[tuple[int, dict[int, str]]]:
    """(sheet row, {column: text}) for each row of the first sheet holding a
    value, columns counted from 1."""
    parts = parse_part(sheet.path, book.zip, book.sheet, sheet.start, sheet.end, sheet.text)
    for fed in parts:
        sheet.fed = fed
        if sheet.done:
            done, sheet.done = sheet.done, []
            yield from done


class _SheetHandlers:
    """Expat handlers collecting a sheet's rows into `done`, within the limits:
    `XLSX_MAX_ROWS` rows, columns A to XFD, `MAX_CELL_CHARS` a cell."""

    def __init__(self, path: Path, book: Workbook) -> None:
        self.path, self.strings, self.formats, self.epoch = (
            path,
            book.strings,
            book.formats,
            book.epoch,
        )
        self.done: list[tuple[int, dict[int, str]]] = []
        self.fed = 0  # bytes of the sheet parsed, for progress bars
        self.row = self.rows = self.column = self.size = self.phonetic = 0
        self.cells: dict[int, str] = {}
        self.kind, self.style = "n", None
        self.parts: list[str] = []
        self.collect = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        # The commonest elements first: this runs for every element.
        if name == "c":
            ref = attrs.get("r")
            column = (_COLUMNS.get(ref.rstrip("0123456789")) or _column(ref)) if ref else 0
            self.column = column or self.column + 1
            if ref and not column or self.column > _LAST_COLUMN:
                raise SourceError(
                    "{path}: the first sheet: cell {cell} is outside columns A to XFD",
                    path=self.path,
                    cell=ref or "after XFD",
                )
            self.kind, self.style = attrs.get("t", "n"), attrs.get("s")
            self.parts, self.size = [], 0
        elif name == "v" or (name == "t" and not self.phonetic):
            self.collect = True
        elif name == "row":
            self._start_row(attrs.get("r"))
        elif name == "rPh":
            self.phonetic += 1
        elif ":" in name:
            self.start(local(name), attrs)

    def end(self, name: str) -> None:
        if name == "c":
            parts = self.parts
            if parts:
                value = self._value(parts[0] if len(parts) == 1 else "".join(parts))
                if value:
                    self.cells[self.column] = value
            self.collect = False
        elif name == "v" or name == "t":
            self.collect = False
        elif name == "row":
            if self.cells:
                self.done.append((self.row, self.cells))
                self.cells = {}
        elif name == "rPh":
            self.phonetic -= 1
        elif ":" in name:
            self.end(local(name))

    def text(self, data: str) -> None:
        if self.collect:
            self.parts.append(data)
            self.size += len(data)
            if self.size > MAX_CELL_CHARS:
                raise SourceError(
                    "{path}: the first sheet: cell {cell} holds over {limit:,} characters, "
                    "more than an Excel cell can",
                    path=self.path,
                    cell=column_name(self.column) + str(self.row),
                    limit=MAX_CELL_CHARS,
                )

    def _start_row(self, ref: str | None) -> None:
        try:
            self.row = int(ref) if ref else self.row + 1
        except ValueError:
            raise SourceError(
                "{path}: the first sheet: row number {row!r} is not a number",
                path=self.path,
                row=(ref or "")[:20],
            ) from None
        self.rows += 1
        if not 0 < self.row <= XLSX_MAX_ROWS or self.rows > XLSX_MAX_ROWS:
            raise SourceError(
                "{path}: the first sheet: over {limit:,} rows (row {row:,}); at most {limit:,} "
                "are read, as in Excel",
                path=self.path,
                row=self.row,
                limit=XLSX_MAX_ROWS,
            )
        self.cells, self.column = {}, 0

    def _value(self, text: str) -> str:
        """A cell's text as a person sees it in Excel."""
        kind = self.kind
        if kind == "s":
            try:
                return self.strings[int(text)]
            except (ValueError, IndexError):
                raise SourceError(
                    "{path}: the first sheet: cell {cell} names shared string {index!r}, which "
                    "the file does not have",
                    path=self.path,
                    cell=column_name(self.column) + str(self.row),
                    index=text[:20],
                ) from None
        if kind != "n":
            if kind == "e":  # a formula error (#N/A, #REF!): no value
                return ""
            if kind == "b":
                return "true" if text.strip() in ("1", "true") else "false"
            return text  # str (a formula's text), inlineStr, d (ISO 8601)
        try:
            number = float(text)
        except ValueError:
            return text  # not a number after all: kept as written
        fmt = self.formats.get(self.style) if self.style else None
        if fmt is not None and math.isfinite(number):
            try:
                return cell_text(_excel_time(number, self.epoch, fmt == "duration"))
            except (OverflowError, ValueError):
                return cell_text(number)  # outside the calendar: the number as it is
        return cell_text(number)


def _excel_time(number: float, epoch: dt.datetime, duration: bool) -> object:
    """A date-formatted number as Excel shows it: a date when whole, a time of
    day below 1, else a date and time; a duration format gives a timedelta."""
    value = from_excel(number, epoch, timedelta=duration)
    if isinstance(value, dt.datetime) and number.is_integer():
        return value.date()
    return value


def cell_text(value: object) -> str:
    """An Excel value as the text a person sees, never rounding an integer id."""
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


def _column(ref: str) -> int:
    """The column of a cell reference ("AB12" -> 28), 0 if it names none."""
    letters = ref.rstrip("0123456789")
    column = _COLUMNS.get(letters)
    if column is None:
        column = 0
        for ch in letters:
            if not "A" <= ch <= "Z":
                return 0
            column = column * 26 + ord(ch) - 64
        if not 0 < column <= _LAST_COLUMN:
            return 0
        _COLUMNS[letters] = column
    return column


def column_name(column: int) -> str:
    """Excel's name of a column counted from 1 (28 -> "AB")."""
    name = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name
