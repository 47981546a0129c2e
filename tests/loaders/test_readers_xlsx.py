"""XLSX within limits (issue 18): bombs and files past Excel's own limits are
refused with a clear error, fast and in bounded memory; what is accepted reads
as Excel shows it."""

from __future__ import annotations

import datetime as dt
import json
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from loaders import xlsx_package
from loaders.errors import SourceError
from loaders.limits import MAX_CELL_CHARS, XLSX_MAX_ENTRIES
from loaders.readers import open_source
from tests.conftest import run_measured
from tests.loaders.test_readers import read_all
from tests.loaders.xlsx_files import row, shared, text, write_xlsx

HEADER = row(1, text("A1", "type"), text("B1", "invitee_id"), text("C1", "occurred_at"))

# Reads each file named on the command line to the end, in a process of its
# own under a 4 GB address-space cap (so a regression fails, not the machine);
# prints what each gave; run_measured reports the process's peak memory.
_READER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from loaders.errors import SourceError
from loaders.readers import open_source
for name in sys.argv[1:]:
    try:
        source = open_source(name)
        rows = sum(batch.num_rows for batch in source.batches())
        print(json.dumps({"rows": rows, "malformed": len(source.take_malformed())}))
    except SourceError as exc:
        print(json.dumps({"error": str(exc)}))
