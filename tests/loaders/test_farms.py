"""Farms injected into a converted network: each shape's events, the drawn
parameters' ranges, and determinism."""

from __future__ import annotations

import doctest
from collections import Counter
from datetime import datetime

import pyarrow.compute as pc
import pytest

import loaders.farms
from loaders.edges import events_from_text
from loaders.farms import ACCOUNTS, CHURN, DEVICES, PACE_MINUTES, FarmSpec, draw_farms, inject_farms

NETWORK = "1 2\n2 3\n3 4\n4 5\n5 1\n"


def farm_rows(table, f: int) -> list[dict]:
    mine = pc.or_(
        pc.starts_with(table["invitee_id"], f"farm{f}:"),
        pc.starts_with(pc.fill_null(table["inviter_id"], ""), f"farm{f}:"),
    )
    return table.filter(mine).to_pylist()


def test_draws_cover_the_ranges_independently_of_the_rules():
    specs = draw_farms(400, seed=3)
    assert all(ACCOUNTS[0] <= s.accounts <= ACCOUNTS[1] for s in specs)
    assert all(PACE_MINUTES[0] <= s.pace_minutes <= PACE_MINUTES[1] for s in specs)
    assert all(DEVICES[0] <= s.devices <= DEVICES[1] for s in specs)
    assert all(CHURN[0] <= s.churn <= CHURN[1] for s in specs)
    assert set(Counter(s.shape for s in specs)) == {"star", "ring", "chain"}
    # Log-uniform over 1 minute .. 7 days: ln 60 / ln 10080 = 44% under an hour.
    assert sum(s.pace_minutes < 60 for s in specs) / len(specs) == pytest.approx(0.444, abs=0.07)
    assert draw_farms(400, seed=3) == specs and draw_farms(400, seed=4) != specs
    assert doctest.testmod(loaders.farms).failed == 0


@pytest.mark.parametrize("shape", ["star", "ring", "chain"])
def test_each_shape(shape):
    events = events_from_text(NETWORK, seed=0, id_prefix="n")
    spec = FarmSpec(shape, accounts=6, pace_minutes=30.0, devices=2, churn=0.5)
    table, truth = inject_farms(events, [spec], seed=1)
    rows = farm_rows(table, 0)
    joins = [r for r in rows if r["type"] == "join"]
    farmer, accounts = truth.farms[0]["farmer"], truth.farms[0]["accounts"]
    assert truth.farms[0]["spec"]["shape"] == shape and len(accounts) == 6
    assert joins[0]["invitee_id"] == farmer and joins[0]["inviter_id"].startswith("n")
    credited = {r["invitee_id"]: r["inviter_id"] for r in joins[1:]}
    if shape == "chain":
        assert [credited[a] for a in accounts] == [farmer, *accounts[:-1]]
    else:
        assert set(credited.values()) == {farmer}
    invites = [(r["inviter_id"], r["invitee_id"]) for r in rows if r["type"] == "invite"]
    if shape == "ring":
        assert sorted(invites) == sorted(zip(accounts, [*accounts[1:], farmer], strict=True))
    else:
        assert invites == []
    times = [datetime.fromisoformat(r["occurred_at"]) for r in joins[1:]]
    assert (max(times) - min(times)).total_seconds() <= 30 * 60
    assert len({r["device_id"] for r in joins}) <= 2
    churned = {r["invitee_id"] for r in rows if r["type"] == "churn"}
    assert churned <= set(accounts)
    # Real users' events are untouched, and the whole table stays in time order.
    real = table.filter(pc.invert(pc.starts_with(table["invitee_id"], "farm")))
    assert real.equals(events.filter(pc.invert(pc.starts_with(events["invitee_id"], "farm"))))
    at = table["occurred_at"].to_pylist()
    assert at == sorted(at) and table.schema.equals(events.schema)


def test_same_events_specs_and_seed_same_table():
    events = events_from_text(NETWORK, seed=0)
    specs = draw_farms(3, seed=9)
    assert inject_farms(events, specs, 2)[0].equals(inject_farms(events, specs, 2)[0])
    assert not inject_farms(events, specs, 2)[0].equals(inject_farms(events, specs, 3)[0])
