"""Ingest into Neo4j: a file as one batch, written in bounded transactions.

A batch is staged in a local DuckDB first (its repeats dropped, first line
wins), so reading a bad file never touches the server. Then, holding the
writer lease (`cypher.WRITER_LEASE`), the events go to the server in
`UNWIND` chunks, the users and ties they touch are derived with the same SQL
as the embedded store (`graph.derive`) and written back, and only then is
the batch marked applied. A first load (a store with no events) is the bulk
path: events, users and ties are created without lookups and derived from
the staged file alone; later files derive only the users they touch, from
those users' events read back from the server.

All or nothing: if anything fails, the batch's events are deleted and its
users derived again before the error is raised. If the writer dies (kill -9),
the server drops its lease and the batch stays marked `applying`; the next
writer takes it out the same way before it writes, so a re-run of the file
then accepts exactly what was missing. Readers during an ingest may see
part of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from graph import cypher, neo4j_migrations
from graph.conflicts import conflicts_sql
from graph.cypher_window import OPEN_PERIOD_END
from graph.derive import DERIVED_TABLES, FROM_INVITER_FIRSTS, derive
from graph.neo4j_runner import QueryRunner, records_table
from graph.store import BatchResult, StoreError
from loaders.canonical import CONTENT_FIELDS, EVENT_SCHEMA
from loaders.validate import REJECTED_SCHEMA

# How long a writer waits for another one before saying the store is busy.
LEASE_WAIT_SECONDS = 10.0
# Transactions in flight at once where they create distinct nodes (a first
# load's events and users): 1.8x the rate of one at a time on 2 cores.
PARALLEL_WRITES = 2
# Events as the server keeps them: `id` for the event id, amounts as floats.
# Times as epoch microseconds (see graph.cypher).
_EVENT_ROWS = """SELECT event_id AS id, type, inviter_id, invitee_id,
    epoch_us(occurred_at) AS occurred_at, campaign, channel, staff_id,
    amount::DOUBLE AS amount, device_id, ip, invitee_name, line FROM events ORDER BY line"""
# A user's churn periods as two lists (start, end), an open period ending
# at OPEN_PERIOD_END: a Neo4j list holds no nulls.
_USER_ROWS = f"""SELECT id, epoch_us(first_seen) AS first_seen, epoch_us(joined_at) AS joined_at,
    referred_by, epoch_us(converted_at) AS converted_at, amount::DOUBLE AS amount,
    epoch_us(churned_at) AS churned_at, away_from, away_until, name
    FROM users LEFT JOIN (
        SELECT user_id AS id, list(epoch_us(churned_at) ORDER BY churned_at) AS away_from,
            list(coalesce(epoch_us(returned_at), {OPEN_PERIOD_END}) ORDER BY churned_at)
                AS away_until
        FROM churns GROUP BY user_id
    ) USING (id) ORDER BY id"""
_REFERRED_ROWS = """SELECT referrer_id, invitee_id, event_id, epoch_us("at") AS "at", campaign,
    channel, staff_id FROM referred ORDER BY invitee_id"""
_INVITED_ROWS = """SELECT inviter_id, invitee_id, count, epoch_us(first_at) AS first_at,
    epoch_us(last_at) AS last_at FROM invited ORDER BY invitee_id, inviter_id"""
# Events as the server returns them: times in microseconds (read as UTC
# instants), amounts as floats, every canonical field.
EVENT_ROWS = pa.schema(
    [
        (name, pa.float64() if name == "amount" else pa.string())
        if name != "occurred_at"
        else (name, pa.timestamp("us", tz="UTC"))
        for name in ("event_id", *CONTENT_FIELDS)
    ]
)
# What deriving users needs of their events (SCOPE_EVENTS).
_SCOPE_EVENTS = pa.schema(
    [EVENT_ROWS.field(n) for n in EVENT_ROWS.names if n not in ("device_id", "ip")]
    + [("invitee_name", pa.string()), ("batch_id", pa.int64()), ("line", pa.int64())]
)
# The server's version of an event id a batch repeats with other content.
_STORED_VERSIONS = EVENT_ROWS.append(pa.field("origin", pa.string()))
_INVITER_FIRSTS = pa.schema([("id", pa.string()), ("first_as_inviter", pa.timestamp("us", "UTC"))])


@contextmanager
def writer_lease(run: QueryRunner) -> Iterator[None]:
    """Hold the store's one writer lease (StoreLockedError if another writer
    keeps it for LEASE_WAIT_SECONDS)."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    with run.hold(cypher.WRITER_LEASE, {"holder": holder, "now": _now()}, LEASE_WAIT_SECONDS):
        yield


