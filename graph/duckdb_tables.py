"""Small DuckDB helpers the embedded store's modules share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import duckdb
import pyarrow as pa

# DuckDB's row group holds 122,880 rows; appends are cut to multiples of it.
_APPEND_ROWS = 2 * 122_880
# The latest snapshot: what the API serves and what judges fraud.
LATEST = "ORDER BY computed_at DESC, id LIMIT 1"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None):
    """The one value a query returns. fetchall, not fetchone: DuckDB 2 treats a
    half-read result as unfinished and refuses further work on the connection."""
    return con.execute(sql, params).fetchall()[0][0]


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows[0][0])


def row_group_aligned(batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Re-cut batches into whole DuckDB row groups (the last one excepted).

    Appends of other sizes leave partly filled row groups that DuckDB merges
    at the next checkpoint, which cost seconds per 10M rows on close.
    """
    pending: list[pa.Table] = []
    held = 0
    for table in batches:
        pending.append(table)
        held += table.num_rows
        if held >= _APPEND_ROWS:
            joined = pa.concat_tables(pending)
            whole = held - held % _APPEND_ROWS
            # One chunk: DuckDB appends each Arrow chunk from its own thread,
            # so a multi-chunk table would leave partial row groups again.
            yield joined.slice(0, whole).combine_chunks()
            rest = joined.slice(whole)
            pending, held = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
    if held:
        yield pa.concat_tables(pending).combine_chunks()


def instant(text: str | None) -> datetime | None:
    # DuckDB renders TIMESTAMPTZ in the session zone (UTC) as text; parsing
    # that avoids needing pytz to fetch tz-aware values.
    return datetime.fromisoformat(text) if text else None
