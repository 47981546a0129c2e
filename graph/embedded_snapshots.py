"""Analysis snapshots in the embedded store: one transaction per save, the
tables `snapshots`, `snapshot_users`, `snapshot_communities` and
`snapshot_flags` keyed by snapshot id; the latest is read back whole."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from graph.duckdb_tables import LATEST, has_table, instant, row_group_aligned
from graph.store import SavedSnapshot


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
    rows = con.execute(
        f"SELECT id, computed_at::VARCHAR, watermark, params, summary FROM snapshots {LATEST}"
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
