"""Ingest into the Neo4j store against a recording runner: the writer lease,
the chunks and statements it sends, the rows it derives, and taking a
failed batch out. (Against a real server, killed writers included:
tests/graph/test_neo4j_server.py.)"""

from __future__ import annotations

import pytest
from neo4j.exceptions import TransientError

from graph import cypher
from graph.store import StoreError, StoreLockedError
from tests.graph.recording_runner import (
    INJECTION,
    RecordingRunner,
    assert_sent_well,
    connect,
    events,
    h,
    us,
)

# A first file, worked by hand below. ev-3 is repeated on a later line with
# an earlier join by someone else: if the later line won, z would refer b.
FIRST = events(
    ("ev-4", "invite", "a", "b", h(9)),
    ("ev-3", "join", "a", "b", h(10)),
    ("ev-1", "join", "c", "b", h(10)),  # same time as ev-3: the smaller id is b's first join
    ("ev-5", "join", "b", "d", h(11)),
    ("ev-2", "join", "a", "d", h(12)),  # smaller id, but later: not d's first join
    ("ev-6", "convert", None, "d", h(13), 9.5),
    ("ev-7", "churn", None, "c", h(14)),
    ("ev-3", "join", "z", "b", h(8)),
)
# A later file: a repeat of a stored event, a conversion, a new user.
LATER = events(
    ("ev-6", "convert", None, "d", h(13), 9.5),
    ("ev-9", "convert", None, "b", h(16), 5),
    ("ev-10", "join", "c", "e", h(17)),
)


def user(
    uid, first, joined=None, by=None, converted=None, amount=0.0, churned=None, name=None
) -> dict:
    times = {"first_seen": first, "joined_at": joined, "converted_at": converted}
    return {
        "id": uid,
        **{k: us(h(v)) if v is not None else None for k, v in times.items()},
        "referred_by": by,
        "amount": amount,
        "churned_at": us(h(churned)) if churned is not None else None,
        # one churn period, still open (its end in year 9999)
        "away_from": [us(h(churned))] if churned is not None else None,
        "away_until": [253402214400000000] if churned is not None else None,
        "name": name,
    }


def referred(referrer, invitee, event_id, hour) -> dict:
    return {
        "referrer_id": referrer,
        "invitee_id": invitee,
        "event_id": event_id,
        "at": us(h(hour)),
        "campaign": INJECTION,
        "channel": "wecom",
        "staff_id": "staff-7",
    }


def invited(inviter, invitee, count, first, last) -> dict:
    return {
        "inviter_id": inviter,
        "invitee_id": invitee,
        "count": count,
        "first_at": us(h(first)),
        "last_at": us(h(last)),
    }


def loaded(batch_size: int = 10_000) -> tuple:
    runner = RecordingRunner()
    store = connect(runner, batch_size=batch_size)
    store.ingest([FIRST], source="first.csv")
    runner.calls.clear()
    return runner, store


def test_a_first_load_holds_the_lease_and_creates_events_in_chunks():
    runner = RecordingRunner()
    store = connect(runner, batch_size=3)
    result = store.ingest([FIRST.slice(0, 5), FIRST.slice(5)], source="first.csv")
    # ev-3's later line names another inviter: a conflict, not a duplicate
    assert (result.batch_id, result.received, result.accepted, result.duplicates) == (1, 8, 7, 0)
    assert result.conflicts.to_pylist()[0]["line"] == 9 and result.conflicted == 1  # header: 1
    first = runner.calls[0]
    assert (first.kind, first.query) == ("hold", cypher.WRITER_LEASE)
    assert {"holder", "now"} <= set(first.params)
    assert all(c.held for c in runner.calls[1:])
    queries = runner.queries()
    assert queries.index(cypher.UNFINISHED_BATCHES) < queries.index(cypher.START_BATCH)
    assert cypher.MERGE_EVENTS not in queries and cypher.SCOPE_EVENTS not in queries
    sent = runner.sent(cypher.CREATE_EVENTS)
    assert [len(p["rows"]) for p in sent] == [3, 3, 1]  # the staged file, cut at batch_size
    assert {p["batch_id"] for p in sent} == {1}
    rows = runner.rows(cypher.CREATE_EVENTS)
    assert [r["id"] for r in rows] == ["ev-4", "ev-3", "ev-1", "ev-5", "ev-2", "ev-6", "ev-7"]
    assert rows[1]["inviter_id"] == "a" and rows[1]["occurred_at"] == us(h(10))  # first line won
    assert rows[5]["amount"] == 9.5 and rows[5]["campaign"] == INJECTION
    assert "event_id" not in rows[0]
    for statement in (cypher.CREATE_USERS, cypher.CREATE_REFERRED, cypher.CREATE_INVITED):
        assert queries.index(cypher.COUNT_BATCH_EVENTS) < queries.index(statement)
        assert queries.index(statement) < queries.index(cypher.APPLY_BATCH)
    assert queries.index(cypher.CREATE_USERS) < queries.index(cypher.CREATE_REFERRED)
    applied = runner.sent(cypher.APPLY_BATCH)[0]
    assert (applied["received"], applied["accepted"], applied["duplicates"]) == (8, 7, 0)
    assert applied["conflicts"] == 1
    assert runner.batches == {1: "applied"}
    assert_sent_well(runner)


