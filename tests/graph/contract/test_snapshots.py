"""The store contract for analysis snapshots: saved and read back as they
were, the latest one judging which invites are effective, and the change
marker and watermark that tell readers something moved."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.fraud import FraudRules
from graph.analysis.snapshot import AnalysisParams, analyze
from graph.store import SavedSnapshot, Store, Window
from tests.graph.contract.reads import SNAPSHOT_KEYS, observe, same_table, top, utc

# farmer gets 10 joins in 9 minutes (a burst), honest 4 over days; two of
# them buy. Some ids are Chinese, as WeCom nicknames often are.
BURST = [
    *(["", "join", "farmer", f"fake{i}", f"2024-05-01 12:{i:02d}:00", "c", ""] for i in range(10)),
    *(
        ["", "join", "honest", name, f"2024-05-0{i + 2} 12:00:00", "c", ""]
        for i, name in enumerate(["friend0", "friend1", "客户甲", "客户乙"])
    ),
    ["", "convert", "", "friend0", "2024-05-07 12:00:00", "c", "12.5"],
    ["", "convert", "", "客户甲", "2024-05-08 12:00:00", "c", "99"],
]
RULES = FraudRules(burst_joins=10, burst_minutes=10)


def assert_read_back(store: Store, saved: SavedSnapshot) -> None:
    got = store.latest_snapshot()
    assert got is not None and got.id == saved.id
    assert (got.params, got.summary) == (saved.params, saved.summary)
    assert (got.computed_at, got.watermark) == (saved.computed_at, saved.watermark)
    for name, keys in SNAPSHOT_KEYS.items():
        assert same_table(getattr(got, name), getattr(saved, name), keys), name


def test_no_snapshot_before_the_first_analysis(feed):
    assert feed.store.latest_snapshot() is None
    feed.load(BURST)
    assert feed.store.latest_snapshot() is None


def test_a_snapshot_reads_back_as_it_was_saved(feed):
    feed.load(BURST)
    store = feed.store
    params = AnalysisParams(
        until=utc("2024-06-01 00:00"), campaigns=("c",), half_life_days=7, seed=3, fraud=RULES
    )
    snapshot = analyze(store, params)
    saved = snapshot.to_saved()
    # The tables hold every kind of value a snapshot has: nulls, timestamps,
    # lists, flags with evidence.
    assert saved.flags.num_rows == 11 and saved.users.num_rows == 16
    assert saved.users["flag_rules"].null_count == 5
    assert saved.users["last_referral_at"].null_count == 14
    store.save_snapshot(saved)
    assert_read_back(store, saved)
    assert AnalysisParams.from_json(store.latest_snapshot().params) == params
    assert store.latest_snapshot().watermark == store.watermark() == 1


def test_the_last_saved_snapshot_is_the_latest(feed):
    store = feed.store
    feed.load(BURST)
    first = analyze(store, AnalysisParams(fraud=RULES)).to_saved()
    store.save_snapshot(first)
    # No users, communities or flags, the same columns: what stores saved for
    # an empty window before such analyses were refused (EmptyWindowError).
    empty = replace(
        first,
        id=uuid.uuid4().hex,
        computed_at=datetime.now(UTC),
        **{t: getattr(first, t).slice(0, 0) for t in SNAPSHOT_KEYS},
    )
    store.save_snapshot(empty)
    assert_read_back(store, empty)
    feed.load([["", "join", "farmer", "late", "2024-06-01 12:00:00", "c", ""]])
    third = analyze(store, AnalysisParams(fraud=RULES)).to_saved()
    store.save_snapshot(third)
    assert_read_back(store, third)
    assert third.watermark == 2 and third.users.num_rows == first.users.num_rows + 1


def flagging(saved: SavedSnapshot, *user_ids: str) -> SavedSnapshot:
    """The snapshot with these users flagged (and no others), by hand: its
    flags table and the users table's flag columns agree."""
    n = len(user_ids)
    flags = pa.table(
        {
            "user_id": pa.array(user_ids, pa.string()),
            "rule": pa.array(["burst"] * n, pa.string()),
            "reason": pa.array(["flagged by hand"] * n, pa.string()),
            "evidence": pa.array(['{"joins": 3}'] * n, pa.string()),
        }
    )
    users = saved.users
    flagged = pc.is_in(users["id"], value_set=pa.array(user_ids, pa.string()))
    rules = pc.if_else(flagged, pa.scalar("burst"), pa.scalar(None, pa.string()))
    for name, column in (("flagged", flagged), ("flag_rules", rules)):
        users = users.set_column(users.schema.get_field_index(name), name, column)
    return replace(saved, users=users, flags=flags)


