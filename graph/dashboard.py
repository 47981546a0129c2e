"""The campaign dashboard's numbers (docs/dashboard.md): plain functions over
one `Store.campaign_facts` read and the latest snapshot's columns.

A dashboard covers calendar days `since`..`until` (inclusive) in the
deployment's zone; the store is read from the day before `since`, so every
KPI has the day before its last day even for a one-day range.

- joins (新增): users whose first join (the attributed join) falls on the
  days, of the campaign when one is chosen; referred_joins: of those, with an
  inviter; fission_rate = referred_joins / joins;
- churned (流失): churn events; net_joins (净增) = joins - churned;
- conversions (转化): convert events; gmv: their amounts;
- conversion_rate (转化率): of the users who joined in a period, those with a
  convert event from the period's first day to the range's last, / joins;
- active_sharers: distinct inviters of invite and join events;
- funnel: users joined in the range by tier (REFERRED edges above them: 1,
  invited by a seed; 2; 3 and deeper), and of them converted in the range;
- leaderboards (channels, staff): users joined in the range through each
  channel code / staff member, and from the latest snapshot what they
  brought: reach and tree_gmv over the distinct users downstream of them (a
  user below two of them counts once), kocs (in the KOC list) and
  flagged_share.

Every event count is under the campaign filter on the event's own campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.store import CampaignFacts, SavedSnapshot, Window

KPIS = (
    "joins",
    "referred_joins",
    "fission_rate",
    "churned",
    "net_joins",
    "conversions",
    "conversion_rate",
    "gmv",
    "active_sharers",
)
TIERS = (1, 2, 3)
BOARD_ROWS = 50  # rows a leaderboard keeps
# How far up its referral chain a user is looked at for another of its group
# (chains among one range's joins are far shorter; a referral loop ends it).
MAX_CHAIN = 1000
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Days:
    """Calendar days `since`..`until`, both included."""

    since: date
    until: date

    @property
    def count(self) -> int:
        return (self.until - self.since).days + 1

    def read_window(self, zone: str, campaign: str | None) -> Window:
        """What the store is asked for: from the day before `since` to the end
        of `until`, in `zone`."""
        tz = ZoneInfo(zone)
        start = datetime.combine(self.since - timedelta(days=1), time(), tz)
        end = datetime.combine(self.until + timedelta(days=1), time(), tz)
        return Window(start, end, (campaign,) if campaign is not None else ())

    def offsets(self, days: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Days as offsets from `since` (-1 is the day before; null: a large
        negative number, outside every period)."""
        numbers = pc.fill_null(pc.cast(days, pa.int32()), -(1 << 30))
        return np.asarray(numbers, np.int64) - (self.since - _EPOCH).days


