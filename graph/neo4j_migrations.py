"""Upgrades and repairs of a Neo4j store written by an older Searchlight.

The schema version lives on `(:Meta {id: 'schema'})`; a store with events
and no marker was written at version 1. An ingest migrates before it writes
(holding the writer lease), and so does `koc migrate`; reads work on either.

Version 1 → 2 (as graph.embedded_migrations): each event id that is the old
five-field hash of its event gets the hash over every field (REFERRED edges
follow), and every user is derived again, which adds the churn periods
(`away_from`, `away_until`) and re-picks attributed joins among
simultaneous ones by the new ids.

Version 2 → 3: each user gets its name (`name`, graph.derive's definition)
from the events that carry one. Events stored before version 3 kept no
`invitee_name`, so their users stay unnamed until an event names them.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pyarrow as pa

# The module, not its names: neo4j_ingest calls `migrate` in turn.
from graph import cypher, neo4j_ingest
from graph.derive import LATEST_NAME_SQL
from graph.neo4j_runner import QueryRunner, records_table
from graph.repair import bounds_text, removed_rows_sql
from loaders.canonical import hashed_event_id_sql, legacy_hashed_event_id_sql

SCHEMA_VERSION = 3
log = logging.getLogger("searchlight.store")


def schema_version(run: QueryRunner) -> tuple[int, bool]:
    """The store's schema version, and whether its marker is written."""
    row = run.read(cypher.SCHEMA_VERSION_READ, {})[0]
    if row["version"] is not None:
        return int(row["version"]), True
    return (1 if row["found"] else SCHEMA_VERSION), False


def migrate(run: QueryRunner, size: int) -> int:
    """Bring the store to SCHEMA_VERSION (call holding the writer lease).
    Returns the number of event ids rewritten."""
    found, marked = schema_version(run)
    rewritten = 0
    if found < 2:
        rewritten = _v1_to_v2(run, size)  # users derived again: named too
        log.info("Neo4j store upgraded to schema version 2: %d hashed ids rewritten", rewritten)
    elif found < 3:
        named = _v2_to_v3(run, size)
        log.info("Neo4j store upgraded to schema version 3: %d users named", named)
    if found != SCHEMA_VERSION or not marked:
        run.write(cypher.SCHEMA_VERSION_WRITE, {"version": SCHEMA_VERSION})
    return rewritten


def _v1_to_v2(run: QueryRunner, size: int) -> int:
    with neo4j_ingest.local_duckdb() as con:
        rows = neo4j_ingest.EVENT_ROWS
        events = records_table(run.stream(cypher.ALL_EVENTS, {}), rows)  # noqa: F841
        con.execute(
            "CREATE TABLE log AS SELECT * REPLACE (amount::DECIMAL(18, 4) AS amount) FROM events"
        )
        con.execute(
            f"""CREATE TABLE renamed AS SELECT event_id AS old, {hashed_event_id_sql()} AS new
                FROM log WHERE event_id = {legacy_hashed_event_id_sql()}"""
        )
        count = con.sql("SELECT count(*) FROM renamed").fetchall()[0][0]
        parts = con.sql("SELECT old, new FROM renamed").to_arrow_reader(size)
        neo4j_ingest.send_all(run, cypher.RENAME_EVENTS, ({"rows": p.to_pylist()} for p in parts))
    users = [r["id"] for r in run.stream(cypher.ALL_USER_IDS, {})]
    neo4j_ingest.derive_users(run, users, size)
    return count


_EVENT_NAMES = pa.schema(
    [
        ("invitee_id", pa.string()),
        ("invitee_name", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("batch_id", pa.int64()),
        ("line", pa.int64()),
    ]
)


def _v2_to_v3(run: QueryRunner, size: int) -> int:
    """Each user's name from the events that carry one (graph.derive's
    definition, in a local DuckDB); the number of users named."""
    with neo4j_ingest.local_duckdb() as con:
        events = records_table(run.stream(cypher.EVENT_NAMES, {}), _EVENT_NAMES)  # noqa: F841
        con.execute(
            f"""CREATE TABLE names AS SELECT invitee_id AS id, {LATEST_NAME_SQL} AS name
                FROM events GROUP BY invitee_id"""
        )
        count = con.sql("SELECT count(*) FROM names").fetchall()[0][0]
        parts = con.sql("SELECT id, name FROM names ORDER BY id").to_arrow_reader(size)
        neo4j_ingest.send_all(run, cypher.SET_USER_NAMES, ({"rows": p.to_pylist()} for p in parts))
    return count


def _outside() -> pa.Schema:
    """EVENTS_OUTSIDE's rows: times as text (Python cannot hold year 10000)."""
    rows = neo4j_ingest.EVENT_ROWS
    return (
        rows.set(rows.get_field_index("occurred_at"), pa.field("occurred_at", pa.string()))
        .append(pa.field("line", pa.int64()))
        .append(pa.field("batch_id", pa.int64()))
        .append(pa.field("invitee_name", pa.string()))
    )


def remove_events_outside(
    run: QueryRunner, earliest: datetime, latest: datetime, size: int
) -> pa.Table:
    """The Neo4j store's repair (graph.repair), holding the writer lease: the
    events go in one transaction, then their users are derived again."""
    with neo4j_ingest.writer_lease(run):
        found = records_table(
            run.stream(cypher.EVENTS_OUTSIDE, {"earliest": earliest, "latest": latest}), _outside()
        )
        with neo4j_ingest.local_duckdb() as con:
            rows = con.sql(
                removed_rows_sql("found", bounds_text(earliest, latest))
            ).to_arrow_table()
        if found.num_rows:
            run.write(cypher.DELETE_EVENTS, {"ids": found["event_id"].to_pylist()})
            touched = set(found["invitee_id"].to_pylist()) | set(found["inviter_id"].to_pylist())
            neo4j_ingest.derive_users(run, sorted(touched - {None}), size)
    return rows
