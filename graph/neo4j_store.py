"""The Neo4j store: the same contract as the embedded store, on a Neo4j 5
server through the official `neo4j` driver. Every statement is in
`graph.cypher` and goes through one `QueryRunner` (`graph.neo4j_runner`).

URLs: `neo4j://`, `neo4j+s://`, `bolt://` or `bolt+s://`, with the user and
optionally the database in them — `neo4j://searchlight@db.internal:7687/koc`.
The password comes from the URL or from `KOC_NEO4J_PASSWORD`.

Ingest (`graph.neo4j_ingest`) and snapshots (`graph.neo4j_snapshots`) hold
the store's one writer lease while they write; reads never wait for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from graph import cypher, neo4j_gds, neo4j_ingest, neo4j_migrations, neo4j_snapshots
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
    TOP_COUNTS,
    BatchResult,
    EgoNetwork,
    GraphTables,
    LiveFacts,
    Review,
    SavedSnapshot,
    StoreError,
    StoreStats,
    UserNotFoundError,
    UserRecord,
    Window,
    bounded_neighbourhood,
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
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
# Columns of the Arrow tables the reads build, in the embedded store's types.
_USERS = pa.schema(
    [
        ("id", pa.string()),
        ("converted", pa.bool_()),
        ("amount", pa.float64()),
        ("churned", pa.bool_()),
    ]
)
# Users a page of a columnar read covers.
_PAGE = 50_000
_REFERRED = pa.schema(
    [
        ("referrer_id", pa.string()),
        ("invitee_id", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)
_INVITED = pa.schema([("inviter_id", pa.string()), ("invitee_id", pa.string())])
_TIME = pa.timestamp("us", tz="UTC")
_LIVE_USERS = pa.schema(
    [("id", pa.string()), ("first_seen", _TIME), ("joined_at", _TIME)]
    + [("referred_by", pa.string()), ("converted_at", _TIME), ("amount", pa.float64())]
    + [("churned_at", _TIME)]
)
_LIVE_REFERRED = _REFERRED.append(pa.field("campaign", pa.string()))
_LIVE_CHURNS = pa.schema([("user_id", pa.string()), ("churned_at", _TIME), ("returned_at", _TIME)])
_LIVE_CONVERTS = pa.schema(
    [("invitee_id", pa.string()), ("occurred_at", _TIME), ("campaign", pa.string())]
)
_DEVICES = pa.schema([("user_id", pa.string()), ("device_id", pa.string())])
_TIES = pa.schema([("source", pa.string()), ("target", pa.string()), ("kind", pa.string())])
_REVIEWS = pa.schema(
    [
        ("user_id", pa.string()),
        ("status", pa.string()),
        ("note", pa.string()),
        ("reviewer", pa.string()),
        ("reviewed_at", pa.timestamp("us", tz="UTC")),
    ]
)
_TOP = pa.schema(
    [(name, pa.string() if name == "id" else pa.int64()) for name in ("id", *TOP_COUNTS)]
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
                f"Neo4j at {self.url} is version {version}; Searchlight needs Neo4j "
                f"{MIN_MAJOR_VERSION} or newer"
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
            self._runner, _utc(earliest), _utc(latest), self.batch_size
        )

    def watermark(self) -> int:
        return self._runner.read(cypher.WATERMARK, {})[0]["watermark"]

    def change_marker(self) -> tuple:
        row = self._runner.read(cypher.CHANGE_MARKER, {})[0]
        return (row["watermark"], row["snapshot"], row["reviews"])

    # -- reads ---------------------------------------------------------------

    def read_graph(self, window: Window) -> GraphTables:
        params = _window_params(window)
        unbounded = window == Window()
        last_event = cypher.LAST_EVENT_OF_BATCHES if unbounded else cypher.LAST_EVENT
        last = self._runner.read(last_event, {} if unbounded else params)[0]["last"]
        invited = cypher.READ_INVITED_TIES if unbounded else cypher.READ_INVITED
        return GraphTables(
            users=self._users(params, unbounded),
            referred=self._pages(cypher.READ_REFERRED, params, _REFERRED),
            invited=self._pages(invited, params, _INVITED),
            devices=records_table(self._runner.stream(cypher.READ_DEVICES, params), _DEVICES),
            watermark=self.watermark(),
            last_event_at=native(last),
        )

    def _pages(self, query: str, params: dict, schema: pa.Schema) -> pa.Table:
        """A paged columnar read (see graph.cypher): page after page of users
        by id until one comes back empty. Times arrive as epoch microseconds."""
        batches = []
        after = ""
        while True:
            page = self._runner.read(query, {**params, "after": after, "page": _PAGE})[0]
            if page["last"] is None:
                break
            after = page["last"]
            columns = [
                pa.array(page[f.name], pa.int64()).cast(f.type)
                if pa.types.is_timestamp(f.type)
                else pa.array(page[f.name], f.type)
                for f in schema
            ]
            batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
        return pa.Table.from_batches(batches, schema=schema)

    def _users(self, params: dict, unbounded: bool) -> pa.Table:
        """Users as the embedded store reads them: for a bounded window, the
        conversions inside it come from the log."""
        users = self._pages(cypher.READ_USERS, params, _USERS)
        if unbounded:
            return users
        bought = self._runner.read(cypher.READ_CONVERSIONS, params)[0]
        slot = pc.index_in(users["id"], value_set=pa.array(bought["id"], pa.string()))
        amount = pc.take(pa.array(bought["amount"], pa.float64()), slot)
        converted = pc.is_valid(slot)
        return users.set_column(1, "converted", converted).set_column(
            2, "amount", pc.fill_null(amount, 0.0)
        )

    def live_facts(self) -> LiveFacts:
        return LiveFacts(
            users=self._pages(cypher.LIVE_USERS, {}, _LIVE_USERS),
            referred=self._pages(cypher.LIVE_REFERRED, {}, _LIVE_REFERRED),
            invited=self._pages(cypher.READ_INVITED_TIES, {}, _INVITED),
            churns=self._pages(cypher.LIVE_CHURNS, {}, _LIVE_CHURNS),
            converts=self._pages(cypher.LIVE_CONVERTS, {}, _LIVE_CONVERTS),
        )

    def top_referrers(self, window: Window, by: str, limit: int, offset: int = 0) -> pa.Table:
        if by not in TOP_COUNTS:
            raise StoreError(f"cannot rank by {by!r} live; choose one of {', '.join(TOP_COUNTS)}")
        latest = self._runner.read(cypher.LATEST_SNAPSHOT, {})
        params = {
            **_window_params(window),
            "limit": limit,
            "offset": offset,
            "latest_snapshot": latest[0]["id"] if latest else None,
        }
        return records_table(self._runner.stream(cypher.TOP_REFERRERS[by], params), _TOP)

    def referrer_count(self, window: Window) -> int:
        return self._runner.read(cypher.REFERRER_COUNT, _window_params(window))[0]["referrers"]

    def user(self, user_id: str) -> UserRecord:
        rows = self._runner.read(cypher.USER, {"user_id": user_id})
        if not rows:
            raise UserNotFoundError(f"no user {user_id!r} in the store")
        r = {k: native(v) for k, v in rows[0].items()}
        return UserRecord(
            r["id"],
            r["first_seen"],
            r["joined_at"],
            r["referred_by"],
            r["converted_at"],
            float(r["amount"]),
            r["churned_at"],
        )

    def referral_chain(self, user_id: str, limit: int = 100) -> list[str]:
        rows = self._runner.read(cypher.REFERRAL_CHAIN, {"user_id": user_id})
        chain: list[str] = []
        seen = {user_id}
        for referrer in rows[0]["chain"] if rows else []:
            if referrer in seen or len(chain) == limit:
                break
            seen.add(referrer)
            chain.append(referrer)
        return chain

    def ego_network(self, user_id: str, hops: int = 2, limit: int = 500) -> EgoNetwork:
        if hops < 0 or limit < 1:
            raise StoreError("hops must be 0 or more and limit at least 1")
        if not self._runner.read(cypher.USER_EXISTS, {"user_id": user_id})[0]["found"]:
            raise UserNotFoundError(f"no user {user_id!r} in the store")

        def neighbours(frontier: list[str], cap: int) -> list[str]:
            rows = self._runner.read(cypher.EGO_HOP, {"frontier": frontier, "cap": cap})
            return [r["other"] for r in rows]

        kept, truncated = bounded_neighbourhood(user_id, hops, limit, neighbours)
        ties = records_table(
            iter(self._runner.read(cypher.TIES_AMONG, {"ids": [k for k, _ in kept]})), _TIES
        )
        return EgoNetwork.of(kept, ties, truncated)

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
        return neo4j_gds.connect(self._runner, driver, self._url.database, self.url, _window_params)

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
            raise StoreError(f"review status must be approved or declined, not {status!r}")
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
            raise UserNotFoundError(f"no user {user_id!r} in the store")
        return Review(user_id, status, note, reviewer, now)

    def reviews(self) -> pa.Table:
        return records_table(iter(self._runner.read(cypher.CURRENT_REVIEWS, {})), _REVIEWS)


# -- helpers -----------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _window_params(window: Window) -> dict[str, Any]:
    return {
        "since": _utc(window.since) or _FAR_PAST,
        "until": _utc(window.until) or _FAR_FUTURE,
        "campaigns": list(window.campaigns) or None,
    }


def _utc(moment: datetime | None) -> datetime | None:
    """A moment in UTC: the driver packs other zones in Python, slowly, and
    crashed (a segmentation fault) on a zoneinfo zone."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise StoreError(f"a window needs zone-aware times, not {moment.isoformat()}")
    return moment.astimezone(UTC)
