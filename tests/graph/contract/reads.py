"""What a store answers, through the `Store` protocol only, in plain Python
values that tests compare with hand-worked expectations."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from graph.store import GraphTables, Store, Window


def utc(text: str) -> datetime:
    """'2024-05-01 10:00' (or with seconds) as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rows(table: pa.Table) -> list[tuple]:
    """A table's rows as tuples, in a canonical order (row order is not part
    of the contract unless a test says so)."""
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def users(tables: GraphTables) -> dict[str, tuple[bool, float, bool]]:
    """id -> (converted, amount, churned) of a window's users table."""
    return {r["id"]: (r["converted"], r["amount"], r["churned"]) for r in tables.users.to_pylist()}


def referred(tables: GraphTables) -> set[tuple[str, str, datetime]]:
    return {(r["referrer_id"], r["invitee_id"], r["at"]) for r in tables.referred.to_pylist()}


def invited(tables: GraphTables) -> set[tuple[str, str]]:
    return {(r["inviter_id"], r["invitee_id"]) for r in tables.invited.to_pylist()}


def devices(tables: GraphTables) -> set[tuple[str, str]]:
    return {(r["user_id"], r["device_id"]) for r in tables.devices.to_pylist()}


def top(
    store: Store,
    window: Window | None = None,
    by: str = "invites",
    limit: int = 100,
    offset: int = 0,
) -> list[tuple[str, int, int, int]]:
    """(id, invites, effective_invites, conversions) in the store's order."""
    return [
        (r["id"], r["invites"], r["effective_invites"], r["conversions"])
        for r in store.top_referrers(window or Window(), by, limit, offset).to_pylist()
    ]


def graph_view(tables: GraphTables) -> dict:
    """Everything a read_graph answer says except the watermark."""
    return {
        name: (getattr(tables, name).schema, rows(getattr(tables, name)))
        for name in ("users", "referred", "invited", "devices")
    } | {"last_event_at": tables.last_event_at}


def observe(store: Store, windows: list[Window]) -> dict:
    """Every read of the store (per window where reads take one), for
    'nothing changed' checks. Batches and the watermark are left out: a
    batch that adds nothing is still a batch."""
    stats = store.stats().to_json()
    del stats["batches"]
    ids = sorted(
        {r["id"] for r in store.read_graph(Window()).users.to_pylist()}, key=lambda u: u or ""
    )
    ego = {}
    for uid in ids:
        network = store.ego_network(uid, hops=2)
        ego[uid] = (network.users.to_pylist(), rows(network.ties), network.truncated)
    return {
        "stats": stats,
        "graphs": [graph_view(store.read_graph(w)) for w in windows],
        "top": [top(store, w, by) for w in windows for by in ("invites", "effective_invites")],
        "referrer_counts": [store.referrer_count(w) for w in windows],
        "users": [store.user(uid) for uid in ids],
        "chains": [store.referral_chain(uid) for uid in ids],
        "ego": ego,
    }


# The keys that order each snapshot table; row order is not part of the contract.
SNAPSHOT_KEYS = {
    "users": ["id"],
    "communities": ["community"],
    "flags": ["user_id", "rule", "reason", "evidence"],
}


def same_table(got: pa.Table, saved: pa.Table, keys: list[str]) -> bool:
    """The same columns, types and rows (in any order): what was saved."""
    order = [(k, "ascending") for k in keys]
    return got.schema.equals(saved.schema) and got.sort_by(order).equals(saved.sort_by(order))
