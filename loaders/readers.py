"""Readers: CSV, XLSX, JSONL and Parquet files as batches of text columns.

Every reader yields Arrow record batches whose columns are the file's own
columns, all as text exactly as written (ids keep leading zeros and all their
digits), plus `__line__`: the row's line in the file, the header being line 1
(for Parquet, the row number). Turning text into typed canonical events is
`loaders.validate`'s job. Each format has its module (readers_csv,
readers_xlsx, readers_jsonl, readers_parquet); every reader refuses a file
past the limits in `loaders.limits`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from loaders.errors import SourceError
from loaders.readers_csv import MalformedCsvError, open_csv, open_csv_tolerant
from loaders.readers_jsonl import open_jsonl
from loaders.readers_parquet import open_parquet
from loaders.readers_xlsx import open_xlsx
from loaders.source import LINE, RAW_JSON, Source, detect_encoding

__all__ = [
    "FORMATS",
    "LINE",
    "RAW_JSON",
    "MalformedCsvError",
    "Source",
    "detect_encoding",
    "detect_format",
    "open_source",
]

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
        "{path}: unknown format (extension {extension}); expected one of: {formats}",
        path=path,
        extension=path.suffix or "none",
        formats=", ".join(FORMATS),
    )


def open_source(path: Path, *, tolerant: bool = False) -> Source:
    """Open a file of any supported format; raises `SourceError` if unreadable.

    CSV is read with Arrow's parser, which stops at a row whose field count is
    wrong (`MalformedCsvError`). `tolerant=True` reads CSV line by line
    instead: slower, but such rows become `Source.malformed` with their line.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError("{path}: no such file", path=path)
    fmt = detect_format(path)
    opener = {
        "csv": open_csv_tolerant if tolerant else open_csv,
        "xlsx": open_xlsx,
        "jsonl": open_jsonl,
        "parquet": open_parquet,
    }
    try:
        source = opener[fmt](path)
    except SourceError:
        raise
    except (OSError, pa.ArrowInvalid, ValueError) as exc:
        raise SourceError(
            "{path}: cannot be read as {fmt} ({error})", path=path, fmt=fmt, error=exc
        ) from exc
    source.size_bytes = path.stat().st_size
    return source
