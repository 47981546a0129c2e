"""The store contract on a generated campaign: what every backend must do
with the same few thousand events, checked against networkx over the raw
events (the hand-built cases are in the other modules of this package)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import networkx as nx
import pytest

from graph.analysis.snapshot import AnalysisParams, analyze
from graph.ingest import ingest_file
from graph.store import UserNotFoundError, Window
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.graph.contract.reads import SNAPSHOT_KEYS, same_table


def ties(events) -> tuple[nx.DiGraph, nx.Graph]:
    """REFERRED (first join per invitee, ties by event order) and all ties, from
    the raw events."""
    rows = events.to_pylist()
    joins = sorted((r for r in rows if r["type"] == "join"), key=lambda r: r["occurred_at"])
    first: dict[str, dict] = {}
    for r in joins:
        first.setdefault(r["invitee_id"], r)
    referred = nx.DiGraph()
    referred.add_edges_from(
        (r["inviter_id"], r["invitee_id"], {"at": r["occurred_at"]})
        for r in first.values()
        if r["inviter_id"]
    )
    every = nx.Graph()
    every.add_edges_from(
        (r["inviter_id"], r["invitee_id"])
        for r in rows
        if r["type"] in ("invite", "join") and r["inviter_id"]
    )
    return referred, every


def test_every_event_is_stored_once(loaded):
    store, events, report = loaded
    assert report.accepted == events.num_rows and report.rejected == 0
    stats = store.stats()
    assert stats.events == events.num_rows
    everyone = {r["invitee_id"] for r in events.to_pylist()} | {
        r["inviter_id"] for r in events.to_pylist() if r["inviter_id"]
    }
    assert stats.users == len(everyone)


def test_graph_tables_follow_the_design(loaded):
    store, events, _ = loaded
    referred, every = ties(events)
    tables = store.read_graph(Window())
    got = {(r["referrer_id"], r["invitee_id"]) for r in tables.referred.to_pylist()}
    # Generated joins never tie on time for one invitee, so order decides.
    assert got == set(referred.edges())
    invited = {(r["inviter_id"], r["invitee_id"]) for r in tables.invited.to_pylist()}
    assert not invited & got
    assert {frozenset(e) for e in invited | got} == {frozenset(e) for e in every.edges()}
    assert store.stats().referred_edges == len(got)


@pytest.mark.parametrize(("hops", "limit"), [(1, 1000), (2, 1000), (3, 40), (0, 10)])
def test_ego_networks(loaded, hops, limit):
    store, events, _ = loaded
    _, every = ties(events)
    centre = max(every.degree, key=lambda d: (d[1], d[0]))[0]
    ego = store.ego_network(centre, hops=hops, limit=limit)
    dist = nx.single_source_shortest_path_length(every, centre, cutoff=hops)
    expected = sorted(dist.items(), key=lambda kv: (kv[1], kv[0]))
    got = list(zip(ego.users["id"].to_pylist(), ego.users["hop"].to_pylist(), strict=True))
    if len(expected) <= limit:
        assert got == expected and not ego.truncated
    else:
        assert ego.truncated and len(got) == limit
        # Nearest first; each hop is cut by id, so every kept user is correct.
        assert got == sorted(got, key=lambda kv: (kv[1], kv[0]))
        assert all(dist[u] == h for u, h in got)
    kept = {u for u, _ in got}
    edges = {(t["source"], t["target"]) for t in ego.ties.to_pylist()}
    assert {frozenset(e) for e in edges} == {frozenset(e) for e in every.subgraph(kept).edges()}


def test_unknown_user_has_no_ego_network(loaded):
    store, _, _ = loaded
    with pytest.raises(UserNotFoundError, match="no user 'nobody'"):
        store.ego_network("nobody")


def live_counts(events) -> dict[str, tuple[int, int, int]]:
    """Per referrer, from the raw events: (invites, effective_invites,
    conversions), all time, with no analysis saved (so nobody is fraudulent).
    A user is churned when its last churn is not followed by a join."""
    referred, _ = ties(events)
    last_join: dict[str, object] = {}
    last_churn: dict[str, object] = {}
    converted: set[str] = set()
    for r in events.to_pylist():
        user, at = r["invitee_id"], r["occurred_at"]
        if r["type"] == "join":
            last_join[user] = max(at, last_join.get(user, at))
        elif r["type"] == "churn":
            last_churn[user] = max(at, last_churn.get(user, at))
        elif r["type"] == "convert":
            converted.add(user)
    churned = {u for u, at in last_churn.items() if u not in last_join or at >= last_join[u]}
    counts = {}
    for referrer in referred:
        invitees = set(referred.successors(referrer))
        if invitees:
            counts[referrer] = (len(invitees), len(invitees - churned), len(invitees & converted))
    return counts


@pytest.mark.parametrize("by", ["invites", "effective_invites", "conversions"])
def test_top_referrers_by_live_counts(loaded, by):
    store, events, _ = loaded
    counts = live_counts(events)
    column = ["invites", "effective_invites", "conversions"].index(by)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1][column], kv[0]))
    rows = store.top_referrers(Window(), by, limit=len(counts) + 10).to_pylist()
    got = [(r["id"], (r["invites"], r["effective_invites"], r["conversions"])) for r in rows]
    assert got == expected
    # The generated campaign has churned and converted invitees, so every
    # count differs from the others somewhere.
    assert any(c[0] != c[1] for c in counts.values()) and any(c[2] for c in counts.values())


def test_devices_shared_by_several_users(loaded):
    store, events, _ = loaded
    users_by_device: dict[str, set[str]] = {}
    for r in events.to_pylist():
        if r["type"] == "join" and r["device_id"]:
            users_by_device.setdefault(r["device_id"], set()).add(r["invitee_id"])
    expected = {(u, d) for d, users in users_by_device.items() if len(users) > 1 for u in users}
    got = {(r["user_id"], r["device_id"]) for r in store.read_graph(Window()).devices.to_pylist()}
    assert got == expected and got  # the generated farms share devices


def test_reviews_keep_the_latest_decision_per_user(loaded):
    store, events, _ = loaded
    someone, other = events["invitee_id"][0].as_py(), events["invitee_id"][1].as_py()
    assert store.reviews().num_rows == 0
    store.record_review(someone, "approved", "looks fine", "ops-li")
    store.record_review(other, "declined", "farm", "ops-li")
    store.record_review(someone, "declined", "second look: farm", "ops-wang")
    rows = {r["user_id"]: r for r in store.reviews().to_pylist()}
    assert set(rows) == {someone, other}
    assert rows[someone]["status"] == "declined" and rows[someone]["reviewer"] == "ops-wang"
    assert rows[someone]["note"] == "second look: farm"
    with pytest.raises(UserNotFoundError):
        store.record_review("nobody-at-all", "approved", "x", "ops")


def test_referrer_count_is_the_total_behind_the_pages(loaded):
    store, events, _ = loaded
    referred, _ = ties(events)
    referrers = {u for u, d in referred.out_degree if d > 0}
    assert store.referrer_count(Window()) == len(referrers)
    pages = [
        r["id"]
        for offset in range(0, len(referrers), 700)
        for r in store.top_referrers(Window(), "invites", limit=700, offset=offset).to_pylist()
    ]
    assert sorted(pages) == sorted(referrers)
    # Generated times are Asia/Shanghai wall times, uniformly formatted.
    # (Windows in other zones are test_zones.py's.)
    mid = sorted(events["occurred_at"].to_pylist())[events.num_rows // 2]
    since = datetime.fromisoformat(mid).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    later = Window(since=since.astimezone(UTC))
    invites = Counter(u for u, _, at in referred.edges(data="at") if at >= mid)
    assert 0 < len(invites) < len(referrers)
    assert store.referrer_count(later) == len(invites)
    got = store.top_referrers(later, "invites", limit=len(invites) + 10).to_pylist()
    assert [(r["id"], r["invites"]) for r in got] == sorted(
        invites.items(), key=lambda kv: (-kv[1], kv[0])
    )


def test_one_user_and_its_referral_chain(loaded):
    store, events, _ = loaded
    referred, _ = ties(events)
    deepest = max(referred.nodes, key=lambda u: (len(nx.ancestors(referred, u)), u))
    chain = store.referral_chain(deepest)
    expected, at = [], deepest
    while referred.in_degree(at):
        at = next(iter(referred.predecessors(at)))
        expected.append(at)
    assert chain == expected and len(chain) >= 3
    assert store.referral_chain(deepest, limit=2) == expected[:2]
    record = store.user(deepest)
    assert record.id == deepest and record.referred_by == expected[0]
    assert record.joined_at is not None and record.first_seen <= record.joined_at
    root = store.user(expected[-1])
    assert root.referred_by is None and store.referral_chain(root.id) == []
    with pytest.raises(UserNotFoundError, match="no user 'nobody'"):
        store.user("nobody")


def test_the_change_marker_moves_with_every_kind_of_write(loaded, tmp_path):
    store, events, _ = loaded
    start = store.change_marker()
    assert store.change_marker() == start  # reading changes nothing
    someone = events["invitee_id"][0].as_py()
    store.record_review(someone, "approved", "checked", "ops")
    reviewed = store.change_marker()
    assert reviewed != start
    write_campaign(*generate_campaign(users=60, seed=4), tmp_path / "more.csv", "csv")
    ingest_file(store, tmp_path / "more.csv", quarantine=Quarantine(tmp_path / "q2.csv"))
    ingested = store.change_marker()
    assert ingested != reviewed
    store.save_snapshot(analyze(store).to_saved())
    assert store.change_marker() != ingested


def test_an_analysis_is_saved_and_read_back(loaded):
    store, _, _ = loaded
    snapshot = analyze(store, AnalysisParams(half_life_days=7, seed=5))
    store.save_snapshot(snapshot.to_saved())
    saved = store.latest_snapshot()
    assert saved.id == snapshot.id and saved.watermark == store.watermark() == 1
    for name, keys in SNAPSHOT_KEYS.items():
        assert same_table(getattr(saved, name), getattr(snapshot, name), keys), name
    assert saved.flags.num_rows  # the generated farms are flagged
    assert AnalysisParams.from_json(saved.params) == snapshot.params
    assert saved.summary == snapshot.summary() and saved.summary["users"] == snapshot.users.num_rows
