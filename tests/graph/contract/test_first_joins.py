"""The store contract for `Store.first_joins`: the staff member and channel
of each user's own first join, the reward export's 归属成员 and 渠道."""

from __future__ import annotations

import pytest

import graph.embedded_reads
import graph.neo4j_reads
from graph.store import FIRST_JOINS

HEADER = ["event_id", "type", "inviter_id", "invitee_id", "occurred_at", "staff_id", "channel"]
EVENTS = [
    # u1 came in twice: the earlier join counts, whatever the file's order
    ["e-9", "join", "", "u1", "2024-05-03 10:00:00", "staff-late", "moments"],
    ["e-1", "join", "r", "u1", "2024-05-01 10:00:00", "王店长", "门店海报"],
    # u2: two joins at one instant, the smaller event id counts
    ["e-b", "join", "r", "u2", "2024-05-01 11:00:00", "staff-b", "group"],
    ["e-a", "join", "r", "u2", "2024-05-01 11:00:00", "staff-a", "qr"],
    # u3 joined with neither; u4 was only invited; r referred but never joined
    ["e-3", "join", "r", "u3", "2024-05-01 12:00:00", "", ""],
    ["e-4", "invite", "r", "u4", "2024-05-01 13:00:00", "staff-x", "poster"],
    # u5 joined on its own through a staff member's code
    ["e-5", "join", "", "u5", "2024-05-02 09:00:00", "李导购", ""],
]


@pytest.fixture
def small_chunks(monkeypatch):
    """Two ids a query, so the answer spans chunks."""
    monkeypatch.setattr(graph.embedded_reads, "NAMES_CHUNK", 2)
    monkeypatch.setattr(graph.neo4j_reads, "PAGE", 2)


def test_first_joins_give_the_staff_and_channel_of_each_users_own_first_join(feed, small_chunks):
    feed.load(EVENTS, HEADER)
    ids = ["u1", "u2", "u3", "u4", "u5", "r", "nobody", "u1"]
    found = feed.store.first_joins(ids)
    assert found.schema == FIRST_JOINS
    rows = sorted(found.to_pylist(), key=lambda r: r["id"])
    assert rows == [
        {"id": "u1", "staff_id": "王店长", "channel": "门店海报"},
        {"id": "u2", "staff_id": "staff-a", "channel": "qr"},
        {"id": "u3", "staff_id": None, "channel": None},
        {"id": "u5", "staff_id": "李导购", "channel": None},
    ]
    assert feed.store.first_joins([]).to_pylist() == []
    assert feed.store.first_joins(["u4", "nobody"]).num_rows == 0