"""


def test_xlsx_bombs_are_refused_fast_or_read_in_bounded_memory(tmp_path):
    cell = "<c><v>1</v></c>" * 64
    bombs = [
        # 64 MiB of sheet XML in about 64 KiB: refused from the zip directory.
        write_xlsx(tmp_path / "ratio.xlsx", [HEADER, *(row(2, cell) for _ in range(65_536))]),
        # Two cells at opposite corners: a reader that makes the sheet a grid
        # allocates 17 billion cells. The far one is outside the header.
        write_xlsx(
            tmp_path / "corners.xlsx",
            [row(1, text("A1", "type")), row(1_048_576, text("XFD1048576", "x"))],
        ),
        # One string of Excel's longest, shown 100,000 times: 3.3 GB of text
        # to a reader that copies it into every cell.
        write_xlsx(
            tmp_path / "amplified.xlsx",
            [row(1, text("A1", "type")), *(row(n, shared(f"A{n}", 0)) for n in range(2, 100_002))],
            ["x" * MAX_CELL_CHARS],
        ),
    ]
    done, peak = run_measured(
        [sys.executable, "-c", _READER, *map(str, bombs)],
        peak_file=tmp_path / "peak",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ratio, corners, amplified = map(json.loads, done.stdout.split("\n")[:-1])
    assert "sheet1.xml is compressed" in ratio["error"] and "at most 100 to 1" in ratio["error"]
    assert corners == {"rows": 0, "malformed": 1}
    assert amplified == {"rows": 100_000, "malformed": 0}
    assert peak < 1 << 30, f"peak {peak >> 20} MiB"


def _too_many_entries(path: Path) -> Path:
    write_xlsx(path, [HEADER])
    with zipfile.ZipFile(path, "a") as book:
        for n in range(XLSX_MAX_ENTRIES):
            book.writestr(f"junk/{n}", b"")
    return path


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda p: write_xlsx(p, [HEADER, row(1_048_577, text("A1048577", "join"))]),
            "over 1,048,576 rows (row 1,048,577)",
        ),
        (
            lambda p: write_xlsx(p, [HEADER, row(2, text("A2", "x" * (MAX_CELL_CHARS + 1)))]),
            "cell A2 holds over 32,767 characters",
        ),
        (
            lambda p: write_xlsx(p, [HEADER], ["y" * (MAX_CELL_CHARS + 1)]),
            "shared string 0 holds over 32,767 characters",
        ),
        (
            lambda p: write_xlsx(p, [HEADER, row(2, shared("A2", 7))], ["join"]),
            "cell A2 names shared string '7', which the file does not have",
        ),
        (
            lambda p: write_xlsx(p, [HEADER, row(2, text("XFE2", "x"))]),
            "cell XFE2 is outside columns A to XFD",
        ),
        (
            lambda p: write_xlsx(p, [row(1, text("A1", "a"), text("BXX1", "z"))]),
            "the header row spans 2,000 columns (A to BXX); at most 1,000 are read",
        ),
        (
            lambda p: write_xlsx(p, [HEADER], prolog='<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">]>'),
            "declares a DTD",
        ),
        (
            lambda p: write_xlsx(
                p,
                [row(1, *(shared(f"{c}1", n) for n, c in enumerate("ABCDEFGHIJ")))],
                [f"{n}" + "h" * 30_000 for n in range(10)],
            ),
            "the column names hold 300,010 characters; at most 262,144 are read",
        ),
        (_too_many_entries, "the zip holds 10,006 entries"),
        (lambda p: write_xlsx(p, []), "the first sheet is empty, no header row"),
    ],
)
def test_xlsx_past_a_limit_is_refused_with_a_clear_error(tmp_path, build, message):
    path = build(tmp_path / "bad.xlsx")
    with pytest.raises(SourceError, match="bad.xlsx: ") as err:
        source = open_source(path)
        for _ in source.batches():
            pass
    assert message in str(err.value)


def test_xlsx_part_sizes_and_string_counts_are_checked_before_reading(tmp_path, monkeypatch):
    path = write_xlsx(
        tmp_path / "e.xlsx",
        [HEADER, *(row(n, shared(f"A{n}", n % 50)) for n in range(2, 2000))],
        [f"s{n}" for n in range(50)],
    )
    sheet_bytes = zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml").file_size
    monkeypatch.setattr(xlsx_package, "XLSX_MAX_SHEET_BYTES", sheet_bytes - 1)
    with pytest.raises(SourceError, match=f"sheet1.xml unpacks to {sheet_bytes:,} bytes"):
        open_source(path)
    monkeypatch.setattr(xlsx_package, "XLSX_MAX_SHEET_BYTES", sheet_bytes)
    monkeypatch.setattr(xlsx_package, "XLSX_MAX_SHARED_STRINGS", 49)
    with pytest.raises(SourceError, match="over 49 shared strings"):
        open_source(path)


def test_xlsx_values_outside_the_header_are_quarantined_with_their_line(tmp_path):
    path = write_xlsx(
        tmp_path / "e.xlsx",
        [
            row(1, text("B1", "type"), text("C1", "invitee_id"), text("D1", "occurred_at")),
            row(2, text("B2", "join"), text("C2", "u1"), text("D2", "2024-05-01 12:00")),
            row(
                3,
                text("B3", "join"),
                text("C3", "u2"),
                text("D3", "2024-05-01"),
                text("F3", "note"),
            ),
            row(4, text("A4", "?"), text("B4", "join"), text("C4", "u3"), text("D4", "2024-05-01")),
        ],
    )
    accepted, rejected = read_all(path)
    assert [r["invitee_id"] for r in accepted] == ["u1"]
    assert [(r["line"], r["field"]) for r in rejected] == [(3, "(row)"), (4, "(row)")]
    assert "1 value(s) outside the header's columns B to D (in F)" in rejected[0]["reason"]
    assert json.loads(rejected[1]["row"]) == {
        "type": "join",
        "invitee_id": "u3",
        "occurred_at": "2024-05-01",
        "A": "?",
    }


def test_xlsx_cells_read_as_excel_shows_them(tmp_path):
    """The streaming reader against what Excel displays (and what the
    previous reader, python-calamine, gave): rich text, Chinese date formats,
    the 1904 calendar, durations, times, booleans, formula results, errors."""
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    sheet.append(["a", "b", "c", "d", "e"])
    bold = CellRichText(["ab", TextBlock(InlineFont(b=True), "CD")])
    sheet.append([bold, 45000, 1.25, True, 0.5])
    sheet["B2"].number_format = 'yyyy"年"m"月"d"日"'
    sheet["C2"].number_format = "[h]:mm:ss"
    sheet["E2"].number_format = "h:mm"
    sheet.append([dt.datetime(2024, 5, 1, 12, 30, 15), 1.5, 0.25, False, 1234567890123.0])
    book.save(tmp_path / "cells.xlsx")
    formulas = write_xlsx(
        tmp_path / "formulas.xlsx",
        [
            row(1, text("A1", "a"), text("B1", "b"), text("C1", "c")),
            row(
                2,
                '<c r="A2" t="str"><f>CONCAT("a","b")</f><v>ab</v></c>',
                '<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
                '<c r="C2"><f>1+2</f><v>3</v></c>',
            ),
        ],
    )
    cells = [list(r.values()) for r in _rows(tmp_path / "cells.xlsx")]
    assert cells == [
        ["abCD", "2027-03-16", "1 day, 6:00:00", "true", "12:00:00", 2],
        ["2024-05-01 12:30:15", "1.5", "0.25", "false", "1234567890123", 3],
    ]
    assert [list(r.values()) for r in _rows(formulas)] == [["ab", "", "3", 2]]


def _rows(path: Path) -> list[dict]:
    return [r for batch in open_source(path).batches() for r in batch.to_pylist()]
