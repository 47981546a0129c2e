"""Fraud screening rules on hand-built graphs, and end to end on a generated
campaign against its planted farms."""

from __future__ import annotations

import json
import shutil

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest

from graph.analysis.fraud import FraudRules, idle_users, screen_fraud
from graph.analysis.snapshot import AnalysisParams, analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine

NO_EDGES = np.empty(0, np.int64)
# Betweenness is not under test here: sampled above 1,000 users, not exact (4 s an analysis).
SAMPLED = AnalysisParams(betweenness_exact_limit=1000)
MINUTE = 60_000_000


def screen(
    parent,
    *,
    at=None,
    ties=(NO_EDGES, NO_EDGES),
    converted=None,
    churned=None,
    devices=(NO_EDGES, NO_EDGES),
    **rules,
):
    parent = np.asarray(parent, np.int64)
    n = len(parent)
    at = np.asarray(at if at is not None else np.arange(n) * 1000 * MINUTE, np.int64)
    return screen_fraud(
        parent,
        at,
        np.asarray(ties[0], np.int64),
        np.asarray(ties[1], np.int64),
        np.zeros(n, bool) if converted is None else np.asarray(converted, bool),
        np.zeros(n, bool) if churned is None else np.asarray(churned, bool),
        np.asarray(devices[0], np.int64),
        np.asarray(devices[1], np.int64),
        FraudRules(**rules),
    )


def rules_of(screening) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for f in screening.flags:
        out.setdefault(f.user, set()).add(f.rule)
    return out


def test_burst_needs_enough_joins_inside_the_window():
    # 0 refers 1..6; joins 1..5 arrive a minute apart, 6 a day later.
    at = [0, 1, 2, 3, 4, 5, 1440]
    parent = [-1, 0, 0, 0, 0, 0, 0]
    hit = screen(parent, at=np.array(at) * MINUTE, burst_joins=5, burst_minutes=4)
    assert rules_of(hit) == {0: {"burst"}, **{i: {"burst_invitee"} for i in range(1, 6)}}
    burst = next(f for f in hit.flags if f.rule == "burst")
    assert burst.evidence["joins"] == 5 and burst.evidence["minutes"] == 4.0
    # One minute narrower and the five no longer fit.
    assert not screen(parent, at=np.array(at) * MINUTE, burst_joins=5, burst_minutes=3).flags


def test_shared_devices_flag_crowded_devices_and_referrer_lookalikes():
    parent = [-1, 0, 0, 0, -1, 4]
    # Users 1, 2, 3 joined on device 7; user 5 on its referrer 4's device 9.
    devices = ([1, 2, 3, 4, 5, 0], [7, 7, 7, 9, 9, 8])
    hit = screen(parent, devices=devices, device_users=3, min_invitees=3, device_share=1.0)
    assert rules_of(hit) == {u: {"shared_device"} for u in (0, 1, 2, 3, 4, 5)}
    by_user = {f.user: f for f in hit.flags}
    assert by_user[5].evidence["shared_with_referrer"] is True
    assert "3 of 3 invitees" in by_user[0].reason
    # Two users on one device is not a crowd; nobody shares with a referrer.
    calm = screen([-1, -1, -1], devices=([0, 1], [3, 3]), device_users=3)
    assert not calm.flags


def test_dead_invitees_need_never_acting_and_churned_invitees():
    parent = [-1] + [0] * 8 + [1]
    churned = [False] + [True] * 5 + [False] * 4
    hit = screen(parent, churned=churned, min_invitees=8, dead_share=0.8, churn_share=0.5)
    flags = rules_of(hit)
    # 7 of 8 never acted (user 1 referred user 9), 5 churned.
    assert flags[0] == {"dead_invitees"}
    assert {u for u, r in flags.items() if "dead_invitee" in r} == {2, 3, 4, 5}
    # User 1 churned but acted; it is not a dead invitee.
    assert 1 not in flags
    # Conversions make invitees alive.
    bought = [False] + [True] * 4 + [False] * 5
    assert not screen(parent, churned=churned, converted=bought).flags


