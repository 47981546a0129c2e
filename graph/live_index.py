"""The live reads in memory: one store version's users, REFERRED edges,
INVITED ties, churn periods and conversions as integer-coded numpy arrays
(built from `Store.live_facts`), so that the live counts of any window and
campaign filter, a user, its referral chain and its neighbourhood are
answered in milliseconds, without asking the store.

Users are coded by their position in id order (binary order, as the
stores sort), so ordering codes orders ids: a ranking's tie-break by id is a
tie-break by code, and a sorted set of codes is a sorted set of ids.

The index answers exactly what the store's own reads answer (the API falls
back to them while an index is being built; tests compare the two):
`top_counts` is `Store.top_referrers` for every referrer at once, and
`user`, `referral_chain`, `ego_network`, `user_names` and `search_users`
have the store's signatures.

>>> import pyarrow as pa
>>> from datetime import datetime, UTC
>>> from graph.live_index_build import build_live_index
>>> from graph.store import LiveFacts
>>> t = pa.array([datetime(2026, 3, d, tzinfo=UTC) for d in (1, 2, 3)], pa.timestamp("us", "UTC"))
>>> none = pa.nulls(3, pa.timestamp("us", "UTC"))
>>> facts = LiveFacts(
...     users=pa.table({"id": ["a", "b", "c"], "first_seen": t, "joined_at": t,
...         "referred_by": [None, "a", "a"], "converted_at": none,
...         "amount": [0.0, 0.0, 0.0], "churned_at": none}),
...     referred=pa.table({"referrer_id": ["a", "a"], "invitee_id": ["b", "c"],
...         "at": t[1:], "campaign": ["spring", None]}),
...     invited=pa.table({"inviter_id": pa.array([], pa.string()),
...         "invitee_id": pa.array([], pa.string())}),
...     churns=pa.table({"user_id": pa.array([], pa.string()),
...         "churned_at": none[:0], "returned_at": none[:0]}),
...     converts=pa.table({"invitee_id": pa.array([], pa.string()),
...         "occurred_at": none[:0], "campaign": pa.array([], pa.string())}))
>>> index = build_live_index(facts)
>>> counts = index.top_counts(Window(campaigns=("spring",)))
>>> index.ids.take(counts.referrers).to_pylist(), counts.invites.tolist()
(['a'], [1])
>>> index.referral_chain("c")
['a']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.ego import EgoNetwork, bounded_neighbourhood
from graph.sorted_ids import SortedIds, row_at, single_array
from graph.store import (
    StoreError,
    UserNotFoundError,
    UserRecord,
    Window,
)
from graph.user_search import search_arrays

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = np.iinfo(np.int64).max  # a returned_at that has not come yet


def micros(at: datetime | None, default: int) -> int:
    """An instant as epoch microseconds, exactly; `default` for None."""
    return default if at is None else (at - _EPOCH) // timedelta(microseconds=1)


@dataclass
class TopCounts:
    """The live counts of every referrer of a window (`Store.top_referrers`
    without the paging): `referrers` are codes, in code order."""

    referrers: np.ndarray
    invites: np.ndarray
    effective_invites: np.ndarray
    conversions: np.ndarray


@dataclass
class _Csr:
    """Adjacency lists: the targets of `i` are targets[starts[i]:starts[i + 1]]."""

    starts: np.ndarray
    targets: np.ndarray

    @classmethod
    def of(cls, sources: np.ndarray, targets: np.ndarray, n: int) -> _Csr:
        order = np.argsort(sources, kind="stable")
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(sources, minlength=n), out=starts[1:])
        return cls(starts, targets[order].astype(np.int32))

    def gather(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(source, target) of every list entry of `nodes`."""
        first, last = self.starts[nodes], self.starts[nodes + 1]
        lengths = last - first
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, np.int32), np.empty(0, np.int32)
        offsets = np.repeat(first - np.cumsum(lengths) + lengths, lengths)
        return np.repeat(nodes, lengths), self.targets[offsets + np.arange(total)]