@contextmanager
def local_duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """A scratch DuckDB in memory that spills to a temporary folder."""
    spill = tempfile.mkdtemp(prefix="searchlight-neo4j-")
    con = duckdb.connect(config={"memory_limit": "1GB", "threads": 2, "temp_directory": spill})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(DERIVED_TABLES)
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def ingest(run: QueryRunner, batches: Iterable[pa.Table], source: str, size: int) -> BatchResult:
    with local_duckdb() as con:
        received = _stage(con, batches)
        with writer_lease(run):
            finish_unfinished(run, size)
            neo4j_migrations.migrate(run, size)
            batch_id = run.read(cypher.NEXT_BATCH, {})[0]["batch_id"]
            run.write(cypher.START_BATCH, {"batch_id": batch_id, "source": source, "now": _now()})
            try:
                accepted = _apply(run, con, batch_id, size)
                conflicts = _conflicts(con)
                duplicates = received - accepted - conflicts.num_rows
                run.write(
                    cypher.APPLY_BATCH,
                    {
                        "batch_id": batch_id,
                        "now": _now(),
                        "received": received,
                        "accepted": accepted,
                        "duplicates": duplicates,
                        "conflicts": conflicts.num_rows,
                    },
                )
            except BaseException as exc:
                _undo_or_explain(run, batch_id, size, exc)
                raise
    return BatchResult(batch_id, received, accepted, duplicates, conflicts)


def _stage(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table]) -> int:
    """The file into `events`, repeats of an event id dropped (first line
    wins); those with other content than the first kept in `conflicts`."""
    con.from_arrow(EVENT_SCHEMA.empty_table()).create("staged")
    received = 0
    for table in batches:
        received += table.num_rows
        con.from_arrow(table).insert_into("staged")
    con.execute(
        """CREATE TABLE events AS SELECT * FROM staged
           QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY line) = 1"""
    )
    kept = "(SELECT *, 'line ' || line || ' of the same source' AS origin FROM events)"
    later = "(SELECT * FROM staged ANTI JOIN events USING (event_id, line))"
    con.execute(f"CREATE TABLE conflicts AS {conflicts_sql(later, kept)}")
    con.execute("DROP TABLE staged")
    return received


def _conflicts(con: duckdb.DuckDBPyConnection) -> pa.Table:
    return con.sql("SELECT * FROM conflicts ORDER BY line").to_arrow_table().cast(REJECTED_SCHEMA)


def _apply(run: QueryRunner, con: duckdb.DuckDBPyConnection, batch_id: int, size: int) -> int:
    first_load = not run.read(cypher.ANY_EVENT, {})[0]["found"]
    statement = cypher.CREATE_EVENTS if first_load else cypher.MERGE_EVENTS
    parts = con.sql(_EVENT_ROWS).to_arrow_reader(size)
    chunks = ({"rows": p.to_pylist(), "batch_id": batch_id} for p in parts)
    stored = send_all(run, statement, chunks, PARALLEL_WRITES if first_load else 1)
    if stored:
        # Event ids the server held with other content: the server's version
        # stays; the rows become conflicts beside the in-file ones.
        versions = pa.Table.from_pylist(stored, schema=_STORED_VERSIONS)
        con.execute(f"""INSERT INTO conflicts {conflicts_sql("events", "versions")}""")
        del versions
    accepted = run.read(cypher.COUNT_BATCH_EVENTS, {"batch_id": batch_id})[0]["accepted"]
    if not accepted:
        return 0
    if first_load:
        # Names follow ingest order (batch, line): one batch here.
        con.execute(f"ALTER TABLE events ADD COLUMN batch_id INTEGER DEFAULT {int(batch_id)}")
        derive(con, scoped=False)
        _write_derived(run, con, size, scope=None)
    else:
        scope = con.execute(
            """SELECT invitee_id FROM events UNION
               SELECT inviter_id FROM events WHERE inviter_id IS NOT NULL ORDER BY 1"""
        ).fetchall()
        derive_users(run, [r[0] for r in scope], size)
    return accepted