def test_a_first_load_derives_users_and_ties_from_the_file():
    runner = RecordingRunner()
    connect(runner).ingest([FIRST], source="first.csv")
    assert runner.rows(cypher.CREATE_USERS) == [
        user("a", 9),
        user("b", 9, joined=10, by="c"),
        user("c", 10, churned=14),
        user("d", 11, joined=11, by="b", converted=13, amount=9.5),
    ]
    assert runner.rows(cypher.CREATE_REFERRED) == [
        referred("c", "b", "ev-1", 10),
        referred("b", "d", "ev-5", 11),
    ]
    assert runner.rows(cypher.CREATE_INVITED) == [
        invited("a", "b", 2, 9, 10),
        invited("a", "d", 1, 12, 12),
    ]
    assert_sent_well(runner)


def test_a_later_file_merges_events_and_derives_only_the_users_it_touched():
    runner, store = loaded(batch_size=2)
    result = store.ingest([LATER], source="later.csv")
    assert (result.batch_id, result.received, result.accepted, result.duplicates) == (2, 3, 2, 1)
    queries = runner.queries()
    assert cypher.CREATE_EVENTS not in queries and cypher.CREATE_USERS not in queries
    assert [len(p["rows"]) for p in runner.sent(cypher.MERGE_EVENTS)] == [2, 1]
    assert runner.events["ev-6"]["batch_id"] == 1  # the stored event stays as it was
    # b, d and e as invitees, c as inviter: asked for in chunks of batch_size
    touched = [["b", "c"], ["d", "e"]]
    for statement in (cypher.SCOPE_EVENTS, cypher.INVITER_FIRSTS):
        assert [p["ids"] for p in runner.sent(statement)] == touched
    assert [p["ids"] for p in runner.sent(cypher.DELETE_TIES_INTO)] == touched
    assert [p["ids"] for p in runner.sent(cypher.DELETE_USERS_WITHOUT_EVENTS)] == touched
    assert runner.rows(cypher.MERGE_USERS) == [
        user("b", 9, joined=10, by="c", converted=16, amount=5.0),
        user("c", 10, churned=14),  # first seen as the inviter of ev-1, from INVITER_FIRSTS
        user("d", 11, joined=11, by="b", converted=13, amount=9.5),
        user("e", 17, joined=17, by="c"),
    ]
    assert runner.rows(cypher.CREATE_REFERRED) == [
        referred("c", "b", "ev-1", 10),
        referred("b", "d", "ev-5", 11),
        referred("c", "e", "ev-10", 17),
    ]
    assert runner.rows(cypher.CREATE_INVITED) == [
        invited("a", "b", 2, 9, 10),
        invited("a", "d", 1, 12, 12),
    ]
    order = [
        cypher.MERGE_USERS,
        cypher.DELETE_TIES_INTO,
        cypher.CREATE_REFERRED,
        cypher.CREATE_INVITED,
        cypher.DELETE_USERS_WITHOUT_EVENTS,
        cypher.APPLY_BATCH,
    ]
    assert [q for q in queries if q in order] == [
        q for q in order for _ in range(len(runner.sent(q)))
    ]
    assert_sent_well(runner)


