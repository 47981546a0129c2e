"""Finding users by id or name (`Store.search_users`, and the live index's
`search_users`): the definition every implementation keeps.

A user matches `q` when its id equals q or starts with it, or when its name
(`UserRecord.name`) contains q, ignoring case (both lowercased). Matches
rank, best first:

- `id`: the id is q;
- `name`: the name is q, ignoring case;
- `prefix`: the id or the name starts with q;
- `contains`: the name contains q;

and within a rank by id (binary order). At most `limit` users (1 to
MAX_LIMIT); q is 1 to MAX_QUERY characters.

>>> ids = pa.array(["a1", "a12", "b", "c"])
>>> names = pa.array([None, "Amy", "Ya1", "A1"])
>>> [(r["id"], r["match"]) for r in search_arrays(ids, names, "a1", 10).to_pylist()]
[('a1', 'id'), ('c', 'name'), ('a12', 'prefix'), ('b', 'contains')]
>>> match_of("b", "Ya1", "A1"), match_of("b", None, "a")
('contains', None)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.store import StoreError

MATCHES = ("id", "name", "prefix", "contains")
MAX_QUERY = 256  # as long as an id may be (loaders.validate.MAX_ID_LENGTH)
MAX_LIMIT = 1000
SCHEMA = pa.schema([("id", pa.string()), ("name", pa.string()), ("match", pa.string())])


def check(q: str, limit: int) -> None:
    """StoreError for a query or limit out of bounds."""
    if not 1 <= len(q) <= MAX_QUERY:
        raise StoreError(
            "a search is 1 to {most} characters, not {length}", most=MAX_QUERY, length=len(q)
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise StoreError(
            "a search returns 1 to {most} users, not {limit}", most=MAX_LIMIT, limit=limit
        )


def match_of(user_id: str, name: str | None, q: str) -> str | None:
    """How the user matches `q` (one of MATCHES), or None."""
    if user_id == q:
        return "id"
    low, lq = (name or "").lower(), q.lower()
    if name is not None and low == lq:
        return "name"
    if user_id.startswith(q) or (name is not None and low.startswith(lq)):
        return "prefix"
    if name is not None and lq in low:
        return "contains"
    return None


def search_arrays(
    ids: pa.Array, names: pa.Array, q: str, limit: int, lowered: pa.Array | None = None
) -> pa.Table:
    """The search over columns: `ids` in binary order, `names` beside them
    (null where none), `lowered` the names lowercased if the caller keeps
    them. One pass over the columns to find the matches, then only those
    are ranked."""
    check(q, limit)
    low = pc.utf8_lower(names) if lowered is None else lowered
    lq = pc.utf8_lower(pa.scalar(q, pa.string())).as_py()
    hit = pc.or_(pc.starts_with(ids, q), pc.fill_null(pc.match_substring(low, lq), False)).to_numpy(
        zero_copy_only=False
    )
    found = np.flatnonzero(hit)
    their_ids, their_low = ids.take(pa.array(found)), low.take(pa.array(found))
    rank = np.full(len(found), 3, np.int8)
    for value, matched in (
        (2, pc.or_kleene(pc.starts_with(their_ids, q), pc.starts_with(their_low, lq))),
        (1, pc.equal(their_low, lq)),
        (0, pc.equal(their_ids, q)),
    ):
        rank[pc.fill_null(matched, False).to_numpy(zero_copy_only=False)] = value
    best = np.lexsort((found, rank))[:limit]
    chosen = pa.array(found[best])
    return pa.table(
        {
            "id": ids.take(chosen),
            "name": names.take(chosen),
            "match": pa.array([MATCHES[r] for r in rank[best]], pa.string()),
        },
        schema=SCHEMA,
    )
