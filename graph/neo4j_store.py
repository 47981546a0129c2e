"""The Neo4j store: the same contract as the embedded store, on a Neo4j 5
server through the official `neo4j` driver. Every statement is in
`graph.cypher`.

URLs: `neo4j://`, `neo4j+s://`, `bolt://` or `bolt+s://`, with the user and
optionally the database in them — `neo4j://searchlight@db.internal:7687/koc`.
The password comes from the URL or from `KOC_NEO4J_PASSWORD`.

Writes go in `UNWIND` batches of `batch_size` rows (default 10,000), each in
a managed write transaction, so the driver retries transient errors. A file
is one ingest batch: its events are written chunk by chunk, then the users,
REFERRED edges and INVITED ties it touched are derived again; only then is
the batch marked applied (the watermark). If any step fails, the batch's new
events are deleted, the touched users derived again and the batch dropped,
so nothing of it stays. Readers during an ingest may see its events early.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import pyarrow as pa

from graph import cypher
from graph.store import (
    NEO4J_SCHEMES,
    TOP_COUNTS,
    BatchResult,
    EgoNetwork,
    GraphTables,
    Review,
    SavedSnapshot,
    StoreError,
    StoreStats,
    UserNotFoundError,
    UserRecord,
    Window,
    bounded_neighbourhood,
)

SCHEMES = NEO4J_SCHEMES
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
_REFERRED = pa.schema(
    [
        ("referrer_id", pa.string()),
        ("invitee_id", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)
_INVITED = pa.schema([("inviter_id", pa.string()), ("invitee_id", pa.string())])
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


@dataclass(frozen=True)
class Neo4jUrl:
    scheme: str
    host: str
    port: int
    user: str
    password: str | None
    database: str | None

    @property
    def address(self) -> str:
        """What the driver connects to: no credentials, no database."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def redacted(self) -> str:
        """The URL for messages: the password hidden."""
        secret = ":***" if self.password else ""
        db = f"/{self.database}" if self.database else ""
        return f"{self.scheme}://{quote(self.user)}{secret}@{self.address.split('://')[1]}{db}"


