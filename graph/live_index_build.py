"""Building the live index (graph.live_index) from `Store.live_facts`:
users coded by their position in id order, and every edge, tie, churn
period and conversion turned into codes in a local DuckDB."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from graph.live_index import NEVER, LiveIndex
from graph.sorted_ids import sorted_by_id
from graph.store import LiveFacts, StoreError

# The facts coded in a local DuckDB: `u` is the users' ids with their codes.
_CODED = {
    "edges": """SELECT a.code AS edge_referrer, b.code AS edge_invitee,
            epoch_us(r."at") AS edge_at, coalesce(c.code, -1) AS edge_campaign
        FROM referred r JOIN u a ON a.id = r.referrer_id JOIN u b ON b.id = r.invitee_id
        LEFT JOIN campaigns c ON c.campaign = r.campaign
        ORDER BY edge_at, edge_invitee""",
    "invited": """SELECT a.code AS inviter, b.code AS invitee
        FROM invited i JOIN u a ON a.id = i.inviter_id JOIN u b ON b.id = i.invitee_id""",
    "churns": f"""SELECT a.code AS churn_user, epoch_us(p.churned_at) AS churn_from,
            coalesce(epoch_us(p.returned_at), {NEVER}) AS churn_until
        FROM churns p JOIN u a ON a.id = p.user_id""",
    "converts": """SELECT a.code AS convert_user, epoch_us(e.occurred_at) AS convert_at,
            coalesce(c.code, -1) AS convert_campaign
        FROM converts e JOIN u a ON a.id = e.invitee_id
        LEFT JOIN campaigns c ON c.campaign = e.campaign
        ORDER BY convert_at, convert_user""",
    "fraudulent": "SELECT DISTINCT a.code AS fraudulent FROM fraudulent f JOIN u a ON a.id = f.id",
}
_SIZES = {"edges": "referred", "invited": "invited", "churns": "churns", "converts": "converts"}


def build_live_index(facts: LiveFacts, fraudulent: pa.Array | None = None) -> LiveIndex:
    """The index of `facts`, with the users judged `fraudulent` (ids; unknown
    ones ignored); `StoreError` if a tie or event names a user the users
    table lacks (the store would be inconsistent)."""
    users = sorted_by_id(facts.users)
    n = users.num_rows
    con = duckdb.connect()
    try:
        con.register(
            "u", pa.table({"id": users["id"], "code": pa.array(np.arange(n, dtype=np.int32))})
        )
        for name in ("referred", "invited", "churns", "converts"):
            con.register(name, getattr(facts, name))
        con.register("fraudulent", pa.table({"id": fraudulent or pa.array([], pa.string())}))
        campaigns = [
            r[0]
            for r in con.sql(
                """SELECT campaign FROM referred WHERE campaign IS NOT NULL
                   UNION SELECT campaign FROM converts WHERE campaign IS NOT NULL
                   ORDER BY campaign"""
            ).fetchall()
        ]
        con.register(
            "campaigns",
            pa.table(
                {
                    "campaign": pa.array(campaigns, pa.string()),
                    "code": pa.array(np.arange(len(campaigns), dtype=np.int32)),
                }
            ),
        )
        arrays: dict[str, np.ndarray] = {}
        for name, sql in _CODED.items():
            coded = con.sql(sql).fetchnumpy()
            expected = getattr(facts, _SIZES[name]).num_rows if name in _SIZES else None
            got = len(next(iter(coded.values())))
            if expected is not None and got != expected:
                raise StoreError(
                    "the store's {table} name {missing} user(s) missing from its users; run `koc repair`",
                    table=_SIZES[name],
                    missing=expected - got,
                )
            arrays.update({k: np.asarray(v) for k, v in coded.items()})
    finally:
        con.close()
    for key in (
        *("edge_referrer", "edge_invitee", "inviter", "invitee", "churn_user", "convert_user"),
        *("edge_campaign", "convert_campaign", "fraudulent"),
    ):
        arrays[key] = arrays[key].astype(np.int32)
    return LiveIndex(arrays, users, campaigns)
