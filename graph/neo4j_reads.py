"""The Neo4j store's reads (graph.neo4j_store), in the embedded store's
columns and types: a window's graph and the live facts as paged columnar
reads, the live ranking, one user, its chain and its ego network."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from graph import cypher
from graph.ego import EgoNetwork, bounded_neighbourhood
from graph.neo4j_runner import QueryRunner, native, records_table
from graph.store import (
    FIRST_JOINS,
    TOP_COUNTS,
    GraphTables,
    LiveFacts,
    StoreError,
    UserNotFoundError,
    UserRecord,
    Window,
)

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
# Users a page of a columnar read covers.
PAGE = 50_000
_TIME = pa.timestamp("us", tz="UTC")
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
        ("at", _TIME),
    ]
)
_INVITED = pa.schema([("inviter_id", pa.string()), ("invitee_id", pa.string())])
_LIVE_USERS = pa.schema(
    [("id", pa.string()), ("first_seen", _TIME), ("joined_at", _TIME)]
    + [("referred_by", pa.string()), ("converted_at", _TIME), ("amount", pa.float64())]
    + [("churned_at", _TIME), ("name", pa.string())]
)
_LIVE_REFERRED = _REFERRED.append(pa.field("campaign", pa.string()))
_LIVE_CHURNS = pa.schema([("user_id", pa.string()), ("churned_at", _TIME), ("returned_at", _TIME)])
_LIVE_CONVERTS = pa.schema(
    [("invitee_id", pa.string()), ("occurred_at", _TIME), ("campaign", pa.string())]
)
_DEVICES = pa.schema([("user_id", pa.string()), ("device_id", pa.string())])
_TIES = pa.schema([("source", pa.string()), ("target", pa.string()), ("kind", pa.string())])
_TOP = pa.schema(
    [(name, pa.string() if name == "id" else pa.int64()) for name in ("id", *TOP_COUNTS)]
)


def pages(run: QueryRunner, query: str, params: dict, schema: pa.Schema) -> pa.Table:
    """A paged columnar read (see graph.cypher): page after page of users
    by id until one comes back empty. Times arrive as epoch microseconds."""
    batches = []
    after = ""
    while True:
        page = run.read(query, {**params, "after": after, "page": PAGE})[0]
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


def read_graph(run: QueryRunner, window: Window, watermark: int) -> GraphTables:
    """`Store.read_graph`; `watermark` the store's."""
    params = window_params(window)
    unbounded = window == Window()
    last_event = cypher.LAST_EVENT_OF_BATCHES if unbounded else cypher.LAST_EVENT
    last = run.read(last_event, {} if unbounded else params)[0]["last"]
    invited = cypher.READ_INVITED_TIES if unbounded else cypher.READ_INVITED
    return GraphTables(
        users=_users(run, params, unbounded),
        referred=pages(run, cypher.READ_REFERRED, params, _REFERRED),
        invited=pages(run, invited, params, _INVITED),
        devices=records_table(run.stream(cypher.READ_DEVICES, params), _DEVICES),
        watermark=watermark,
        last_event_at=native(last),
    )


def _users(run: QueryRunner, params: dict, unbounded: bool) -> pa.Table:
    """Users as the embedded store reads them: for a bounded window, the
    conversions inside it come from the log."""
    users = pages(run, cypher.READ_USERS, params, _USERS)
    if unbounded:
        return users
    bought = run.read(cypher.READ_CONVERSIONS, params)[0]
    slot = pc.index_in(users["id"], value_set=pa.array(bought["id"], pa.string()))
    amount = pc.take(pa.array(bought["amount"], pa.float64()), slot)
    converted = pc.is_valid(slot)
    return users.set_column(1, "converted", converted).set_column(
        2, "amount", pc.fill_null(amount, 0.0)
    )


