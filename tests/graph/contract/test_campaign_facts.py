"""The store contract for the campaign dashboard's read (`Store.campaign_facts`)
on one hand-built file (times UTC), days in Asia/Shanghai (UTC+8), with the
answers worked out by hand; and on a generated campaign, both backends alike.

s joined with no inviter (June 1st); s referred a (at 17:00 UTC on June
1st: the 2nd in Shanghai), a referred b (618), b referred c, c referred d; y joined through x and then x through y (a
referral loop); e joined in May and again through a in June (not a first
join); s's second join of b is not one either. b bought on June 3rd local
(618), a on the 4th; d churned on the 4th; a invited z on the 4th.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa

from graph.store import Window
from tests.conftest import HEADER

ZONE = "Asia/Shanghai"
COLUMNS = [*HEADER, "channel", "staff_id"]
EVENTS = [
    ["j7", "join", "s", "e", "2024-05-20 00:00:00", "spring", "", "", ""],
    ["j0", "join", "", "s", "2024-06-01 01:00:00", "spring", "", "poster", "st1"],
    ["j1", "join", "s", "a", "2024-06-01 17:00:00", "spring", "", "moments", "st1"],
    ["j2", "join", "a", "b", "2024-06-02 03:00:00", "618", "", "poster", "st2"],
    ["j3", "join", "b", "c", "2024-06-02 04:00:00", "spring", "", "", ""],
    ["jy", "join", "x", "y", "2024-06-02 06:00:00", "spring", "", "", ""],
    ["jx", "join", "y", "x", "2024-06-02 07:00:00", "spring", "", "", ""],
    ["vb", "convert", "", "b", "2024-06-02 20:00:00", "618", "100", "", ""],
    ["j4", "join", "c", "d", "2024-06-03 02:00:00", "spring", "", "", ""],
    ["j5", "join", "s", "b", "2024-06-03 05:00:00", "spring", "", "", ""],
    ["j6", "join", "a", "e", "2024-06-03 08:00:00", "spring", "", "", ""],
    ["cd", "churn", "", "d", "2024-06-03 23:00:00", "spring", "", "", ""],
    ["iz", "invite", "a", "z", "2024-06-04 01:00:00", "spring", "", "", ""],
    ["va", "convert", "", "a", "2024-06-04 10:00:00", "spring", "50", "", ""],
    ["vc", "convert", "", "c", "2024-07-01 10:00:00", "spring", "5", "", ""],
]


def june(first: int, last: int, *campaigns: str) -> Window:
    """Local days June `first`..`last` (included) in Shanghai."""
    tz = ZoneInfo(ZONE)
    since = datetime(2024, 6, first, tzinfo=tz)
    return Window(since, datetime(2024, 6, last, tzinfo=tz) + timedelta(days=1), campaigns)


def d(day: int) -> date:
    return date(2024, 6, day)


# user -> (day, inviter, channel, staff, tier, converted_day)
A = ("a", (d(2), "s", "moments", "st1", 1, d(4)))
B = ("b", (d(2), "a", "poster", "st2", 2, d(3)))
C = ("c", (d(2), "b", None, None, 3, None))
D = ("d", (d(3), "c", None, None, 3, None))
S = ("s", (d(1), None, "poster", "st1", 0, None))
X = ("x", (d(2), "y", None, None, 2, None))
Y = ("y", (d(2), "x", None, None, 2, None))


def joins(table: pa.Table) -> list[tuple]:
    """The rows by user id (their order is not part of the contract)."""
    return sorted(
        (r["user_id"], (r["day"], r["inviter_id"], r["channel"], r["staff_id"], r["tier"],
                        r["converted_day"]))
        for r in table.to_pylist()
    )  # fmt: skip


def days(table: pa.Table) -> dict[date, tuple]:
    """day -> (churned, conversions, gmv, sharers, last_shared)."""
    return {
        r["day"]: (r["churned"], r["conversions"], r["gmv"], r["sharers"], r["last_shared"])
        for r in table.to_pylist()
    }


def test_first_joins_their_tiers_and_days(feed):
    feed.load(EVENTS, COLUMNS)
    facts = feed.store.campaign_facts(june(1, 4), ZONE)
    assert joins(facts.joins) == [A, B, C, D, S, X, Y]
    assert days(facts.days) == {
        d(1): (0, 0, 0.0, 0, 0),
        d(2): (0, 0, 0.0, 5, 3),  # s, a, b, x, y; b, x and y never again
        d(3): (0, 1, 100.0, 3, 2),  # c, s, a; c and s for the last time
        d(4): (1, 1, 50.0, 1, 1),
    }
    assert facts.joins.schema.field("day").type == pa.date32()
    assert facts.joins.schema.field("tier").type == pa.int8()
    assert facts.days.schema.field("gmv").type == pa.float64()


def test_a_campaign_keeps_first_joins_of_its_own_and_its_events(feed):
    feed.load(EVENTS, COLUMNS)
    spring = feed.store.campaign_facts(june(1, 4, "spring"), ZONE)
    # b's first join was 618's: its later spring join does not make it spring's
    assert joins(spring.joins) == [A, C, D, S, X, Y]
    assert days(spring.days) == {
        d(1): (0, 0, 0.0, 0, 0),
        d(2): (0, 0, 0.0, 4, 3),
        d(3): (0, 0, 0.0, 3, 2),  # b's 618 purchase is not spring's
        d(4): (1, 1, 50.0, 1, 1),
    }
    shop = feed.store.campaign_facts(june(1, 4, "618"), ZONE)
    assert joins(shop.joins) == [B]
    assert days(shop.days) == {d(2): (0, 0, 0.0, 1, 1), d(3): (0, 1, 100.0, 0, 0)}


def test_the_window_bounds_joins_conversions_and_days(feed):
    feed.load(EVENTS, COLUMNS)
    later = feed.store.campaign_facts(june(3, 4), ZONE)
    assert joins(later.joins) == [D]  # e's join of June 3rd is not its first
    assert set(days(later.days)) == {d(3), d(4)}
    assert days(later.days)[d(3)] == (0, 1, 100.0, 3, 2)
    early = feed.store.campaign_facts(june(1, 2), ZONE)
    # a and b bought after the window: not converted in it
    assert dict(joins(early.joins))["a"][5] is None
    assert dict(joins(early.joins))["b"][5] is None
    empty = feed.store.campaign_facts(june(20, 21), ZONE)
    assert empty.joins.num_rows == 0 and empty.days.num_rows == 0
    assert empty.joins.schema == later.joins.schema


def test_days_are_calendar_days_of_the_zone_asked_for(feed):
    feed.load(EVENTS, COLUMNS)
    utc = ZoneInfo("UTC")
    window = Window(datetime(2024, 6, 1, tzinfo=utc), datetime(2024, 6, 5, tzinfo=utc))
    facts = feed.store.campaign_facts(window, "UTC")
    # a joined at 17:00 UTC on June 1st: the 1st in UTC, the 2nd in Shanghai
    assert dict(joins(facts.joins))["a"][0] == d(1)
    assert days(facts.days)[d(2)][2] == 100.0  # b bought at 20:00 UTC on the 2nd


def test_both_backends_read_a_generated_campaign_alike(loaded):
    """Against the raw events (times are Shanghai's, as text): the first
    join of each user in May, and the churn events of each day."""
    store, events, _ = loaded
    tz = ZoneInfo(ZONE)
    window = Window(datetime(2026, 5, 1, tzinfo=tz), datetime(2026, 6, 1, tzinfo=tz))
    facts = store.campaign_facts(window, ZONE)
    rows = sorted(events.to_pylist(), key=lambda r: r["occurred_at"])
    first: dict[str, dict] = {}
    for r in rows:
        if r["type"] == "join":
            first.setdefault(r["invitee_id"], r)
    expected = sorted(
        (user, date.fromisoformat(r["occurred_at"][:10]), r["inviter_id"])
        for user, r in first.items()
        if r["occurred_at"].startswith("2026-05")
    )
    got = sorted((r["user_id"], r["day"], r["inviter_id"]) for r in facts.joins.to_pylist())
    assert got == expected and len(got) > 100
    churns = Counter(
        date.fromisoformat(r["occurred_at"][:10])
        for r in rows
        if r["type"] == "churn" and r["occurred_at"].startswith("2026-05")
    )
    assert {k: v[0] for k, v in days(facts.days).items() if v[0]} == dict(churns)
