"""The store contract for users' names: each user keeps the latest
`invitee_name` its events carry (by time, then ingest order), read one at a
time (`Store.user`), for many ids (`Store.user_names`) and by search
(`Store.search_users`), and the live index answers the same."""

from __future__ import annotations

import pytest

from graph.live_index_build import build_live_index
from graph.store import StoreError
from graph.user_search import MAX_LIMIT, MAX_QUERY

HEADER = ["event_id", "type", "inviter_id", "invitee_id", "occurred_at", "invitee_name"]
HOSTILE = "<img src=x onerror=alert(1)>"
INJECTION = "x'}) MATCH (n) DETACH DELETE n //"


def named(rows: list[tuple[str, str, str, str, str]]) -> list[list[str]]:
    """(type, inviter, invitee, day-and-time, name) as rows with hashed ids."""
    return [["", t, a, b, f"2024-05-{when}:00", name] for t, a, b, when, name in rows]


def names_everywhere(store) -> dict[str, str | None]:
    """Each user's name as `user`, `user_names` and the live index say it
    (they must agree)."""
    index = build_live_index(store.live_facts())
    ids = index.ids.to_pylist()
    one_by_one = {uid: store.user(uid).name for uid in ids}
    assert store.user_names(ids) == {k: v for k, v in one_by_one.items() if v is not None}
    assert index.user_names(ids) == store.user_names(ids)
    assert {uid: index.user(uid).name for uid in ids} == one_by_one
    return one_by_one


def test_the_latest_name_wins_by_time_then_ingest_order(feed):
    feed.load(
        named(
            [
                ("join", "a", "b", "01 10:00", "Bob"),
                ("invite", "a", "c", "01 10:00", "Cat"),
                ("invite", "b", "c", "01 10:00", "Catherine"),  # same time, later line
                ("invite", "a", "d", "03 10:00", "Dan"),
            ]
        ),
        HEADER,
    )
    feed.load(
        named(
            [
                ("join", "x", "b", "02 10:00", "Bobby"),  # later in time
                ("join", "x", "d", "02 10:00", "Daniel"),  # earlier than Dan: Dan stays
                ("invite", "x", "c", "01 10:00", "Cathy"),  # same time, later batch
            ]
        ),
        HEADER,
    )
    assert names_everywhere(feed.store) == {
        "a": None,  # an inviter only: no event names it
        "b": "Bobby",
        "c": "Cathy",
        "d": "Dan",
        "x": None,
    }


def test_a_later_event_without_a_name_keeps_the_name(feed):
    feed.load(named([("join", "a", "b", "01 10:00", "小红")]), HEADER)
    feed.load(
        named([("join", "", "b", "02 10:00", ""), ("invite", "b", "c", "03 10:00", "")]),
        HEADER,
    )
    assert names_everywhere(feed.store) == {"a": None, "b": "小红", "c": None}


def test_ingesting_again_changes_no_name(feed):
    rows = named([("join", "a", "b", "01 10:00", "Bob"), ("join", "b", "c", "01 11:00", HOSTILE)])
    feed.load(rows, HEADER)
    before = names_everywhere(feed.store)
    again = feed.load(rows, HEADER)
    assert again.accepted == 0 and again.duplicates == 2
    # The same event with another name is that event again (the name is a
    # label): a duplicate, and the stored name stays.
    renamed = feed.load([["e-1", "join", "a", "d", "2024-05-01 12:00:00", "Dee"]], HEADER)
    assert renamed.accepted == 1
    later = feed.load([["e-1", "join", "a", "d", "2024-05-01 12:00:00", "Deirdre"]], HEADER)
    assert (later.accepted, later.duplicates) == (0, 1)
    assert names_everywhere(feed.store) == {**before, "d": "Dee"}
    assert before["c"] == HOSTILE


def test_user_names_leave_out_unknown_and_unnamed_users(feed):
    feed.load(named([("join", "a", "b", "01 10:00", INJECTION)]), HEADER)
    store = feed.store
    assert store.user_names(["b", "nobody", "a", "b", ""]) == {"b": INJECTION}
    assert store.user_names([]) == {}
    assert store.user_names(iter(["nobody"])) == {}


SEARCHED = named(
    [
        ("join", "root", "ann", "01 10:00", "Zed"),  # id "ann" is the query itself
        ("join", "root", "zed", "01 10:01", "ANN"),  # the name, in other case
        ("join", "root", "ann2", "01 10:02", "x"),  # id prefix
        ("join", "root", "u1", "01 10:03", "Anna Li"),  # name prefix
        ("join", "root", "u0", "01 10:04", "Joanne"),  # name contains
        ("join", "root", "u2", "01 10:05", "Bob"),  # no match
        ("join", "root", "u3", "01 10:06", "hannah"),  # name contains
        ("join", "root", "Ann", "01 10:07", "q"),  # ids match exactly: no match
        ("join", "root", "an%", "01 10:08", "an_"),  # % and _ are plain text
    ]
)


def search(target, q: str, limit: int = 20) -> list[tuple[str, str | None, str]]:
    return [(r["id"], r["name"], r["match"]) for r in target.search_users(q, limit).to_pylist()]


def test_search_ranks_exact_id_then_exact_name_then_prefix_then_contains(feed):
    feed.load(SEARCHED, HEADER)
    store = feed.store
    best = [
        ("ann", "Zed", "id"),
        ("zed", "ANN", "name"),
        ("ann2", "x", "prefix"),
        ("u1", "Anna Li", "prefix"),
        ("u0", "Joanne", "contains"),
        ("u3", "hannah", "contains"),
    ]
    assert search(store, "ann") == best
    assert search(store, "ann", limit=3) == best[:3]
    assert search(store, "ANN") == [("zed", "ANN", "name"), *best[3:]]
    assert search(store, "an%") == [("an%", "an_", "id")]
    assert search(store, "an_") == [("an%", "an_", "name")]
    assert search(store, "nobody") == []
    index = build_live_index(store.live_facts())
    for q in ("ann", "ANN", "an%", "an_", "ro", "o", "Li", "nobody"):
        for limit in (1, 2, 20):
            assert search(index, q, limit) == search(store, q, limit), (q, limit)


@pytest.mark.parametrize(
    ("q", "limit"), [("", 5), ("x" * (MAX_QUERY + 1), 5), ("a", 0), ("a", MAX_LIMIT + 1)]
)
def test_a_search_out_of_bounds_is_refused(feed, q, limit):
    feed.load(SEARCHED, HEADER)
    with pytest.raises(StoreError, match="a search"):
        feed.store.search_users(q, limit)