def live_facts(run: QueryRunner) -> LiveFacts:
    return LiveFacts(
        users=pages(run, cypher.LIVE_USERS, {}, _LIVE_USERS),
        referred=pages(run, cypher.LIVE_REFERRED, {}, _LIVE_REFERRED),
        invited=pages(run, cypher.READ_INVITED_TIES, {}, _INVITED),
        churns=pages(run, cypher.LIVE_CHURNS, {}, _LIVE_CHURNS),
        converts=pages(run, cypher.LIVE_CONVERTS, {}, _LIVE_CONVERTS),
    )


def top_referrers(run: QueryRunner, window: Window, by: str, limit: int, offset: int) -> pa.Table:
    """`Store.top_referrers` (`by` checked by the caller)."""
    latest = run.read(cypher.LATEST_SNAPSHOT, {})
    params = {
        **window_params(window),
        "limit": limit,
        "offset": offset,
        "latest_snapshot": latest[0]["id"] if latest else None,
    }
    return records_table(run.stream(cypher.TOP_REFERRERS[by], params), _TOP)


def user_record(run: QueryRunner, user_id: str) -> UserRecord:
    rows = run.read(cypher.USER, {"user_id": user_id})
    if not rows:
        raise UserNotFoundError("no user {user_id!r} in the store", user_id=user_id)
    r = {k: native(v) for k, v in rows[0].items()}
    return UserRecord(
        r["id"],
        r["first_seen"],
        r["joined_at"],
        r["referred_by"],
        r["converted_at"],
        float(r["amount"]),
        r["churned_at"],
        r.get("name"),
    )


def referral_chain(run: QueryRunner, user_id: str, limit: int) -> list[str]:
    rows = run.read(cypher.REFERRAL_CHAIN, {"user_id": user_id})
    chain: list[str] = []
    seen = {user_id}
    for referrer in rows[0]["chain"] if rows else []:
        if referrer in seen or len(chain) == limit:
            break
        seen.add(referrer)
        chain.append(referrer)
    return chain


def first_joins(run: QueryRunner, ids: Iterable[str]) -> pa.Table:
    """`Store.first_joins`, `PAGE` ids a query."""
    wanted = list(dict.fromkeys(ids))
    parts = [FIRST_JOINS.empty_table()]
    for start in range(0, len(wanted), PAGE):
        rows = run.read(cypher.FIRST_JOINS, {"ids": wanted[start : start + PAGE]})
        parts.append(pa.Table.from_pydict(rows[0], schema=FIRST_JOINS))
    return pa.concat_tables(parts)


def ego_network(run: QueryRunner, user_id: str, hops: int, limit: int) -> EgoNetwork:
    """`Store.ego_network`: one query per hop, then one for the ties."""
    if hops < 0 or limit < 1:
        raise StoreError("hops must be 0 or more and limit at least 1")
    if not run.read(cypher.USER_EXISTS, {"user_id": user_id})[0]["found"]:
        raise UserNotFoundError("no user {user_id!r} in the store", user_id=user_id)

    def neighbours(frontier: list[str], cap: int) -> list[str]:
        rows = run.read(cypher.EGO_HOP, {"frontier": frontier, "cap": cap})
        return [r["other"] for r in rows]

    kept, truncated = bounded_neighbourhood(user_id, hops, limit, neighbours)
    ties = records_table(iter(run.read(cypher.TIES_AMONG, {"ids": [k for k, _ in kept]})), _TIES)
    return EgoNetwork.of(kept, ties, truncated)


def window_params(window: Window) -> dict[str, Any]:
    """A window as the Cypher statements' parameters."""
    return {
        "since": utc(window.since) or _FAR_PAST,
        "until": utc(window.until) or _FAR_FUTURE,
        "campaigns": list(window.campaigns) or None,
    }


def utc(moment: datetime | None) -> datetime | None:
    """A moment in UTC: the driver packs other zones in Python, slowly, and
    crashed (a segmentation fault) on a zoneinfo zone."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise StoreError("a window needs zone-aware times, not {moment}", moment=moment.isoformat())
    return moment.astimezone(UTC)
