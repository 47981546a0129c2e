"""Minimal XLSX packages written part by part, so tests and bench/xlsx_memory.py
can build what no spreadsheet program writes: zip bombs, sheets past Excel's
limits, DTDs. Parts are streamed into the zip, so a big sheet never sits in
memory."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
</Types>"""
_ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="{_PKG_REL}">
<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = f"""<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>
<sheet name="events" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="{_PKG_REL}">
<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>
</Relationships>"""


def write_xlsx(
    path: Path,
    rows: Iterable[str],
    strings: Iterable[str] = (),
    *,
    prolog: str = "",
    level: int = 6,
) -> Path:
    """A workbook whose first sheet holds `rows` (`<row>` elements, see `row`)
    and whose shared strings are `strings` (text, escaped here). `prolog` goes
    before the sheet's root element (a DTD, say)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as book:
        book.writestr("[Content_Types].xml", _TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        _stream(
            book,
            "xl/sharedStrings.xml",
            f'<sst xmlns="{_MAIN}">',
            (f"<si><t>{escape(s)}</t></si>" for s in strings),
            "</sst>",
        )
        _stream(
            book,
            "xl/worksheets/sheet1.xml",
            f'{prolog}<worksheet xmlns="{_MAIN}"><sheetData>',
            rows,
            "</sheetData></worksheet>",
        )
    return path


def _stream(book: zipfile.ZipFile, name: str, head: str, body: Iterable[str], tail: str) -> None:
    with book.open(name, "w", force_zip64=True) as part:
        part.write(b'<?xml version="1.0" encoding="UTF-8"?>' + head.encode())
        chunk: list[str] = []
        for item in body:
            chunk.append(item)
            if len(chunk) >= 10_000:
                part.write("".join(chunk).encode())
                chunk = []
        part.write(("".join(chunk) + tail).encode())


def row(number: int, *cells: str) -> str:
    return f'<row r="{number}">{"".join(cells)}</row>'


def text(ref: str, value: str) -> str:
    """An inline-string cell."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def shared(ref: str, index: int) -> str:
    """A cell holding shared string `index`."""
    return f'<c r="{ref}" t="s"><v>{index}</v></c>'
