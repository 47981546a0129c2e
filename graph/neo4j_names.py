"""The Neo4j store's reads of users' names: `Store.user_names` and
`Store.search_users` (graph.user_search), with graph.cypher_names."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from graph import cypher, user_search
from graph.neo4j_runner import QueryRunner


def user_names(run: QueryRunner, ids: Iterable[str], size: int) -> dict[str, str]:
    """The names of these users, `size` ids a query, each answered as two lists."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), size):
        row = run.read(cypher.USER_NAMES, {"ids": wanted[start : start + size]})[0]
        found.update(zip(row["id"], row["name"], strict=True))
    return found


def search_users(run: QueryRunner, q: str, limit: int) -> pa.Table:
    """At most `limit` rows (id, name, match), best first."""
    user_search.check(q, limit)
    rows = run.read(cypher.SEARCH_USERS, {"q": q, "limit": limit})
    return pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "name": pa.array([r["name"] for r in rows], pa.string()),
            "match": pa.array([user_search.MATCHES[r["rank"]] for r in rows], pa.string()),
        },
        schema=user_search.SCHEMA,
    )
