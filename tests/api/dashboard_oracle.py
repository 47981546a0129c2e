"""The campaign dashboard worked out again from the raw event log with pandas
and networkx, straight from the definitions in docs/dashboard.md: the oracle
of tests/api/test_dashboard.py (none of graph.dashboard's code is used)."""

from __future__ import annotations

from datetime import date, timedelta

import networkx as nx
import pandas as pd

ZONE = "Asia/Shanghai"


class Log:
    """The store's event log, with each event's local day and each user's
    first join (earliest, then smallest event id)."""

    def __init__(self, events: pd.DataFrame) -> None:
        events = events.copy()
        events["day"] = events["occurred_at"].dt.tz_convert(ZONE).dt.date
        self.events = events
        joins = events[events["type"] == "join"].sort_values(["occurred_at", "event_id"])
        self.first = joins.drop_duplicates("invitee_id").set_index("invitee_id")
        referred = self.first[self.first["inviter_id"].notna()]
        self.parent = dict(zip(referred.index, referred["inviter_id"], strict=True))
        self.tree = nx.DiGraph(list(zip(referred["inviter_id"], referred.index, strict=True)))
        converts = events[events["type"] == "convert"]
        self.amount = converts.groupby("invitee_id")["amount"].sum().astype(float).to_dict()

    def tier(self, user: str) -> int:
        """REFERRED edges above the user, no edge twice, at most 3."""
        seen, tier, at = set(), 0, user
        while tier < 3 and at in self.parent and at not in seen:
            seen.add(at)
            at, tier = self.parent[at], tier + 1
        return tier

    def of(self, campaign: str | None) -> pd.DataFrame:
        ev = self.events
        return ev if campaign is None else ev[ev["campaign"] == campaign]

    def joins(self, campaign: str | None, first: date, last: date) -> pd.DataFrame:
        f = self.first
        f = f[(f["day"] >= first) & (f["day"] <= last)]
        return f if campaign is None else f[f["campaign"] == campaign]


def _period(log: Log, campaign: str | None, first: date, last: date, end: date) -> dict:
    ev = log.of(campaign)
    inside = ev[(ev["day"] >= first) & (ev["day"] <= last)]
    joins = log.joins(campaign, first, last)
    bought = ev[(ev["type"] == "convert") & (ev["day"] >= first) & (ev["day"] <= end)]
    converted = joins.index.isin(bought["invitee_id"]).sum()
    churned = int((inside["type"] == "churn").sum())
    converts = inside[inside["type"] == "convert"]
    sharing = inside[inside["type"].isin(["invite", "join"]) & inside["inviter_id"].notna()]
    n, referred = len(joins), int(joins["inviter_id"].notna().sum())
    return {
        "joins": n,
        "referred_joins": referred,
        "fission_rate": referred / n if n else None,
        "churned": churned,
        "net_joins": n - churned,
        "conversions": len(converts),
        "conversion_rate": converted / n if n else None,
        "gmv": round(float(converts["amount"].astype(float).sum()), 2),
        "active_sharers": sharing["inviter_id"].nunique(),
    }


def kpis(log: Log, campaign: str | None, since: date, until: date) -> dict:
    periods = {
        "total": (since, until),
        "day": (until, until),
        "previous_day": (until - timedelta(days=1), until - timedelta(days=1)),
    }
    values = {p: _period(log, campaign, a, b, until) for p, (a, b) in periods.items()}
    return {k: {p: values[p][k] for p in periods} for k in values["total"]}


def daily(log: Log, campaign: str | None, since: date, until: date) -> list[dict]:
    out = []
    day = since
    while day <= until:
        one = _period(log, campaign, day, day, until)
        out.append(
            {"day": day.isoformat()}
            | {k: one[k] for k in ("joins", "referred_joins", "churned", "conversions", "gmv")}
        )
        day += timedelta(days=1)
    return out


def funnel(log: Log, campaign: str | None, since: date, until: date) -> list[dict]:
    joins = log.joins(campaign, since, until)
    ev = log.of(campaign)
    bought = set(
        ev[(ev["type"] == "convert") & (ev["day"] >= since) & (ev["day"] <= until)]["invitee_id"]
    )
    tiers = {u: log.tier(u) for u in joins.index}
    return [
        {
            "tier": t,
            "users": sum(1 for v in tiers.values() if v == t),
            "converted": sum(1 for u, v in tiers.items() if v == t and u in bought),
        }
        for t in (1, 2, 3)
    ]


def board(
    log: Log,
    campaign: str | None,
    since: date,
    until: date,
    key: str,
    flagged: set[str],
    kocs: set[str],
) -> list[dict]:
    """Per channel / staff member: users joined in the range, the distinct
    users below any of them (networkx descendants) and their GMV."""
    joins = log.joins(campaign, since, until)
    rows = []
    for name, group in joins.groupby(joins[key].astype(object).where(joins[key].notna(), None),
                                     dropna=False):  # fmt: skip
        below: set[str] = set()
        for user in group.index:
            if user in log.tree:
                below |= nx.descendants(log.tree, user)
        users = len(group)
        rows.append(
            {
                key: None if pd.isna(name) else name,
                "users": users,
                "reach": len(below),
                "tree_gmv": round(sum(log.amount.get(u, 0.0) for u in below), 2),
                "kocs": sum(1 for u in group.index if u in kocs),
                "flagged_share": sum(1 for u in group.index if u in flagged) / users,
            }
        )
    rows.sort(key=lambda r: (-r["reach"], -r["users"], r[key] is None, r[key] or ""))
    return rows[:50]
