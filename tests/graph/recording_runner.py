"""A recording stand-in for the Neo4j driver, for the unit tests of the store.

It records every statement the store sends (read, stream, write or hold)
and answers them: from `answers` where a test gives one, else as a tiny
server would for the ingest statements, from an event log it keeps in
memory (`events`, `batches`). Users and ties are not kept: tests read what
the store sent for them from `calls`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import pyarrow as pa
from neo4j.exceptions import TransientError

from graph import cypher
from graph.neo4j_store import Neo4jStore
from graph.store import REVIEW_STATUSES, StoreLockedError
from loaders.canonical import EVENT_SCHEMA, EVENT_TYPES

URL = "neo4j://searchlight:s3cret-pw@graph.internal:7687/koc"
INJECTION = "双11 '}) MATCH (n) DETACH DELETE n //"
T = datetime(2026, 11, 1, tzinfo=UTC)
Answer = list[dict] | Callable[[dict], list[dict] | None]


class Call(NamedTuple):
    kind: str  # read, stream, write or hold
    query: str
    params: dict
    held: bool  # whether the writer lease was held when it was sent


class RecordingRunner:
    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.calls: list[Call] = []
        self.events: dict[str, dict] = {}  # event id -> row as sent, with its batch_id
        self.batches: dict[int, str] = {}  # batch id -> status
        self.fail: Callable[[str, dict], bool] = lambda query, params: False
        self.locked = False  # another writer holds the lease
        self.holding = False
        self.closed = False
        self.schema_version: int | None = None
        self.answers: dict[str, Answer] = {
            cypher.SERVER_VERSION: [{"name": "Neo4j Kernel", "version": "5.26.1"}],
            cypher.LATEST_SNAPSHOT: [],
            cypher.DELETE_SNAPSHOT_ROWS: [{"deleted": 0}],
            cypher.LAST_EVENT: [{"last": None}],
            cypher.LAST_EVENT_OF_BATCHES: [{"last": None}],
            cypher.NEXT_BATCH: lambda p: [{"batch_id": max(self.batches, default=0) + 1}],
            cypher.START_BATCH: lambda p: self.batches.update({p["batch_id"]: "applying"}),
            cypher.APPLY_BATCH: lambda p: self.batches.update({p["batch_id"]: "applied"}),
            cypher.DROP_BATCH: lambda p: self.batches.pop(p["batch_id"]) and [],
            cypher.UNFINISHED_BATCHES: lambda p: [
                {"batch_id": b, "source": "x"}
                for b, s in sorted(self.batches.items())
                if s == "applying"
            ],
            cypher.WATERMARK: lambda p: [{"watermark": max(self._applied(), default=0)}],
            cypher.ANY_EVENT: lambda p: [{"found": bool(self.events)}],
            cypher.SCHEMA_VERSION_READ: lambda p: [
                {"version": self.schema_version, "found": bool(self.events)}
            ],
            cypher.SCHEMA_VERSION_WRITE: lambda p: setattr(self, "schema_version", p["version"]),
            cypher.CREATE_EVENTS: lambda p: self._put(p, merge=False),
            cypher.MERGE_EVENTS: lambda p: self._put(p, merge=True),
            cypher.COUNT_BATCH_EVENTS: lambda p: [{"accepted": len(self._of_batch(p))}],
            cypher.BATCH_USERS: lambda p: [
                {"invitee": e["invitee_id"], "inviter": e["inviter_id"]} for e in self._of_batch(p)
            ],
            cypher.DELETE_BATCH_EVENTS: self._delete_batch_events,
            cypher.SCOPE_EVENTS: self._scope_events,
            cypher.INVITER_FIRSTS: self._inviter_firsts,
            **(answers or {}),
        }

    # -- the tiny server's event log ---------------------------------------------

    def _put(self, params: dict, merge: bool) -> None:
        for row in params["rows"]:
            if row["id"] in self.events:
                assert merge, f"CREATE of an event already stored: {row['id']}"
                continue
            self.events[row["id"]] = {**row, "batch_id": params["batch_id"]}

    def _of_batch(self, params: dict) -> list[dict]:
        return [e for e in self.events.values() if e["batch_id"] == params["batch_id"]]

    def _delete_batch_events(self, params: dict) -> list[dict]:
        gone = self._of_batch(params)[: params["limit"]]
        for e in gone:
            del self.events[e["id"]]
        return [{"deleted": len(gone)}]

    def _applied(self) -> list[int]:
        return [b for b, status in self.batches.items() if status == "applied"]

    def _scope_events(self, params: dict) -> list[dict]:
        keys = [
            "type",
            "inviter_id",
            "invitee_id",
            "occurred_at",
            "campaign",
            "channel",
            "staff_id",
            "amount",
            "invitee_name",
            "batch_id",
            "line",
        ]
        return [
            {"event_id": e["id"]} | {k: e[k] for k in keys}
            for e in self.events.values()
            if e["invitee_id"] in params["ids"]
        ]

    def _inviter_firsts(self, params: dict) -> list[dict]:
        firsts: dict[str, int] = {}
        for e in self.events.values():
            if e["inviter_id"] in params["ids"]:
                firsts[e["inviter_id"]] = min(
                    e["occurred_at"], firsts.get(e["inviter_id"], e["occurred_at"])
                )
        return [{"id": k, "first_as_inviter": v} for k, v in firsts.items()]

    # -- the QueryRunner protocol -------------------------------------------------

    def _run(self, kind: str, query: str, params: dict) -> list[dict]:
        self.calls.append(Call(kind, query, copy.deepcopy(params), self.holding))
        if self.fail(query, params):
            raise TransientError("the cluster is re-electing a leader")
        answer = self.answers.get(query, [])
        return (answer(params) or []) if callable(answer) else copy.deepcopy(answer)

    def read(self, query: str, params: dict) -> list[dict]:
        return self._run("read", query, params)

    def stream(self, query: str, params: dict):
        yield from self._run("stream", query, params)

    def write(self, query: str, params: dict) -> list[dict]:
        return self._run("write", query, params)

    @contextmanager
    def hold(self, query: str, params: dict, wait_seconds: float):
        self.calls.append(Call("hold", query, copy.deepcopy(params), self.holding))
        assert wait_seconds > 0
        if self.locked:
            raise StoreLockedError("being written by another process")
        self.holding = True
        try:
            yield
        finally:
            self.holding = False

    def close(self) -> None:
        self.closed = True

    # -- for the tests -------------------------------------------------------------

    def queries(self) -> list[str]:
        return [c.query for c in self.calls]

    def sent(self, query: str) -> list[dict]:
        """The parameters of every call of one statement, in order."""
        return [c.params for c in self.calls if c.query == query]

    def rows(self, query: str) -> list[dict]:
        return [row for params in self.sent(query) for row in params["rows"]]


def connect(runner: RecordingRunner, **options) -> Neo4jStore:
    store = Neo4jStore(URL, runner=runner, **options)
    runner.calls.clear()
    return store


def h(hour: int) -> datetime:
    """`hour` hours after T."""
    return T + timedelta(hours=hour)


def us(when: datetime) -> int:
    """A time as the store sends it: microseconds since the epoch."""
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def events(*rows: tuple) -> pa.Table:
    """Canonical events from (event_id, type, inviter, invitee, time[, amount]),
    lines numbered from 2 in the order given."""
    return pa.Table.from_pylist(
        [
            {
                "event_id": r[0],
                "type": r[1],
                "inviter_id": r[2],
                "invitee_id": r[3],
                "occurred_at": r[4],
                "campaign": INJECTION,
                "channel": "wecom",
                "staff_id": "staff-7",
                "amount": Decimal(str(r[5])) if len(r) > 5 else None,
                "device_id": f"dev-{r[3]}",
                "ip": None,
                "line": line,
            }
            for line, r in enumerate(rows, start=2)
        ],
        schema=EVENT_SCHEMA,
    )


def _values(params: object) -> list:
    if isinstance(params, dict):
        return [v for x in params.values() for v in _values(x)]
    if isinstance(params, list | tuple):
        return [v for x in params for v in _values(x)]
    return [params]


# Words a statement may spell out itself: the event types and review statuses.
VOCABULARY = {*EVENT_TYPES, *REVIEW_STATUSES}


def assert_sent_well(runner: RecordingRunner) -> None:
    """Every statement is graph.cypher's, every $name it uses is supplied, no
    data value is in a statement's text, and no list of rows or ids (what
    grows with the data) holds a datetime: times in rows go as integers."""
    known = cypher.statements()
    assert runner.calls
    for call in runner.calls:
        assert call.query in known, call.query
        used = set(re.findall(r"\$(\w+)", call.query))
        assert used <= set(call.params), (used - set(call.params), call.query)
        for value in _values(call.params):
            if isinstance(value, str) and len(value) >= 3 and value not in VOCABULARY:
                assert value not in call.query, (value, call.query)
        for name, value in call.params.items():
            if isinstance(value, list):
                dated = [v for v in _values(value) if isinstance(v, datetime)]
                assert not dated, (name, call.query)
