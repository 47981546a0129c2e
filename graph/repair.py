"""Repair: events a store took before ingest checked event times.

A time in year 1 or 10000 poisons every read that turns it into a Python
value (`koc stats`, the user's page). `koc repair` takes such events out of
the log, derives their users again, and writes the events to the quarantine
with their batch and line, so nothing is lost: fixed, they can be ingested
again. Both stores build the quarantine rows with `removed_rows_sql`, over a
relation of the removed events whose `occurred_at` is already text.

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE gone AS SELECT 'e1' AS event_id, 'join' AS type, "
...     "'a' AS inviter_id, 'b' AS invitee_id, '10000-01-01 00:00:00+00' AS occurred_at, "
...     "NULL AS campaign, NULL AS channel, NULL AS staff_id, NULL AS amount, "
...     "NULL AS device_id, NULL AS ip, NULL AS invitee_name, 3 AS line, 2 AS batch_id")
>>> con.sql(removed_rows_sql("gone", "2000-01-01 .. 2100-01-01")).fetchall()[0][:3]
(3, 'occurred_at', "occurred_at: '10000-01-01 00:00:00+00' is outside 2000-01-01 .. \
2100-01-01; taken out of the store by koc repair (batch 2, line 3)")
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from graph.derive import derive
from loaders.canonical import CONTENT_FIELDS, LABEL_FIELDS


def removed_rows_sql(relation: str, bounds: str) -> str:
    """Quarantine rows (line, field, reason, row) for the events in `relation`."""
    bounds_sql = bounds.replace("'", "''")
    fields = ", ".join(f"'{f}', {f}" for f in ("event_id", *CONTENT_FIELDS, *LABEL_FIELDS))
    return f"""
    SELECT line, 'occurred_at' AS field,
        'occurred_at: ''' || occurred_at || ''' is outside {bounds_sql}; taken out of the '
            || 'store by koc repair (batch ' || batch_id || ', line ' || line || ')' AS reason,
        json_object({fields})::VARCHAR AS row
    FROM {relation}
    ORDER BY batch_id, line
    """


def bounds_text(earliest: datetime, latest: datetime) -> str:
    return f"{earliest:%Y-%m-%d} .. {latest:%Y-%m-%d}"


def remove_outside(
    con: duckdb.DuckDBPyConnection, earliest: datetime, latest: datetime
) -> pa.Table:
    """The embedded store's repair, on its connection, in one transaction."""
    params = {"earliest": earliest, "latest": latest}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE removed AS
               SELECT * REPLACE (occurred_at::VARCHAR AS occurred_at) FROM events
               WHERE occurred_at < $earliest OR occurred_at >= $latest""",
            params,
        )
        rows = con.sql(removed_rows_sql("removed", bounds_text(earliest, latest))).to_arrow_table()
        if rows.num_rows:
            con.execute(
                """CREATE OR REPLACE TEMP TABLE scope_invitees AS
                   SELECT DISTINCT invitee_id AS id FROM removed"""
            )
            con.execute(
                """CREATE OR REPLACE TEMP TABLE scope_users AS
                   SELECT id FROM scope_invitees
                   UNION SELECT inviter_id FROM removed WHERE inviter_id IS NOT NULL"""
            )
            con.execute(
                "DELETE FROM events WHERE occurred_at < $earliest OR occurred_at >= $latest",
                params,
            )
            # Users only the removed events knew are not derived again: gone.
            derive(con, scoped=True)
            con.execute("DROP TABLE scope_invitees")
            con.execute("DROP TABLE scope_users")
        con.execute("DROP TABLE removed")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows
