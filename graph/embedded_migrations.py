"""Upgrades of an embedded store written by an older Searchlight.

Run when a store is opened for writing (`koc migrate`, or any command that
writes), inside one transaction: a failure leaves the store as it was.

Version 1 → 2:
- hashed event ids cover every canonical field (they covered type, inviter,
  invitee, time and campaign): each stored id that is the old hash of its
  row gets the new hash; ids a source gave are kept as they are;
- `batches` counts conflicts (`conflicts`, 0 for the old batches);
- events keep the invitee's display name (`invitee_name`, empty for the
  old events);
- the derived tables, `churns` new among them, are derived again: the
  attributed join among simultaneous joins follows the event id.

Version 2 → 3:
- each user keeps its name (`users.name`, graph.derive): the latest
  `invitee_name` its events carry, filled from the log.
"""

from __future__ import annotations

import logging

import duckdb

from graph.derive import DERIVED_TABLES, LATEST_NAME_SQL, derive
from loaders.canonical import hashed_event_id_sql, legacy_hashed_event_id_sql

log = logging.getLogger("searchlight.store")


def migrate(con: duckdb.DuckDBPyConnection, found: int, target: int) -> int:
    """Bring the store on `con` from schema version `found` to `target`;
    the number of event ids rewritten."""
    steps = {1: _v1_to_v2, 2: _v2_to_v3}
    rewritten = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for version in range(found, target):
            rewritten += steps[version](con)
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(target)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rewritten


def _v1_to_v2(con: duckdb.DuckDBPyConnection) -> int:
    rehashed = con.execute(
        f"""UPDATE events SET event_id = {hashed_event_id_sql()}
            WHERE event_id = {legacy_hashed_event_id_sql()}"""
    ).fetchall()[0][0]
    con.execute("ALTER TABLE batches ADD COLUMN conflicts BIGINT NOT NULL DEFAULT 0")
    con.execute("ALTER TABLE events ADD COLUMN invitee_name VARCHAR")
    for table in ("users", "referred", "invited", "churns"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(DERIVED_TABLES)
    derive(con, scoped=False)
    log.info("store upgraded to schema version 2: %d hashed event ids rewritten", rehashed)
    return rehashed


def _v2_to_v3(con: duckdb.DuckDBPyConnection) -> int:
    # A store coming from version 1 has the column already (derived again).
    con.execute("ALTER TABLE users ADD COLUMN IF NOT EXISTS name VARCHAR")
    named = con.execute(
        f"""UPDATE users SET name = n.name FROM (
                SELECT invitee_id AS id, {LATEST_NAME_SQL} AS name FROM events
                GROUP BY invitee_id
            ) n
            WHERE users.id = n.id AND n.name IS NOT NULL"""
    ).fetchall()[0][0]
    log.info("store upgraded to schema version 3: %d users named", named)
    return 0
