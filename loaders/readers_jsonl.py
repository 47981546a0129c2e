"""JSONL: one JSON object a line; the columns are the keys of the first
thousand objects, in order of first appearance."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from loaders.errors import SourceError
from loaders.limits import MAX_COLUMNS
from loaders.source import BATCH_ROWS, LINE, RAW_JSON, Source, check_header, file_encoding

# Lines whose objects decide the columns.
_HEADER_LINES = 1000


def open_jsonl(path: Path) -> Source:
    encoding = file_encoding(path)
    # Bytes the encoding cannot decode stay in the line as \\x escapes: the
    # line is then not valid JSON and is quarantined whole, never a crash.
    handle = open(  # noqa: SIM115
        path,
        encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        errors="backslashreplace",
    )

    # Numbers are kept as their text, so 19-digit ids are never rounded.
    decode = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str).decode
    first: list[tuple[int, str]] = []
    for number, text in enumerate(handle, start=1):
        if text.strip():
            first.append((number, text))
            if len(first) >= _HEADER_LINES:
                break
    try:
        header = _keys(path, first, decode)
    except SourceError:
        handle.close()
        raise

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
                if len(chunk) >= BATCH_ROWS:
                    yield _json_batch(chunk, header, decode)
                    chunk = []
            if chunk:
                yield _json_batch(chunk, header, decode)
        finally:
            handle.close()

    return Source(path, "jsonl", header, encoding, _batches=batches(), _position=handle.buffer.tell)


def _keys(path: Path, lines: list[tuple[int, str]], decode: Callable[[str], object]) -> list[str]:
    """The distinct keys of the objects on `lines`, in order of first
    appearance (an insertion-ordered dict: linear however many keys), at most
    `MAX_COLUMNS` of them and per object."""
    keys: dict[str, None] = {}
    for number, text in lines:
        try:
            obj = decode(text)
        except (json.JSONDecodeError, RecursionError):  # too deep: not an event
            continue
        if not isinstance(obj, dict):
            continue
        if len(obj) > MAX_COLUMNS:
            raise SourceError(
                "{path}: line {number}: an object with {keys:,} keys; at most {limit:,} are "
                "read (an event has about a dozen)",
                path=path,
                number=number,
                keys=len(obj),
                limit=MAX_COLUMNS,
            )
        keys.update(dict.fromkeys(obj))
        if len(keys) > MAX_COLUMNS:
            raise SourceError(
                "{path}: the objects up to line {number} have {keys:,} distinct keys; at most "
                "{limit:,} columns are read (an event has about a dozen)",
                path=path,
                number=number,
                keys=len(keys),
                limit=MAX_COLUMNS,
            )
    if not keys:
        raise SourceError("{path}: no JSON object in its first lines", path=path)
    check_header(path, list(keys))
    return list(keys)


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _json_batch(
    chunk: list[tuple[int, str]], header: list[str], decode: Callable[[str], object]
) -> pa.RecordBatch:
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
