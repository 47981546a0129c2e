"""The store contract for events: attribution of joins, user state,
idempotent ingest and stats, each on a small hand-built file (times UTC)."""

from __future__ import annotations

import csv
import json

import pytest

from graph.store import UserNotFoundError, UserRecord, Window
from loaders.pipeline import open_events
from tests.graph.contract.reads import invited, observe, referred, top, users, utc


def quarantined(report) -> list[dict[str, str]]:
    """The quarantine rows an ingest wrote."""
    with open(report.quarantine, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_first_join_wins_and_later_joins_are_invited_ties(feed):
    feed.load(
        [
            ["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""],
            ["e1", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""],
            ["e3", "join", "alice", "carol", "2024-05-03 12:00:00", "", ""],  # referrer again
            ["e4", "invite", "alice", "carol", "2024-04-30 12:00:00", "", ""],
            ["e5", "invite", "dave", "carol", "2024-04-30 12:00:00", "", ""],
            ["e6", "invite", "dave", "carol", "2024-05-04 12:00:00", "", ""],
        ]
    )
    store = feed.store
    graph = store.read_graph(Window())
    assert referred(graph) == {("alice", "carol", utc("2024-05-01 12:00"))}
    # The referrer's own invite and repeat join are no extra tie; dave's two
    # invites are one tie.
    assert invited(graph) == {("bob", "carol"), ("dave", "carol")}
    assert store.user("carol") == UserRecord(
        "carol", utc("2024-04-30 12:00"), utc("2024-05-01 12:00"), "alice", None, 0.0, None
    )
    assert store.user("alice").first_seen == utc("2024-04-30 12:00")  # as an inviter
    assert store.user("bob").first_seen == utc("2024-05-02 12:00")
    assert store.referral_chain("carol") == ["alice"]
    stats = store.stats()
    assert (stats.users, stats.referred_edges, stats.invited_ties) == (4, 1, 2)
    assert top(store) == [("alice", 1, 1, 0)]


def test_simultaneous_joins_tie_break_on_event_id(feed):
    feed.load(
        [
            ["z-evt", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""],
            ["a-evt", "join", "bob", "carol", "2024-05-01 12:00:00", "", ""],
        ]
    )
    graph = feed.store.read_graph(Window())
    assert referred(graph) == {("bob", "carol", utc("2024-05-01 12:00"))}
    assert invited(graph) == {("alice", "carol")}
    assert feed.store.user("carol").referred_by == "bob"


def test_an_earlier_join_arriving_later_takes_over_the_attribution(feed):
    store = feed.store
    feed.load([["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""]])
    graph = store.read_graph(Window())
    assert referred(graph) == {("bob", "carol", utc("2024-05-02 12:00"))}
    assert invited(graph) == set()
    assert (store.user("carol").referred_by, store.user("carol").joined_at) == (
        "bob",
        utc("2024-05-02 12:00"),
    )

    feed.load([["e1", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""]])
    graph = store.read_graph(Window())
    assert referred(graph) == {("alice", "carol", utc("2024-05-01 12:00"))}
    assert invited(graph) == {("bob", "carol")}  # the old referrer keeps a tie
    carol = store.user("carol")
    assert (carol.referred_by, carol.joined_at, carol.first_seen) == (
        "alice",
        utc("2024-05-01 12:00"),
        utc("2024-05-01 12:00"),
    )
    assert store.referral_chain("carol") == ["alice"]
    assert top(store) == [("alice", 1, 1, 0)] and store.referrer_count(Window()) == 1
    stats = store.stats()
    assert (stats.referred_edges, stats.invited_ties) == (1, 1)
    ties = {
        (t["source"], t["target"], t["kind"]) for t in store.ego_network("carol").ties.to_pylist()
    }
    assert ties == {("alice", "carol", "REFERRED"), ("bob", "carol", "INVITED")}

    # The same time as the attributed join, a smaller event id: it wins too.
    feed.load([["a0", "join", "dave", "carol", "2024-05-01 12:00:00", "", ""]])
    graph = store.read_graph(Window())
    assert referred(graph) == {("dave", "carol", utc("2024-05-01 12:00"))}
    assert invited(graph) == {("alice", "carol"), ("bob", "carol")}
    assert store.user("carol").referred_by == "dave"
    assert top(store) == [("dave", 1, 1, 0)]


def test_first_join_without_inviter_leaves_no_parent(feed):
    feed.load(
        [
            ["e1", "join", "", "carol", "2024-05-01 12:00:00", "", ""],
            ["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""],
        ]
    )
    store = feed.store
    graph = store.read_graph(Window())
    assert referred(graph) == set() and invited(graph) == {("bob", "carol")}
    assert store.user("carol") == UserRecord(
        "carol", utc("2024-05-01 12:00"), utc("2024-05-01 12:00"), None, None, 0.0, None
    )
    assert store.referral_chain("carol") == []
    assert store.referrer_count(Window()) == 0 and top(store) == []
    assert (store.stats().users, store.stats().referred_edges) == (2, 0)


def test_an_earlier_join_without_inviter_arriving_later_removes_the_parent(feed):
    store = feed.store
    feed.load([["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""]])
    assert store.user("carol").referred_by == "bob"
    feed.load([["e1", "join", "", "carol", "2024-05-01 12:00:00", "", ""]])
    graph = store.read_graph(Window())
    assert referred(graph) == set() and invited(graph) == {("bob", "carol")}
    assert store.user("carol").referred_by is None
    assert store.user("carol").joined_at == utc("2024-05-01 12:00")
    assert store.referral_chain("carol") == [] and top(store) == []


def test_conversions_add_up_and_churn_holds_until_a_join(feed):
    store = feed.store
    feed.load(
        [
            ["", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""],
            ["", "convert", "", "carol", "2024-05-03 12:00:00", "", "100"],
            ["", "convert", "", "carol", "2024-05-02 12:00:00", "", "50.5"],
            ["", "churn", "", "carol", "2024-05-05 12:00:00", "", ""],
            ["", "join", "", "dan", "2024-05-01 12:00:00", "", ""],
            ["", "churn", "", "dan", "2024-05-02 12:00:00", "", ""],
            ["", "join", "bob", "dan", "2024-05-09 12:00:00", "", ""],  # came back
            ["", "convert", "", "erin", "2024-05-04 12:00:00", "", "7"],  # a buyer only
        ]
    )
    may = {d: utc(f"2024-05-0{d} 12:00") for d in range(1, 10)}  # May 1st to 9th, noon
    assert store.user("carol") == UserRecord(
        "carol", may[1], may[1], "alice", may[2], 150.5, may[5]
    )
    assert store.user("dan") == UserRecord("dan", may[1], may[1], None, None, 0.0, None)
    assert store.user("alice") == UserRecord("alice", may[1], None, None, None, 0.0, None)
    assert store.user("bob") == UserRecord("bob", may[9], None, None, None, 0.0, None)
    assert store.user("erin") == UserRecord("erin", may[4], None, None, may[4], 7.0, None)
    graph = store.read_graph(Window())
    assert invited(graph) == {("bob", "dan")}  # dan's first join had no inviter
    assert users(graph) == {
        "alice": (False, 0.0, False),
        "bob": (False, 0.0, False),
        "carol": (True, 150.5, True),
        "dan": (False, 0.0, False),
        "erin": (True, 7.0, False),
    }
    assert top(store) == [("alice", 1, 0, 1)]  # carol converted, then churned

    # Later files: an earlier conversion moves converted_at and adds its
    # amount; dan churns again; carol comes back.
    feed.load(
        [
            ["", "convert", "", "carol", "2024-05-01 18:00:00", "", "9.5"],
            ["", "churn", "", "dan", "2024-05-10 12:00:00", "", ""],
            ["", "join", "bob", "carol", "2024-05-11 12:00:00", "", ""],
        ]
    )
    carol = store.user("carol")
    assert (carol.converted_at, carol.amount, carol.churned_at) == (
        utc("2024-05-01 18:00"),
        160.0,
        None,
    )
    assert carol.referred_by == "alice"  # a join after churning is no new referral
    assert store.user("dan").churned_at == utc("2024-05-10 12:00")
    graph = store.read_graph(Window())
    assert users(graph)["carol"] == (True, 160.0, False)
    assert users(graph)["dan"] == (False, 0.0, True)
    assert invited(graph) == {("bob", "carol"), ("bob", "dan")}
    assert top(store) == [("alice", 1, 1, 1)]

    # A window ending while a user was away reads it churned, though it came
    # back later: carol was away May 5th to 11th, dan May 2nd to 9th and
    # from May 10th.
    def away(until: str) -> set[str]:
        window = Window(until=utc(until))
        return {u for u, (_, _, churned) in users(store.read_graph(window)).items() if churned}

    assert away("2024-05-04 00:00") == {"dan"}
    assert away("2024-05-08 00:00") == {"carol", "dan"}
    assert away("2024-05-09 12:00") == {"carol", "dan"}  # dan's return is at the end: outside
    assert away("2024-05-09 12:01") == {"carol"}
    assert away("2024-05-10 13:00") == {"carol", "dan"}
    assert away("2024-05-12 00:00") == {"dan"}
    # carol converted in the window and was away at its end: not effective
    assert top(store, Window(until=utc("2024-05-08 00:00"))) == [("alice", 1, 0, 1)]
    assert top(store, Window(until=utc("2024-05-12 00:00"))) == [("alice", 1, 1, 1)]


def test_a_churn_and_a_join_at_the_same_instant_leave_the_user_churned(feed):
    feed.load(
        [
            ["", "join", "alice", "bob", "2024-05-01 12:00:00", "", ""],
            ["", "churn", "", "bob", "2024-05-02 12:00:00", "", ""],
            ["", "join", "alice", "bob", "2024-05-02 12:00:00", "", ""],
            ["", "churn", "", "bob", "2024-05-03 12:00:00", "", ""],  # still away
            ["", "join", "", "bob", "2024-05-04 12:00:00", "", ""],
        ]
    )
    store = feed.store
    for until, churned in (("05-02 13:00", True), ("05-03 13:00", True), ("05-04 13:00", False)):
        graph = store.read_graph(Window(until=utc(f"2024-{until}")))
        assert users(graph)["bob"][2] is churned, until
    assert store.user("bob").churned_at is None


def test_unknown_users_are_not_found(feed):
    feed.load([["", "join", "alice", "bob", "2024-05-01 12:00:00", "", ""]])
    for read in (feed.store.user, feed.store.ego_network):
        with pytest.raises(UserNotFoundError, match="no user 'nobody'"):
            read("nobody")
    with pytest.raises(UserNotFoundError, match="no user 'nobody'"):
        feed.store.record_review("nobody", "approved", "x", "ops")


WINDOWS = [Window(), Window(until=utc("2024-05-02 00:00")), Window(campaigns=("spring",))]

MIXED = [
    ["", "invite", "alice", "bob", "2024-05-01 08:00:00", "spring", ""],
    ["", "join", "alice", "bob", "2024-05-01 12:00:00", "spring", ""],
    ["", "join", "alice", "bob", "2024-05-01 12:00:00", "spring", ""],  # no id, same hash
    ["x1", "join", "alice", "carol", "2024-05-01 13:00:00", "618", ""],
    ["x1", "join", "zed", "carol", "2024-05-01 13:00:00", "618", ""],  # same id, other inviter
    ["", "join", "bob", "dave", "2024-05-02 12:00:00", "spring", ""],
    ["", "join", "carol", "dave", "2024-05-03 12:00:00", "618", ""],
    ["", "convert", "", "dave", "2024-05-03 12:00:00", "spring", "20"],
    ["", "churn", "", "bob", "2024-05-04 12:00:00", "", ""],
]


def test_in_file_repeats_are_duplicates_or_conflicts_and_the_first_line_wins(feed):
    report = feed.ingest(feed.write(MIXED))
    assert (report.read, report.accepted, report.duplicates, report.conflicts) == (9, 7, 1, 1)
    assert report.rejected == 0
    conflict = quarantined(report)
    assert [(r["line"], r["field"]) for r in conflict] == [("6", "event_id")]
    assert (
        "'x1' is already stored (line 5 of the same source) with a different inviter_id"
        in (conflict[0]["reason"])
    )
    versions = json.loads(conflict[0]["row"])
    assert (versions["stored"]["inviter_id"], versions["received"]["inviter_id"]) == (
        "alice",
        "zed",
    )
    store = feed.store
    graph = store.read_graph(Window())
    assert {(r, i) for r, i, _ in referred(graph)} == {
        ("alice", "bob"),
        ("alice", "carol"),
        ("bob", "dave"),
    }
    assert invited(graph) == {("carol", "dave")}
    with pytest.raises(UserNotFoundError):
        store.user("zed")  # only on the repeat that was skipped
    assert store.stats().events == 7 and store.stats().events_by_type["join"] == 4


def test_reingest_changes_nothing(feed):
    path = feed.write(MIXED)
    feed.ingest(path)
    store = feed.store
    before = observe(store, WINDOWS)
    again = feed.ingest(path)
    # The in-file conflict conflicts again (with the stored version), the rest repeat.
    assert (again.read, again.accepted, again.duplicates, again.conflicts) == (9, 0, 8, 1)
    assert observe(store, WINDOWS) == before
    assert store.stats().batches == 2
    # An old event id with new content is a conflict: the first stays, both
    # versions go to the quarantine.
    late = feed.ingest(feed.write([["x1", "join", "zed", "carol", "2024-04-01 00:00:00", "", ""]]))
    assert (late.accepted, late.duplicates, late.conflicts, late.rejected) == (0, 0, 1, 0)
    (row,) = quarantined(late)
    assert (
        "already stored (batch 1, line 5) with a different inviter_id, occurred_at, campaign"
        in (row["reason"])
    )
    assert json.loads(row["row"])["stored"]["inviter_id"] == "alice"
    assert observe(store, WINDOWS) == before


def test_orders_at_the_same_second_with_different_amounts_are_two_events(feed):
    """Without event ids, the hashed id covers every field: the amount too."""
    report = feed.load(
        [
            ["", "join", "alice", "bob", "2024-05-01", "", ""],
            ["", "convert", "", "bob", "2024-05-02", "", "100"],
            ["", "convert", "", "bob", "2024-05-02", "", "250"],
            ["", "convert", "", "bob", "2024-05-02", "", "250.00"],  # the same order again
        ]
    )
    assert (report.accepted, report.duplicates, report.conflicts) == (3, 1, 0)
    assert feed.store.user("bob").amount == 350.0
    assert users(feed.store.read_graph(Window()))["bob"] == (True, 350.0, False)


def test_a_failed_batch_changes_nothing(feed):
    store = feed.store
    feed.load(MIXED)
    before, marker, watermark = observe(store, WINDOWS), store.change_marker(), store.watermark()
    path = feed.write(
        [
            ["", "join", "dave", "erin", "2024-04-01 12:00:00", "spring", ""],
            ["", "join", "erin", "carol", "2024-04-01 13:00:00", "618", ""],  # re-attributes
        ]
    )
    good = list(open_events(path, timezone="UTC").batches(None))

    def batches_then_failure():
        yield from good
        raise RuntimeError("disk full (injected)")

    with pytest.raises(RuntimeError, match="injected"):
        store.ingest(batches_then_failure(), source="b.csv")
    assert observe(store, WINDOWS) == before
    assert (store.change_marker(), store.watermark(), store.stats().batches) == (marker, 1, 1)
    assert watermark == 1
    # The store still takes the batch afterwards.
    assert store.ingest(iter(good), source="b.csv").accepted == 2
    assert store.user("carol").referred_by == "erin" and store.watermark() == 2


def test_stats_count_events_users_ties_campaigns_and_batches(feed):
    store = feed.store
    empty = store.stats()
    assert (empty.users, empty.events, empty.events_by_type, empty.batches) == (0, 0, {}, 0)
    assert (empty.referred_edges, empty.invited_ties, empty.campaigns) == (0, 0, 0)
    assert (empty.campaign_names, empty.first_event_at, empty.last_event_at) == ([], None, None)
    assert store.watermark() == 0
    feed.load(
        [
            ["", "invite", "alice", "bob", "2024-05-01 08:00:00", "spring", ""],
            ["", "join", "alice", "bob", "2024-05-01 12:00:00", "spring", ""],
            ["", "join", "bob", "carol", "2024-05-02 12:00:00", "618", ""],
            ["", "convert", "", "carol", "2024-05-03 12:00:00", "618", "99"],
        ]
    )
    s = store.stats()
    assert (s.users, s.events, s.referred_edges, s.invited_ties) == (3, 4, 2, 0)
    assert s.events_by_type == {"convert": 1, "invite": 1, "join": 2}
    assert (s.campaigns, s.campaign_names) == (2, ["618", "spring"])
    assert (s.first_event_at, s.last_event_at) == (utc("2024-05-01 08:00"), utc("2024-05-03 12:00"))
    assert s.batches == store.watermark() == 1
    feed.load(
        [
            ["", "invite", "dave", "carol", "2024-05-04 12:00:00", "", ""],
            ["", "join", "dave", "bob", "2024-05-06 12:00:00", "", ""],
            ["", "churn", "", "bob", "2024-04-30 12:00:00", "", ""],
        ]
    )
    s = store.stats()
    assert (s.users, s.events, s.referred_edges, s.invited_ties) == (4, 7, 2, 2)
    assert s.events_by_type == {"churn": 1, "convert": 1, "invite": 2, "join": 3}
    assert (s.campaigns, s.campaign_names) == (2, ["618", "spring"])  # no campaign is none
    assert (s.first_event_at, s.last_event_at) == (utc("2024-04-30 12:00"), utc("2024-05-06 12:00"))
    assert s.batches == store.watermark() == 2