def parse_url(url: str, password: str | None = None) -> Neo4jUrl:
    """`scheme://user[:password]@host[:port][/database]`; `password` (from
    KOC_NEO4J_PASSWORD) is used when the URL has none."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise StoreError(f"{parts.scheme!r} is not a Neo4j URL scheme; use {', '.join(SCHEMES)}")
    try:
        port = parts.port or 7687
    except ValueError:
        raise StoreError(f"Neo4j URL has a bad port: {_without_password(url)}") from None
    if not parts.hostname:
        raise StoreError(f"Neo4j URL names no host: {_without_password(url)}")
    if not parts.username:
        raise StoreError(
            f"Neo4j URL names no user: {_without_password(url)} "
            "(expected e.g. neo4j://neo4j@localhost:7687/neo4j)"
        )
    database = parts.path.strip("/") or None
    if database and "/" in database:
        raise StoreError(f"Neo4j URL path must be one database name, not {database!r}")
    return Neo4jUrl(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password) if parts.password else password,
        database=unquote(database) if database else None,
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class QueryRunner(Protocol):
    """Runs Cypher: what the store needs of the driver (and what tests record)."""

    def read(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...

    def stream(self, query: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]: ...

    def write(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class DriverRunner:
    """The real runner: managed transactions for reads and writes, and a
    streamed auto-commit query for large reads (fetched `fetch_size` records
    at a time, never all at once)."""

    def __init__(self, url: Neo4jUrl, fetch_size: int = DEFAULT_BATCH_SIZE) -> None:
        import neo4j

        self._url = url
        self._fetch_size = fetch_size
        self._driver = neo4j.GraphDatabase.driver(
            url.address, auth=(url.user, url.password or ""), user_agent="searchlight"
        )
        with translated(url):
            self._driver.verify_connectivity()

    def _session(self, **config: Any):
        return self._driver.session(database=self._url.database, **config)

    def read(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with translated(self._url), self._session() as session:
            return session.execute_read(lambda tx: [r.data() for r in tx.run(query, params)])

    def stream(self, query: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with translated(self._url), self._session(fetch_size=self._fetch_size) as session:
            for record in session.run(query, params):
                yield record.data()

    def write(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with translated(self._url), self._session() as session:
            return session.execute_write(lambda tx: [r.data() for r in tx.run(query, params)])

    def close(self) -> None:
        self._driver.close()


class translated:
    """Driver errors as `StoreError`s that say what to do, the password hidden."""

    def __init__(self, url: Neo4jUrl) -> None:
        self._url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or isinstance(exc, StoreError):
            return False
        message = describe_error(exc, self._url)
        if message is None:
            return False
        raise StoreError(message) from exc


def describe_error(exc: BaseException, url: Neo4jUrl) -> str | None:
    """A clear sentence for a driver error, or None for errors that are not the driver's."""
    from neo4j import exceptions as e

    where = url.redacted
    if isinstance(exc, e.AuthError):
        return (
            f"Neo4j at {where} refused the credentials of user {url.user!r}: check the user in "
            "the URL and the password (KOC_NEO4J_PASSWORD)"
        )
    if isinstance(exc, e.ServiceUnavailable):
        return f"Neo4j at {where} is unreachable ({exc}); is the server running (make up)?"
    if isinstance(exc, e.Neo4jError):
        code = exc.code or ""
        if code == "Neo.ClientError.Database.DatabaseNotFound":
            return f"Neo4j at {where} has no database {url.database!r}; create it or fix the URL"
        return f"Neo4j at {where} failed: {code} {exc.message or exc}"
    if isinstance(exc, e.DriverError):
        return f"Neo4j driver error for {where}: {exc}"
    return None


