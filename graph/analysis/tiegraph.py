"""The tie graph of a window as integer-indexed arrays.

Users are numbered 0..n-1 in id order. `parent[i]` is the user who referred
user i (REFERRED, at most one) or -1; `tie_src`/`tie_dst` are the INVITED
ties; both are directed inviter -> invitee.
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.store import GraphTables


def undirected_graph(n: int, low: np.ndarray, high: np.ndarray) -> igraph.Graph:
    """The undirected tie graph as igraph, for the kernels that use it."""
    # A list of pairs builds faster than a numpy array in python-igraph.
    return igraph.Graph(n=n, edges=list(zip(low.tolist(), high.tolist(), strict=True)))


@dataclass
class TieGraph:
    ids: pa.Array  # user ids, sorted
    parent: np.ndarray  # int64, -1 for no referrer
    referred_at_us: np.ndarray  # int64 microseconds since epoch of the referral; -1 if none
    tie_src: np.ndarray  # int64
    tie_dst: np.ndarray  # int64
    converted: np.ndarray  # bool
    churned: np.ndarray  # bool
    amount: np.ndarray  # float64

    @property
    def n(self) -> int:
        return len(self.parent)

    def undirected_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Each tie (REFERRED or INVITED, either direction) once, as (low, high)."""
        child = np.flatnonzero(self.parent >= 0)
        a = np.concatenate([self.parent[child], self.tie_src])
        b = np.concatenate([child, self.tie_dst])
        low, high = np.minimum(a, b), np.maximum(a, b)
        keep = low != high
        pairs = np.unique(low[keep] * self.n + high[keep])
        return pairs // self.n, pairs % self.n

    @classmethod
    def from_tables(cls, tables: GraphTables) -> TieGraph:
        users = tables.users
        ids = users["id"].combine_chunks()
        n = len(ids)

        def index(column: pa.ChunkedArray) -> np.ndarray:
            found = pc.index_in(column, value_set=ids)
            return found.fill_null(-1).to_numpy().astype(np.int64)

        parent = np.full(n, -1, np.int64)
        referred_at = np.full(n, -1, np.int64)
        ref = tables.referred
        if ref.num_rows:
            src, dst = index(ref["referrer_id"]), index(ref["invitee_id"])
            ok = (src >= 0) & (dst >= 0)
            parent[dst[ok]] = src[ok]
            at = ref["at"].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
            referred_at[dst[ok]] = at[ok]
        inv = tables.invited
        if inv.num_rows:
            tie_src, tie_dst = index(inv["inviter_id"]), index(inv["invitee_id"])
            ok = (tie_src >= 0) & (tie_dst >= 0)
            tie_src, tie_dst = tie_src[ok], tie_dst[ok]
        else:
            tie_src = tie_dst = np.zeros(0, np.int64)
        return cls(
            ids=ids,
            parent=parent,
            referred_at_us=referred_at,
            tie_src=tie_src,
            tie_dst=tie_dst,
            converted=users["converted"].to_numpy(zero_copy_only=False).astype(bool),
            churned=users["churned"].to_numpy(zero_copy_only=False).astype(bool),
            amount=users["amount"].to_numpy(zero_copy_only=False).astype(np.float64),
        )
