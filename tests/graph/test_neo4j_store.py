"""The Neo4j store against a recording query runner: the statements it sends,
their order and batching, and that every value travels as a parameter.
(The same store against a live server: tests/graph/test_store_contract.py
with KOC_TEST_NEO4J_URL set.)"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, TransientError
from neo4j.time import DateTime

from graph import cypher
from graph.neo4j_store import Neo4jStore, describe_error, parse_url
from graph.store import (
    REVIEW_STATUSES,
    SavedSnapshot,
    StoreError,
    UserNotFoundError,
    Window,
    open_store,
)
from loaders.canonical import EVENT_SCHEMA, EVENT_TYPES

URL = "neo4j://searchlight:s3cret-pw@graph.internal:7687/koc"
T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
Answer = list[dict] | Callable[[dict], list[dict]]


class RecordingRunner:
    """Records every (kind, query, params); answers from `answers` by statement."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.answers: dict[str, Answer] = {
            cypher.SERVER_VERSION: [
                {"name": "Neo4j Kernel", "version": "5.26.1", "edition": "community"}
            ],
            cypher.NEXT_BATCH: [{"batch_id": 7}],
            cypher.WATERMARK: [{"watermark": 6}],
            cypher.LATEST_SNAPSHOT: [],
            cypher.DELETE_BATCH_EVENTS: [{"deleted": 0}],
            cypher.DELETE_OLD_SNAPSHOT_ROWS: [{"deleted": 0}],
            cypher.LAST_EVENT: [{"last": None}],
            cypher.USER_EXISTS: [{"found": 1}],
            cypher.LAST_REVIEW_AT: [{"last": None}],
            cypher.RECORD_REVIEW: [{"recorded": 1}],
            cypher.COUNT_BATCH_EVENTS: self._accepted,
            cypher.BATCH_USERS: self._batch_users,
            **(answers or {}),
        }
        self.fail: Callable[[str, dict], bool] = lambda query, params: False
        self.closed = False

    def _written_events(self) -> list[dict]:
        return [row for _, q, p in self.calls if q == cypher.WRITE_EVENTS for row in p["rows"]]

    def _accepted(self, params: dict) -> list[dict]:
        return [{"accepted": len({e["event_id"] for e in self._written_events()})}]

    def _batch_users(self, params: dict) -> list[dict]:
        events = self._written_events()
        invitees = sorted({e["invitee_id"] for e in events})
        inviters = sorted({e["inviter_id"] for e in events if e["inviter_id"]})
        return [{"invitees": invitees, "inviters": inviters}]

    def _run(self, kind: str, query: str, params: dict) -> list[dict]:
        self.calls.append((kind, query, copy.deepcopy(params)))
        if self.fail(query, params):
            raise TransientError("the cluster is re-electing a leader")
        answer = self.answers.get(query, [])
        return answer(params) if callable(answer) else copy.deepcopy(answer)

    def read(self, query: str, params: dict) -> list[dict]:
        return self._run("read", query, params)

    def stream(self, query: str, params: dict):
        yield from self._run("stream", query, params)

    def write(self, query: str, params: dict) -> list[dict]:
        return self._run("write", query, params)

    def close(self) -> None:
        self.closed = True

    def queries(self) -> list[str]:
        return [q for _, q, _ in self.calls]


def connect(runner: RecordingRunner, **options) -> Neo4jStore:
    return Neo4jStore(URL, runner=runner, **options)


def events(n: int) -> pa.Table:
    rows = [
        {
            "event_id": f"evt-{i}",
            "type": "join",
            "inviter_id": "user-root" if i % 2 == 0 else f"user-{i - 1}",
            "invitee_id": f"user-{i}",
            "occurred_at": T0 + timedelta(minutes=i),
            "campaign": "双11 '); MATCH (n) DETACH DELETE n //",
            "channel": "wecom",
            "staff_id": None,
            "amount": None,
            "device_id": f"dev-{i}",
            "ip": None,
            "line": i + 2,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def values_in(params: object) -> set[str]:
    """Every text value inside a parameter structure."""
    if isinstance(params, str):
        return {params}
    if isinstance(params, dict):
        return set().union(*(values_in(v) for v in params.values())) if params else set()
    if isinstance(params, list | tuple):
        return set().union(*(values_in(v) for v in params)) if params else set()
    return set()


# Words a statement may spell out itself: the event types and review
# statuses it filters on. Property names passed as `$columns` are also fine.
VOCABULARY = {*EVENT_TYPES, *REVIEW_STATUSES}


def assert_parameters_only(runner: RecordingRunner) -> None:
    """Every statement is the module's, every $name it uses is supplied, and
    no supplied data value appears in the statement text."""
    known = cypher.statements()
    for _, query, params in runner.calls:
        assert query in known, query
        used = set(re.findall(r"\$(\w+)", query))
        assert used <= set(params), (used - set(params), query)
        data = {k: v for k, v in params.items() if k != "columns"}
        for value in values_in(data) - VOCABULARY:
            if len(value) >= 3:
                assert value not in query, (value, query)


# -- connecting ---------------------------------------------------------------------


def test_connecting_checks_the_version_and_creates_the_schema_idempotently():
    runner = RecordingRunner()
    store = connect(runner)
    assert runner.calls[0][:2] == ("read", cypher.SERVER_VERSION)
    schema = [q for kind, q, _ in runner.calls[1:]]
    assert schema == list(cypher.SCHEMA) and all(kind == "write" for kind, _, _ in runner.calls[1:])
    assert all("IF NOT EXISTS" in q for q in schema)
    assert any("(u:User) REQUIRE u.id IS UNIQUE" in q for q in schema)
    assert any("(e:Event) REQUIRE e.id IS UNIQUE" in q for q in schema)
    assert store.url == "neo4j://searchlight:***@graph.internal:7687/koc"
    assert "s3cret" not in store.url


def test_an_old_server_is_refused_and_the_connection_closed():
    runner = RecordingRunner(
        {cypher.SERVER_VERSION: [{"name": "Neo4j Kernel", "version": "4.4.30"}]}
    )
    with pytest.raises(StoreError, match="version 4.4.30; Searchlight needs Neo4j 5"):
        connect(runner)
    assert runner.closed


# -- ingest ---------------------------------------------------------------------------


def test_ingest_writes_unwind_batches_then_derives_the_graph():
    runner = RecordingRunner()
    store = connect(runner, batch_size=2)
    runner.calls.clear()
    result = store.ingest([events(3), events(5).slice(3)], source="events.csv")
    assert (result.batch_id, result.received, result.accepted, result.duplicates) == (7, 5, 5, 0)
    writes = [p["rows"] for _, q, p in runner.calls if q == cypher.WRITE_EVENTS]
    assert [len(rows) for rows in writes] == [2, 1, 2]  # each table cut at the batch size
    assert [r["event_id"] for rows in writes for r in rows] == [f"evt-{i}" for i in range(5)]
    assert all(p["batch_id"] == 7 for _, q, p in runner.calls if q == cypher.WRITE_EVENTS)
    order = [q for q in runner.queries() if q != cypher.WRITE_EVENTS]
    assert order[:3] == [cypher.NEXT_BATCH, cypher.START_BATCH, cypher.COUNT_BATCH_EVENTS]
    assert order[-1] == cypher.APPLY_BATCH
    derived = [(q, p["ids"]) for _, q, p in runner.calls if "ids" in p]
    users = [i for q, ids in derived if q == cypher.DERIVE_USERS for i in ids]
    assert sorted(users) == sorted({f"user-{i}" for i in range(5)} | {"user-root"})
    for statement in (cypher.DERIVE_REFERRED, cypher.DERIVE_INVITED):
        chunks = [ids for q, ids in derived if q == statement]
        assert all(len(c) <= 2 for c in chunks)
        assert sorted(i for c in chunks for i in c) == [f"user-{i}" for i in range(5)]
    applied = next(p for _, q, p in runner.calls if q == cypher.APPLY_BATCH)
    assert (applied["received"], applied["accepted"], applied["duplicates"]) == (5, 5, 0)
    assert_parameters_only(runner)


def test_duplicates_are_counted_from_what_the_server_kept():
    runner = RecordingRunner({cypher.COUNT_BATCH_EVENTS: [{"accepted": 1}]})
    store = connect(runner)
    result = store.ingest([events(3)], source="again.csv")
    assert (result.received, result.accepted, result.duplicates) == (3, 1, 2)


def test_a_failed_batch_is_taken_out_again():
    runner = RecordingRunner()
    store = connect(runner, batch_size=2)
    runner.calls.clear()
    written = []

    def fail_second_chunk(query: str, params: dict) -> bool:
        if query == cypher.WRITE_EVENTS:
            written.append(1)
            return len(written) == 2
        return False

    runner.fail = fail_second_chunk
    with pytest.raises(TransientError):
        store.ingest([events(5)], source="broken.csv")
    queries = runner.queries()
    assert cypher.APPLY_BATCH not in queries
    undo = queries[queries.index(cypher.DELETE_BATCH_EVENTS) :]
    assert cypher.DERIVE_USERS in undo and cypher.DELETE_ORPHAN_USERS in undo
    assert undo[-1] == cypher.DROP_BATCH
    dropped = runner.calls[-1][2]
    assert dropped == {"batch_id": 7}
    assert_parameters_only(runner)


def test_when_even_the_undo_fails_the_error_says_what_to_do():
    runner = RecordingRunner()
    store = connect(runner)
    runner.fail = lambda query, params: query in (cypher.WRITE_EVENTS, cypher.DELETE_BATCH_EVENTS)
    with pytest.raises(StoreError, match="batch 7 failed .* could not be taken out again") as info:
        store.ingest([events(2)], source="x.csv")
    assert "safe" in str(info.value) and "s3cret" not in str(info.value)


# -- reads ----------------------------------------------------------------------------


def test_read_graph_streams_each_table_with_the_window_as_parameters():
    since, until = T0, T0 + timedelta(days=30)
    at = DateTime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    runner = RecordingRunner(
        {
            cypher.READ_USERS: [
                {"id": "a", "converted": True, "amount": 12.5, "churned": False},
                {"id": "b", "converted": False, "amount": 0.0, "churned": True},
            ],
            cypher.READ_REFERRED: [{"referrer_id": "a", "invitee_id": "b", "at": at}],
            cypher.READ_INVITED: [{"inviter_id": "b", "invitee_id": "a"}],
            cypher.READ_DEVICES: [
                {"user_id": "a", "device_id": "d1"},
                {"user_id": "b", "device_id": "d1"},
            ],
            cypher.LAST_EVENT: [{"last": at}],
        }
    )
    store = connect(runner)
    runner.calls.clear()
    tables = store.read_graph(Window(since, until, ("双11",)))
    for statement in (
        cypher.READ_USERS,
        cypher.READ_REFERRED,
        cypher.READ_INVITED,
        cypher.READ_DEVICES,
    ):
        kind, _, params = next(c for c in runner.calls if c[1] == statement)
        assert kind == "stream"
        assert params == {"since": since, "until": until, "campaigns": ["双11"]}
    assert tables.users.to_pylist()[1] == {
        "id": "b",
        "converted": False,
        "amount": 0.0,
        "churned": True,
    }
    assert tables.referred["at"].to_pylist() == [datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)]
    assert tables.referred.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert tables.devices.num_rows == 2 and tables.watermark == 6
    assert tables.last_event_at == datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    unbounded = store.read_graph(Window())
    assert unbounded.users.num_rows == 2
    params = next(p for _, q, p in reversed(runner.calls) if q == cypher.READ_USERS)
    assert (
        params["campaigns"] is None and params["since"].year == 1 and params["until"].year == 9999
    )
    assert_parameters_only(runner)


def test_top_referrers_uses_a_fixed_statement_per_ranking():
    runner = RecordingRunner(
        {cypher.LATEST_SNAPSHOT: [{"id": "snap-1"}]}
        | {
            statement: [{"id": "a", "invites": 3, "effective_invites": 2, "conversions": 1}]
            for statement in cypher.TOP_REFERRERS.values()
        }
    )
    store = connect(runner)
    for by in ("invites", "effective_invites", "conversions"):
        runner.calls.clear()
        top = store.top_referrers(Window(), by, limit=5, offset=10)
        _, query, params = runner.calls[-1]
        assert query == cypher.TOP_REFERRERS[by] and f"ORDER BY {by} DESC, id" in query
        assert (params["limit"], params["offset"], params["latest_snapshot"]) == (5, 10, "snap-1")
        assert top.to_pylist() == [
            {"id": "a", "invites": 3, "effective_invites": 2, "conversions": 1}
        ]
    runner.calls.clear()
    with pytest.raises(StoreError, match="cannot rank by 'gmv'"):
        store.top_referrers(Window(), "gmv", 5)
    assert runner.calls == []


def test_user_chain_and_ego_network():
    runner = RecordingRunner(
        {
            cypher.USER: [
                {
                    "id": "c",
                    "first_seen": DateTime(2026, 1, 1, tzinfo=UTC),
                    "joined_at": DateTime(2026, 1, 1, tzinfo=UTC),
                    "referred_by": "b",
                    "converted_at": None,
                    "amount": 0.0,
                    "churned_at": None,
                }
            ],
            # a referral loop: c <- b <- a <- c
            cypher.REFERRAL_CHAIN: [{"chain": ["b", "a", "c", "b"]}],
            cypher.EGO_HOP: lambda p: [{"other": o} for o in ("b", "d", "e")][: p["cap"]],
            cypher.TIES_AMONG: [{"source": "b", "target": "c", "kind": "REFERRED"}],
        }
    )
    store = connect(runner)
    record = store.user("c")
    assert record.referred_by == "b" and record.first_seen == datetime(2026, 1, 1, tzinfo=UTC)
    assert store.referral_chain("c") == ["b", "a"]
    assert store.referral_chain("c", limit=1) == ["b"]
    ego = store.ego_network("c", hops=1, limit=3)
    assert ego.users.to_pylist() == [
        {"id": "c", "hop": 0},
        {"id": "b", "hop": 1},
        {"id": "d", "hop": 1},
    ]
    assert ego.truncated
    hop = next(p for _, q, p in runner.calls if q == cypher.EGO_HOP)
    assert hop == {"frontier": ["c"], "cap": 3}
    assert ego.ties.to_pylist() == [{"source": "b", "target": "c", "kind": "REFERRED"}]
    runner.answers[cypher.USER] = []
    runner.answers[cypher.USER_EXISTS] = [{"found": 0}]
    with pytest.raises(UserNotFoundError):
        store.user("nobody")
    with pytest.raises(UserNotFoundError):
        store.ego_network("nobody")
    assert_parameters_only(runner)


# -- snapshots and reviews -----------------------------------------------------------


def test_a_snapshot_is_written_back_onto_users_and_read_again():
    runner = RecordingRunner()
    store = connect(runner, batch_size=2)
    users = pa.table(
        {
            "id": ["a", "b", "c"],
            "community": pa.array([0, 0, 1], pa.int64()),
            "koc_score": [90.5, 10.0, 0.0],
            "flagged": [False, True, False],
            "last_referral_at": pa.array([T0, None, None], pa.timestamp("us", tz="UTC")),
            "flag_rules": pa.array([None, "burst", None], pa.string()),
        }
    )
    communities = pa.table(
        {
            "community": pa.array([0, 1], pa.int64()),
            "size": pa.array([2, 1], pa.int64()),
            "top_users": pa.array([["a", "b"], ["c"]], pa.list_(pa.string())),
        }
    )
    flags = pa.table(
        {
            "user_id": ["b"],
            "rule": ["burst"],
            "reason": ["12 joins in 6 minutes"],
            "evidence": ['{"joins": 12}'],
        }
    )
    saved = SavedSnapshot("snap-9", {"seed": 0}, T0, 7, {"users": 3}, users, communities, flags)
    store.save_snapshot(saved)
    write_back = [p for _, q, p in runner.calls if q == cypher.WRITE_BACK_USERS]
    assert [len(p["rows"]) for p in write_back] == [2, 1]
    assert write_back[0]["rows"][0] == {
        "id": "a",
        "values": {
            "community": 0,
            "koc_score": 90.5,
            "flagged": False,
            "last_referral_at": T0,
            "flag_rules": None,
        },
    }
    assert runner.queries().index(cypher.FINISH_SNAPSHOT) > runner.queries().index(
        cypher.WRITE_FLAGS
    )
    # a server that gives back what was written
    started = next(p for _, q, p in runner.calls if q == cypher.START_SNAPSHOT)
    by_id = {r["id"]: r["values"] for p in write_back for r in p["rows"]}

    def users_back(params: dict) -> list[dict]:
        return [
            {"values": [uid if k == "id" else values.get(k) for k in params["columns"]]}
            for uid, values in sorted(by_id.items())
        ]

    def rows_back(statement: str) -> Callable[[dict], list[dict]]:
        rows = [r for _, q, p in runner.calls if q == statement for r in p["rows"]]
        return lambda params: [{"values": [r[k] for k in params["columns"]]} for r in rows]

    runner.answers[cypher.LATEST_SNAPSHOT] = [{**started, "id": started["snapshot_id"]}]
    runner.answers[cypher.READ_SNAPSHOT_USERS] = users_back
    runner.answers[cypher.READ_SNAPSHOT_COMMUNITIES] = rows_back(cypher.WRITE_COMMUNITIES)
    runner.answers[cypher.READ_SNAPSHOT_FLAGS] = rows_back(cypher.WRITE_FLAGS)
    back = store.latest_snapshot()
    assert back.id == "snap-9" and back.params == {"seed": 0} and back.watermark == 7
    assert back.users.equals(users) and back.communities.equals(communities)
    assert back.flags.equals(flags)
    assert_parameters_only(runner)


def test_reviews_get_strictly_later_times_and_need_a_user():
    later = datetime.now(UTC) + timedelta(hours=1)
    runner = RecordingRunner({cypher.LAST_REVIEW_AT: [{"last": DateTime.from_native(later)}]})
    store = connect(runner)
    review = store.record_review("u-1", "declined", "device farm", "ops-li")
    assert review.reviewed_at == later + timedelta(microseconds=1)
    params = next(p for _, q, p in runner.calls if q == cypher.RECORD_REVIEW)
    assert params["status"] == "declined" and params["note"] == "device farm"
    runner.answers[cypher.RECORD_REVIEW] = [{"recorded": 0}]
    with pytest.raises(UserNotFoundError):
        store.record_review("nobody", "approved", "x", "ops")
    with pytest.raises(StoreError, match="approved or declined"):
        store.record_review("u-1", "maybe", "x", "ops")
    runner.answers[cypher.CURRENT_REVIEWS] = [
        {
            "user_id": "u-1",
            "status": "declined",
            "note": "farm",
            "reviewer": "li",
            "reviewed_at": DateTime.from_native(later),
        }
    ]
    assert store.reviews().to_pylist()[0]["reviewed_at"] == later
    assert_parameters_only(runner)


def test_every_statement_in_the_module_is_sent_with_its_parameters():
    """Drive every method once; nothing the store sends is outside graph.cypher."""
    runner = RecordingRunner(
        {
            cypher.REFERRER_COUNT: [{"referrers": 0}],
            cypher.CHANGE_MARKER: [{"watermark": 6, "snapshot": None, "reviews": 0}],
            cypher.STATS: [
                dict.fromkeys(("users", "referred_edges", "invited_ties", "batches"), 0)
                | {"first_event_at": None, "last_event_at": None}
            ],
        }
    )
    store = connect(runner)
    store.ingest([events(2)], source="e.csv")
    store.stats()
    store.read_graph(Window())
    store.referrer_count(Window(campaigns=("c",)))
    store.watermark()
    store.reviews()
    store.latest_snapshot()
    assert store.change_marker() == (6, None, 0)
    assert_parameters_only(runner)
    unused = cypher.statements() - set(runner.queries())
    # what a live server or a failure path exercises instead
    assert unused <= {
        cypher.DELETE_EVERYTHING,
        cypher.DELETE_BATCH_EVENTS,
        cypher.DELETE_ORPHAN_USERS,
        cypher.DROP_BATCH,
        *cypher.TOP_REFERRERS.values(),
        cypher.USER,
        cypher.USER_EXISTS,
        cypher.REFERRAL_CHAIN,
        cypher.EGO_HOP,
        cypher.TIES_AMONG,
        cypher.START_SNAPSHOT,
        cypher.WRITE_BACK_USERS,
        cypher.WRITE_COMMUNITIES,
        cypher.WRITE_FLAGS,
        cypher.FINISH_SNAPSHOT,
        cypher.DELETE_OLD_SNAPSHOT_ROWS,
        cypher.READ_SNAPSHOT_USERS,
        cypher.READ_SNAPSHOT_COMMUNITIES,
        cypher.READ_SNAPSHOT_FLAGS,
        cypher.LAST_REVIEW_AT,
        cypher.RECORD_REVIEW,
    }


# -- URLs and errors ------------------------------------------------------------------


def test_urls():
    url = parse_url("bolt+s://ops%40brand:p%40ss@[::1]:7688/koc")
    assert (url.scheme, url.host, url.port, url.user, url.password, url.database) == (
        "bolt+s",
        "::1",
        7688,
        "ops@brand",
        "p@ss",
        "koc",
    )
    assert url.address == "bolt+s://[::1]:7688" and "p@ss" not in url.redacted
    env = parse_url("neo4j://neo4j@localhost", password="from-env")
    assert (env.port, env.password, env.database) == (7687, "from-env", None)
    assert parse_url("neo4j://neo4j:in-url@localhost", password="env").password == "in-url"
    for bad, message in (
        ("http://neo4j@localhost", "not a Neo4j URL scheme"),
        ("neo4j://localhost:7687", "names no user"),
        ("neo4j://neo4j:pw@localhost:99999", "bad port"),
        ("neo4j://neo4j@localhost/a/b", "one database name"),
    ):
        with pytest.raises(StoreError, match=message) as info:
            parse_url(bad)
        assert ":pw@" not in str(info.value)


def test_driver_errors_in_words_with_the_password_hidden():
    url = parse_url(URL)
    said = {
        "auth": describe_error(AuthError("The client is unauthorized"), url),
        "down": describe_error(ServiceUnavailable("Couldn't connect to graph.internal:7687"), url),
        "no database": describe_error(
            Neo4jError._hydrate_neo4j(
                code="Neo.ClientError.Database.DatabaseNotFound", message="Graph not found: koc"
            ),
            url,
        ),
    }
    assert "refused the credentials of user 'searchlight'" in said["auth"]
    assert "KOC_NEO4J_PASSWORD" in said["auth"]
    assert (
        "unreachable" in said["down"]
        and "neo4j://searchlight:***@graph.internal:7687/koc" in said["down"]
    )
    assert "has no database 'koc'" in said["no database"]
    assert all("s3cret" not in text for text in said.values())
    assert describe_error(ValueError("not the driver's"), url) is None


def test_an_unreachable_server_is_named_with_the_password_hidden():
    """The real driver, against a port nothing listens on."""
    with pytest.raises(StoreError, match="is unreachable") as info:
        open_store("neo4j://neo4j:s3cret-pw@127.0.0.1:1/koc")
    assert "neo4j://neo4j:***@127.0.0.1:1/koc" in str(info.value)
    assert "s3cret" not in str(info.value)
    with pytest.raises(StoreError, match=r"bolt://neo4j:\*\*\*@127.0.0.1:1 is unreachable"):
        open_store("bolt://neo4j@127.0.0.1:1", neo4j_password="from-settings")
