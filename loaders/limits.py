"""Limits on what one source file may hold, so that no input can hang a reader
or exhaust memory (issue 18). A file past a limit is refused whole with a
`SourceError` naming the limit and what the file holds; docs/ingest.md lists
them with the peak memory they bound (measured by bench/xlsx_memory.py)."""

from __future__ import annotations

# Any format: an event file has about a dozen columns (the canonical fields
# plus mapped extras), so a thousand is generous and keeps every per-column
# cost small.
MAX_COLUMNS = 1_000
# CSV: the header line must end within this many bytes (1,000 columns of 256
# bytes each); a longer one is refused, never cut. In other formats, the most
# characters all column names together may hold.
MAX_HEADER_BYTES = 256 << 10
# XLSX: Excel's own limits on a cell's characters and a sheet's rows.
MAX_CELL_CHARS = 32_767
XLSX_MAX_ROWS = 1_048_576
# XLSX parts, uncompressed, as the zip directory declares them (Python's zipfile
# never reads past a declared size). The sheet is streamed, so its size bounds
# time (about 90 s a GiB on two cores), not memory; the shared strings are held in
# memory whole, so their size and count bound memory.
XLSX_MAX_SHEET_BYTES = 1 << 30
XLSX_MAX_SHARED_STRINGS_BYTES = 128 << 20
XLSX_MAX_SHARED_STRINGS = 4_000_000
# Every other part read (workbook, relationships, styles).
XLSX_MAX_PART_BYTES = 16 << 20
# Uncompressed : compressed, for a part over 1 MiB: real sheets compress
# 10-20 to 1 (rows of identical values about 17), a zip bomb up to 1,000.
XLSX_MAX_RATIO = 100
# Entries in the zip directory: a workbook has a few dozen; each costs Python
# a few hundred bytes of memory before anything is read.
XLSX_MAX_ENTRIES = 10_000