def test_unfinished_batches_are_taken_out_before_anything_is_written():
    runner, store = loaded(batch_size=2)
    runner.batches[2] = "applying"  # a writer died: its events half written
    for i, (inviter, invitee) in enumerate((("b", "f"), ("f", "g"), ("a", "g"))):
        runner.events[f"ev-2{i}"] = {
            **runner.events["ev-5"],
            "id": f"ev-2{i}",
            "inviter_id": inviter,
            "invitee_id": invitee,
            "batch_id": 2,
        }
    store.ingest([LATER], source="later.csv")
    queries = runner.queries()
    undo = queries[
        queries.index(cypher.UNFINISHED_BATCHES) : queries.index(cypher.SCHEMA_VERSION_READ)
    ]
    assert undo[1] == cypher.BATCH_USERS and undo[-1] == cypher.DROP_BATCH
    deletes = [c.params for c in runner.calls if c.query == cypher.DELETE_BATCH_EVENTS]
    assert deletes == [{"batch_id": 2, "limit": 2}] * 3  # 2, 1, then nothing left
    assert runner.sent(cypher.SCOPE_EVENTS)[:2] == [{"ids": ["a", "b"]}, {"ids": ["f", "g"]}]
    assert [r["id"] for r in runner.rows(cypher.MERGE_USERS)][:2] == ["a", "b"]  # f, g are gone
    assert runner.sent(cypher.DELETE_USERS_WITHOUT_EVENTS)[1] == {"ids": ["f", "g"]}
    assert runner.sent(cypher.DROP_BATCH) == [{"batch_id": 2}]
    assert runner.sent(cypher.START_BATCH)[0]["batch_id"] == 2
    assert not {"ev-20", "ev-21", "ev-22"} & set(runner.events)
    assert runner.batches == {1: "applied", 2: "applied"}
    assert_sent_well(runner)


def failing_on(runner: RecordingRunner, statement: str, nth: int, then: tuple[str, ...] = ()):
    seen = []

    def fail(query: str, params: dict) -> bool:
        seen.append(query)
        return (query == statement and seen.count(statement) == nth) or query in then

    runner.fail = fail


def test_a_failed_batch_is_taken_out_again_and_the_error_raised():
    runner = RecordingRunner()
    store = connect(runner, batch_size=2)
    failing_on(runner, cypher.CREATE_EVENTS, nth=3)
    with pytest.raises(TransientError):
        store.ingest([FIRST], source="broken.csv")
    queries = runner.queries()
    assert cypher.APPLY_BATCH not in queries and runner.calls[-1].query == cypher.DROP_BATCH
    undo = queries[queries.index(cypher.BATCH_USERS) :]
    # Chunks go two at a time, so the one after the failing one may be in too;
    # the undo deletes 2 at a time until a delete finds nothing.
    created = [c for c in runner.calls if c.query == cypher.CREATE_EVENTS]
    stored = sum(len(c.params["rows"]) for c in created) - len(created[2].params["rows"])
    assert stored in (4, 5)  # 7 events in chunks of 2, 2, 2 (fails), 1
    assert undo.count(cypher.DELETE_BATCH_EVENTS) == -(-stored // 2) + 1
    assert [p["ids"] for p in runner.sent(cypher.SCOPE_EVENTS)] == [["a", "b"], ["c", "d"]]
    assert cypher.DELETE_USERS_WITHOUT_EVENTS in undo
    assert runner.sent(cypher.DROP_BATCH) == [{"batch_id": 1}]
    assert runner.events == {} and runner.batches == {}
    assert all(c.held for c in runner.calls[1:])
    assert_sent_well(runner)


def test_when_even_the_undo_fails_the_next_ingest_takes_the_batch_out():
    runner = RecordingRunner()
    store = connect(runner, batch_size=2)
    failing_on(runner, cypher.CREATE_EVENTS, nth=2, then=(cypher.DELETE_BATCH_EVENTS,))
    with pytest.raises(StoreError, match=r"batch 1 failed .* stays marked 'applying'") as info:
        store.ingest([FIRST], source="x.csv")
    assert "next ingest" in str(info.value) and "s3cret" not in str(info.value)
    assert isinstance(info.value.__cause__, TransientError)
    # The chunk after the failing one may have gone in beside it (two in flight).
    assert runner.batches == {1: "applying"} and len(runner.events) in (
        2,
        4,
    )  # chunks 2, 2 (fails), 2
    runner.fail = lambda query, params: False
    runner.calls.clear()
    result = store.ingest([FIRST], source="x.csv")
    queries = runner.queries()
    assert queries.index(cypher.DROP_BATCH) < queries.index(cypher.START_BATCH)
    assert cypher.CREATE_EVENTS in queries  # the store was empty again: a first load
    assert (result.batch_id, result.accepted, result.conflicted) == (1, 7, 1)


def test_a_busy_store_is_refused_before_anything_is_written():
    runner = RecordingRunner()
    store = connect(runner)
    runner.locked = True
    with pytest.raises(StoreLockedError):
        store.ingest([FIRST], source="first.csv")
    assert [c.kind for c in runner.calls] == ["hold"]
    assert runner.events == {} and runner.batches == {}
