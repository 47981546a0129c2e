"""Parquet: any column types, read as exact text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loaders.errors import SourceError
from loaders.source import BATCH_ROWS, Source, check_header, with_line


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


def open_parquet(path: Path) -> Source:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            "{path}: cannot be read as parquet ({error})", path=path, error=exc
        ) from exc
    header = list(parquet.schema_arrow.names)
    check_header(path, header)

    def batches() -> Iterator[pa.RecordBatch]:
        line = 1
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            texts = [_as_text(c) for c in batch.columns]
            yield with_line(pa.RecordBatch.from_arrays(texts, header), line)
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