@dataclass
class GraphColumns:
    """What the leaderboards take from the latest snapshot, made once per
    snapshot: the users with anyone below them (their reach and the GMV
    below them; a few in ten), the flagged users and the KOC list. A
    request looks its joins up in these, never hashing every user's id."""

    ids: pa.Array  # users with reach > 0
    reach: np.ndarray
    gmv: np.ndarray
    flagged: pa.Array  # ids
    kocs: pa.Array  # the KOC list's user ids

    @classmethod
    def of(cls, snapshot: SavedSnapshot | None, koc_ids: list[str]) -> GraphColumns:
        kocs = pa.array(koc_ids, pa.string())
        if snapshot is None:
            none = pa.array([], pa.string())
            return cls(none, np.zeros(0), np.zeros(0), none, kocs)
        users = snapshot.users
        below = users.filter(pc.greater(users["reach"], 0))
        flagged = users.filter(pc.fill_null(users["flagged"], False))["id"]
        return cls(
            ids=below["id"].combine_chunks(),
            reach=np.asarray(below["reach"], np.float64),
            gmv=np.asarray(below["gmv"], np.float64),
            flagged=flagged.combine_chunks(),
            kocs=kocs,
        )

    def below(self, ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Per user of `ids` (distinct), its reach and the GMV below it (0
        for users with nobody below them, or unknown to the snapshot)."""
        where = np.asarray(pc.fill_null(pc.index_in(self.ids, value_set=ids), -1), np.int64)
        hit = where >= 0
        reach, gmv = np.zeros(len(ids)), np.zeros(len(ids))
        reach[where[hit]], gmv[where[hit]] = self.reach[hit], self.gmv[hit]
        return reach, gmv


def _periods(days: Days) -> dict[str, tuple[int, int]]:
    """total, day and previous_day as offset ranges [first, last]."""
    last = days.count - 1
    return {"total": (0, last), "day": (last, last), "previous_day": (last - 1, last - 1)}


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def kpis(facts: CampaignFacts, days: Days) -> dict[str, dict[str, float | int | None]]:
    """Every KPI as {total, day, previous_day}."""
    joined = days.offsets(facts.joins["day"])
    referred = np.asarray(pc.is_valid(facts.joins["inviter_id"]), bool)
    bought = days.offsets(facts.joins["converted_day"])
    on = days.offsets(facts.days["day"])
    daily = {
        name: np.asarray(facts.days[name], np.float64)
        for name in ("churned", "conversions", "gmv", "sharers", "last_shared")
    }
    out: dict[str, dict] = {name: {} for name in KPIS}
    last = days.count - 1
    for period, (first, end) in _periods(days).items():
        mine = (joined >= first) & (joined <= end)
        joins = int(mine.sum())
        referred_joins = int((mine & referred).sum())
        converted = int((mine & (bought >= first) & (bought <= last)).sum())
        inside = (on >= first) & (on <= end)
        churned = int(daily["churned"][inside].sum())
        sharers = (
            daily["last_shared"][on >= first] if period == "total" else daily["sharers"][inside]
        )
        values = {
            "joins": joins,
            "referred_joins": referred_joins,
            "fission_rate": _ratio(referred_joins, joins),
            "churned": churned,
            "net_joins": joins - churned,
            "conversions": int(daily["conversions"][inside].sum()),
            "conversion_rate": _ratio(converted, joins),
            "gmv": round(float(daily["gmv"][inside].sum()), 2),
            "active_sharers": int(sharers.sum()),
        }
        for name, value in values.items():
            out[name][period] = value
    return out


def daily(facts: CampaignFacts, days: Days) -> list[dict]:
    """One row per day of the range, zeros included."""
    n = days.count
    joined = days.offsets(facts.joins["day"])
    mine = (joined >= 0) & (joined < n)
    referred = mine & np.asarray(pc.is_valid(facts.joins["inviter_id"]), bool)
    on = days.offsets(facts.days["day"])
    inside = (on >= 0) & (on < n)

    def per_day(at: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(at, weights=weights, minlength=n)

    joins = per_day(joined[mine])
    referred_joins = per_day(joined[referred])
    spread = {
        name: per_day(on[inside], np.asarray(facts.days[name], np.float64)[inside])
        for name in ("churned", "conversions", "gmv")
    }
    return [
        {
            "day": days.since + timedelta(days=i),
            "joins": int(joins[i]),
            "referred_joins": int(referred_joins[i]),
            "churned": int(spread["churned"][i]),
            "conversions": int(spread["conversions"][i]),
            "gmv": round(float(spread["gmv"][i]), 2),
        }
        for i in range(n)
    ]


def in_range(facts: CampaignFacts, days: Days) -> pa.Table:
    """The joins of the range itself (the read starts a day earlier)."""
    joined = days.offsets(facts.joins["day"])
    return facts.joins.filter(pa.array((joined >= 0) & (joined < days.count)))


def funnel(joins: pa.Table, days: Days) -> list[dict]:
    """Users joined in the range by tier (1, 2, 3 and deeper), and of them
    those who converted in the range. `joins`: `in_range`'s."""
    tier = np.asarray(joins["tier"], np.int64)
    bought = days.offsets(joins["converted_day"])
    converted = (bought >= 0) & (bought < days.count)
    return [
        {
            "tier": t,
            "users": int((tier == t).sum()),
            "converted": int(((tier == t) & converted).sum()),
        }
        for t in TIERS
    ]


def topmost(parent: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Which rows have no referrer above them in their own group (`parent`: a
    row's referrer's row, -1 when it is not among the rows). On a referral
    loop, whose members are each other's only referrers above, the loop's
    first row of the group stands for it. Summing the subtree sizes of these
    rows counts every user below a group once."""
    n = len(parent)
    covered = np.zeros(n, bool)
    smallest = np.arange(n)  # the smallest row of the same group met above
    cur = parent.astype(np.int64)
    active = np.flatnonzero(cur >= 0)
    for _ in range(MAX_CHAIN):
        if not active.size:
            break
        up = cur[active]
        looped = up == active
        if looped.any():  # back at itself: on a loop, only its first row stands
            round_ = active[looped]
            covered[round_] = smallest[round_] < round_
            active, up = active[~looped], up[~looped]
        same = group[up] == group[active]
        covered[active] |= same
        smallest[active] = np.where(same, np.minimum(smallest[active], up), smallest[active])
        cur[active] = parent[up]
        active = active[cur[active] >= 0]
    return ~covered


def leaderboard(joins: pa.Table, key: str, graph: GraphColumns) -> list[dict]:
    """Users joined in the range grouped by `key` (channel or staff_id; null
    is a group), with what they brought on the graph (`GraphColumns`),
    ranked by reach, then users, then key (null last); at most BOARD_ROWS."""
    if joins.num_rows == 0:
        return []
    encoded = pc.dictionary_encode(joins[key]).combine_chunks()
    names = encoded.dictionary.to_pylist() + [None]
    group = np.asarray(pc.fill_null(encoded.indices, len(names) - 1), np.int64)
    ids = joins["user_id"].combine_chunks()
    reach, gmv = graph.below(ids)
    # Only users with someone below them can stand above another: the walk
    # up runs among them.
    above = np.flatnonzero(reach > 0)
    inviters = joins["inviter_id"].combine_chunks().take(pa.array(above))
    parent = pc.index_in(inviters, value_set=ids.take(pa.array(above)))
    top = np.zeros(len(ids), bool)
    top[above] = topmost(np.asarray(pc.fill_null(parent, -1), np.int64), group[above])
    flagged = np.asarray(pc.is_in(ids, value_set=graph.flagged), bool)
    koc = np.asarray(pc.is_in(ids, value_set=graph.kocs), bool)
    g = len(names)
    users = np.bincount(group, minlength=g)
    sums = {
        "reach": np.bincount(group, weights=np.where(top, reach, 0), minlength=g),
        "tree_gmv": np.bincount(group, weights=np.where(top, gmv, 0), minlength=g),
        "kocs": np.bincount(group, weights=koc, minlength=g),
        "flagged": np.bincount(group, weights=flagged, minlength=g),
    }
    rows = [
        {
            key: names[i],
            "users": int(users[i]),
            "reach": int(sums["reach"][i]),
            "tree_gmv": round(float(sums["tree_gmv"][i]), 2),
            "kocs": int(sums["kocs"][i]),
            "flagged_share": float(sums["flagged"][i] / users[i]),
        }
        for i in np.flatnonzero(users)
    ]
    rows.sort(key=lambda r: (-r["reach"], -r["users"], r[key] is None, r[key] or ""))
    return rows[:BOARD_ROWS]
