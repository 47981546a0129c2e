"""The store contract for walking the graph: referral chains, ego networks
and pages of top referrers, on small hand-built files (times UTC)."""

from __future__ import annotations

import pytest

from graph.store import StoreError, Window
from tests.graph.contract.reads import rows, top


def joins(pairs: list[tuple[str, str]], day: int = 1) -> list[list[str]]:
    """Joins of (inviter, invitee), a minute apart in this order."""
    return [
        ["", "join", inviter, invitee, f"2024-05-{day:02d} 10:{n:02d}:00", "", ""]
        for n, (inviter, invitee) in enumerate(pairs)
    ]


def test_the_referral_chain_runs_to_the_root_nearest_first(feed):
    feed.load(joins([("r0", "r1"), ("r1", "r2"), ("r2", "r3"), ("r3", "r4")]))
    # A later join by someone else is a tie, not a link of the chain.
    feed.load(joins([("x", "r3")], day=9))
    store = feed.store
    assert store.referral_chain("r4") == ["r3", "r2", "r1", "r0"]
    assert store.referral_chain("r4", limit=4) == ["r3", "r2", "r1", "r0"]
    assert store.referral_chain("r4", limit=2) == ["r3", "r2"]
    assert store.referral_chain("r4", limit=1) == ["r3"]
    assert store.referral_chain("r2") == ["r1", "r0"]
    assert store.referral_chain("r0") == [] and store.referral_chain("x") == []


def test_a_referral_loop_ends_the_chain(feed):
    # l1's first join is l3's, so the REFERRED edges close a loop.
    feed.load(joins([("l1", "l2"), ("l2", "l3"), ("l3", "l1"), ("l2", "m")]))
    store = feed.store
    assert store.user("l1").referred_by == "l3"
    assert store.referral_chain("l1") == ["l3", "l2"]
    assert store.referral_chain("l2") == ["l1", "l3"]
    assert store.referral_chain("m") == ["l2", "l1", "l3"]
    assert store.referral_chain("m", limit=2) == ["l2", "l1"]


# hub referred u1..u5 and invited z; u1 referred x1 and x2; x1 invited y1;
# u2 joined u1 later (an INVITED tie between two of hub's invitees); u1
# invited hub back (a tie opposite to a REFERRED edge).
EGO = [
    *joins([("hub", f"u{i}") for i in range(1, 6)] + [("u1", "x1"), ("u1", "x2")]),
    ["", "invite", "hub", "z", "2024-05-02 10:00:00", "", ""],
    ["", "invite", "x1", "y1", "2024-05-02 10:01:00", "", ""],
    ["", "join", "u2", "u1", "2024-05-02 10:02:00", "", ""],
    ["", "invite", "u1", "hub", "2024-05-02 10:03:00", "", ""],
]
HOP1 = [("hub", 0), ("u1", 1), ("u2", 1), ("u3", 1), ("u4", 1), ("u5", 1), ("z", 1)]
HOP1_TIES = [
    *[("hub", f"u{i}", "REFERRED") for i in range(1, 6)],
    ("hub", "z", "INVITED"),
    ("u1", "hub", "INVITED"),
    ("u2", "u1", "INVITED"),
]
HOP2 = [*HOP1, ("x1", 2), ("x2", 2)]
HOP2_TIES = [*HOP1_TIES, ("u1", "x1", "REFERRED"), ("u1", "x2", "REFERRED")]


@pytest.mark.parametrize(
    ("centre", "hops", "limit", "users", "ties", "truncated"),
    [
        ("hub", 0, 500, [("hub", 0)], [], False),
        ("hub", 1, 500, HOP1, HOP1_TIES, False),
        ("hub", 2, 500, HOP2, HOP2_TIES, False),
        ("hub", 3, 500, [*HOP2, ("y1", 3)], [*HOP2_TIES, ("x1", "y1", "INVITED")], False),
        ("hub", 1, 7, HOP1, HOP1_TIES, False),  # exactly fits
        ("hub", 2, 7, HOP1, HOP1_TIES, True),  # x1, x2 left out
        (
            "hub",
            2,
            4,
            HOP1[:4],
            [
                ("hub", "u1", "REFERRED"),
                ("hub", "u2", "REFERRED"),
                ("hub", "u3", "REFERRED"),
                ("u1", "hub", "INVITED"),
                ("u2", "u1", "INVITED"),
            ],
            True,
        ),
        ("hub", 1, 1, [("hub", 0)], [], True),
        (
            "x1",
            1,
            500,
            [("x1", 0), ("u1", 1), ("y1", 1)],
            [("u1", "x1", "REFERRED"), ("x1", "y1", "INVITED")],
            False,
        ),
        (
            "y1",
            2,
            500,
            [("y1", 0), ("x1", 1), ("u1", 2)],
            [("u1", "x1", "REFERRED"), ("x1", "y1", "INVITED")],
            False,
        ),
    ],
)
def test_ego_networks_with_caps(feed, centre, hops, limit, users, ties, truncated):
    feed.load(EGO)
    ego = feed.store.ego_network(centre, hops=hops, limit=limit)
    got = list(zip(ego.users["id"].to_pylist(), ego.users["hop"].to_pylist(), strict=True))
    assert got == users  # nearest first, then by id
    assert ego.users.column_names == ["id", "hop"]
    assert ego.ties.column_names == ["source", "target", "kind"]
    assert rows(ego.ties) == sorted(ties, key=repr)
    assert ego.truncated is truncated


