"""The embedded store's reads: a window's graph, the live rankings, users,
their names, chains and ego networks, and the store's counts, as SQL over
its tables (graph.embedded)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from graph import user_search
from graph.derive import CHURNED_AT_SQL
from graph.duckdb_tables import instant, scalar
from graph.ego import EgoNetwork, bounded_neighbourhood
from graph.store import (
    FIRST_JOINS,
    GraphTables,
    LiveFacts,
    StoreError,
    StoreStats,
    UserNotFoundError,
    UserRecord,
    Window,
)


def read_graph(con: duckdb.DuckDBPyConnection, window: Window, watermark: int) -> GraphTables:
    """The window's users, REFERRED edges, INVITED ties and shared devices."""
    where, params = window_filter(window)
    referred_where, _ = window_filter(window, time_column='"at"')
    users = con.sql(
        f"""
        SELECT u.id,
            coalesce(c.converted, false) AS converted,
            coalesce(c.amount, 0)::DOUBLE AS amount,
            away.user_id IS NOT NULL AS churned
        FROM users u
        LEFT JOIN ({CHURNED_AT_SQL}) away ON away.user_id = u.id
        LEFT JOIN (
            SELECT invitee_id, true AS converted, sum(amount) AS amount
            FROM events e WHERE type = 'convert' AND {where}
            GROUP BY invitee_id
        ) c ON c.invitee_id = u.id
        WHERE u.first_seen < $until
        ORDER BY u.id
        """,
        params=params,
    ).to_arrow_table()
    referred = con.sql(
        f"""SELECT referrer_id, invitee_id, "at" FROM referred e
            WHERE {referred_where}""",
        params=params,
    ).to_arrow_table()
    invited = con.sql(
        f"""
        SELECT DISTINCT e.inviter_id, e.invitee_id
        FROM events e
        LEFT JOIN referred r ON r.invitee_id = e.invitee_id
        WHERE e.type IN ('invite', 'join') AND e.inviter_id IS NOT NULL AND {where}
          AND (r.referrer_id IS NULL OR r.referrer_id <> e.inviter_id)
        """,
        params=params,
    ).to_arrow_table()
    devices = con.sql(
        f"""WITH used AS (
                SELECT DISTINCT invitee_id AS user_id, device_id FROM events e
                WHERE type = 'join' AND device_id IS NOT NULL AND {where})
            SELECT user_id, device_id FROM used WHERE device_id IN (
                SELECT device_id FROM used GROUP BY device_id HAVING count(*) > 1)
            ORDER BY device_id, user_id""",
        params=params,
    ).to_arrow_table()
    last = con.execute(
        f"SELECT max(occurred_at)::VARCHAR FROM events e WHERE {where}", params
    ).fetchall()[0][0]
    return GraphTables(
        users=users,
        referred=referred,
        invited=invited,
        devices=devices,
        watermark=watermark,
        last_event_at=instant(last),
    )


def live_facts(con: duckdb.DuckDBPyConnection) -> LiveFacts:
    """`Store.live_facts`: the derived tables and the convert events, read
    in one transaction so a batch committed meanwhile is in all or none."""

    def table(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    con.execute("BEGIN TRANSACTION")
    try:
        return _live_facts(table)
    finally:
        con.execute("COMMIT")


def _live_facts(table: Callable[[str], pa.Table]) -> LiveFacts:
    return LiveFacts(
        users=table(
            """SELECT id, first_seen, joined_at, referred_by, converted_at,
                   amount::DOUBLE AS amount, churned_at, name FROM users ORDER BY id"""
        ),
        referred=table('SELECT referrer_id, invitee_id, "at", campaign FROM referred'),
        invited=table("SELECT inviter_id, invitee_id FROM invited"),
        churns=table("SELECT user_id, churned_at, returned_at FROM churns"),
        converts=table(
            "SELECT invitee_id, occurred_at, campaign FROM events WHERE type = 'convert'"
        ),
    )


def top_referrers(
    con: duckdb.DuckDBPyConnection,
    window: Window,
    by: str,
    limit: int,
    offset: int,
    fraudulent_sql: str,
) -> pa.Table:
    """Referrers ranked by a live count (`Store.top_referrers`); `by` is one
    of TOP_COUNTS, checked by the caller."""
    where, params = window_filter(window)
    referred_where, _ = window_filter(window, time_column='"at"')
    params.update(limit=limit, offset=offset)
    # One invitee counts once per referrer: REFERRED has one row per invitee.
    # Effective: not churned, and not judged fraudulent (flagged in the
    # latest analysis and not approved on review).
    return con.sql(
        f"""
        WITH fraudulent AS ({fraudulent_sql})
        SELECT e.referrer_id AS id,
            count(*) AS invites,
            count(*) FILTER (WHERE away.user_id IS NULL
                               AND f.user_id IS NULL) AS effective_invites,
            count(c.invitee_id) AS conversions
        FROM referred e
        LEFT JOIN ({CHURNED_AT_SQL}) away ON away.user_id = e.invitee_id
        LEFT JOIN fraudulent f ON f.user_id = e.invitee_id
        LEFT JOIN (
            SELECT DISTINCT invitee_id FROM events e
            WHERE type = 'convert' AND {where}
        ) c ON c.invitee_id = e.invitee_id
        WHERE {referred_where}
        GROUP BY e.referrer_id
        ORDER BY {by} DESC, id
        LIMIT $limit OFFSET $offset
        """,
        params=params,
    ).to_arrow_table()


_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)


