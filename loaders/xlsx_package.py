"""An XLSX package opened within limits: the zip directory is checked before
anything is decompressed, and the parts a reader needs (the first sheet, the
shared strings, the number formats) are found and read with expat, a MiB at
a time, refusing DTDs (so no entity can expand)."""

from __future__ import annotations

import datetime as dt
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

from loaders.errors import SourceError
from loaders.limits import (
    MAX_CELL_CHARS,
    XLSX_MAX_ENTRIES,
    XLSX_MAX_PART_BYTES,
    XLSX_MAX_RATIO,
    XLSX_MAX_SHARED_STRINGS,
    XLSX_MAX_SHARED_STRINGS_BYTES,
    XLSX_MAX_SHEET_BYTES,
)

_CHUNK = 1 << 20
# Built-in number formats that are dates in Chinese, Japanese and Korean
# Excel (ECMA-376 18.8.30), which openpyxl's table leaves out.
_CJK_DATE_FORMATS = {*range(27, 37), *range(50, 59)}


@dataclass
class Workbook:
    """What reading the first sheet needs. `formats` maps a cell's style
    (its `s` attribute, as written) to "date" or "duration"; other styles
    are plain numbers."""

    zip: zipfile.ZipFile
    sheet: zipfile.ZipInfo
    strings: list[str]
    formats: dict[str, str]
    epoch: dt.datetime

    def close(self) -> None:
        self.zip.close()


def open_workbook(path: Path) -> Workbook:
    """Open `path` and read all but the sheet's rows; raises `SourceError`."""
    _check_directory(path)
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(
            "{path}: cannot be read as xlsx ({error})", path=path, error=exc
        ) from None
    try:
        parts = {info.filename.lower(): info for info in book.infolist()}
        workbook_part = _related(path, book, parts, "", "officeDocument") or "xl/workbook.xml"
        sheet_id, date1904 = _first_sheet(path, book, _part(path, parts, workbook_part))
        sheet = _related(path, book, parts, workbook_part, "worksheet", sheet_id)
        if sheet is None:
            raise SourceError("{path}: the first sheet is not a worksheet (a chart?)", path=path)
        strings_part = _related(path, book, parts, workbook_part, "sharedStrings")
        styles_part = _related(path, book, parts, workbook_part, "styles")
        return Workbook(
            zip=book,
            sheet=_part(path, parts, sheet, XLSX_MAX_SHEET_BYTES),
            strings=_shared_strings(path, book, parts, strings_part),
            formats=_formats(path, book, parts, styles_part),
            epoch=CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900,
        )
    except BaseException:
        book.close()
        raise


def parse_part(
    path: Path,
    book: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None],
    text: Callable[[str], None],
) -> Iterator[int]:
    """Feed a part to expat a MiB at a time, yielding the bytes fed so far after
    each MiB, so the caller can take what the handlers collected. Element names
    reach the handlers as written (`c`, or `x:c` with a prefix)."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = text

    def no_dtd(*_: object) -> None:
        raise SourceError(
            "{path}: {filename} declares a DTD, which no XLSX part has",
            path=path,
            filename=info.filename,
        )

    parser.StartDoctypeDeclHandler = no_dtd
    fed = 0
    try:
        with book.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
                fed += len(chunk)
                yield fed
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise SourceError(
            "{path}: {filename} is not well-formed XML ({error})",
            path=path,
            filename=info.filename,
            error=exc,
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise SourceError(
            "{path}: {filename} is damaged ({error})", path=path, filename=info.filename, error=exc
        ) from None
    yield fed


def local(name: str) -> str:
    """An element or attribute name without its namespace prefix."""
    return name.rpartition(":")[2]


def _check_directory(path: Path) -> None:
    """Refuse a zip whose directory is too big to list, before zipfile lists
    it: the end record declares its entries and size (Zip64 too)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - 22 - 0xFFFF))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            raise SourceError("{path}: cannot be read as xlsx (not a zip file)", path=path)
        entries, directory = struct.unpack_from("<HI", tail, at + 10)
        locator = at - 20
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            f.seek(struct.unpack_from("<Q", tail, locator + 8)[0])
            record = f.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries, directory = struct.unpack_from("<QQ", record, 32)
    if entries > XLSX_MAX_ENTRIES or directory > XLSX_MAX_PART_BYTES:
        raise SourceError(
            "{path}: the zip holds {entries:,} entries in a {directory:,}-byte directory; "
            "an XLSX has a few dozen (at most {max_entries:,}, {max_bytes:,} bytes)",
            path=path,
            entries=entries,
            directory=directory,
            max_entries=XLSX_MAX_ENTRIES,
            max_bytes=XLSX_MAX_PART_BYTES,
        )


def _part(
    path: Path, parts: dict[str, zipfile.ZipInfo], name: str, limit: int = XLSX_MAX_PART_BYTES
) -> zipfile.ZipInfo:
    """The zip entry of a part, refused when it unpacks to more than `limit`
    bytes or compresses more than `XLSX_MAX_RATIO` to 1."""
    info = parts.get(name.lower())
    if info is None:
        raise SourceError("{path}: cannot be read as xlsx (it has no {name})", path=path, name=name)
    if info.file_size > limit:
        raise SourceError(
            "{path}: {name} unpacks to {size:,} bytes; at most {limit:,} are read",
            path=path,
            name=name,
            size=info.file_size,
            limit=limit,
        )
    ratio = info.file_size / max(1, info.compress_size)
    if info.file_size > _CHUNK and ratio > XLSX_MAX_RATIO:
        raise SourceError(
            "{path}: {name} is compressed {ratio:,.0f} to 1 ({packed:,} bytes unpack to "
            "{size:,}); a real sheet is about 10 to 1, at most {max_ratio} to 1 is read",
            path=path,
            name=name,
            ratio=ratio,
            packed=info.compress_size,
            size=info.file_size,
            max_ratio=XLSX_MAX_RATIO,
        )
    return info


