"""The Neo4j store against a recording query runner: connecting, reads,
snapshots, reviews and errors; what it sends and what it makes of the
answers. (Ingest: test_neo4j_ingest.py. The same store against a live
server: the contract suite and test_neo4j_server.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable
from neo4j.time import DateTime

from graph import cypher, neo4j_reads
from graph.neo4j_runner import translated
from graph.neo4j_store import Neo4jStore, StoreUnavailableError, describe_error, parse_url
from graph.store import TOP_COUNTS, StoreError, UserNotFoundError, Window
from graph.store_url import open_store
from tests.graph.recording_runner import (
    INJECTION,
    URL,
    RecordingRunner,
    T,
    assert_sent_well,
    connect,
    us,
)

# -- connecting ---------------------------------------------------------------------


def test_connecting_checks_the_version_then_sets_up_the_schema_idempotently():
    runner = RecordingRunner()
    store = Neo4jStore(URL, runner=runner)
    assert runner.calls[0][:2] == ("read", cypher.SERVER_VERSION)
    setup = runner.calls[1:]
    assert all(c.kind == "write" for c in setup) and len(setup) == len(cypher.SCHEMA) + 1
    assert {c.query for c in setup} == {*cypher.SCHEMA, cypher.ENSURE_WRITER_LOCK}
    # safe to run on every connect: nothing is created twice
    assert all("IF NOT EXISTS" in c.query for c in setup if c.query != cypher.ENSURE_WRITER_LOCK)
    assert cypher.ENSURE_WRITER_LOCK.startswith("MERGE")
    first = runner.queries()
    Neo4jStore(URL, runner=runner)
    assert runner.queries()[len(first) :] == first
    # what ingest looks events up by is indexed or unique
    for key in ("(e:Event) REQUIRE e.id", "(e.invitee_id)", "(e.inviter_id)", "(e.batch_id)"):
        assert any(key in q for q in cypher.SCHEMA), key
    assert store.url == "neo4j://searchlight:***@graph.internal:7687/koc"
    assert_sent_well(runner)


@pytest.mark.parametrize("version", ["4.4.30", "garbage"])
def test_an_old_server_is_refused_and_the_connection_closed(version):
    runner = RecordingRunner(
        {cypher.SERVER_VERSION: [{"name": "Neo4j Kernel", "version": version}]}
    )
    with pytest.raises(StoreError, match=f"version {version}; Searchlight needs Neo4j 5"):
        Neo4jStore(URL, runner=runner)
    assert runner.closed and runner.queries() == [cypher.SERVER_VERSION]


def test_a_failed_setup_closes_the_connection():
    runner = RecordingRunner()
    runner.fail = lambda query, params: query == cypher.SCHEMA[2]
    with pytest.raises(Neo4jError):
        Neo4jStore(URL, runner=runner)
    assert runner.closed


# -- reads --------------------------------------------------------------------------


def paged(key: str, rows: list[dict], *columns: str):
    """A columnar paged read as the server answers it: the next `page` users
    by id after `after`, and the rows of those users (by `key`) as lists."""

    def answer(params: dict) -> list[dict]:
        page = sorted(u for u in USERS if u > params["after"])[: params["page"]]
        got = [r for r in rows if r[key] in page]
        return [{"last": page[-1] if page else None} | {c: [r[c] for r in got] for c in columns}]

    return answer


# d is first seen after the window's end: it is paged over but not read.
USERS = ("a", "b", "c", "d")
ALL_TIME = {"a": (False, 0.0, False), "b": (True, 20.0, True), "c": (True, 3.0, False)}


def test_read_graph_reads_each_table_page_by_page_with_the_window(monkeypatch):
    monkeypatch.setattr(neo4j_reads, "PAGE", 2)
    at = T + timedelta(hours=3, microseconds=7)
    users = [
        {"id": u, "converted": c, "amount": a, "churned": ch} for u, (c, a, ch) in ALL_TIME.items()
    ]
    runner = RecordingRunner(
        {
            cypher.READ_USERS: paged("id", users, "id", "converted", "amount", "churned"),
            # zz converted in the window but is not a user of it
            cypher.READ_CONVERSIONS: [{"id": ["b", "zz"], "amount": [12.5, 1.0]}],
            cypher.READ_REFERRED: paged(
                "invitee_id",
                [{"referrer_id": "a", "invitee_id": "c", "at": us(at)}],
                "referrer_id",
                "invitee_id",
                "at",
            ),
            cypher.READ_INVITED: paged(
                "invitee_id", [{"inviter_id": "b", "invitee_id": "a"}], "inviter_id", "invitee_id"
            ),
            cypher.READ_INVITED_TIES: paged(
                "invitee_id",
                [{"inviter_id": "b", "invitee_id": "a"}, {"inviter_id": "c", "invitee_id": "a"}],
                "inviter_id",
                "invitee_id",
            ),
            cypher.READ_DEVICES: [
                {"user_id": "a", "device_id": "d1"},
                {"user_id": "b", "device_id": "d1"},
            ],
            cypher.LAST_EVENT: [{"last": DateTime.from_native(at)}],
        }
    )
    runner.batches = {1: "applied", 2: "applied", 3: "applying"}
    store = connect(runner)
    window = Window(T, T + timedelta(days=30), (INJECTION,))
    tables = store.read_graph(window)
    expected = {"since": window.since, "until": window.until, "campaigns": [INJECTION]}
    for statement in (cypher.READ_USERS, cypher.READ_REFERRED, cypher.READ_INVITED):
        calls = [c for c in runner.calls if c.query == statement]
        assert [c.params["after"] for c in calls] == ["", "b", "d"]  # until an empty page
        assert all(c.params == expected | {"page": 2, "after": c.params["after"]} for c in calls)
    for statement in (cypher.READ_CONVERSIONS, cypher.READ_DEVICES, cypher.LAST_EVENT):
        assert runner.sent(statement) == [expected]
    # a bounded window's conversions come from the log, not the users' all-time ones
    assert tables.users.to_pylist() == [
        {"id": "a", "converted": False, "amount": 0.0, "churned": False},
        {"id": "b", "converted": True, "amount": 12.5, "churned": True},
        {"id": "c", "converted": False, "amount": 0.0, "churned": False},
    ]
    assert tables.referred.to_pylist() == [{"referrer_id": "a", "invitee_id": "c", "at": at}]
    assert tables.referred.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert tables.invited.to_pylist() == [{"inviter_id": "b", "invitee_id": "a"}]
    assert tables.devices.num_rows == 2
    assert tables.watermark == 2 and tables.last_event_at == at
    assert_sent_well(runner)
    runner.calls.clear()
    unbounded = store.read_graph(Window())
    assert [tuple(u.values())[1:] for u in unbounded.users.to_pylist()] == list(ALL_TIME.values())
    assert unbounded.invited.num_rows == 2
    queries = runner.queries()
    assert cypher.READ_CONVERSIONS not in queries and cypher.READ_INVITED not in queries
    store.read_graph(Window(until=window.until))  # bounded by time alone
    assert cypher.READ_CONVERSIONS in runner.queries()
    params = runner.sent(cypher.READ_USERS)[0]
    # unbounded, but still zoned times: Neo4j compares a DateTime with a naive time as null
    assert params["campaigns"] is None
    assert (
        params["since"]
        < datetime(1970, 1, 1, tzinfo=UTC)
        < datetime(9000, 1, 1, tzinfo=UTC)
        < params["until"]
    )


def test_top_referrers_uses_a_fixed_statement_per_ranking_and_the_latest_snapshot():
    row = {"id": "a", "invites": 3, "effective_invites": 2, "conversions": 1}
    runner = RecordingRunner({q: [row] for q in cypher.TOP_REFERRERS.values()})
    store = connect(runner)
    assert len(set(cypher.TOP_REFERRERS.values())) == len(TOP_COUNTS)
    for by in TOP_COUNTS:
        runner.answers[cypher.LATEST_SNAPSHOT] = [{"id": f"snap-{by}"}]
        runner.calls.clear()
        top = store.top_referrers(Window(campaigns=("c1",)), by, limit=5, offset=10)
        call = runner.calls[-1]
        assert call.query == cypher.TOP_REFERRERS[by] and f"ORDER BY {by} DESC, id" in call.query
        assert (call.params["limit"], call.params["offset"]) == (5, 10)
        assert (call.params["latest_snapshot"], call.params["campaigns"]) == (f"snap-{by}", ["c1"])
        assert top.to_pylist() == [row] and top.schema.field(by).type == pa.int64()
    runner.answers[cypher.LATEST_SNAPSHOT] = []
    store.top_referrers(Window(), "invites", 5)
    assert runner.calls[-1].params["latest_snapshot"] is None
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
                    "joined_at": DateTime(2026, 1, 2, tzinfo=UTC),
                    "referred_by": "b",
                    "converted_at": None,
                    "amount": 3,
                    "churned_at": None,
                }
            ],
            cypher.REFERRAL_CHAIN: [{"chain": ["b", "a", "c", "b"]}],  # a loop: c <- b <- a <- c
            cypher.USER_EXISTS: [{"found": 1}],
            cypher.EGO_HOP: lambda p: [{"other": o} for o in ("b", "d", "e")][: p["cap"]],
            cypher.TIES_AMONG: [{"source": "b", "target": "c", "kind": "REFERRED"}],
        }
    )
    store = connect(runner)
    record = store.user("c")
    assert (record.referred_by, record.amount) == ("b", 3.0)
    assert record.joined_at == datetime(2026, 1, 2, tzinfo=UTC) and isinstance(
        record.joined_at, datetime
    )
    assert store.referral_chain("c") == ["b", "a"]
    assert store.referral_chain("c", limit=1) == ["b"]
    ego = store.ego_network("c", hops=1, limit=3)
    assert ego.users.to_pylist() == [
        {"id": "c", "hop": 0},
        {"id": "b", "hop": 1},
        {"id": "d", "hop": 1},
    ]
    assert ego.truncated
    assert runner.sent(cypher.EGO_HOP) == [{"frontier": ["c"], "cap": 3}]
    assert runner.sent(cypher.TIES_AMONG) == [{"ids": ["c", "b", "d"]}]
    assert ego.ties.to_pylist() == [{"source": "b", "target": "c", "kind": "REFERRED"}]
    runner.answers.update(
        {cypher.USER: [], cypher.USER_EXISTS: [{"found": 0}], cypher.REFERRAL_CHAIN: []}
    )
    with pytest.raises(UserNotFoundError):
        store.user("nobody")
    with pytest.raises(UserNotFoundError):
        store.ego_network("nobody")
    assert store.referral_chain("nobody") == []
    assert_sent_well(runner)


def test_stats_watermark_and_change_marker():
    first, last = T, T + timedelta(days=2)
    runner = RecordingRunner(
        {
            cypher.STATS: [
                {"users": 4, "referred_edges": 2, "invited_ties": 1, "batches": 2}
                | {
                    "first_event_at": DateTime.from_native(first),
                    "last_event_at": DateTime.from_native(last),
                }
            ],
            cypher.EVENTS_BY_TYPE: [
                {"type": "convert", "events": 1},
                {"type": "join", "events": 5},
            ],
            cypher.CAMPAIGNS: [{"campaign": INJECTION}],
            cypher.CHANGE_MARKER: [{"watermark": 2, "snapshot": "snap-1", "reviews": 3}],
            cypher.REFERRER_COUNT: [{"referrers": 9}],
        }
    )
    runner.batches = {1: "applied", 2: "applied", 3: "applying"}
    store = connect(runner)
    stats = store.stats()
    assert (stats.users, stats.events, stats.events_by_type["join"]) == (4, 6, 5)
    assert (stats.campaigns, stats.campaign_names) == (1, [INJECTION])
    assert (stats.first_event_at, stats.last_event_at) == (first, last)
    assert store.watermark() == 2 and store.change_marker() == (2, "snap-1", 3)
    assert store.referrer_count(Window(campaigns=("c1",))) == 9
    assert runner.sent(cypher.REFERRER_COUNT)[0]["campaigns"] == ["c1"]
    assert_sent_well(runner)


# -- reviews ----------------------------------------------------------------------------


def test_reviews_get_strictly_later_times_and_need_a_user():
    later = datetime.now(UTC) + timedelta(hours=1)
    runner = RecordingRunner(
        {
            cypher.LAST_REVIEW_AT: [{"last": DateTime.from_native(later)}],
            cypher.RECORD_REVIEW: [{"recorded": 1}],
        }
    )
    store = connect(runner)
    review = store.record_review("u-1", "declined", INJECTION, "ops-li")
    assert review.reviewed_at == later + timedelta(microseconds=1)
    sent = runner.sent(cypher.RECORD_REVIEW)[0]
    assert (sent["status"], sent["note"], sent["reviewed_at"]) == (
        "declined",
        INJECTION,
        review.reviewed_at,
    )
    runner.answers[cypher.LAST_REVIEW_AT] = [{"last": None}]
    before = datetime.now(UTC)
    assert store.record_review("u-1", "approved", "ok", "ops").reviewed_at >= before
    runner.answers[cypher.RECORD_REVIEW] = [{"recorded": 0}]
    with pytest.raises(UserNotFoundError):
        store.record_review("nobody", "approved", "x", "ops")
    runner.calls.clear()
    with pytest.raises(StoreError, match="approved or declined"):
        store.record_review("u-1", "pending", "x", "ops")
    assert runner.calls == []
    runner.answers[cypher.CURRENT_REVIEWS] = [
        {
            "user_id": "u-1",
            "status": "declined",
            "note": "farm",
            "reviewer": "li",
            "reviewed_at": DateTime.from_native(later),
        }
    ]
    reviews = store.reviews()
    assert reviews.to_pylist()[0]["reviewed_at"] == later
    assert reviews.schema.field("reviewed_at").type == pa.timestamp("us", tz="UTC")
    assert_sent_well(runner)


# -- URLs and errors --------------------------------------------------------------------


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


def neo4j_error(code: str, message: str) -> Neo4jError:
    return Neo4jError._hydrate_neo4j(code=code, message=message)


def test_driver_errors_as_store_errors_with_the_password_hidden():
    url = parse_url(URL)
    auth = describe_error(AuthError("The client is unauthorized"), url)
    down = describe_error(ServiceUnavailable("Couldn't connect to graph.internal:7687"), url)
    missing = describe_error(
        neo4j_error("Neo.ClientError.Database.DatabaseNotFound", "Graph not found"), url
    )
    other = describe_error(
        neo4j_error("Neo.ClientError.Statement.SyntaxError", "Invalid input"), url
    )
    for error in (auth, down, missing):
        assert isinstance(error, StoreUnavailableError)
    assert isinstance(other, StoreError) and not isinstance(other, StoreUnavailableError)
    assert "refused the credentials of user 'searchlight'" in str(
        auth
    ) and "KOC_NEO4J_PASSWORD" in str(auth)
    assert "unreachable" in str(down) and "neo4j://searchlight:***@graph.internal:7687/koc" in str(
        down
    )
    assert "has no database 'koc'" in str(missing)
    assert "Neo.ClientError.Statement.SyntaxError" in str(other)
    for error in (auth, down, missing, other):
        assert url.redacted in str(error) and "s3cret" not in str(error)
    assert describe_error(ValueError("not the driver's"), url) is None
    with pytest.raises(StoreUnavailableError) as info, translated(url):
        raise AuthError("The client is unauthorized")
    assert isinstance(info.value.__cause__, AuthError)


def test_an_unreachable_server_is_named_with_the_password_hidden():
    """The real driver, against a port nothing listens on."""
    with pytest.raises(StoreUnavailableError, match="is unreachable") as info:
        open_store("neo4j://neo4j:s3cret-pw@127.0.0.1:1/koc")
    assert "neo4j://neo4j:***@127.0.0.1:1/koc" in str(info.value)
    assert "s3cret" not in str(info.value)
    with pytest.raises(StoreError, match=r"bolt://neo4j:\*\*\*@127.0.0.1:1 is unreachable"):
        open_store("bolt://neo4j@127.0.0.1:1", neo4j_password="from-settings")