def test_rings_are_small_loops_of_idle_users():
    # 0 refers 1..4, who invite each other round a loop: a farm's island.
    # 5 -> 6 -> 7 are friends and 7 invites 5 back: a loop of active users.
    parent = [-1, 0, 0, 0, 0, -1, 5, 6]
    ties = ([1, 2, 3, 4, 7], [2, 3, 4, 1, 5])
    hit = screen(parent, ties=ties, ring_users=3)
    assert rules_of(hit) == {u: {"ring"} for u in (1, 2, 3, 4)}
    ring = next(f for f in hit.flags if f.rule == "ring")
    assert ring.evidence == {"loop_users": 4, "never_acted": 4}
    # The loop must fit under the size bound.
    assert not screen(parent, ties=ties, ring_users=3, ring_max_users=3).flags
    # An idle pair (3 <-> 4 inviting each other) counts from ring_users=2.
    pair = ([3, 4], [4, 3])
    assert not screen(parent, ties=pair).flags
    assert set(rules_of(screen(parent, ties=pair, ring_users=2))) == {3, 4}
    # One member buying is not enough to clear a loop of four: 3 of 4 stay
    # idle, under the default 0.8; two buying clears it.
    bought = [False, True, False, False, False, False, False, False]
    assert not screen(parent, ties=ties, converted=bought).flags
    ok_share = screen(parent, ties=ties, converted=bought, dead_share=0.75)
    assert set(rules_of(ok_share)) == {1, 2, 3, 4}


def test_rings_are_strongly_connected_groups():
    # Compare loop membership with networkx on a random graph where
    # everybody is idle (ties only among one referrer's invitees).
    rng = np.random.default_rng(5)
    n = 60
    parent = np.r_[-1, np.zeros(n - 1, np.int64)]
    src, dst = rng.integers(1, n, 90), rng.integers(1, n, 90)
    hit = screen(parent, ties=(src, dst), ring_users=2)
    g = nx.DiGraph(list(zip(src.tolist(), dst.tolist(), strict=True)))
    g.remove_edges_from(nx.selfloop_edges(g))
    looped = {u for comp in nx.strongly_connected_components(g) if len(comp) > 1 for u in comp}
    assert looped and set(rules_of(hit)) == looped


def test_idle_users_act_only_inside_their_inviters_circle():
    # 0 referred 1, 2, 3; 1 referred 4. 2 invites back its referrer 0 and
    # its sibling 3; 3 invites 4, a sibling's invitee: outside its circle.
    parent = np.array([-1, 0, 0, 0, 1])
    ties = (np.array([2, 2, 3]), np.array([0, 3, 4]))
    idle = idle_users(parent, *ties, np.zeros(5, bool))
    assert idle.tolist() == [False, False, True, False, True]
    bought = np.array([False, False, False, False, True])
    assert idle_users(parent, *ties, bought).tolist() == [False, False, True, False, False]


def test_a_burst_of_invitees_who_go_on_to_act_is_not_a_farm():
    # 0 credits 1..7 within seven minutes; 1, 2 and 3 each bring a user later.
    parent = [-1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]
    at = np.array([0, 1, 2, 3, 4, 5, 6, 7, 900, 901, 902]) * MINUTE
    hit = screen(parent, at=at, burst_joins=4, burst_minutes=10)
    assert rules_of(hit) == {0: {"burst"}} | {u: {"burst_invitee"} for u in (4, 5, 6, 7)}
    assert "of users who never acted" in hit.flags[0].reason
    # When 4 acts too, only three idle invitees are left: no burst of four.
    busy = [*parent, 4]
    assert not screen(busy, at=np.r_[at, 903 * MINUTE], burst_joins=4, burst_minutes=10).flags


def test_chains_are_long_runs_of_single_referrals():
    # 0 -> 1 -> ... -> 9 (nine referrals, each user refers one), and 0 also
    # nothing else; 10 -> 11, 10 -> 12 is bushy.
    parent = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, -1, 10, 10]
    hit = screen(parent, chain_length=9)
    assert rules_of(hit) == {u: {"chain"} for u in range(10)}
    assert {f.evidence["chain_referrals"] for f in hit.flags} == {9}
    assert not screen(parent, chain_length=10).flags
    # A fork in the middle breaks the run into two short ones.
    forked = [*parent, 4]
    assert not screen(forked, chain_length=5).flags


def test_risk_combines_rule_weights():
    # 0 refers 1 and 2 a minute apart (a burst of two idle invitees), both
    # churn (dead invitees); 3 -> 4 -> 5 -> 6 is a chain.
    parent = [-1, 0, 0, -1, 3, 4, 5]
    at = np.array([0, 1, 2, 0, 500, 1000, 1500]) * MINUTE
    churned = [False, True, True, False, False, False, False]
    hit = screen(
        parent,
        at=at,
        churned=churned,
        chain_length=3,
        burst_joins=2,
        burst_minutes=5,
        min_invitees=2,
        weights={"burst_invitee": 0.6, "dead_invitee": 0.3},
    )
    flags = rules_of(hit)
    assert flags[1] == flags[2] == {"burst_invitee", "dead_invitee"}
    assert hit.risk[1] == pytest.approx(100 * (1 - 0.4 * 0.7))
    assert flags[0] == {"burst", "dead_invitees"}
    assert hit.risk[0] == pytest.approx(100 * (1 - 0.3 * 0.5))  # the default weights
    assert flags[6] == {"chain"} and hit.risk[6] == pytest.approx(50.0)