def test_ego_network_refuses_bad_bounds(feed):
    feed.load(EGO)
    for hops, limit in ((-1, 10), (1, 0)):
        with pytest.raises(StoreError, match="hops must be 0 or more and limit at least 1"):
            feed.store.ego_network("hub", hops=hops, limit=limit)


# Referrers p0..p6 with invitees; a1, a2 and d1 churn; e1 and g1 convert
# (g1 twice). By invites: p1, p2 (3), p0, p3 (2), p4, p5, p6 (1).
PAGED = [
    *joins(
        [("p1", "a1"), ("p1", "a2"), ("p1", "a3"), ("p2", "b1"), ("p2", "b2"), ("p2", "b3")]
        + [("p0", "c1"), ("p0", "c2"), ("p3", "d1"), ("p3", "d2")]
        + [("p4", "e1"), ("p5", "f1"), ("p6", "g1")]
    ),
    *(["", "churn", "", u, "2024-05-03 10:00:00", "", ""] for u in ("a1", "a2", "d1")),
    ["", "convert", "", "e1", "2024-05-03 10:00:00", "", "5"],
    ["", "convert", "", "g1", "2024-05-03 10:00:00", "", "3"],
    ["", "convert", "", "g1", "2024-05-04 10:00:00", "", "3"],
]
COUNTS = {
    "p1": (3, 1, 0),
    "p2": (3, 3, 0),
    "p0": (2, 2, 0),
    "p3": (2, 1, 0),
    "p4": (1, 1, 1),
    "p5": (1, 1, 0),
    "p6": (1, 1, 1),
}
ORDER = {
    "invites": ["p1", "p2", "p0", "p3", "p4", "p5", "p6"],
    "effective_invites": ["p2", "p0", "p1", "p3", "p4", "p5", "p6"],
    "conversions": ["p4", "p6", "p0", "p1", "p2", "p3", "p5"],
}


@pytest.mark.parametrize("by", list(ORDER))
def test_top_referrers_rank_by_the_count_then_id_and_pages_tile(feed, by):
    feed.load(PAGED)
    store = feed.store
    everyone = top(store, Window(), by)
    assert everyone == [(uid, *COUNTS[uid]) for uid in ORDER[by]]
    assert store.referrer_count(Window()) == 7
    for size in (1, 2, 3):
        pages = [top(store, Window(), by, limit=size, offset=o) for o in range(0, 7, size)]
        assert all(len(p) == size for p in pages[:-1]) and pages[-1]
        assert [r for page in pages for r in page] == everyone  # no gap, no repeat
    assert top(store, Window(), by, limit=3, offset=7) == []
    assert top(store, Window(), by, limit=3, offset=5) == everyone[5:]


def test_top_referrers_refuse_an_unknown_count(feed):
    feed.load(PAGED)
    with pytest.raises(StoreError, match="cannot rank by 'reach' live"):
        feed.store.top_referrers(Window(), "reach", 10)


def test_top_referrers_count_each_invitee_once(feed):
    path = feed.write(
        [
            ["", "join", "a", "b", "2024-05-01 12:00:00", "", ""],
            ["", "join", "a", "b", "2024-05-02 12:00:00", "", ""],  # b again: still one invitee
            ["", "invite", "a", "c", "2024-05-01 12:00:00", "", ""],  # no join: not a referral
            ["", "join", "a", "d", "2024-05-01 12:00:00", "", ""],
            ["", "churn", "", "d", "2024-05-03 12:00:00", "", ""],
            ["", "convert", "", "b", "2024-05-03 12:00:00", "", "10"],
            ["", "convert", "", "b", "2024-05-04 12:00:00", "", "10"],
        ]
    )
    feed.ingest(path)
    feed.ingest(path)  # re-running adds nothing
    rows = feed.store.top_referrers(Window(), "invites", 10).to_pylist()
    assert rows == [{"id": "a", "invites": 2, "effective_invites": 1, "conversions": 1}]