class Neo4jStore:
    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        runner: QueryRunner | None = None,
    ) -> None:
        if batch_size < 1:
            raise StoreError("the Neo4j batch size must be at least 1")
        self._url = parse_url(url, password)
        self.url = self._url.redacted
        self.batch_size = batch_size
        self._runner = runner or DriverRunner(self._url, fetch_size=batch_size)
        try:
            self._check_version()
            for statement in cypher.SCHEMA:
                self._runner.write(statement, {})
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
        run = self._runner
        batch_id = run.read(cypher.NEXT_BATCH, {})[0]["batch_id"]
        run.write(cypher.START_BATCH, {"batch_id": batch_id, "source": source, "now": _now()})
        received = 0
        try:
            for table in batches:
                for chunk in table.to_batches(max_chunksize=self.batch_size):
                    rows = _event_rows(chunk)
                    received += len(rows)
                    run.write(cypher.WRITE_EVENTS, {"rows": rows, "batch_id": batch_id})
            accepted = run.read(cypher.COUNT_BATCH_EVENTS, {"batch_id": batch_id})[0]["accepted"]
            if accepted:
                self._derive(*self._batch_users(batch_id))
            run.write(
                cypher.APPLY_BATCH,
                {
                    "batch_id": batch_id,
                    "now": _now(),
                    "received": received,
                    "accepted": accepted,
                    "duplicates": received - accepted,
                },
            )
        except BaseException as exc:
            self._undo(batch_id, exc)
            raise
        return BatchResult(batch_id, received, accepted, received - accepted)

    def _batch_users(self, batch_id: int) -> tuple[list[str], list[str]]:
        row = self._runner.read(cypher.BATCH_USERS, {"batch_id": batch_id})[0]
        invitees = set(row["invitees"])
        return sorted(invitees), sorted(set(row["inviters"]) - invitees)

    def _derive(self, invitees: list[str], inviters: list[str]) -> None:
        for ids in _chunks([*invitees, *inviters], self.batch_size):
            self._runner.write(cypher.DERIVE_USERS, {"ids": ids})
        for statement in (cypher.DERIVE_REFERRED, cypher.DERIVE_INVITED):
            for ids in _chunks(invitees, self.batch_size):
                self._runner.write(statement, {"ids": ids})

    def _undo(self, batch_id: int, cause: BaseException) -> None:
        """Take a failed batch out again; if even that fails, say so."""
        try:
            invitees, inviters = self._batch_users(batch_id)
            while self._runner.write(
                cypher.DELETE_BATCH_EVENTS, {"batch_id": batch_id, "limit": self.batch_size}
            )[0]["deleted"]:
                pass
            self._derive(invitees, inviters)
            for ids in _chunks([*invitees, *inviters], self.batch_size):
                self._runner.write(cypher.DELETE_ORPHAN_USERS, {"ids": ids})
            self._runner.write(cypher.DROP_BATCH, {"batch_id": batch_id})
        except Exception as undo_error:
            raise StoreError(
                f"ingest batch {batch_id} failed ({cause}) and could not be taken out again "
                f"({undo_error}); its events are marked batch_id={batch_id} in {self.url}. "
                "Ingesting the same file again is safe: event ids are not counted twice"
            ) from cause

    def watermark(self) -> int:
        return self._runner.read(cypher.WATERMARK, {})[0]["watermark"]

    def change_marker(self) -> tuple:
        row = self._runner.read(cypher.CHANGE_MARKER, {})[0]
        return (row["watermark"], row["snapshot"], row["reviews"])

    # -- reads ---------------------------------------------------------------

    def read_graph(self, window: Window) -> GraphTables:
        params = _window_params(window)
        last = self._runner.read(cypher.LAST_EVENT, params)[0]["last"]
        return GraphTables(
            users=self._table(cypher.READ_USERS, params, _USERS),
            referred=self._table(cypher.READ_REFERRED, params, _REFERRED),
            invited=self._table(cypher.READ_INVITED, params, _INVITED),
            devices=self._table(cypher.READ_DEVICES, params, _DEVICES),
            watermark=self.watermark(),
            last_event_at=_native(last),
        )

    def _table(self, query: str, params: dict, schema: pa.Schema) -> pa.Table:
        return _records_table(self._runner.stream(query, params), schema)

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
        return _records_table(self._runner.stream(cypher.TOP_REFERRERS[by], params), _TOP)

    def referrer_count(self, window: Window) -> int:
        return self._runner.read(cypher.REFERRER_COUNT, _window_params(window))[0]["referrers"]

    def user(self, user_id: str) -> UserRecord:
        rows = self._runner.read(cypher.USER, {"user_id": user_id})
        if not rows:
            raise UserNotFoundError(f"no user {user_id!r} in the store")
        r = {k: _native(v) for k, v in rows[0].items()}
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
        ties = _records_table(
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
            first_event_at=_native(row["first_event_at"]),
            last_event_at=_native(row["last_event_at"]),
            batches=row["batches"],
        )

    # -- snapshots -----------------------------------------------------------

    def save_snapshot(self, snapshot: SavedSnapshot) -> None:
        run = self._runner
        flags = snapshot.flags if snapshot.flags is not None else _empty_flags()
        run.write(
            cypher.START_SNAPSHOT,
            {
                "snapshot_id": snapshot.id,
                "computed_at": snapshot.computed_at,
                "watermark": snapshot.watermark,
                "params": json.dumps(snapshot.params),
                "summary": json.dumps(snapshot.summary),
                "users_schema": _schema_text(snapshot.users.schema),
                "communities_schema": _schema_text(snapshot.communities.schema),
                "flags_schema": _schema_text(flags.schema),
            },
        )
        sid = {"snapshot_id": snapshot.id}
        for part in snapshot.users.to_batches(max_chunksize=self.batch_size):
            rows = [
                {"id": r["id"], "values": {k: v for k, v in r.items() if k != "id"}}
                for r in part.to_pylist()
            ]
            run.write(cypher.WRITE_BACK_USERS, {**sid, "rows": rows})
        for statement, table in (
            (cypher.WRITE_COMMUNITIES, snapshot.communities),
            (cypher.WRITE_FLAGS, flags),
        ):
            for part in table.to_batches(max_chunksize=self.batch_size):
                run.write(statement, {**sid, "rows": part.to_pylist()})
        run.write(cypher.FINISH_SNAPSHOT, sid)
        while run.write(cypher.DELETE_OLD_SNAPSHOT_ROWS, {**sid, "limit": self.batch_size})[0][
            "deleted"
        ]:
            pass

    def latest_snapshot(self) -> SavedSnapshot | None:
        rows = self._runner.read(cypher.LATEST_SNAPSHOT, {})
        if not rows:
            return None
        s = rows[0]
        sid = {"snapshot_id": s["id"]}
        tables = {}
        for name, statement in (
            ("users", cypher.READ_SNAPSHOT_USERS),
            ("communities", cypher.READ_SNAPSHOT_COMMUNITIES),
            ("flags", cypher.READ_SNAPSHOT_FLAGS),
        ):
            schema = _schema_from_text(s[f"{name}_schema"])
            records = self._runner.stream(statement, {**sid, "columns": schema.names})
            tables[name] = _records_table(
                (dict(zip(schema.names, r["values"], strict=True)) for r in records), schema
            )
        return SavedSnapshot(
            s["id"],
            json.loads(s["params"]),
            _native(s["computed_at"]),
            s["watermark"],
            json.loads(s["summary"]),
            tables["users"],
            tables["communities"],
            tables["flags"],
        )

    # -- reviews -------------------------------------------------------------

    def record_review(self, user_id: str, status: str, note: str, reviewer: str) -> Review:
        if status not in ("approved", "declined"):
            raise StoreError(f"review status must be approved or declined, not {status!r}")
        last = _native(self._runner.read(cypher.LAST_REVIEW_AT, {"user_id": user_id})[0]["last"])
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
        return _records_table(iter(self._runner.read(cypher.CURRENT_REVIEWS, {})), _REVIEWS)