def derive_users(run: QueryRunner, ids: list[str], size: int) -> None:
    """Derive these users and the ties into them again from their events on the server."""
    with local_duckdb() as con:
        con.from_arrow(_SCOPE_EVENTS.empty_table()).create("events")
        con.from_arrow(_INVITER_FIRSTS.empty_table()).create("inviter_firsts")
        for chunk in _chunks(ids, size):
            events = records_table(run.stream(cypher.SCOPE_EVENTS, {"ids": chunk}), _SCOPE_EVENTS)
            con.from_arrow(events).insert_into("events")
            firsts = records_table(
                run.stream(cypher.INVITER_FIRSTS, {"ids": chunk}), _INVITER_FIRSTS
            )
            con.from_arrow(firsts).insert_into("inviter_firsts")
        derive(con, scoped=False, as_inviter=FROM_INVITER_FIRSTS)
        _write_derived(run, con, size, scope=ids)


def _write_derived(
    run: QueryRunner, con: duckdb.DuckDBPyConnection, size: int, scope: list[str] | None
) -> None:
    """Users, then REFERRED and INVITED, from the local derived tables.
    scope None: a first load (nothing to replace); else the ties into
    these users are replaced and those left without events removed."""
    if scope is None:
        _write_rows(run, con, _USER_ROWS, cypher.CREATE_USERS, size, PARALLEL_WRITES)
    else:
        _write_rows(run, con, _USER_ROWS, cypher.MERGE_USERS, size)
    if scope is not None:
        for chunk in _chunks(scope, size):
            run.write(cypher.DELETE_TIES_INTO, {"ids": chunk})
    _write_rows(run, con, _REFERRED_ROWS, cypher.CREATE_REFERRED, size)
    _write_rows(run, con, _INVITED_ROWS, cypher.CREATE_INVITED, size)
    if scope is not None:
        for chunk in _chunks(scope, size):
            run.write(cypher.DELETE_USERS_WITHOUT_EVENTS, {"ids": chunk})


def _write_rows(
    run: QueryRunner,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    statement: str,
    size: int,
    writers: int = 1,
) -> None:
    parts = con.sql(sql).to_arrow_reader(size)
    send_all(run, statement, ({"rows": p.to_pylist()} for p in parts), writers)


def send_all(
    run: QueryRunner, statement: str, chunks: Iterator[dict], writers: int = 1
) -> list[dict]:
    """Write the chunks, `writers` transactions at a time, while the next one is
    prepared: the client's share of the work (rows into Python values,
    packing) hides behind the server's, and with `writers` > 1 the server
    commits on more than one core. Only for chunks that touch disjoint nodes.
    Returns the records the statement returned, if any."""
    returned: list[dict] = []
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="neo4j-write") as pool:
        sending: deque[Future] = deque()
        try:
            for params in chunks:
                if len(sending) == writers:
                    returned += sending.popleft().result()
                sending.append(pool.submit(run.write, statement, params))
            while sending:
                returned += sending.popleft().result()
        finally:
            for future in sending:
                future.cancel()
    return returned


def finish_unfinished(run: QueryRunner, size: int) -> None:
    """Take out the batches a dead writer left `applying` (call holding the lease)."""
    for row in run.read(cypher.UNFINISHED_BATCHES, {}):
        undo(run, row["batch_id"], size)


def undo(run: QueryRunner, batch_id: int, size: int) -> None:
    """Take a batch out: its events, then its users derived again."""
    touched: set[str] = set()
    for row in run.stream(cypher.BATCH_USERS, {"batch_id": batch_id}):
        touched.add(row["invitee"])
        if row["inviter"] is not None:
            touched.add(row["inviter"])
    while run.write(cypher.DELETE_BATCH_EVENTS, {"batch_id": batch_id, "limit": size})[0][
        "deleted"
    ]:
        pass
    derive_users(run, sorted(touched), size)
    run.write(cypher.DROP_BATCH, {"batch_id": batch_id})


def _undo_or_explain(run: QueryRunner, batch_id: int, size: int, cause: BaseException) -> None:
    try:
        undo(run, batch_id, size)
    except Exception as undo_error:
        raise StoreError(
            "ingest batch {batch_id} failed ({cause}) and could not be taken out yet "
            "({undo_error}); it stays marked 'applying', and the next ingest into this "
            "store takes it out before writing, so ingesting the same file again then is "
            "safe",
            batch_id=batch_id,
            cause=cause,
            undo_error=undo_error,
        ) from cause


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now() -> datetime:
    return datetime.now(UTC)
