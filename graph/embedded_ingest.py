"""The embedded store's ingest: one batch into the event log and the graph.

Run inside the store's transaction (`EmbeddedStore.ingest`): the batch's rows
go straight into the log; the rare repeats (event ids an earlier batch or an
earlier line holds) are taken out again, which is cheaper than staging, and
those with other content come back as conflicts (graph.conflicts); then
the derived tables are refreshed for the users the batch touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from graph.conflicts import conflicts_sql
from graph.derive import derive
from graph.duckdb_tables import row_group_aligned, scalar
from graph.store import BatchResult
from loaders.canonical import EVENT_SCHEMA
from loaders.validate import REJECTED_SCHEMA


def apply(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table], source: str) -> BatchResult:
    """Append a batch to the log (inside the caller's transaction), take its
    repeats out again and refresh the graph for the users it touched."""
    batch_id = scalar(con, "SELECT coalesce(max(id), 0) + 1 FROM batches")
    # The log's column order: the batch id, then the later columns.
    late = ("invitee_name",)
    columns = ", ".join(
        [*(n for n in EVENT_SCHEMA.names if n not in late), f"{batch_id}::INTEGER", *late]
    )
    had_events = scalar(con, "SELECT count(*) > 0 FROM (FROM events LIMIT 1)")
    received = 0
    # Rows go straight into the log inside the transaction; the rare
    # duplicates are taken out again below, which is cheaper than staging.
    for table in row_group_aligned(batches):
        received += table.num_rows
        # from_arrow, not register(): DuckDB 2 keeps every registered
        # table alive until the connection closes, so memory would grow
        # with each batch.
        con.from_arrow(table).project(columns).insert_into("events")
    conflicts = _take_repeats(con, batch_id, had_events)
    accepted = scalar(con, "SELECT count(*) FROM events WHERE batch_id = ?", [batch_id])
    duplicates = received - accepted - len(conflicts)
    if accepted:
        _refresh_graph(con, batch_id, full=not had_events)
    con.execute(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
        [batch_id, source, datetime.now(UTC), received, accepted, duplicates, len(conflicts)],
    )
    return BatchResult(batch_id, received, accepted, duplicates, conflicts)


def _take_repeats(con: duckdb.DuckDBPyConnection, batch_id: int, had_events: bool) -> pa.Table:
    """Take the batch's repeats out of the log again: rows whose event id
    an earlier batch holds, then the later lines of an id repeated within
    the batch. Returns those that differ from the version kept (conflicts)."""
    b = int(batch_id)
    this_batch = f"(SELECT * FROM events WHERE batch_id = {b})"
    found = []
    if had_events:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE repeated AS
                SELECT *, 'batch ' || batch_id || ', line ' || line AS origin FROM events
                WHERE batch_id < {b}
                  AND event_id IN (SELECT event_id FROM events WHERE batch_id = {b})"""
        )
        found.append(con.sql(conflicts_sql(this_batch, "repeated")).to_arrow_table())
        con.execute(
            f"""DELETE FROM events WHERE batch_id = {b}
                AND event_id IN (SELECT event_id FROM repeated)"""
        )
    # Repeats within the batch: the first line of each event_id stays.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE kept AS
            SELECT e.*, 'line ' || e.line || ' of the same source' AS origin
            FROM events e JOIN (
                SELECT event_id, min(line) AS keep FROM events WHERE batch_id = {b}
                GROUP BY event_id HAVING count(*) > 1
            ) r ON r.event_id = e.event_id AND e.line = r.keep
            WHERE e.batch_id = {b}"""
    )
    later = f"""(SELECT e.* FROM events e JOIN kept k USING (event_id)
                 WHERE e.batch_id = {b} AND e.line <> k.line)"""
    found.append(con.sql(conflicts_sql(later, "kept")).to_arrow_table())
    con.execute(
        f"""DELETE FROM events WHERE batch_id = {b} AND (event_id, line) IN (
                SELECT (e.event_id, e.line) FROM events e JOIN kept k USING (event_id)
                WHERE e.batch_id = {b} AND e.line <> k.line)"""
    )
    con.execute("DROP TABLE IF EXISTS repeated")
    con.execute("DROP TABLE kept")
    return pa.concat_tables(found).cast(REJECTED_SCHEMA)


def _refresh_graph(con: duckdb.DuckDBPyConnection, batch_id: int, *, full: bool) -> None:
    if not full:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE scope_invitees AS
               SELECT DISTINCT invitee_id AS id FROM events WHERE batch_id = ?""",
            [batch_id],
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE scope_users AS
               SELECT id FROM scope_invitees
               UNION SELECT inviter_id FROM events
               WHERE batch_id = ? AND inviter_id IS NOT NULL""",
            [batch_id],
        )
    # A first load has everything in scope: no filters (the DELETEs match nothing).
    derive(con, scoped=not full)
    con.execute("DROP TABLE scope_invitees")
    con.execute("DROP TABLE scope_users")
