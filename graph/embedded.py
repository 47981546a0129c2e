"""The embedded store: one DuckDB file holding the event log and the graph.

Tables (timestamps are UTC instants):

- `events`: the canonical event log, one row per event_id, with the batch
  that brought it (`batch_id` doubles as the watermark of what a later
  analysis saw);
- `users(id, first_seen, joined_at, referred_by, converted_at, amount,
  churned_at, name)`;
- `referred(referrer_id, invitee_id, event_id, at, campaign, channel,
  staff_id)`: the attributed first join of each invitee (earliest time,
  then smallest event_id), when that join names an inviter;
- `invited(inviter_id, invitee_id, count, first_at, last_at)`: every other
  inviter-invitee pair, from invites and later joins;
- `batches`: one row per applied batch.

A batch is one DuckDB transaction: appended to the log, its duplicates
(event ids already stored, or repeated within the batch) taken out again, and
the derived tables refreshed for the users it touched. DuckDB
holds an exclusive file lock while a process has the store open for writing,
so a second writer gets `StoreLockedError` instead of a corrupted file, and a
process that dies mid-batch leaves the store as it was (the write-ahead log
discards the uncommitted transaction).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from graph import (
    embedded_dashboard,
    embedded_ingest,
    embedded_migrations,
    embedded_reads,
    embedded_reviews,
    embedded_snapshots,
    repair,
)
from graph.derive import DERIVED_TABLES
from graph.duckdb_tables import LATEST, has_table, scalar
from graph.ego import EgoNetwork
from graph.embedded_reads import window_filter
from graph.store import (
    BatchResult,
    CampaignFacts,
    GraphTables,
    LiveFacts,
    Review,
    SavedSnapshot,
    StoreError,
    StoreLockedError,
    StoreStats,
    UserRecord,
    Window,
    check_top_count,
)

SCHEMA_VERSION = 3

_SCHEMA = (
    DERIVED_TABLES
    + """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS events (
    event_id VARCHAR NOT NULL, type VARCHAR NOT NULL, inviter_id VARCHAR,
    invitee_id VARCHAR NOT NULL, occurred_at TIMESTAMPTZ NOT NULL, campaign VARCHAR,
    channel VARCHAR, staff_id VARCHAR, amount DECIMAL(18, 4), device_id VARCHAR, ip VARCHAR,
    line BIGINT NOT NULL, batch_id INTEGER NOT NULL,
    -- after batch_id: schema version 2 added it (graph.embedded_migrations)
    invitee_name VARCHAR
);
CREATE TABLE IF NOT EXISTS reviews (
    user_id VARCHAR NOT NULL, status VARCHAR NOT NULL, note VARCHAR NOT NULL,
    reviewer VARCHAR NOT NULL, reviewed_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER NOT NULL, source VARCHAR, applied_at TIMESTAMPTZ NOT NULL,
    received BIGINT NOT NULL, accepted BIGINT NOT NULL, duplicates BIGINT NOT NULL,
    conflicts BIGINT NOT NULL DEFAULT 0
);
"""
)

_LOCK_PID = re.compile(r"PID (\d+)")


@dataclass
class _Known:
    """What a store object keeps of values only its own writes change."""

    watermark: int | None = None


def _connect(
    path: Path, read_only: bool, memory_limit: str, threads: int
) -> duckdb.DuckDBPyConnection:
    """DuckDB's connection to the file; `StoreLockedError` naming the process
    that holds it, `StoreError` for any other reason it cannot be opened."""
    try:
        return duckdb.connect(
            str(path),
            read_only=read_only,
            config={"memory_limit": memory_limit, "threads": threads},
        )
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = _LOCK_PID.search(text)
            holder = f" (PID {pid.group(1)})" if pid else ""
            raise StoreLockedError(
                "store {path} is in use by another process{holder}; wait for it to finish, or "
                "stop it (a running koc serve holds its store: use the API meanwhile)",
                path=path,
                holder=holder,
            ) from exc
        raise StoreError("store {path} cannot be opened: {text}", path=path, text=text) from exc
    except duckdb.Error as exc:
        raise StoreError("store {path} cannot be opened: {error}", path=path, error=exc) from exc


class EmbeddedStore:
    """A DuckDB file store. Open it read-only to read beside another reader."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        memory_limit: str = "1GB",
        threads: int = 2,
    ) -> None:
        self.path = Path(path)
        self.url = f"duckdb:///{self.path}"
        if read_only and not self.path.exists():
            raise StoreError(
                "no store at {path} (ingest some events first: koc ingest FILE)", path=self.path
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = _connect(self.path, read_only, memory_limit, threads)
        self._con.execute("SET TimeZone = 'UTC'")
        # Big batches are re-sorted anyway; not keeping input order saves memory.
        self._con.execute("SET preserve_insertion_order = false")
        self._rewritten = 0
        self._known = _Known()  # shared with reader() views
        try:
            if not read_only:
                found = self._version()
                if found is not None and found < SCHEMA_VERSION:
                    self._rewritten = embedded_migrations.migrate(self._con, found, SCHEMA_VERSION)
                self._con.execute(_SCHEMA)
                self._con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                    [str(SCHEMA_VERSION)],
                )
            self._check_version()
            self.watermark()  # kept from here on: see watermark()
        except BaseException:
            # A store that cannot be used is not left open: a later open in
            # this process with other settings would be refused.
            self._con.close()
            raise

    def migrate(self) -> int:
        # Opening for writing migrated the store already.
        return self._rewritten

    def remove_events_outside(self, earliest: datetime, latest: datetime) -> pa.Table:
        return repair.remove_outside(self._con, earliest, latest)

    def _version(self) -> int | None:
        if not has_table(self._con, "meta"):
            return None
        rows = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        return int(rows[0][0]) if rows else None

    def _check_version(self) -> None:
        found = self._version()
        if found != SCHEMA_VERSION:
            if found is not None and found < SCHEMA_VERSION:
                raise StoreError(
                    "store {path} has schema version {found}; this Searchlight reads version "
                    "{version}; open it for writing once to upgrade it (koc migrate)",
                    path=self.path,
                    found=found or "none",
                    version=SCHEMA_VERSION,
                )
            raise StoreError(
                "store {path} has schema version {found}; this Searchlight reads version {version}",
                path=self.path,
                found=found or "none",
                version=SCHEMA_VERSION,
            )

    def close(self) -> None:
        self._con.close()

    def _scalar(self, sql: str, params: list | dict | None = None):
        return scalar(self._con, sql, params)

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for the analysis and tests that read tables."""
        return self._con

    def reader(self) -> EmbeddedStore:
        """A view of this store for one more thread to read through: the same
        database on its own DuckDB cursor, since a connection must not serve
        two threads at once. It reads the last committed state, also while
        this store is inside a write, and closes with this store; it must not
        write (writes stay on this store's own connection)."""
        view = copy.copy(self)
        view._con = self._con.cursor()
        view._con.execute("SET TimeZone = 'UTC'")  # a cursor starts with the default zone
        return view

    def ingest(self, batches: Iterable[pa.Table], source: str) -> BatchResult:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            result = embedded_ingest.apply(con, batches, source)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._known.watermark = result.batch_id
        return result

    def read_graph(self, window: Window) -> GraphTables:
        return embedded_reads.read_graph(self._con, window, self.watermark())

    def top_referrers(self, window: Window, by: str, limit: int, offset: int = 0) -> pa.Table:
        check_top_count(by)
        return embedded_reads.top_referrers(
            self._con, window, by, limit, offset, self._fraudulent_sql()
        )

    def live_facts(self) -> LiveFacts:
        return embedded_reads.live_facts(self._con)

    def referrer_count(self, window: Window) -> int:
        referred_where, params = window_filter(window, time_column='"at"')
        return self._scalar(
            f"SELECT count(DISTINCT e.referrer_id) FROM referred e WHERE {referred_where}", params
        )

    def campaign_facts(self, window: Window, zone: str) -> CampaignFacts:
        return embedded_dashboard.campaign_facts(self._con, window, zone)

    def user(self, user_id: str) -> UserRecord:
        return embedded_reads.user_record(self._con, user_id)

    def referral_chain(self, user_id: str, limit: int = 100) -> list[str]:
        return embedded_reads.referral_chain(self._con, user_id, limit)

    def user_names(self, ids: Iterable[str]) -> dict[str, str]:
        return embedded_reads.user_names(self._con, ids)

    def search_users(self, q: str, limit: int = 20) -> pa.Table:
        return embedded_reads.search_users(self._con, q, limit)

    def first_joins(self, ids: Iterable[str]) -> pa.Table:
        return embedded_reads.first_joins(self._con, ids)

    def _fraudulent_sql(self) -> str:
        """Users judged fraudulent: flagged in the latest snapshot, not approved."""
        if not self._has_table("snapshot_flags"):
            return "SELECT NULL::VARCHAR AS user_id WHERE false"
        approved = (
            f"""AND user_id NOT IN (SELECT user_id FROM ({embedded_reviews.CURRENT_REVIEWS})
                                    WHERE status = 'approved')"""
            if self._has_table("reviews")
            else ""
        )
        return f"""SELECT DISTINCT user_id FROM snapshot_flags
                   WHERE snapshot_id = (SELECT id FROM snapshots {LATEST}) {approved}"""

    def ego_network(self, user_id: str, hops: int = 2, limit: int = 500) -> EgoNetwork:
        return embedded_reads.ego_network(self._con, user_id, hops, limit, self.path)

    def watermark(self) -> int:
        # Only this object writes while it is open (DuckDB's file lock keeps
        # every other process out), so the value is read once, when the store
        # opens, and kept: answering it touches no connection, from any thread,
        # and /health never queues behind an ingest or an analysis for it.
        if self._known.watermark is None:
            self._known.watermark = self._scalar("SELECT coalesce(max(id), 0) FROM batches")
        return self._known.watermark

    def change_marker(self) -> tuple:
        snapshot = (
            self._scalar(f"SELECT max(id) FROM (SELECT id FROM snapshots {LATEST})")
            if self._has_table("snapshots")
            else None
        )
        reviews = self._scalar("SELECT count(*) FROM reviews") if self._has_table("reviews") else 0
        return (self.watermark(), snapshot, reviews)

    def save_snapshot(self, snapshot: SavedSnapshot) -> None:
        embedded_snapshots.save(self._con, snapshot)

    def latest_snapshot(self) -> SavedSnapshot | None:
        return embedded_snapshots.latest(self._con)

    def snapshot_ids(self) -> list[str]:
        return embedded_snapshots.ids(self._con)

    def read_snapshot(self, snapshot_id: str) -> SavedSnapshot | None:
        return embedded_snapshots.read(self._con, snapshot_id)

    def record_export(self, snapshot_id: str) -> None:
        embedded_snapshots.record_export(self._con, snapshot_id)

    def prune_snapshots(self, keep: int) -> list[str]:
        return embedded_snapshots.prune(self._con, keep)

    def record_review(self, user_id: str, status: str, note: str, reviewer: str) -> Review:
        return embedded_reviews.record(self._con, self.path, user_id, status, note, reviewer)

    def reviews(self) -> pa.Table:
        return embedded_reviews.current(self._con)

    def _has_table(self, name: str) -> bool:
        return has_table(self._con, name)

    def stats(self) -> StoreStats:
        return embedded_reads.stats(self._con)