def test_effective_invites_follow_the_latest_flags_and_reviews(feed):
    store = feed.store
    feed.load(
        [
            ["", "join", "farmer", "f1", "2024-05-01 10:00:00", "", ""],
            ["", "join", "farmer", "f2", "2024-05-01 10:01:00", "", ""],
            ["", "join", "farmer", "f3", "2024-05-01 10:02:00", "", ""],
            ["", "join", "honest", "h1", "2024-05-02 10:00:00", "", ""],
            ["", "join", "honest", "h2", "2024-05-03 10:00:00", "", ""],
            ["", "churn", "", "h2", "2024-05-04 10:00:00", "", ""],
        ]
    )
    assert top(store) == [("farmer", 3, 3, 0), ("honest", 2, 1, 0)]
    base = analyze(store).to_saved()
    # f1, f2 flagged; h2 too (churned already: not subtracted twice); the
    # farmer's own flag says nothing about its invitees.
    store.save_snapshot(flagging(base, "f1", "f2", "farmer", "h2"))
    assert top(store) == [("farmer", 3, 1, 0), ("honest", 2, 1, 0)]
    assert top(store, by="effective_invites") == [("farmer", 3, 1, 0), ("honest", 2, 1, 0)]
    assert top(store, Window(until=utc("2024-05-01 10:01:30"))) == [("farmer", 2, 0, 0)]
    store.record_review("f1", "approved", "a real customer", "ops-li")
    assert top(store)[0] == ("farmer", 3, 2, 0)
    store.record_review("f2", "declined", "fake", "ops-li")
    assert top(store)[0] == ("farmer", 3, 2, 0)
    store.record_review("f1", "declined", "second look: fake", "ops-wang")  # the latest counts
    assert top(store)[0] == ("farmer", 3, 1, 0)
    store.record_review("f1", "approved", "third look: real", "ops-wang")
    assert top(store)[0] == ("farmer", 3, 2, 0)
    # Only the latest snapshot's flags count.
    store.save_snapshot(flagging(analyze(store).to_saved()))
    assert top(store) == [("farmer", 3, 3, 0), ("honest", 2, 1, 0)]
    store.save_snapshot(flagging(analyze(store).to_saved(), "f1", "f3"))
    assert top(store)[0] == ("farmer", 3, 2, 0)  # f1 approved still, f3 flagged


def test_analysed_burst_invitees_are_not_effective_until_approved(feed):
    feed.load(BURST)
    store = feed.store
    store.save_snapshot(analyze(store, AnalysisParams(fraud=RULES)).to_saved())
    assert top(store) == [("farmer", 10, 0, 0), ("honest", 4, 4, 2)]
    store.record_review("fake0", "approved", "real", "ops")
    store.record_review("fake1", "declined", "fake", "ops")
    assert top(store)[0] == ("farmer", 10, 1, 0)
    assert top(store, by="effective_invites")[0] == ("honest", 4, 4, 2)


def test_the_change_marker_and_watermark_move_with_every_write(feed):
    store = feed.store
    markers = [store.change_marker()]
    assert store.watermark() == 0 and store.read_graph(Window()).watermark == 0

    def moved() -> None:
        markers.append(store.change_marker())
        assert len(set(markers)) == len(markers), markers  # never back to an old value

    feed.load(BURST)
    moved()
    assert store.watermark() == store.read_graph(Window()).watermark == 1
    before = store.change_marker()
    observe(store, [Window(), Window(campaigns=("c",))])
    assert store.change_marker() == before  # reading changes nothing
    snapshot = analyze(store, AnalysisParams(fraud=RULES))
    assert snapshot.watermark == 1 and store.change_marker() == before
    store.save_snapshot(snapshot.to_saved())
    moved()
    store.record_review("fake0", "approved", "real", "ops")
    moved()
    store.record_review("fake0", "declined", "fake after all", "ops")
    moved()
    store.save_snapshot(analyze(store).to_saved())
    moved()
    feed.load([["", "join", "honest", "later", "2024-06-01 12:00:00", "c", ""]])
    moved()
    assert store.watermark() == store.read_graph(Window()).watermark == 2
    assert store.latest_snapshot().watermark == 1  # the analysis is behind the ingest
