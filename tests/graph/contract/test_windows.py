"""The store contract for windows: every read over `Window(since, until,
campaigns)` on one hand-built file (times UTC), with answers worked out by
hand per window.

The all-time graph: a referred b (May) and c (June), c referred d and e, a
referred g (no campaign); b's invite of c, b's later join of d and d's
invite of f are INVITED ties. b and c joined on device d1, d and e on d2;
d3 is d's alone. e churned in June, b on July 1st; b converted in May, d in
June and July.
"""

from __future__ import annotations

import pytest

from graph.store import Window
from tests.conftest import HEADER
from tests.graph.contract.reads import devices, invited, referred, top, users, utc

EVENTS = [
    ["j1", "join", "a", "b", "2024-05-01 10:00:00", "spring", "", "d1"],
    ["v1", "convert", "", "b", "2024-05-02 10:00:00", "spring", "10", ""],
    ["i1", "invite", "b", "c", "2024-05-20 10:00:00", "spring", "", ""],
    ["j2", "join", "a", "c", "2024-06-01 10:00:00", "618", "", "d1"],
    ["j3", "join", "c", "d", "2024-06-02 10:00:00", "618", "", "d2"],
    ["v2", "convert", "", "d", "2024-06-03 10:00:00", "618", "99", ""],
    ["j4", "join", "c", "e", "2024-06-03 12:00:00", "spring", "", "d2"],
    ["c1", "churn", "", "e", "2024-06-04 10:00:00", "spring", "", ""],
    ["j5", "join", "b", "d", "2024-06-05 10:00:00", "618", "", "d3"],
    ["i2", "invite", "d", "f", "2024-06-10 10:00:00", "618", "", ""],
    ["j6", "join", "a", "g", "2024-06-20 10:00:00", "", "", ""],
    ["c2", "churn", "", "b", "2024-07-01 10:00:00", "", "", ""],
    ["v3", "convert", "", "d", "2024-07-02 10:00:00", "spring", "1", ""],
]

NO = (False, 0.0, False)
AB = ("a", "b", utc("2024-05-01 10:00"))
AC = ("a", "c", utc("2024-06-01 10:00"))
CD = ("c", "d", utc("2024-06-02 10:00"))
CE = ("c", "e", utc("2024-06-03 12:00"))
AG = ("a", "g", utc("2024-06-20 10:00"))
SHARED = {("b", "d1"), ("c", "d1"), ("d", "d2"), ("e", "d2")}