def window_filter(window: Window, time_column: str = "occurred_at") -> tuple[str, dict]:
    """SQL over a row aliased `e` (its time column, campaign) for a window."""
    params: dict = {"since": window.since or _FAR_PAST, "until": window.until or _FAR_FUTURE}
    where = f"e.{time_column} >= $since AND e.{time_column} < $until"
    if window.campaigns:
        params["campaigns"] = list(window.campaigns)
        where += " AND list_contains($campaigns::VARCHAR[], e.campaign)"
    return where, params


def user_record(con: duckdb.DuckDBPyConnection, user_id: str) -> UserRecord:
    rows = con.execute(
        """SELECT id, first_seen::VARCHAR, joined_at::VARCHAR, referred_by,
               converted_at::VARCHAR, amount::DOUBLE, churned_at::VARCHAR, name
           FROM users WHERE id = ?""",
        [user_id],
    ).fetchall()
    if not rows:
        raise UserNotFoundError("no user {user_id!r} in the store", user_id=user_id)
    uid, first, joined, referred_by, converted, amount, churned, name = rows[0]
    return UserRecord(
        uid,
        instant(first),
        instant(joined),
        referred_by,
        instant(converted),
        float(amount),
        instant(churned),
        name,
    )


# Ids a query of `user_names` takes at a time.
NAMES_CHUNK = 50_000