# -- helpers -----------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _window_params(window: Window) -> dict[str, Any]:
    return {
        "since": window.since or _FAR_PAST,
        "until": window.until or _FAR_FUTURE,
        "campaigns": list(window.campaigns) or None,
    }


def _event_rows(chunk: pa.RecordBatch) -> list[dict[str, Any]]:
    """Canonical events as parameter maps (amounts as floats: Bolt has no decimal)."""
    rows = chunk.to_pylist()
    for row in rows:
        if row["amount"] is not None:
            row["amount"] = float(row["amount"])
    return rows


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _native(value: Any) -> Any:
    """Neo4j temporal values as Python ones (tz-aware datetimes in UTC)."""
    to_native = getattr(value, "to_native", None)
    if to_native is None:
        return value
    native = to_native()
    if isinstance(native, datetime) and native.tzinfo is not None:
        return native.astimezone(UTC)
    return native


def _records_table(records: Iterator[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Records into an Arrow table, 100,000 at a time, so a large read never
    holds more than one chunk of Python values."""
    batches = []
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        columns = [
            pa.array([_native(r.get(name)) for r in chunk], type=schema.field(name).type)
            for name in schema.names
        ]
        batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
        chunk.clear()

    for record in records:
        chunk.append(record)
        if len(chunk) >= 100_000:
            flush()
    if chunk or not batches:
        flush()
    return pa.Table.from_batches(batches, schema=schema)


def _schema_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _schema_from_text(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _empty_flags() -> pa.Table:
    return pa.table(
        {name: pa.array([], pa.string()) for name in ("user_id", "rule", "reason", "evidence")}
    )
