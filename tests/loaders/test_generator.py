from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import networkx as nx
import pyarrow.compute as pc
import pytest

from loaders.generator import generate_campaign, truth_path_for, write_campaign
from loaders.pipeline import open_events
from tests.loaders.test_validate import Collect


@pytest.fixture(scope="module")
def campaign():
    return generate_campaign(users=6000, seed=11)


def rows_of(table, kind):
    return table.filter(pc.equal(table["type"], kind)).to_pylist()


def test_same_seed_same_output_other_seed_differs():
    a, ta = generate_campaign(users=800, seed=3)
    b, tb = generate_campaign(users=800, seed=3)
    c, _ = generate_campaign(users=800, seed=4)
    assert a.equals(b) and ta.to_json() == tb.to_json()
    assert not a.equals(c)


def test_event_mix_is_realistic(campaign):
    events, _ = campaign
    joins = rows_of(events, "join")
    joined = {r["invitee_id"] for r in joins}
    converted = {r["invitee_id"] for r in rows_of(events, "convert")}
    assert 0.03 <= len(converted) / len(joined) <= 0.08
    assert all(
        r["amount"] is not None and float(r["amount"]) > 0 for r in rows_of(events, "convert")
    )
    assert rows_of(events, "churn")
    assert any(r["inviter_id"] is None for r in joins)  # unknown attribution
    invited_only = {r["invitee_id"] for r in rows_of(events, "invite")} - joined
    assert invited_only  # invites that never joined
    assert len(set(events["campaign"].to_pylist())) >= 5
    assert len(set(events["channel"].to_pylist())) >= 5
    days = {r["occurred_at"][:7] for r in joins}
    assert len(days) >= 4  # spread over months


def test_invites_are_heavy_tailed_and_trees_multi_tier(campaign):
    events, _ = campaign
    first_join: dict[str, str | None] = {}
    for r in rows_of(events, "join"):
        first_join.setdefault(r["invitee_id"], r["inviter_id"])
    per_inviter = Counter(v for v in first_join.values() if v)
    counts = sorted(per_inviter.values(), reverse=True)
    assert counts[0] >= 20 * counts[len(counts) // 2]
    tree = nx.DiGraph((p, c) for c, p in first_join.items() if p)
    assert nx.dag_longest_path_length(tree) >= 4


def test_planted_truth_is_in_the_sidecar_not_the_events(campaign, tmp_path):
    events, truth = campaign
    assert set(events.column_names) == {
        "type",
        "inviter_id",
        "invitee_id",
        "occurred_at",
        "campaign",
        "channel",
        "staff_id",
        "amount",
        "device_id",
        "ip",
    }
    path = tmp_path / "ev.csv"
    write_campaign(events, truth, path, "csv")
    sidecar = json.loads(truth_path_for(path).read_text(encoding="utf-8"))
    assert sidecar["planted_kocs"] and sidecar["farm_accounts"]
    assert "planted" not in path.read_text(encoding="utf-8")


def test_planted_kocs_bring_many_invitees(campaign):
    events, truth = campaign
    per_inviter = Counter(r["inviter_id"] for r in rows_of(events, "join") if r["inviter_id"])
    median_sharer = sorted(per_inviter.values())[len(per_inviter) // 2]
    strong = [k for k in truth.planted_kocs if per_inviter[k] >= 5 * median_sharer]
    assert len(strong) >= len(truth.planted_kocs) // 2


def test_farms_burst_share_devices_and_never_buy(campaign):
    events, truth = campaign
    joins = rows_of(events, "join")
    buyers = {r["invitee_id"] for r in rows_of(events, "convert")}
    for farm in truth.farms:
        accounts = set(farm["accounts"])
        rows = [r for r in joins if r["invitee_id"] in accounts]
        assert len(rows) == len(accounts)
        assert len({r["device_id"] for r in rows}) <= 3
        assert not accounts & buyers
        if farm["kind"] == "burst":
            times = sorted(datetime.fromisoformat(r["occurred_at"]) for r in rows)
            assert {r["inviter_id"] for r in rows} == {farm["farmer"]}
            assert times[-1] - times[0] <= timedelta(minutes=10)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_every_format_loads_without_rejections(tmp_path, fmt):
    events, truth = generate_campaign(users=300, seed=5)
    path = tmp_path / f"events.{fmt}"
    write_campaign(events, truth, path, fmt)
    stream = open_events(path)
    rejected = Collect()
    accepted = sum(t.num_rows for t in stream.batches(rejected))
    assert rejected.rows == []
    assert accepted == events.num_rows == stream.rows_read
