"""Analysis snapshots in the embedded store: one transaction per save, the
tables `snapshots`, `snapshot_users`, `snapshot_communities` and
`snapshot_flags` keyed by snapshot id; any saved one is read back whole.
`snapshot_exports` names the snapshots exports were made from, which
pruning (`prune`) keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from graph.duckdb_tables import LATEST, has_table, instant, row_group_aligned
from graph.store import SavedSnapshot, StoreError

# A snapshot's rows, by table.
_ROWS = ("snapshot_users", "snapshot_communities", "snapshot_flags")


def save(con: duckdb.DuckDBPyConnection, snapshot: SavedSnapshot) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """CREATE TABLE IF NOT EXISTS snapshots (
                   id VARCHAR PRIMARY KEY, computed_at TIMESTAMPTZ NOT NULL,
                   watermark INTEGER NOT NULL, params JSON NOT NULL, summary JSON NOT NULL)"""
        )
        con.execute(
            "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?)",
            [
                snapshot.id,
                snapshot.computed_at,
                snapshot.watermark,
                json.dumps(snapshot.params),
                json.dumps(snapshot.summary),
            ],
        )
        for table, rows in (
            ("snapshot_users", snapshot.users),
            ("snapshot_communities", snapshot.communities),
            ("snapshot_flags", snapshot.flags),
        ):
            tagged = rows.add_column(
                0, "snapshot_id", pa.array([snapshot.id] * rows.num_rows, pa.string())
            )
            if not has_table(con, table):
                con.from_arrow(tagged.slice(0, 0)).create(table)
            else:
                tagged = _fit_to_table(con, table, tagged)
            for part in row_group_aligned([tagged]):
                con.from_arrow(part).insert_into(table)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _fit_to_table(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> pa.Table:
    """Rows in the stored table's column order. Snapshots saved by an older
    version lack newer columns: those are added (older rows read null),
    and columns the new rows lack are filled with nulls."""
    have = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    empty = con.from_arrow(rows.slice(0, 0))
    for name, kind in zip(empty.columns, empty.types, strict=True):
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
    stored = con.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema
    columns = [
        rows[f.name] if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
        for f in stored
    ]
    return pa.table(columns, names=stored.names)


def latest(con: duckdb.DuckDBPyConnection) -> SavedSnapshot | None:
    if not has_table(con, "snapshots"):
        return None
    rows = con.execute(f"SELECT id FROM snapshots {LATEST}").fetchall()
    return read(con, rows[0][0]) if rows else None


def read(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> SavedSnapshot | None:
    if not has_table(con, "snapshots"):
        return None
    rows = con.execute(
        """SELECT id, computed_at::VARCHAR, watermark, params, summary FROM snapshots
           WHERE id = ?""",
        [snapshot_id],
    ).fetchall()
    if not rows:
        return None
    sid, computed_at, watermark, params, summary = rows[0]
    users = con.sql(
        "SELECT * EXCLUDE (snapshot_id) FROM snapshot_users WHERE snapshot_id = $id ORDER BY id",
        params={"id": sid},
    ).to_arrow_table()
    communities = con.sql(
        """SELECT * EXCLUDE (snapshot_id) FROM snapshot_communities
           WHERE snapshot_id = $id ORDER BY community""",
        params={"id": sid},
    ).to_arrow_table()
    flags = (
        con.sql(
            """SELECT * EXCLUDE (snapshot_id) FROM snapshot_flags
               WHERE snapshot_id = $id ORDER BY user_id, rule""",
            params={"id": sid},
        ).to_arrow_table()
        if has_table(con, "snapshot_flags")
        else None
    )
    return SavedSnapshot(
        sid,
        json.loads(params),
        instant(computed_at),
        watermark,
        json.loads(summary),
        users,
        communities,
        flags,
    )


def ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The saved snapshots, newest first."""
    if not has_table(con, "snapshots"):
        return []
    rows = con.execute("SELECT id FROM snapshots ORDER BY computed_at DESC, id").fetchall()
    return [r[0] for r in rows]


def record_export(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> None:
    """Mark a snapshot exported (the first export's time is kept)."""
    if snapshot_id not in ids(con):
        raise StoreError(
            "no snapshot {snapshot_id!r} in the store (never saved, or pruned)",
            snapshot_id=snapshot_id,
        )
    con.execute(
        """CREATE TABLE IF NOT EXISTS snapshot_exports (
               snapshot_id VARCHAR PRIMARY KEY, first_exported_at TIMESTAMPTZ NOT NULL)"""
    )
    con.execute(
        "INSERT INTO snapshot_exports VALUES (?, ?) ON CONFLICT DO NOTHING",
        [snapshot_id, datetime.now(UTC)],
    )


def prune(con: duckdb.DuckDBPyConnection, keep: int) -> list[str]:
    """Delete the snapshots past the newest `keep` that were never exported,
    rows and all, in one transaction; the ids deleted, oldest first."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the latest snapshot stays), not {keep}")
    exported = (
        {r[0] for r in con.execute("SELECT snapshot_id FROM snapshot_exports").fetchall()}
        if has_table(con, "snapshot_exports")
        else set()
    )
    gone = [sid for sid in ids(con)[keep:] if sid not in exported][::-1]
    if not gone:
        return []
    con.execute("BEGIN TRANSACTION")
    try:
        for table in (t for t in _ROWS if has_table(con, t)):
            con.execute(
                f"DELETE FROM {table} WHERE snapshot_id IN (SELECT unnest(?::VARCHAR[]))", [gone]
            )
        con.execute("DELETE FROM snapshots WHERE id IN (SELECT unnest(?::VARCHAR[]))", [gone])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    # Only a checkpoint frees the deleted rows' blocks for reuse: without it
    # the file grew by a snapshot's size at every save all the same.
    con.execute("CHECKPOINT")
    return gone
