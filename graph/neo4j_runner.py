"""Talking to a Neo4j server: URLs, the one query runner, errors in words.

Every statement the store sends goes through a `QueryRunner`; the real one
(`DriverRunner`) uses the official driver, the unit tests a recording one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import pyarrow as pa

from graph.store import StoreError, StoreLockedError
from graph.store_url import NEO4J_SCHEMES

SCHEMES = NEO4J_SCHEMES
DEFAULT_FETCH_SIZE = 10_000


class StoreUnavailableError(StoreError):
    """The Neo4j server cannot be reached or refuses us: try again later
    (the API answers 503, not 400)."""


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
        raise StoreError(
            "{scheme!r} is not a Neo4j URL scheme; use {schemes}",
            scheme=parts.scheme,
            schemes=", ".join(SCHEMES),
        )
    try:
        port = parts.port or 7687
    except ValueError:
        raise StoreError("Neo4j URL has a bad port: {url}", url=_without_password(url)) from None
    if not parts.hostname:
        raise StoreError("Neo4j URL names no host: {url}", url=_without_password(url))
    if not parts.username:
        raise StoreError(
            "Neo4j URL names no user: {url} (expected e.g. neo4j://neo4j@localhost:7687/neo4j)",
            url=_without_password(url),
        )
    database = parts.path.strip("/") or None
    if database and "/" in database:
        raise StoreError(
            "Neo4j URL path must be one database name, not {database!r}", database=database
        )
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

    def hold(self, query: str, params: dict[str, Any], wait_seconds: float) -> Any:
        """A context manager: run a write in a transaction kept open (its
        locks held) until the block ends, then rolled back. Raises
        `StoreLockedError` when the locks stay taken for `wait_seconds`."""
        ...

    def close(self) -> None: ...


class DriverRunner:
    """The real runner: managed transactions for reads and writes, and a
    streamed auto-commit query for large reads (fetched `fetch_size` records
    at a time, never all at once). Every session shares one bookmark
    manager, so a read that follows a write of the same store object sees
    it, even on a cluster member that lags behind."""

    def __init__(
        self, url: Neo4jUrl, fetch_size: int = DEFAULT_FETCH_SIZE, retry_seconds: float = 10.0
    ) -> None:
        import neo4j

        self._url = url
        self._fetch_size = fetch_size
        self._driver = neo4j.GraphDatabase.driver(
            url.address,
            auth=(url.user, url.password or ""),
            user_agent="searchlight",
            max_transaction_retry_time=retry_seconds,
        )
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        try:
            with translated(url):
                self._driver.verify_connectivity()
        except BaseException:
            self._driver.close()
            raise

    @property
    def driver(self) -> Any:
        """The driver itself, for the Graph Data Science client (`graph.neo4j_gds`)."""
        return self._driver

    def _session(self, **config: Any):
        # The server's notifications (e.g. "no such property yet" on an empty
        # store) would reach the user as log lines; only `explain` asks for them.
        config.setdefault("notifications_min_severity", "OFF")
        return self._driver.session(
            database=self._url.database, bookmark_manager=self._bookmarks, **config
        )

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

    @contextmanager
    def hold(self, query: str, params: dict[str, Any], wait_seconds: float) -> Iterator[None]:
        import neo4j

        # First a try that gives up after wait_seconds, so a busy store is
        # an error at once rather than a silent wait; then the real hold,
        # whose transaction has no time limit.
        with translated(self._url), self._session() as session:
            probe = session.begin_transaction(timeout=wait_seconds)
            try:
                probe.run(query, params).consume()
            except neo4j.exceptions.Neo4jError as exc:
                if "Transaction" in (exc.code or "") or "Lock" in (exc.code or ""):
                    raise StoreLockedError(
                        "Neo4j at {url} is being written by another process (an ingest or a snapshot "
                        "save); waited {wait_seconds:g} s. Try again when it has finished",
                        url=self._url.redacted,
                        wait_seconds=wait_seconds,
                    ) from exc
                raise
            finally:
                if not probe.closed():
                    probe.rollback()
        with (
            translated(self._url),
            self._driver.session(
                database=self._url.database, notifications_min_severity="OFF"
            ) as session,
        ):
            lease = session.begin_transaction()
            try:
                lease.run(query, params).consume()
                yield
            finally:
                if not lease.closed():
                    # If the connection went, the server dropped the lock itself.
                    with suppress(neo4j.exceptions.DriverError):
                        lease.rollback()

    def explain(self, query: str, params: dict[str, Any]) -> list[dict[str, str]]:
        """What the server says of a statement's plan (`EXPLAIN`, nothing runs):
        its notifications as classification, status and description."""
        with translated(self._url), self._session(notifications_min_severity="INFORMATION") as s:
            summary = s.run("EXPLAIN " + query, params).consume()
        return [
            {
                "classification": str(status.raw_classification),
                "status": status.gql_status,
                "description": status.status_description,
            }
            for status in summary.gql_status_objects
            if status.is_notification
        ]

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
        error = describe_error(exc, self._url)
        if error is None:
            return False
        raise error from exc


def describe_error(exc: BaseException, url: Neo4jUrl) -> StoreError | None:
    """A clear error for a driver error, or None for errors that are not the driver's."""
    from neo4j import exceptions as e

    where = url.redacted
    if isinstance(exc, e.AuthError):
        return StoreUnavailableError(
            "Neo4j at {where} refused the credentials of user {user!r}: check the user in "
            "the URL and the password (KOC_NEO4J_PASSWORD)",
            where=where,
            user=url.user,
        )
    if isinstance(exc, e.ServiceUnavailable | e.SessionExpired):
        return StoreUnavailableError(
            "Neo4j at {where} is unreachable ({cause}); is the server running (make up, or "
            "make neo4j-up)?",
            where=where,
            cause=" ".join(str(exc).split()),
        )
    if isinstance(exc, e.Neo4jError):
        code = exc.code or ""
        if code == "Neo.ClientError.Database.DatabaseNotFound":
            return StoreUnavailableError(
                "Neo4j at {where} has no database {database!r}; create it or fix the URL",
                where=where,
                database=url.database,
            )
        return StoreError(
            "Neo4j at {where} failed: {code} {message}",
            where=where,
            code=code,
            message=exc.message or exc,
        )
    if isinstance(exc, e.DriverError):
        return StoreUnavailableError(
            "Neo4j driver error for {where}: {error}", where=where, error=exc
        )
    return None


def native(value: Any) -> Any:
    """Neo4j temporal values as Python ones (tz-aware datetimes in UTC)."""
    to_native = getattr(value, "to_native", None)
    if to_native is None:
        return value
    result = to_native()
    if isinstance(result, datetime) and result.tzinfo is not None:
        return result.astimezone(UTC)
    return result


def records_table(records: Iterator[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Records into an Arrow table, 100,000 at a time, so a large read never
    holds more than one chunk of Python values."""
    batches = []
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        columns = [
            pa.array([native(r.get(name)) for r in chunk], type=schema.field(name).type)
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