class LiveIndex:
    """See the module docstring; made by `graph.live_index_build`."""

    def __init__(self, arrays: dict[str, np.ndarray], users: pa.Table, campaigns: list[str]):
        self.users = users  # the facts' users, in code order
        self.ids = single_array(users["id"])
        self._find = SortedIds(self.ids)
        # Each user's name (null where none), and lowercased once searched.
        self.names = (
            single_array(users["name"])
            if "name" in users.column_names
            else pa.nulls(len(self.ids), pa.string())
        )
        self._lowered: pa.Array | None = None
        self.campaigns = {name: code for code, name in enumerate(campaigns)}
        a = arrays
        n = len(self.ids)
        # REFERRED edges ordered by time, so a window is one slice.
        self.edge_at, self.edge_campaign = a["edge_at"], a["edge_campaign"]
        self.edge_referrer, self.edge_invitee = a["edge_referrer"], a["edge_invitee"]
        # Referrers get slots of their own (in code order), so counting a
        # window touches arrays of referrers, not of every user.
        self.referrers = np.unique(self.edge_referrer)
        self.edge_slot = np.searchsorted(self.referrers, self.edge_referrer).astype(np.int32)
        self.parent = np.full(n, -1, np.int32)
        self.parent[self.edge_invitee] = self.edge_referrer
        self.children = _Csr.of(self.edge_referrer, self.edge_invitee, n)
        self.invitees = _Csr.of(a["inviter"], a["invitee"], n)  # INVITED, out
        self.inviters = _Csr.of(a["invitee"], a["inviter"], n)  # INVITED, in
        self.churn_user, self.churn_from, self.churn_until = (
            a["churn_user"],
            a["churn_from"],
            a["churn_until"],
        )
        # Convert events ordered by time, like the edges.
        self.convert_at, self.convert_user, self.convert_campaign = (
            a["convert_at"],
            a["convert_user"],
            a["convert_campaign"],
        )
        # Judged fraudulent (flagged by the latest analysis, not approved):
        # their referrals are not effective.
        self.fraudulent = np.zeros(n, bool)
        self.fraudulent[a["fraudulent"]] = True

    def __len__(self) -> int:
        return len(self.ids)

    def code(self, user_id: str) -> int:
        """The user's code; `UserNotFoundError` if the store never saw it."""
        at = self._find.find(user_id)
        if at < 0:
            raise UserNotFoundError("no user {user_id!r} in the store", user_id=user_id)
        return at

    # -- live counts -----------------------------------------------------------

    def top_counts(self, window: Window) -> TopCounts:
        """Each referrer's invites in the window (REFERRED edges made in it, in
        its campaigns), of them effective (invitee not churned at the
        window's end, not fraudulent) and converted (a convert event of the
        invitee in the window and its campaigns), as `Store.top_referrers`."""
        since = micros(window.since, np.iinfo(np.int64).min)
        until = micros(window.until, NEVER)
        lo, hi = np.searchsorted(self.edge_at, [since, until])
        keep = self._in_campaigns(self.edge_campaign[lo:hi], window.campaigns)
        slot = self.edge_slot[lo:hi][keep]
        invitee = self.edge_invitee[lo:hi][keep]
        away = self._churned_at(until)
        converted = self._converted(since, until, window.campaigns)
        slots = len(self.referrers)
        invites = np.bincount(slot, minlength=slots)
        effective = np.bincount(slot[~(away[invitee] | self.fraudulent[invitee])], minlength=slots)
        conversions = np.bincount(slot[converted[invitee]], minlength=slots)
        present = np.flatnonzero(invites)
        return TopCounts(
            self.referrers[present], invites[present], effective[present], conversions[present]
        )

    def _in_campaigns(self, codes: np.ndarray, campaigns: tuple[str, ...]) -> np.ndarray:
        if not campaigns:
            return np.ones(len(codes), bool)
        wanted = [self.campaigns[c] for c in campaigns if c in self.campaigns]
        return np.isin(codes, np.asarray(wanted, np.int32))

    def _churned_at(self, until: int) -> np.ndarray:
        """Per user: inside a churn period at `until`."""
        away = np.zeros(len(self), bool)
        inside = (self.churn_from < until) & (self.churn_until >= until)
        away[self.churn_user[inside]] = True
        return away

    def _converted(self, since: int, until: int, campaigns: tuple[str, ...]) -> np.ndarray:
        lo, hi = np.searchsorted(self.convert_at, [since, until])
        users = self.convert_user[lo:hi][
            self._in_campaigns(self.convert_campaign[lo:hi], campaigns)
        ]
        converted = np.zeros(len(self), bool)
        converted[users] = True
        return converted

    # -- one user ----------------------------------------------------------------

    def user(self, user_id: str) -> UserRecord:
        return self.record_at(self.code(user_id))

    def record_at(self, code: int) -> UserRecord:
        row = row_at(self.users, code)
        return UserRecord(
            row["id"],
            row["first_seen"],
            row["joined_at"],
            row["referred_by"],
            row["converted_at"],
            float(row["amount"]),
            row["churned_at"],
            row.get("name"),
        )

    # -- names -------------------------------------------------------------------

    def user_names(self, ids: Iterable[str]) -> dict[str, str]:
        """As `Store.user_names`: the users of `ids` that have a name."""
        codes = np.asarray([self._find.find(i) for i in dict.fromkeys(ids)], np.int64)
        codes = codes[codes >= 0]
        return self.names_of(codes)

    def names_of(self, codes: np.ndarray) -> dict[str, str]:
        """id -> name of the users at `codes` that have a name."""
        at = pa.array(codes, pa.int64())
        found = pa.table({"id": self.ids.take(at), "name": self.names.take(at)})
        found = found.filter(pc.is_valid(found["name"]))
        return dict(zip(found["id"].to_pylist(), found["name"].to_pylist(), strict=True))

    def search_users(self, q: str, limit: int = 20) -> pa.Table:
        """As `Store.search_users` (graph.user_search), over the names in memory."""
        if self._lowered is None:
            self._lowered = pc.utf8_lower(self.names)
        return search_arrays(self.ids, self.names, q, limit, self._lowered)

    def referral_chain(self, user_id: str, limit: int = 100) -> list[str]:
        """As `Store.referral_chain`: referrers up to the root, nearest first,
        stopping before a loop repeats a user."""
        return self.chain_at(self.code(user_id), limit)

    def chain_at(self, code: int, limit: int) -> list[str]:
        current = code
        seen = {current}
        chain: list[int] = []
        while len(chain) < limit:
            current = int(self.parent[current])
            if current < 0 or current in seen:
                break
            seen.add(current)
            chain.append(current)
        return self.ids.take(pa.array(chain, pa.int64())).to_pylist()

    def ego_network(self, user_id: str, hops: int = 2, limit: int = 500) -> EgoNetwork:
        """As `Store.ego_network`: nearest first then by id, at most `limit`."""
        if hops < 0 or limit < 1:
            raise StoreError("hops must be 0 or more and limit at least 1")
        start = self.code(user_id)

        def neighbours(frontier: list[int], cap: int) -> list[int]:
            nodes = np.asarray(frontier, np.int64)
            parents = self.parent[nodes]
            found = np.concatenate(
                [
                    self.children.gather(nodes)[1],
                    parents[parents >= 0],
                    self.invitees.gather(nodes)[1],
                    self.inviters.gather(nodes)[1],
                ]
            )
            return np.unique(found)[:cap].tolist()

        kept, truncated = bounded_neighbourhood(start, hops, limit, neighbours)
        codes = np.asarray([k for k, _ in kept], np.int64)
        users = pa.table(
            {
                "id": self.ids.take(pa.array(codes)),
                "hop": pa.array([h for _, h in kept], pa.int64()),
            }
        )
        return EgoNetwork(users, self._ties_among(codes), truncated, codes)

    def positions_in(self, ids: pa.Array) -> np.ndarray:
        """Per user code, the position of that user in `ids` (-1 where absent):
        how another table's rows line up with the index."""
        con = duckdb.connect()
        try:
            con.register("mine", pa.table({"id": self.ids, "code": np.arange(len(self))}))
            con.register("theirs", pa.table({"id": ids, "pos": np.arange(len(ids))}))
            found = con.sql("SELECT code, pos FROM mine JOIN theirs USING (id)").fetchnumpy()
        finally:
            con.close()
        positions = np.full(len(self), -1, np.int64)
        positions[found["code"]] = found["pos"]
        return positions

    def _ties_among(self, codes: np.ndarray) -> pa.Table:
        """REFERRED and INVITED ties with both ends in `codes`, ordered by
        source, target, kind."""
        referred = self.children.gather(codes)
        invited = self.invitees.gather(codes)
        kind = np.concatenate(
            [np.ones(len(referred[0]), np.int8), np.zeros(len(invited[0]), np.int8)]
        )
        source = np.concatenate([referred[0], invited[0]])
        target = np.concatenate([referred[1], invited[1]])
        among = np.isin(target, codes)
        source, target, kind = source[among], target[among], kind[among]
        order = np.lexsort((kind, target, source))  # INVITED before REFERRED
        return pa.table(
            {
                "source": self.ids.take(pa.array(source[order])),
                "target": self.ids.take(pa.array(target[order])),
                "kind": pa.array(np.where(kind[order] == 1, "REFERRED", "INVITED"), pa.string()),
            }
        )