# Per window: users (id -> converted, amount, churned: conversions in the
# window, churn as of its end, every user first seen before its end);
# referred edges made in it; other ties with an invite or join in it;
# devices shared in it; its last event; the top referrers by invites as
# (id, invites, effective, conversions); the order by effective invites and
# by conversions.
EXPECTED = {
    "all time": dict(
        window=Window(),
        users=dict(
            a=NO,
            b=(True, 10.0, True),
            c=NO,
            d=(True, 100.0, False),
            e=(False, 0.0, True),
            f=NO,
            g=NO,
        ),
        referred={AB, AC, CD, CE, AG},
        invited={("b", "c"), ("b", "d"), ("d", "f")},
        devices=SHARED,
        last=utc("2024-07-02 10:00"),
        top=[("a", 3, 2, 1), ("c", 2, 1, 1)],
        by_effective=["a", "c"],
        by_conversions=["a", "c"],
    ),
    "before June": dict(
        window=Window(until=utc("2024-06-01 00:00")),
        # b churned after the window: not churned in it, so still effective.
        users=dict(a=NO, b=(True, 10.0, False), c=NO),
        referred={AB},
        invited={("b", "c")},
        devices=set(),
        last=utc("2024-05-20 10:00"),
        top=[("a", 1, 1, 1)],
        by_effective=["a"],
        by_conversions=["a"],
    ),
    "June": dict(
        window=Window(since=utc("2024-06-01 00:00"), until=utc("2024-07-01 00:00")),
        # b churned after the window ended: not churned in it.
        users=dict(a=NO, b=NO, c=NO, d=(True, 99.0, False), e=(False, 0.0, True), f=NO, g=NO),
        referred={AC, CD, CE, AG},
        invited={("b", "d"), ("d", "f")},
        devices={("d", "d2"), ("e", "d2")},
        last=utc("2024-06-20 10:00"),
        top=[("a", 2, 2, 0), ("c", 2, 1, 1)],
        by_effective=["a", "c"],
        by_conversions=["c", "a"],
    ),
    "one day of June, bounds": dict(
        # since is inside the window, until is not: j2 is in, j3 and d are out.
        window=Window(since=utc("2024-06-01 10:00"), until=utc("2024-06-02 10:00")),
        users=dict(a=NO, b=NO, c=NO),
        referred={AC},
        invited=set(),
        devices=set(),
        last=utc("2024-06-01 10:00"),
        top=[("a", 1, 1, 0)],
        by_effective=["a"],
        by_conversions=["a"],
    ),
    "June 2nd": dict(
        # d was referred in the window and converted after it: no conversion.
        window=Window(since=utc("2024-06-02 00:00"), until=utc("2024-06-03 00:00")),
        users=dict(a=NO, b=NO, c=NO, d=NO),
        referred={CD},
        invited=set(),
        devices=set(),
        last=utc("2024-06-02 10:00"),
        top=[("c", 1, 1, 0)],
        by_effective=["c"],
        by_conversions=["c"],
    ),
    "until b's churn": dict(
        # The window ends at b's churn: b is not churned yet, c2 is not in it.
        window=Window(until=utc("2024-07-01 10:00")),
        users=dict(
            a=NO,
            b=(True, 10.0, False),
            c=NO,
            d=(True, 99.0, False),
            e=(False, 0.0, True),
            f=NO,
            g=NO,
        ),
        referred={AB, AC, CD, CE, AG},
        invited={("b", "c"), ("b", "d"), ("d", "f")},
        devices=SHARED,
        last=utc("2024-06-20 10:00"),
        top=[("a", 3, 3, 1), ("c", 2, 1, 1)],
        by_effective=["a", "c"],
        by_conversions=["a", "c"],
    ),
    "after June": dict(
        window=Window(since=utc("2024-07-01 00:00")),
        users=dict(
            a=NO,
            b=(False, 0.0, True),
            c=NO,
            d=(True, 1.0, False),
            e=(False, 0.0, True),
            f=NO,
            g=NO,
        ),
        referred=set(),
        invited=set(),
        devices=set(),
        last=utc("2024-07-02 10:00"),
        top=[],
        by_effective=[],
        by_conversions=[],
    ),
    "618": dict(
        window=Window(campaigns=("618",)),
        # Churn is the user's, whatever the campaign; conversions are the campaign's.
        users=dict(
            a=NO,
            b=(False, 0.0, True),
            c=NO,
            d=(True, 99.0, False),
            e=(False, 0.0, True),
            f=NO,
            g=NO,
        ),
        referred={AC, CD},
        invited={("b", "d"), ("d", "f")},
        devices=set(),  # d1, d2 are each one user's in 618; d3 is d's alone
        last=utc("2024-06-10 10:00"),
        top=[("a", 1, 1, 0), ("c", 1, 1, 1)],
        by_effective=["a", "c"],
        by_conversions=["c", "a"],
    ),
    "spring in June": dict(
        window=Window(
            since=utc("2024-06-01 00:00"), until=utc("2024-07-01 00:00"), campaigns=("spring",)
        ),
        users=dict(a=NO, b=NO, c=NO, d=NO, e=(False, 0.0, True), f=NO, g=NO),
        referred={CE},
        invited=set(),
        devices=set(),
        last=utc("2024-06-04 10:00"),
        top=[("c", 1, 0, 0)],
        by_effective=["c"],
        by_conversions=["c"],
    ),
    "both campaigns": dict(
        # Events without a campaign (g's join, b's churn event) are left out.
        window=Window(campaigns=("618", "spring")),
        users=dict(
            a=NO,
            b=(True, 10.0, True),
            c=NO,
            d=(True, 100.0, False),
            e=(False, 0.0, True),
            f=NO,
            g=NO,
        ),
        referred={AB, AC, CD, CE},
        invited={("b", "c"), ("b", "d"), ("d", "f")},
        devices=SHARED,
        last=utc("2024-07-02 10:00"),
        top=[("a", 2, 1, 1), ("c", 2, 1, 1)],
        by_effective=["a", "c"],
        by_conversions=["a", "c"],
    ),
    "before everything": dict(
        window=Window(until=utc("2024-01-01 00:00")),
        users={},
        referred=set(),
        invited=set(),
        devices=set(),
        last=None,
        top=[],
        by_effective=[],
        by_conversions=[],
    ),
    "an unknown campaign": dict(
        window=Window(campaigns=("double11",)),
        users=dict(a=NO, b=(False, 0.0, True), c=NO, d=NO, e=(False, 0.0, True), f=NO, g=NO),
        referred=set(),
        invited=set(),
        devices=set(),
        last=None,
        top=[],
        by_effective=[],
        by_conversions=[],
    ),
}


@pytest.fixture
def windowed(feed):
    feed.load(EVENTS, [*HEADER, "device_id"])
    return feed.store


@pytest.mark.parametrize("name", EXPECTED)
def test_read_graph_in_a_window(windowed, name):
    want = EXPECTED[name]
    tables = windowed.read_graph(want["window"])
    assert users(tables) == want["users"]
    assert tables.users["id"].to_pylist() == sorted(want["users"])  # in id order
    assert referred(tables) == want["referred"]
    assert tables.referred.num_rows == len(want["referred"])
    assert invited(tables) == want["invited"]
    assert tables.invited.num_rows == len(want["invited"])  # each tie once
    assert devices(tables) == want["devices"]
    assert tables.devices.num_rows == len(want["devices"])
    assert tables.last_event_at == want["last"]
    assert tables.watermark == windowed.watermark() == 1


@pytest.mark.parametrize("name", EXPECTED)
def test_live_counts_in_a_window(windowed, name):
    want = EXPECTED[name]
    window = want["window"]
    assert top(windowed, window) == want["top"]
    assert [r[0] for r in top(windowed, window, "effective_invites")] == want["by_effective"]
    assert [r[0] for r in top(windowed, window, "conversions")] == want["by_conversions"]
    assert windowed.referrer_count(window) == len(want["top"])


def test_graph_tables_have_the_documented_columns(windowed):
    tables = windowed.read_graph(Window())
    assert [(f.name, str(f.type)) for f in tables.users.schema] == [
        ("id", "string"),
        ("converted", "bool"),
        ("amount", "double"),
        ("churned", "bool"),
    ]
    assert tables.referred.column_names == ["referrer_id", "invitee_id", "at"]
    assert str(tables.referred.schema.field("at").type) == "timestamp[us, tz=UTC]"
    assert tables.invited.column_names == ["inviter_id", "invitee_id"]
    assert tables.devices.column_names == ["user_id", "device_id"]
    empty = windowed.read_graph(Window(until=utc("2024-01-01 00:00")))
    for name in ("users", "referred", "invited", "devices"):
        assert getattr(empty, name).schema.equals(getattr(tables, name).schema), name
