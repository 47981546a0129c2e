"""Tables as files a person opens in Excel (the reward export, api.exports;
the dashboard's tables, api.dashboard_export):

- CSV: UTF-8 with a BOM, so Excel reads Chinese text right, and CRLF lines;
- XLSX: a sheet per table, its header row frozen and each column as wide as
  its widest cell (a Chinese character counts two); a column wider than
  `WRAP_WIDTH` (reasons) is that wide, its text wrapped.

Cells are written as given: neutralising formula starts is the caller's
(api.exports.neutralise).
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterable
from typing import Any

WRAP_WIDTH = 60
SHEET_TITLE_LIMIT = 31  # Excel's

Sheet = tuple[str, list[str], list[list[Any]]]  # title, header, rows


def csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def xlsx_bytes(sheets: Iterable[Sheet]) -> bytes:
    """A workbook of these sheets, in order, each fitted (`fitted_sheet`)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        fitted_sheet(book, title, header, rows)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def text_width(value: Any) -> int:
    """How many columns a cell's text takes: a wide character (Chinese,
    full-width forms) counts two; the longest line of several.

    >>> text_width("张三"), text_width("zs-fan-1"), text_width(80.5)
    (4, 8, 4)
    """
    lines = ("" if value is None else str(value)).split("\n")
    return max(
        sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) for line in lines
    )


def fitted_sheet(book: Any, title: str, header: list[str], rows: list[list[Any]]) -> None:
    """A sheet of `rows` under a frozen `header` in a write-only workbook,
    each column as wide as its widest cell; a column wider than `WRAP_WIDTH`
    wraps its text instead."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title[:SHEET_TITLE_LIMIT])
    widths = [max(text_width(v) for v in column) for column in zip(header, *rows, strict=True)]
    wrapped = [w > WRAP_WIDTH for w in widths]
    for i, width in enumerate(widths, start=1):  # set before the rows: write-only sheets
        sheet.column_dimensions[get_column_letter(i)].width = min(width, WRAP_WIDTH) + 2
    sheet.freeze_panes = "A2"
    sheet.append(header)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        cells = []
        for value, wraps in zip(row, wrapped, strict=True):
            if wraps:
                value = WriteOnlyCell(sheet, value=value)
                value.alignment = wrap
            cells.append(value)
        sheet.append(cells)
