"""Conflicts: an event id arriving again with different content.

The log is append-only and an event id is its idempotency key, so a row
whose id is already stored (or came earlier in the same file) is either a
duplicate (the same content: skipped and counted) or a conflict (other
content: an amount of 10 re-sent as 5,000,000, another inviter). A conflict
is never applied: the stored version stays, and the row goes to the
quarantine with both versions so someone can decide (DESIGN.md, "Canonical
event"; docs/ingest.md, "Conflicts and corrections").

Both stores find them with the same SQL, on DuckDB relations holding the
canonical columns: `received` (the new rows) and `stored` (the versions
they repeat, with an `origin` text saying where that version came from).

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute(
...     "CREATE TABLE r AS SELECT 'e1' AS event_id, 'convert' AS type, NULL AS inviter_id, "
...     "'u1' AS invitee_id, TIMESTAMPTZ '2026-01-01' AS occurred_at, NULL AS campaign, "
...     "NULL AS channel, NULL AS staff_id, 5000000::DECIMAL(18, 4) AS amount, "
...     "NULL AS device_id, NULL AS ip, 7 AS line")
>>> _ = con.execute("CREATE TABLE s AS SELECT * REPLACE (10::DECIMAL(18, 4) AS amount), "
...     "'batch 1, line 2' AS origin FROM r")
>>> con.sql(conflicts_sql("r", "s")).fetchall()[0][:3]
(7, 'event_id', "event_id: 'e1' is already stored (batch 1, line 2) with a different amount; \
not applied (a correction needs its own event_id: docs/ingest.md, 'Conflicts and corrections')")
"""

from __future__ import annotations

from loaders.canonical import CONTENT_FIELDS


def differs_sql(a: str, b: str) -> str:
    """True where rows `a` and `b` hold different content (nulls compare equal)."""
    return "(" + " OR ".join(f"{a}.{f} IS DISTINCT FROM {b}.{f}" for f in CONTENT_FIELDS) + ")"


def _version(alias: str) -> str:
    return "json_object(" + ", ".join(f"'{f}', {alias}.{f}" for f in CONTENT_FIELDS) + ")"


def conflicts_sql(received: str, stored: str) -> str:
    """Quarantine rows (line, field, reason, row) for each row of `received`
    whose event id `stored` holds with other content. `row` is a JSON
    object with both versions: `{"event_id", "stored", "received"}`."""
    changed = ", ".join(
        f"CASE WHEN r.{f} IS DISTINCT FROM s.{f} THEN '{f}' END" for f in CONTENT_FIELDS
    )
    return f"""
    SELECT r.line,
        'event_id' AS field,
        'event_id: ''' || left(r.event_id, 60) || ''' is already stored (' || s.origin
            || ') with a different '
            || array_to_string(list_filter([{changed}], lambda x: x IS NOT NULL), ', ')
            || '; not applied (a correction needs its own event_id: docs/ingest.md, '
            || '''Conflicts and corrections'')' AS reason,
        json_object('event_id', r.event_id, 'stored', {_version("s")},
                    'received', {_version("r")})::VARCHAR AS row
    FROM {received} r JOIN {stored} s USING (event_id)
    WHERE {differs_sql("r", "s")}
    ORDER BY r.line
    """
