"""The store contract for the review queue and decisions (DESIGN.md, Fraud
screening): flags from the latest snapshot, decisions kept by the store."""

from __future__ import annotations

import pyarrow as pa
import pytest

from graph.analysis.fraud import FraudRules
from graph.analysis.snapshot import AnalysisParams, analyze
from graph.review import NotFlaggedError, review_queue, review_user
from graph.store import StoreError, Window

RULES = AnalysisParams(fraud=FraudRules(burst_joins=10, burst_minutes=10))


# farmer gets 10 joins in 9 minutes; honest gets 3 over days.
BURST = [
    *(["", "join", "farmer", f"fake{i}", f"2024-05-01 12:{i:02d}:00", "c", ""] for i in range(10)),
    *(
        ["", "join", "honest", f"friend{i}", f"2024-05-0{i + 2} 12:00:00", "c", ""]
        for i in range(3)
    ),
]


@pytest.fixture
def burst_store(feed):
    feed.load(BURST)
    store = feed.store
    store.save_snapshot(analyze(store, RULES).to_saved())
    return store


def test_queue_lists_flagged_users_by_risk_with_evidence(burst_store):
    queue = review_queue(burst_store, burst_store.latest_snapshot())
    assert queue[0].user_id == "farmer" and queue[0].status == "pending"
    assert queue[0].flags[0]["rule"] == "burst"
    assert queue[0].flags[0]["evidence"]["joins"] == 10
    assert {e.user_id for e in queue} == {"farmer", *(f"fake{i}" for i in range(10))}
    assert all(e.risk > 0 for e in queue)
    assert [e.risk for e in queue] == sorted((e.risk for e in queue), reverse=True)


def test_decisions_persist_and_filter_the_queue(burst_store):
    saved = burst_store.latest_snapshot()
    review_user(burst_store, saved, "farmer", "declined", "device farm", "ops-li")
    review_user(burst_store, saved, "fake1", "approved", "first mistake", "ops-li")
    review_user(burst_store, saved, "fake1", "declined", "changed my mind", "ops-wang")
    review_user(burst_store, saved, "fake2", "approved", "a real customer", "ops-wang")
    declined = review_queue(burst_store, saved, "declined")
    assert [e.user_id for e in declined] == ["farmer", "fake1"]
    assert declined[1].note == "changed my mind" and declined[1].reviewer == "ops-wang"
    assert [e.user_id for e in review_queue(burst_store, saved, "approved")] == ["fake2"]
    assert len(review_queue(burst_store, saved, "pending")) == 8
    # Decisions outlast snapshots.
    burst_store.save_snapshot(analyze(burst_store, RULES).to_saved())
    again = review_queue(burst_store, burst_store.latest_snapshot(), "approved")
    assert [e.user_id for e in again] == ["fake2"]


def test_live_effective_invites_drop_fraudulent_invitees_until_approved(burst_store):
    def farmer_counts():
        rows = burst_store.top_referrers(Window(), "invites", 10).to_pylist()
        return next(r for r in rows if r["id"] == "farmer")

    assert farmer_counts()["invites"] == 10 and farmer_counts()["effective_invites"] == 0
    saved = burst_store.latest_snapshot()
    review_user(burst_store, saved, "fake0", "approved", "real", "ops")
    review_user(burst_store, saved, "fake1", "declined", "fake", "ops")
    assert farmer_counts()["effective_invites"] == 1


def test_bad_reviews_are_refused(burst_store):
    saved = burst_store.latest_snapshot()
    with pytest.raises(NotFlaggedError, match="'honest' is not flagged"):
        review_user(burst_store, saved, "honest", "approved", "fine", "ops")
    with pytest.raises(StoreError, match="needs a note"):
        review_user(burst_store, saved, "farmer", "declined", "  ", "ops")
    with pytest.raises(StoreError, match="approves or declines"):
        review_user(burst_store, saved, "farmer", "pending", "hmm", "ops")
    with pytest.raises(StoreError, match="unknown review status"):
        review_queue(burst_store, saved, "maybe")
    with pytest.raises(NotFlaggedError, match="koc analyze"):
        review_user(burst_store, None, "farmer", "declined", "x", "ops")
    assert burst_store.reviews().num_rows == 0


REVIEWS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("status", pa.string()),
        ("note", pa.string()),
        ("reviewer", pa.string()),
        ("reviewed_at", pa.timestamp("us", tz="UTC")),
    ]
)


def test_reviews_are_the_latest_decision_per_user_with_its_time(burst_store):
    store = burst_store
    assert store.reviews().schema.equals(REVIEWS_SCHEMA) and store.reviews().num_rows == 0
    first = store.record_review("fake0", "approved", "looks fine", "ops-li")
    other = store.record_review("farmer", "declined", "farm", "ops-li")
    # Two decisions on one user straight after each other: the second is later.
    second = store.record_review("fake0", "declined", "second look: farm", "ops-wang")
    assert second.reviewed_at > first.reviewed_at
    assert (second.user_id, second.status, second.note, second.reviewer) == (
        "fake0",
        "declined",
        "second look: farm",
        "ops-wang",
    )
    table = store.reviews()
    assert table.schema.equals(REVIEWS_SCHEMA)
    assert sorted(table.to_pylist(), key=lambda r: r["user_id"]) == [
        {
            "user_id": "fake0",
            "status": "declined",
            "note": "second look: farm",
            "reviewer": "ops-wang",
            "reviewed_at": second.reviewed_at,
        },
        {
            "user_id": "farmer",
            "status": "declined",
            "note": "farm",
            "reviewer": "ops-li",
            "reviewed_at": other.reviewed_at,
        },
    ]


@pytest.mark.parametrize("status", ["pending", "maybe"])
def test_a_decision_approves_or_declines(burst_store, status):
    with pytest.raises(StoreError, match=f"must be approved or declined, not '{status}'"):
        burst_store.record_review("fake0", status, "hmm", "ops")
    assert burst_store.reviews().num_rows == 0