def _read_small(path: Path, book: zipfile.ZipFile, info: zipfile.ZipInfo, start) -> None:
    for _ in parse_part(path, book, info, start, lambda _name: None, lambda _text: None):
        pass


def _related(
    path: Path,
    book: zipfile.ZipFile,
    parts: dict[str, zipfile.ZipInfo],
    source: str,
    kind: str,
    rel_id: str | None = None,
) -> str | None:
    """The part that `source` ("" for the package) relates to by a relationship
    of type `kind` (and id `rel_id`), or None."""
    folder, name = posixpath.split(source)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels.lower() not in parts:
        return None
    found: list[str] = []

    def start(element: str, attrs: dict[str, str]) -> None:
        if local(element) != "Relationship" or attrs.get("TargetMode") == "External":
            return
        if attrs.get("Type", "").rpartition("/")[2] != kind:
            return
        if rel_id is None or attrs.get("Id") == rel_id:
            found.append(attrs.get("Target", ""))

    _read_small(path, book, _part(path, parts, rels), start)
    if not found:
        return None
    target = found[0]
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(folder, target))


def _first_sheet(path: Path, book: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, bool]:
    """The relationship id of the workbook's first sheet, and whether its dates
    count from 1904."""
    sheets: list[str] = []
    date1904 = [False]

    def start(element: str, attrs: dict[str, str]) -> None:
        name = local(element)
        if name == "sheet":
            sheets.extend(v for k, v in attrs.items() if local(k) == "id" and k != "id")
        elif name == "workbookPr":
            date1904[0] = attrs.get("date1904", "").lower() in ("1", "true")

    _read_small(path, book, info, start)
    if not sheets:
        raise SourceError("{path}: the workbook has no sheet", path=path)
    return sheets[0], date1904[0]


def _shared_strings(
    path: Path, book: zipfile.ZipFile, parts: dict[str, zipfile.ZipInfo], name: str | None
) -> list[str]:
    """The shared-string table: each `si`'s text runs joined, phonetic guides
    (`rPh`) left out. At most `XLSX_MAX_SHARED_STRINGS` strings of at most
    `MAX_CELL_CHARS` characters each."""
    strings: list[str] = []
    if name is None:
        return strings
    info = _part(path, parts, name, XLSX_MAX_SHARED_STRINGS_BYTES)
    runs: list[str] = []
    state = {"collect": False, "phonetic": 0, "size": 0}

    def start(element: str, _attrs: dict[str, str]) -> None:
        tag = local(element)
        if tag == "t":
            state["collect"] = not state["phonetic"]
        elif tag == "rPh":
            state["phonetic"] += 1
        elif tag == "si":
            runs.clear()
            state["size"] = 0

    def end(element: str) -> None:
        tag = local(element)
        if tag == "t":
            state["collect"] = False
        elif tag == "rPh":
            state["phonetic"] -= 1
        elif tag == "si":
            if len(strings) >= XLSX_MAX_SHARED_STRINGS:
                raise SourceError(
                    "{path}: over {limit:,} shared strings; at most {limit:,} are read",
                    path=path,
                    limit=XLSX_MAX_SHARED_STRINGS,
                )
            strings.append("".join(runs))

    def text(data: str) -> None:
        if state["collect"]:
            runs.append(data)
            state["size"] += len(data)
            if state["size"] > MAX_CELL_CHARS:
                raise SourceError(
                    "{path}: shared string {index} holds over {limit:,} characters, more than an "
                    "Excel cell can",
                    path=path,
                    index=len(strings),
                    limit=MAX_CELL_CHARS,
                )

    for _ in parse_part(path, book, info, start, end, text):
        pass
    return strings


def _formats(
    path: Path, book: zipfile.ZipFile, parts: dict[str, zipfile.ZipInfo], name: str | None
) -> dict[str, str]:
    """Cell styles whose number format is a date or a duration."""
    if name is None:
        return {}
    custom: dict[int, str] = {}
    styles: list[int] = []
    inside = [False]

    def start(element: str, attrs: dict[str, str]) -> None:
        tag = local(element)
        if tag == "numFmt":
            custom[_int(attrs.get("numFmtId"))] = attrs.get("formatCode", "")
        elif tag == "cellXfs":
            inside[0] = True
        elif tag == "xf" and inside[0]:
            styles.append(_int(attrs.get("numFmtId")))

    def end(element: str) -> None:
        if local(element) == "cellXfs":
            inside[0] = False

    for _ in parse_part(path, book, _part(path, parts, name), start, end, lambda _t: None):
        pass
    kinds = {number: _kind(number, custom) for number in set(styles)}
    return {str(i): kinds[n] for i, n in enumerate(styles) if kinds[n]}


def _kind(number: int, custom: dict[int, str]) -> str | None:
    code = custom.get(number, BUILTIN_FORMATS.get(number))
    if code is None:
        return "date" if number in _CJK_DATE_FORMATS else None
    if is_timedelta_format(code):
        return "duration"
    return "date" if is_date_format(code) else None


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0
