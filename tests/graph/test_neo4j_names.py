"""Users' names in the Neo4j store against a recording runner: what ingest
sends (events keep `invitee_name`, users their latest name), the chunks of
`user_names`, the search's parameters and the migration to version 3.
(Against a real server: tests/graph/contract/test_names.py.)"""

from __future__ import annotations

import pyarrow as pa
import pytest

from graph import cypher
from graph.store import StoreError
from tests.graph.recording_runner import (
    INJECTION,
    RecordingRunner,
    assert_sent_well,
    connect,
    events,
    h,
    us,
)


def with_names(table: pa.Table, names: list[str | None]) -> pa.Table:
    at = table.schema.get_field_index("invitee_name")
    return table.set_column(at, "invitee_name", pa.array(names, pa.string()))


FIRST = with_names(
    events(
        ("n-1", "join", "a", "b", h(9)),
        ("n-2", "invite", "c", "b", h(11)),
        ("n-3", "invite", "a", "b", h(10)),
        ("n-4", "join", "a", "c", h(9)),
    ),
    ["Bob", "Bobby", INJECTION, None],
)


def names_sent(runner: RecordingRunner, statement: str) -> dict[str, str | None]:
    return {r["id"]: r["name"] for r in runner.rows(statement)}


def test_ingest_keeps_names_on_events_and_the_latest_on_users():
    runner = RecordingRunner()
    store = connect(runner)
    store.ingest([FIRST], source="first.csv")
    sent = {r["id"]: r["invitee_name"] for r in runner.rows(cypher.CREATE_EVENTS)}
    assert sent == {"n-1": "Bob", "n-2": "Bobby", "n-3": INJECTION, "n-4": None}
    assert names_sent(runner, cypher.CREATE_USERS) == {"a": None, "b": "Bobby", "c": None}
    # A later batch: c gets a name, b's later event without one keeps Bobby,
    # an event earlier than b's latest named one changes nothing.
    runner.calls.clear()
    later = with_names(
        events(("n-5", "join", "a", "c", h(12)), ("n-6", "join", "c", "b", h(13))),
        ["Cat", None],
    )
    store.ingest([later], source="later.csv")
    assert names_sent(runner, cypher.MERGE_USERS) == {"a": None, "b": "Bobby", "c": "Cat"}
    assert_sent_well(runner)


def test_user_names_are_read_in_chunks_of_the_batch_size():
    def answer(params: dict) -> list[dict]:
        named = [i for i in params["ids"] if i.startswith("n")]
        return [{"id": named, "name": [i.upper() for i in named]}]

    runner = RecordingRunner({cypher.USER_NAMES: answer})
    store = connect(runner, batch_size=2)
    ids = ["n1", "x", "n2", "n1", "n3", INJECTION]
    assert store.user_names(ids) == {"n1": "N1", "n2": "N2", "n3": "N3"}
    assert [p["ids"] for p in runner.sent(cypher.USER_NAMES)] == [
        ["n1", "x"],
        ["n2", "n3"],
        [INJECTION],
    ]
    assert_sent_well(runner)


def test_a_search_sends_its_text_as_a_parameter_and_reads_the_ranks():
    rows = [{"id": "b", "name": "Bob", "rank": 1}, {"id": "bo", "name": None, "rank": 2}]
    runner = RecordingRunner({cypher.SEARCH_USERS: rows})
    store = connect(runner)
    found = store.search_users(INJECTION, 7)
    assert found.to_pylist() == [
        {"id": "b", "name": "Bob", "match": "name"},
        {"id": "bo", "name": None, "match": "prefix"},
    ]
    assert runner.sent(cypher.SEARCH_USERS) == [{"q": INJECTION, "limit": 7}]
    assert_sent_well(runner)
    with pytest.raises(StoreError, match="a search returns 1 to 1000 users"):
        store.search_users("b", 1001)


def test_a_version_2_store_gets_its_users_named_by_the_migration():
    named = [
        {
            "invitee_id": "b",
            "invitee_name": "Old",
            "occurred_at": us(h(9)),
            "batch_id": 2,
            "line": 3,
        },
        {
            "invitee_id": "b",
            "invitee_name": "New",
            "occurred_at": us(h(9)),
            "batch_id": 2,
            "line": 4,
        },
        {
            "invitee_id": "b",
            "invitee_name": "Early",
            "occurred_at": us(h(8)),
            "batch_id": 3,
            "line": 2,
        },
        {
            "invitee_id": "c",
            "invitee_name": "Cat",
            "occurred_at": us(h(1)),
            "batch_id": 1,
            "line": 2,
        },
    ]
    runner = RecordingRunner({cypher.EVENT_NAMES: named})
    runner.events["x"] = {"id": "x"}  # a store with events ...
    runner.schema_version = 2  # ... written at version 2
    store = connect(runner)
    assert store.migrate() == 0
    assert runner.rows(cypher.SET_USER_NAMES) == [
        {"id": "b", "name": "New"},
        {"id": "c", "name": "Cat"},
    ]
    assert runner.schema_version == 3
    assert not runner.sent(cypher.ALL_EVENTS)  # no version 1 → 2 work