def user_names(con: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> dict[str, str]:
    """`Store.user_names`: a join of each chunk of ids with `users`."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), NAMES_CHUNK):
        part = pa.table({"id": pa.array(wanted[start : start + NAMES_CHUNK], pa.string())})
        named = (
            con.from_arrow(part)
            .join(con.table("users"), "id")
            .filter("name IS NOT NULL")
            .select("id, name")
            .to_arrow_table()
        )
        found.update(zip(named["id"].to_pylist(), named["name"].to_pylist(), strict=True))
    return found


def first_joins(con: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> pa.Table:
    """`Store.first_joins`: each chunk of ids' join events from the log, the
    first per user kept."""
    wanted = list(dict.fromkeys(ids))
    parts = [FIRST_JOINS.empty_table()]
    for start in range(0, len(wanted), NAMES_CHUNK):
        parts.append(
            con.sql(
                """SELECT invitee_id AS id, staff_id, channel FROM events
                   WHERE type = 'join' AND invitee_id IN (SELECT unnest($ids::VARCHAR[]))
                   QUALIFY row_number() OVER (
                       PARTITION BY invitee_id ORDER BY occurred_at, event_id) = 1""",
                params={"ids": wanted[start : start + NAMES_CHUNK]},
            )
            .to_arrow_table()
            .cast(FIRST_JOINS)
        )
    return pa.concat_tables(parts)


def search_users(con: duckdb.DuckDBPyConnection, q: str, limit: int) -> pa.Table:
    """`Store.search_users` (graph.user_search) as one scan of `users`."""
    user_search.check(q, limit)
    ranked = con.sql(
        """SELECT id, name, CASE
                WHEN id = $q THEN 0 WHEN lower(name) = lower($q) THEN 1
                WHEN starts_with(id, $q) OR starts_with(lower(name), lower($q)) THEN 2
                ELSE 3 END AS rank
           FROM users
           WHERE starts_with(id, $q) OR contains(lower(name), lower($q))
           ORDER BY rank, id LIMIT $limit""",
        params={"q": q, "limit": limit},
    ).to_arrow_table()
    match = pa.array(user_search.MATCHES).take(ranked["rank"])
    table = ranked.drop_columns(["rank"]).append_column("match", match)
    return table.cast(user_search.SCHEMA)


def referral_chain(con: duckdb.DuckDBPyConnection, user_id: str, limit: int = 100) -> list[str]:
    # One lookup per hop: chains are a few dozen hops at most, and the
    # seen-set stops a referral loop (a ring's REFERRED edges can close).
    chain: list[str] = []
    seen = {user_id}
    current = user_id
    while len(chain) < limit:
        rows = con.execute(
            "SELECT referrer_id FROM referred WHERE invitee_id = ?", [current]
        ).fetchall()
        if not rows or rows[0][0] in seen:
            break
        current = rows[0][0]
        seen.add(current)
        chain.append(current)
    return chain


def ego_network(
    con: duckdb.DuckDBPyConnection, user_id: str, hops: int, limit: int, path: Path
) -> EgoNetwork:
    """`Store.ego_network`: one query per hop for the next users (at most the
    room left), then one for the ties among them."""
    if hops < 0 or limit < 1:
        raise StoreError("hops must be 0 or more and limit at least 1")
    if not scalar(con, "SELECT count(*) FROM users WHERE id = ?", [user_id]):
        raise UserNotFoundError("no user {user_id!r} in store {path}", user_id=user_id, path=path)

    def neighbours(frontier: list[str], cap: int) -> list[str]:
        rows = con.sql(
            f"""SELECT DISTINCT other FROM ({_TIES_SQL}) t
                WHERE t.one IN (SELECT unnest($frontier::VARCHAR[]))
                ORDER BY other LIMIT $cap""",
            params={"frontier": frontier, "cap": cap},
        ).fetchall()
        return [r[0] for r in rows]

    kept, truncated = bounded_neighbourhood(user_id, hops, limit, neighbours)
    ids = [k for k, _ in kept]
    ties = con.sql(
        """SELECT referrer_id AS source, invitee_id AS target, 'REFERRED' AS kind FROM referred
           WHERE referrer_id IN (SELECT unnest($ids::VARCHAR[]))
             AND invitee_id IN (SELECT unnest($ids::VARCHAR[]))
           UNION ALL
           SELECT inviter_id, invitee_id, 'INVITED' FROM invited
           WHERE inviter_id IN (SELECT unnest($ids::VARCHAR[]))
             AND invitee_id IN (SELECT unnest($ids::VARCHAR[]))
           ORDER BY source, target, kind""",
        params={"ids": ids},
    ).to_arrow_table()
    return EgoNetwork.of(kept, ties, truncated)


# Every tie seen from both ends: (one, other) for REFERRED and INVITED.
_TIES_SQL = """
    SELECT referrer_id AS one, invitee_id AS other FROM referred
    UNION ALL SELECT invitee_id, referrer_id FROM referred
    UNION ALL SELECT inviter_id, invitee_id FROM invited
    UNION ALL SELECT invitee_id, inviter_id FROM invited
"""


def stats(con: duckdb.DuckDBPyConnection) -> StoreStats:
    """`Store.stats`: counts of the tables, events by type, campaigns, time span."""
    by_type = dict(
        con.execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY type").fetchall()
    )
    campaigns = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT campaign FROM events WHERE campaign IS NOT NULL ORDER BY campaign"
        ).fetchall()
    ]
    first, last = con.execute(
        "SELECT min(occurred_at)::VARCHAR, max(occurred_at)::VARCHAR FROM events"
    ).fetchall()[0]
    return StoreStats(
        users=scalar(con, "SELECT count(*) FROM users"),
        events=sum(by_type.values()),
        events_by_type=by_type,
        referred_edges=scalar(con, "SELECT count(*) FROM referred"),
        invited_ties=scalar(con, "SELECT count(*) FROM invited"),
        campaigns=len(campaigns),
        campaign_names=campaigns,
        first_event_at=instant(first),
        last_event_at=instant(last),
        batches=scalar(con, "SELECT count(*) FROM batches"),
    )
