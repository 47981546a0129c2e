"""The in-memory index of the live reads (graph.live_index) answers exactly
what the store it was built from answers: rankings by live counts for any
window and campaign filter, users, referral chains and ego networks, on
both backends. The store's own answers are pinned by the rest of the
contract suite, so agreement pins the index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from graph.analysis.snapshot import analyze
from graph.live_index import LiveIndex
from graph.live_index_build import build_live_index
from graph.ranking import judged_fraudulent, rank_live
from graph.review import review_user
from graph.store import TOP_COUNTS, Store, UserNotFoundError, Window
from tests.graph.contract.test_navigation import EGO, joins
from tests.graph.contract.test_reviews import BURST, RULES


def index_of(store: Store) -> LiveIndex:
    judged = judged_fraudulent(store.latest_snapshot(), store.reviews())
    return build_live_index(store.live_facts(), judged)


def assert_rankings_agree(store: Store, index: LiveIndex, windows: list[Window]) -> None:
    for window in windows:
        total = store.referrer_count(window)
        assert len(index.top_counts(window).referrers) == total, window
        for by in TOP_COUNTS:
            ranked = rank_live(index, window, by, None)
            mine = [{k: r[k] for k in ("id", *TOP_COUNTS)} for r in ranked.page(total + 5).rows]
            theirs = store.top_referrers(window, by, limit=total + 5)
            assert mine == theirs.to_pylist(), (window, by)


def assert_users_agree(store: Store, index: LiveIndex, ids: list[str]) -> None:
    for user_id in ids:
        assert index.user(user_id) == store.user(user_id), user_id
        for limit in (100, 2, 1):
            assert index.referral_chain(user_id, limit) == store.referral_chain(user_id, limit)
        for hops, cap in ((0, 1), (1, 500), (2, 500), (2, 3), (3, 6)):
            mine, theirs = (
                index.ego_network(user_id, hops, cap),
                store.ego_network(user_id, hops, cap),
            )
            assert mine.users.to_pylist() == theirs.users.to_pylist(), (user_id, hops, cap)
            assert mine.ties.to_pylist() == theirs.ties.to_pylist(), (user_id, hops, cap)
            assert mine.truncated == theirs.truncated, (user_id, hops, cap)


def all_ids(index: LiveIndex) -> list[str]:
    return index.ids.to_pylist()


def test_hand_built_graphs_agree_everywhere(feed):
    # A chain, a referral loop, the ego scene (ties both ways, a supernode
    # for small caps) and a later tie that is not a link of any chain.
    feed.load(joins([("r0", "r1"), ("r1", "r2"), ("r2", "r3")]))
    feed.load(joins([("l1", "l2"), ("l2", "l3"), ("l3", "l1"), ("l2", "m")], day=3))
    feed.load(EGO)
    feed.load(joins([("x", "r3")], day=9))
    store = feed.store
    index = index_of(store)
    assert index.referral_chain("m") == ["l2", "l1", "l3"]  # the loop stops
    assert_users_agree(store, index, all_ids(index))
    day = datetime(2024, 5, 1, tzinfo=UTC)
    assert_rankings_agree(
        store, index, [Window(), Window(day, day + timedelta(hours=1)), Window(until=day)]
    )
    with pytest.raises(UserNotFoundError):
        index.user("nobody")
    with pytest.raises(UserNotFoundError):
        index.ego_network("nobody")


def test_churn_periods_conversions_and_campaigns_count_as_the_store_counts(feed):
    # b churns on the 3rd, comes back on the 5th, churns again on the 8th;
    # c converts on the 4th in campaign s2; d's join has no campaign.
    feed.load(
        [
            ["", "join", "a", "b", "2024-05-01 10:00:00", "s1", ""],
            ["", "join", "a", "c", "2024-05-02 10:00:00", "s2", ""],
            ["", "join", "a", "d", "2024-05-02 11:00:00", "", ""],
            ["", "join", "b", "e", "2024-05-06 11:00:00", "s1", ""],
            ["", "churn", "", "b", "2024-05-03 10:00:00", "s1", ""],
            ["", "join", "", "b", "2024-05-05 10:00:00", "s1", ""],
            ["", "churn", "", "b", "2024-05-08 10:00:00", "s1", ""],
            ["", "convert", "", "c", "2024-05-04 10:00:00", "s2", "30"],
        ]
    )
    store = feed.store
    index = index_of(store)
    windows = [Window(campaigns=c) for c in ((), ("s1",), ("s2",), ("s1", "s2"), ("nope",))]
    for day in range(1, 11):
        until = datetime(2024, 5, day, 12, tzinfo=UTC)
        windows += [Window(until=until), Window(until=until, campaigns=("s2",))]
        windows.append(Window(since=until - timedelta(days=2), until=until))
    assert_rankings_agree(store, index, windows)
    counts = index.top_counts(Window(until=datetime(2024, 5, 4, tzinfo=UTC)))
    a = int(index.code("a"))
    assert counts.referrers.tolist() == [a]
    assert (counts.invites[0], counts.effective_invites[0], counts.conversions[0]) == (3, 2, 0)
    assert_users_agree(store, index, all_ids(index))


def test_effective_invites_follow_the_flags_and_reviews(feed):
    feed.load(BURST)
    store = feed.store
    store.save_snapshot(analyze(store, RULES).to_saved())
    assert_rankings_agree(store, index_of(store), [Window()])
    saved = store.latest_snapshot()
    review_user(store, saved, "fake0", "approved", "real", "ops")
    review_user(store, saved, "fake1", "declined", "fake", "ops")
    index = index_of(store)
    assert_rankings_agree(store, index, [Window(), Window(campaigns=("c",))])
    farmer = rank_live(index, Window(), "invites", None).page(1).rows[0]
    assert farmer["id"] == "farmer" and farmer["effective_invites"] == 1


def test_a_generated_campaign_agrees(loaded):
    store, _, _ = loaded
    index = index_of(store)
    first, last = (
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(index.edge_at[at]))
        for at in (0, -1)
    )
    middle = first + (last - first) / 2
    campaigns = sorted(index.campaigns)
    assert len(campaigns) >= 2
    windows = [
        Window(),
        Window(campaigns=(campaigns[0],)),
        Window(campaigns=tuple(campaigns[:2])),
        Window(until=middle),
        Window(since=middle),
        Window(first + (last - first) / 4, middle, (campaigns[-1],)),
    ]
    assert_rankings_agree(store, index, windows)
    sample = random.Random(5).sample(all_ids(index), 40)
    assert_users_agree(store, index, sample)
