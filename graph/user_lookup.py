"""One user's rows of the latest snapshot and of the reviews, by binary
search over tables sorted once per store version, so a user page does not
scan 1M snapshot rows.

>>> import pyarrow as pa
>>> reviews = pa.table({"user_id": ["b"], "status": ["approved"]})
>>> lookup = UserLookup(None, reviews)
>>> lookup.review("b"), lookup.review("a"), lookup.row("b")
({'user_id': 'b', 'status': 'approved'}, None, None)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from graph.live_index import LiveIndex
from graph.sorted_ids import SortedIds, row_at, single_array, sorted_by_id
from graph.store import SavedSnapshot


class UserLookup:
    def __init__(self, snapshot: SavedSnapshot | None, reviews: pa.Table) -> None:
        self.snapshot = snapshot
        self._users = sorted_by_id(snapshot.users) if snapshot else None
        flags = snapshot.flags if snapshot and snapshot.flags is not None else None
        self._flags = sorted_by_id(flags, "user_id") if flags is not None else None
        self._reviews = sorted_by_id(reviews, "user_id")
        self._columns: dict[str, pa.Array] = {}
        self._aligned: tuple[LiveIndex, np.ndarray] | None = None
        self._find = {
            name: SortedIds(single_array(table[column]))
            for name, table, column in (
                ("users", self._users, "id"),
                ("flags", self._flags, "user_id"),
                ("reviews", self._reviews, "user_id"),
            )
            if table is not None
        }

    def row(self, user_id: str) -> dict | None:
        """The user's row of the snapshot's users table, or None."""
        return self._first("users", self._users, user_id)

    def row_at(self, position: int) -> dict | None:
        """The snapshot users' row at `position` (from `aligned`), or None."""
        if self._users is None or position < 0:
            return None
        return row_at(self._users, position)

    def positions(self, ids: list[str]) -> np.ndarray:
        """Each user's row in the snapshot's users (-1 where it has none)."""
        if self._users is None:
            return np.full(len(ids), -1, np.int64)
        return np.asarray([self._find["users"].find(i) for i in ids], np.int64)

    def aligned(self, index: LiveIndex) -> np.ndarray:
        """Per code of `index`, the user's row in the snapshot's users (-1
        where none): made once per index, for whole networks at a time."""
        made = self._aligned
        if made is None or made[0] is not index:
            users = (
                self._users["id"] if self._users is not None else pa.chunked_array([], pa.string())
            )
            made = self._aligned = (index, index.positions_in(single_array(users)))
        return made[1]

    def aligned_with(self, index: LiveIndex) -> bool:
        """Whether `aligned(index)` is made (so it costs nothing now)."""
        made = self._aligned
        return made is not None and made[0] is index

    def columns(self, positions: np.ndarray, names: list[str]) -> dict[str, pa.Array]:
        """`names` of the snapshot's users at `positions` (null where -1)."""
        if self._users is None:
            return {name: pa.nulls(len(positions)) for name in names}
        where = pa.array(positions, pa.int64(), mask=positions < 0)
        return {name: self._column(name).take(where) for name in names}

    def _column(self, name: str) -> pa.Array:
        """A column of the snapshot's users as one array, made once."""
        if name not in self._columns:
            self._columns[name] = single_array(self._users[name])
        return self._columns[name]

    def flags(self, user_id: str) -> list[dict]:
        """The user's flag rows (rule, reason, evidence), in the snapshot's order."""
        if self._flags is None:
            return []
        start, end = self._find["flags"].span(user_id)
        return self._flags.slice(start, end - start).to_pylist()

    def review(self, user_id: str) -> dict | None:
        """The current decision on the user (`Store.reviews`), or None."""
        return self._first("reviews", self._reviews, user_id)

    def _first(self, name: str, table: pa.Table | None, value: str) -> dict | None:
        if table is None:
            return None
        at = self._find[name].find(value)
        return None if at < 0 else row_at(table, at)
