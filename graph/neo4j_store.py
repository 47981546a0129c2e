"""The Neo4j store: the same contract as the embedded store, on a Neo4j 5
server through the official `neo4j` driver. Every statement is in
`graph.cypher` and goes through one `QueryRunner` (`graph.neo4j_runner`).

URLs: `neo4j://`, `neo4j+s://`, `bolt://` or `bolt+s://`, with the user and
optionally the database in them — `neo4j://searchlight@db.internal:7687/koc`.
The password comes from the URL or from `KOC_NEO4J_PASSWORD`.

Ingest (`graph.neo4j_ingest`) and snapshots (`graph.neo4j_snapshots`) hold
the store's one writer lease while they write; reads (`graph.neo4j_reads`,
`graph.neo4j_names`, `graph.neo4j_dashboard`) never wait for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from graph import (
    cypher,
    neo4j_gds,
    neo4j_ingest,
    neo4j_migrations,
    neo4j_names,
    neo4j_reads,
    neo4j_snapshots,
)
from graph.ego import EgoNetwork
from graph.neo4j_dashboard import campaign_facts as read_campaign_facts
from graph.neo4j_reads import utc, window_params
from graph.neo4j_runner import (
    DriverRunner,
    Neo4jUrl,
    QueryRunner,
    StoreUnavailableError,
    describe_error,
    native,
    parse_url,
    records_table,
)
from graph.store import (
    BatchResult,
    CampaignFacts,
    GraphTables,
    LiveFacts,
    Review,
    SavedSnapshot,
    StoreError,
    StoreStats,
    UserNotFoundError,
    UserRecord,
    Window,
    check_top_count,
)

__all__ = [
    "Neo4jStore",
    "Neo4jUrl",
    "QueryRunner",
    "StoreUnavailableError",
    "describe_error",
    "parse_url",
]

DEFAULT_BATCH_SIZE = 10_000
MIN_MAJOR_VERSION = 5
_REVIEWS = pa.schema(
    [
        ("user_id", pa.string()),
        ("status", pa.string()),
        ("note", pa.string()),
        ("reviewer", pa.string()),
        ("reviewed_at", pa.timestamp("us", tz="UTC")),
    ]
)


class Neo4jStore:
    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retry_seconds: float = 10.0,
        runner: QueryRunner | None = None,
    ) -> None:
        if batch_size < 1:
            raise StoreError("the Neo4j batch size must be at least 1")
        self._url = parse_url(url, password)
        self.url = self._url.redacted
        self.batch_size = batch_size
        self._runner = runner or DriverRunner(
            self._url, fetch_size=batch_size, retry_seconds=retry_seconds
        )
        try:
            self._check_version()
            for statement in cypher.SCHEMA:
                self._runner.write(statement, {})
            self._runner.write(cypher.ENSURE_WRITER_LOCK, {})
        except BaseException:
            self._runner.close()
            raise

    def _check_version(self) -> None:
        rows = self._runner.read(cypher.SERVER_VERSION, {})
        kernel = next((r for r in rows if r.get("name") == "Neo4j Kernel"), rows[0] if rows else {})
        version = str(kernel.get("version") or "0")
        try:
            major = int(version.split(".")[0])
        except ValueError:
            major = 0
        if major < MIN_MAJOR_VERSION:
            raise StoreError(
                "Neo4j at {url} is version {version}; Searchlight needs Neo4j {needed} or newer",
                url=self.url,
                version=version,
                needed=MIN_MAJOR_VERSION,
            )

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest --------------------------------------------------------------

    def ingest(self, batches: Iterable[pa.Table], source: str) -> BatchResult:
        return neo4j_ingest.ingest(self._runner, batches, source, self.batch_size)

    def migrate(self) -> int:
        with neo4j_ingest.writer_lease(self._runner):
            return neo4j_migrations.migrate(self._runner, self.batch_size)

    def remove_events_outside(self, earliest: datetime, latest: datetime) -> pa.Table:
        return neo4j_migrations.remove_events_outside(
            self._runner, utc(earliest), utc(latest), self.batch_size
        )

    def watermark(self) -> int:
        return self._runner.read(cypher.WATERMARK, {})[0]["watermark"]

    def change_marker(self) -> tuple:
        row = self._runner.read(cypher.CHANGE_MARKER, {})[0]
        return (row["watermark"], row["snapshot"], row["reviews"])

    # -- reads ---------------------------------------------------------------

    def read_graph(self, window: Window) -> GraphTables:
        return neo4j_reads.read_graph(self._runner, window, self.watermark())

    def live_facts(self) -> LiveFacts:
        return neo4j_reads.live_facts(self._runner)

    def top_referrers(self, window: Window, by: str, limit: int, offset: int = 0) -> pa.Table:
        check_top_count(by)
        return neo4j_reads.top_referrers(self._runner, window, by, limit, offset)

    def referrer_count(self, window: Window) -> int:
        return self._runner.read(cypher.REFERRER_COUNT, window_params(window))[0]["referrers"]

    def campaign_facts(self, window: Window, zone: str) -> CampaignFacts:
        return read_campaign_facts(self._runner, window_params(window), zone)

    def user(self, user_id: str) -> UserRecord:
        return neo4j_reads.user_record(self._runner, user_id)

    def user_names(self, ids: Iterable[str]) -> dict[str, str]:
        return neo4j_names.user_names(self._runner, ids, self.batch_size)

    def search_users(self, q: str, limit: int = 20) -> pa.Table:
        return neo4j_names.search_users(self._runner, q, limit)

    def referral_chain(self, user_id: str, limit: int = 100) -> list[str]:
        return neo4j_reads.referral_chain(self._runner, user_id, limit)

    def first_joins(self, ids: Iterable[str]) -> pa.Table:
        return neo4j_reads.first_joins(self._runner, ids)

    def ego_network(self, user_id: str, hops: int = 2, limit: int = 500) -> EgoNetwork:
        return neo4j_reads.ego_network(self._runner, user_id, hops, limit)

    def stats(self) -> StoreStats:
        row = self._runner.read(cypher.STATS, {})[0]
        by_type = {r["type"]: r["events"] for r in self._runner.read(cypher.EVENTS_BY_TYPE, {})}
        campaigns = [r["campaign"] for r in self._runner.read(cypher.CAMPAIGNS, {})]
        return StoreStats(
            users=row["users"],
            events=sum(by_type.values()),
            events_by_type=by_type,
            referred_edges=row["referred_edges"],
            invited_ties=row["invited_ties"],
            campaigns=len(campaigns),
            campaign_names=campaigns,
            first_event_at=native(row["first_event_at"]),
            last_event_at=native(row["last_event_at"]),
            batches=row["batches"],
        )

    # -- snapshots -----------------------------------------------------------

    def gds(self) -> neo4j_gds.GdsSession:
        """Graph Data Science on this store's server (`graph.neo4j_gds`)."""
        driver = getattr(self._runner, "driver", None)
        if driver is None:
            raise neo4j_gds.GdsUnavailableError("this store's runner has no Neo4j driver for GDS")
        return neo4j_gds.connect(self._runner, driver, self._url.database, self.url, window_params)

    def save_snapshot(self, snapshot: SavedSnapshot) -> None:
        neo4j_snapshots.save(self._runner, snapshot, self.batch_size)

    def latest_snapshot(self) -> SavedSnapshot | None:
        return neo4j_snapshots.latest(self._runner)

    def snapshot_ids(self) -> list[str]:
        return neo4j_snapshots.ids(self._runner)

    def read_snapshot(self, snapshot_id: str) -> SavedSnapshot | None:
        return neo4j_snapshots.read(self._runner, snapshot_id)

    def record_export(self, snapshot_id: str) -> None:
        neo4j_snapshots.record_export(self._runner, snapshot_id)

    def prune_snapshots(self, keep: int) -> list[str]:
        return neo4j_snapshots.prune(self._runner, keep, self.batch_size)

    # -- reviews -------------------------------------------------------------

    def record_review(self, user_id: str, status: str, note: str, reviewer: str) -> Review:
        if status not in ("approved", "declined"):
            raise StoreError(
                "review status must be approved or declined, not {status!r}", status=status
            )
        last = native(self._runner.read(cypher.LAST_REVIEW_AT, {"user_id": user_id})[0]["last"])
        now = datetime.now(UTC)
        if last is not None and now <= last:
            now = last + timedelta(microseconds=1)
        done = self._runner.write(
            cypher.RECORD_REVIEW,
            {
                "user_id": user_id,
                "status": status,
                "note": note,
                "reviewer": reviewer,
                "reviewed_at": now,
            },
        )
        if not done or not done[0]["recorded"]:
            raise UserNotFoundError("no user {user_id!r} in the store", user_id=user_id)
        return Review(user_id, status, note, reviewer, now)

    def reviews(self) -> pa.Table:
        return records_table(iter(self._runner.read(cypher.CURRENT_REVIEWS, {})), _REVIEWS)