def test_rules_validate_thresholds():
    with pytest.raises(ValueError, match="burst_joins"):
        FraudRules(burst_joins=1)
    with pytest.raises(ValueError, match="dead_share"):
        FraudRules(dead_share=1.5)
    with pytest.raises(ValueError, match="unknown fraud rules: velocity"):
        FraudRules(weights={"velocity": 0.5})
    assert FraudRules(weights={"burst": 0.9}).weights["ring"] == 0.5  # the rest keep defaults


@pytest.fixture(scope="module")
def farm_campaign(tmp_path_factory):
    """An 8,000-user campaign with planted farms, ingested once; each test
    gets its own copy of the store (some record reviews)."""
    work = tmp_path_factory.mktemp("farms")
    events, truth = generate_campaign(users=8000, seed=11)
    write_campaign(events, truth, work / "campaign.parquet", "parquet")
    with EmbeddedStore(work / "store.duckdb", memory_limit="1GB") as store:
        ingest_file(store, work / "campaign.parquet", quarantine=Quarantine(work / "q.csv"))
    return work / "store.duckdb", truth


@pytest.fixture
def farm_store(farm_campaign, tmp_path):
    template, truth = farm_campaign
    shutil.copy(template, tmp_path / "store.duckdb")
    with EmbeddedStore(tmp_path / "store.duckdb", memory_limit="1GB") as store:
        yield store, truth


def test_planted_farms_are_flagged_and_their_invitees_not_effective(farm_store):
    store, truth = farm_store
    snapshot = analyze(store, SAMPLED)
    users = {r["id"]: r for r in snapshot.users.to_pylist()}
    farm = set(truth.farm_accounts)
    flagged = {u for u, r in users.items() if r["flagged"]}
    assert farm <= flagged
    assert len(flagged - farm) <= 0.05 * len(flagged)
    for f in truth.farms:
        farmer = users[f["farmer"]]
        fake = sum(1 for a in f["accounts"] if users[a]["flagged"])
        assert farmer["fraudulent_invites"] >= min(fake, farmer["invites"]) - 1
        assert farmer["effective_invites"] <= farmer["invites"] - farmer["fraudulent_invites"]
    flags = snapshot.flags.to_pylist()
    assert {f["user_id"] for f in flags} == flagged
    assert all(json.loads(f["evidence"]) and f["reason"] for f in flags)
    # Flag rules per user agree with the flags table.
    for uid in list(flagged)[:50]:
        mine = sorted(f["rule"] for f in flags if f["user_id"] == uid)
        assert sorted(users[uid]["flag_rules"].split(",")) == mine


def test_approval_restores_effective_invites(farm_store):
    store, truth = farm_store
    before = analyze(store, SAMPLED)
    store.save_snapshot(before.to_saved())
    farm = truth.farms[0]
    for account in farm["accounts"]:
        store.record_review(account, "approved", "checked: real people", "tester")
    after = analyze(store, SAMPLED)
    row = {r["id"]: r for r in after.users.to_pylist()}[farm["farmer"]]
    assert row["fraudulent_invites"] == 0
    assert row["effective_invites"] == row["invites"] - row["churned_invites"]
    # Approval does not unflag: the flags stay, the judgement changes.
    flagged = pa.compute.sum(after.users["flagged"]).as_py()
    assert flagged == pa.compute.sum(before.users["flagged"]).as_py()


def test_thresholds_come_from_params(farm_store):
    store, _ = farm_store
    strict = analyze(
        store,
        AnalysisParams(
            betweenness_exact_limit=1000,
            fraud=FraudRules(
                burst_joins=1000,
                device_users=1000,
                device_placeholder_users=2000,
                min_invitees=1000,
                ring_users=1000,
                chain_length=1000,
            ),
        ),
    )
    assert not strict.flags.num_rows
    assert not any(strict.users["flagged"].to_pylist())


def test_placeholder_device_ids_are_ignored():
    # 12 users all "joined" on one device id: an export placeholder, not a farm.
    devices = (list(range(12)), [0] * 12)
    assert not screen([-1] * 12, devices=devices, device_placeholder_users=10).flags
    assert len(screen([-1] * 12, devices=devices, device_placeholder_users=12).flags) == 12
    with pytest.raises(ValueError, match="device_placeholder_users"):
        FraudRules(device_users=5, device_placeholder_users=5)
