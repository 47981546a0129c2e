"""The store contract for `Store.live_facts`: every table, row for row and
type for type, on a hand-built feed (times UTC), and agreement with the
store's other reads on a generated campaign.

The feed: k referred u1 (spring) and u2 (summer) and invited u3; m's join
of u3 (no campaign) is re-attributed by a later file to n's earlier join
(summer), so m's becomes an INVITED tie like k's invite. u1 converted twice
(spring, summer); u2 churned, came back and churned again (two periods, the
second open). 😀 referred ￮ with no campaign, and ￮ converted with none:
in binary order ASCII ids come first, then U+FFEE, then U+1F600.
"""

from __future__ import annotations

import random
from dataclasses import asdict

import pyarrow as pa

from graph.store import LiveFacts, Store, UserRecord, Window
from tests.graph.contract.reads import rows, utc

FACE, RING = "\U0001f600", "\uffee"
FIRST = [
    ["", "invite", "k", "u3", "2024-05-01 09:00:00", "spring", ""],
    ["", "join", "k", "u1", "2024-05-01 10:00:00", "spring", ""],
    ["", "join", "k", "u2", "2024-05-01 11:00:00", "summer", ""],
    ["", "join", "m", "u3", "2024-05-02 10:00:00", "", ""],
    ["", "join", FACE, RING, "2024-05-02 12:00:00", "", ""],
    ["", "convert", "", "u1", "2024-05-03 10:00:00", "spring", "25.50"],
    ["", "convert", "", "u1", "2024-05-04 10:00:00", "summer", "4.50"],
    ["", "convert", "", RING, "2024-05-04 12:00:00", "", "7"],
    ["", "churn", "", "u2", "2024-05-05 10:00:00", "", ""],
    ["", "join", "", "u2", "2024-05-06 10:00:00", "", ""],
    ["", "churn", "", "u2", "2024-05-07 10:00:00", "", ""],
]
LATER = [["", "join", "n", "u3", "2024-05-01 08:00:00", "summer", ""]]

TIME = pa.timestamp("us", tz="UTC")
SCHEMAS = {
    "users": pa.schema(
        [
            ("id", pa.string()),
            ("first_seen", TIME),
            ("joined_at", TIME),
            ("referred_by", pa.string()),
            ("converted_at", TIME),
            ("amount", pa.float64()),
            ("churned_at", TIME),
            ("name", pa.string()),
        ]
    ),
    "referred": pa.schema(
        [
            ("referrer_id", pa.string()),
            ("invitee_id", pa.string()),
            ("at", TIME),
            ("campaign", pa.string()),
        ]
    ),
    "invited": pa.schema([("inviter_id", pa.string()), ("invitee_id", pa.string())]),
    "churns": pa.schema([("user_id", pa.string()), ("churned_at", TIME), ("returned_at", TIME)]),
    "converts": pa.schema(
        [("invitee_id", pa.string()), ("occurred_at", TIME), ("campaign", pa.string())]
    ),
}
TABLES = tuple(SCHEMAS)


def t(text: str):
    return utc(f"2024-05-{text}")


# id, first_seen, joined_at, referred_by, converted_at, amount, churned_at, name
# (no event of the feed names its invitee: tests/graph/contract/test_names.py)
USERS = [
    ("k", t("01 09:00"), None, None, None, 0.0, None, None),
    ("m", t("02 10:00"), None, None, None, 0.0, None, None),
    ("n", t("01 08:00"), None, None, None, 0.0, None, None),
    ("u1", t("01 10:00"), t("01 10:00"), "k", t("03 10:00"), 30.0, None, None),
    ("u2", t("01 11:00"), t("01 11:00"), "k", None, 0.0, t("07 10:00"), None),
    ("u3", t("01 08:00"), t("01 08:00"), "n", None, 0.0, None, None),
    (RING, t("02 12:00"), t("02 12:00"), FACE, t("04 12:00"), 7.0, None, None),
    (FACE, t("02 12:00"), None, None, None, 0.0, None, None),
]
EXPECTED = {
    "referred": [
        ("k", "u1", t("01 10:00"), "spring"),
        ("k", "u2", t("01 11:00"), "summer"),
        ("n", "u3", t("01 08:00"), "summer"),
        (FACE, RING, t("02 12:00"), None),
    ],
    "invited": [("k", "u3"), ("m", "u3")],
    "churns": [("u2", t("05 10:00"), t("06 10:00")), ("u2", t("07 10:00"), None)],
    "converts": [
        ("u1", t("03 10:00"), "spring"),
        ("u1", t("04 10:00"), "summer"),
        (RING, t("04 12:00"), None),
    ],
}


def test_live_facts_hold_every_table_exactly(feed):
    feed.load(FIRST)
    feed.load(LATER)
    facts = feed.store.live_facts()
    assert isinstance(facts, LiveFacts)
    for name in TABLES:
        assert getattr(facts, name).schema == SCHEMAS[name], name
    # Users in id order as returned (binary order: U+FFEE before U+1F600).
    assert [tuple(r.values()) for r in facts.users.to_pylist()] == USERS
    for name, expected in EXPECTED.items():
        assert rows(getattr(facts, name)) == sorted(expected, key=repr), name


def test_live_facts_of_an_empty_store_are_empty_tables_of_the_same_types(feed):
    facts = feed.store.live_facts()
    for name in TABLES:
        table = getattr(facts, name)
        assert table.num_rows == 0 and table.schema == SCHEMAS[name], name


def test_live_facts_agree_with_the_stores_other_reads(loaded):
    store: Store = loaded[0]
    facts = store.live_facts()
    stats = store.stats()
    assert facts.users.num_rows == stats.users > 1000
    assert facts.referred.num_rows == stats.referred_edges
    assert facts.invited.num_rows == stats.invited_ties
    assert facts.converts.num_rows == stats.events_by_type["convert"]
    ids = facts.users["id"].to_pylist()
    assert ids == sorted(ids)

    graph = store.read_graph(Window())
    assert rows(facts.referred.drop_columns(["campaign"])) == rows(graph.referred)
    assert rows(facts.invited) == rows(graph.invited)
    away = {r["user_id"] for r in facts.churns.to_pylist() if r["returned_at"] is None}
    churned = {r["id"] for r in graph.users.to_pylist() if r["churned"]}
    assert away == churned

    sample = random.Random(5).sample(facts.users.to_pylist(), 50)
    for row in sample:
        assert asdict(store.user(row["id"])) == asdict(UserRecord(**row)), row["id"]
    # The sample is worth checking: it has referred, converted and churned users.
    assert all(any(r[f] is not None for r in sample) for f in ("referred_by", "converted_at"))
    assert any(r["churned_at"] is not None for r in sample)
