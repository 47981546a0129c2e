"""The explorer's views through the API: bounded, laid out, consistent."""

from __future__ import annotations

import random

import pyarrow.compute as pc

from graph.store import Window
from tests.api.conftest import VIEWER


def get(client, **params):
    return client.get("/v1/explorer/view", params=params, headers=VIEWER)


def test_searchlight_view_is_bounded_and_nearest_first(make_client):
    client = make_client()
    view = get(client, view="searchlight", k=5, limit=120).json()
    assert view["showing"] == len(view["nodes"]) == 120 and view["total"] > 120
    assert view["truncated"]
    hops = [n["hop"] for n in view["nodes"]]
    assert hops == sorted(hops) and hops.count(0) == 5
    assert sum(n["koc"] for n in view["nodes"]) == 5
    kocs = client.get("/v1/kocs?k=5", headers=VIEWER).json()["items"]
    assert {n["id"] for n in view["nodes"] if n["koc"]} == {r["user_id"] for r in kocs}
    ids = {n["id"] for n in view["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in view["edges"])
    assert len({(n["x"], n["y"]) for n in view["nodes"]}) > 100  # laid out, not stacked
    # The same view, the same picture: laid out again by a second server on
    # a copy of the store (its own cache), after other draws from `random`.
    random.random()
    again = get(make_client(), view="searchlight", k=5, limit=120).json()
    assert again["nodes"] == view["nodes"] and again["edges"] == view["edges"]


def test_edges_are_the_stored_ties_among_the_view(client):
    service = client.app.state.service
    view = get(client, view="community", community=0, limit=400).json()
    ids = [n["id"] for n in view["nodes"]]
    tables = service.store.read_graph(Window())
    referred = tables.referred.filter(
        pc.and_(
            pc.is_in(tables.referred["referrer_id"], value_set=pc.unique(pc.cast(ids, "string"))),
            pc.is_in(tables.referred["invitee_id"], value_set=pc.unique(pc.cast(ids, "string"))),
        )
    )
    expected = set(
        zip(referred["referrer_id"].to_pylist(), referred["invitee_id"].to_pylist(), strict=True)
    )
    got = {(e["source"], e["target"]) for e in view["edges"] if e["kind"] == "REFERRED"}
    assert got == expected
    assert all(n["community"] == 0 for n in view["nodes"])


def test_filters_ego_and_map(client):
    strict = get(client, view="searchlight", k=5, min_score=50, show_flagged="false").json()
    assert all(n["koc"] or (n["koc_score"] >= 50 and not n["flagged"]) for n in strict["nodes"])
    hub = client.get("/v1/referrers/top?limit=1", headers=VIEWER).json()["items"][0]["id"]
    ego = get(client, view="ego", user_id=hub, hops=1, limit=30).json()
    assert ego["nodes"][0]["id"] == hub and ego["nodes"][0]["hop"] == 0 and ego["showing"] <= 30
    atlas = get(client, view="map").json()
    sizes = [n["size"] for n in atlas["nodes"]]
    assert sizes == sorted(sizes, reverse=True) and atlas["total"] >= len(sizes)
    assert all(e["kind"] == "TIES" and e["weight"] >= 1 for e in atlas["edges"])


def test_view_errors(client):
    assert get(client, view="ego").status_code == 422
    assert get(client, view="community").status_code == 422
    assert get(client, view="ego", user_id="nobody").status_code == 404
    assert get(client, view="community", community=99999).status_code == 404
    assert get(client, view="galaxy").status_code == 422
    assert get(client, limit=5000).status_code == 422
