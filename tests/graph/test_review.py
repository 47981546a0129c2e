"""The review queue and decisions."""

from __future__ import annotations

import pytest

from graph.analysis.fraud import FraudRules
from graph.analysis.snapshot import AnalysisParams, analyze
from graph.review import NotFlaggedError, review_queue, review_user
from graph.store import StoreError
from tests.conftest import write_csv


@pytest.fixture
def burst_store(tmp_path, store, ingest):
    # farmer gets 10 joins in 9 minutes; honest gets 3 over days.
    rows = [
        ["", "join", "farmer", f"fake{i}", f"2024-05-01 12:{i:02d}:00", "c", ""] for i in range(10)
    ]
    rows += [
        ["", "join", "honest", f"friend{i}", f"2024-05-0{i + 2} 12:00:00", "c", ""]
        for i in range(3)
    ]
    ingest(write_csv(tmp_path / "e.csv", rows))
    snapshot = analyze(store, AnalysisParams(fraud=FraudRules(burst_joins=10, burst_minutes=10)))
    store.save_snapshot(snapshot.to_saved())
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
    burst_store.save_snapshot(
        analyze(
            burst_store, AnalysisParams(fraud=FraudRules(burst_joins=10, burst_minutes=10))
        ).to_saved()
    )
    again = review_queue(burst_store, burst_store.latest_snapshot(), "approved")
    assert [e.user_id for e in again] == ["fake2"]


def test_live_effective_invites_drop_fraudulent_invitees_until_approved(burst_store):
    from graph.store import Window

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
