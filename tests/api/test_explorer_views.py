"""The explorer's views through the API: bounded, laid out, consistent."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow.compute as pc

from api.explorer_tree import referral_tree
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
    assert get(client, view="tree").status_code == 422
    assert get(client, view="tree", user_id="nobody").status_code == 404
    assert get(client, view="tree", user_id="x", depth=11).status_code == 422
    assert get(client, view="community", community=99999).status_code == 404
    assert get(client, view="galaxy").status_code == 422
    assert get(client, limit=5000).status_code == 422


def _family(client) -> tuple[str, list[str], dict[str, list[str]]]:
    """A user with referrers above it and two levels below: its id, its
    chain (nearest first) and every user's direct invitees (REFERRED)."""
    tables = client.app.state.service.store.read_graph(Window())
    pairs = zip(
        tables.referred["referrer_id"].to_pylist(),
        tables.referred["invitee_id"].to_pylist(),
        strict=True,
    )
    below: dict[str, list[str]] = {}
    above: dict[str, str] = {}
    for referrer, invitee in pairs:
        below.setdefault(referrer, []).append(invitee)
        above[invitee] = referrer
    user = max(
        (u for u in below if u in above and any(c in below for c in below[u])),
        key=lambda u: (len(below[u]), u),
    )
    chain = [above[user]]
    while chain[-1] in above and len(chain) < 20:
        chain.append(above[chain[-1]])
    return user, chain, below


def test_tree_view_draws_the_chain_up_and_the_levels_down(client):
    user, chain, below = _family(client)
    view = get(client, view="tree", user_id=user, depth=2).json()
    nodes = view["nodes"]
    assert (nodes[0]["id"], nodes[0]["hop"]) == (user, 0)
    assert [n["id"] for n in nodes if n["hop"] < 0] == chain
    assert [n["hop"] for n in nodes if n["hop"] < 0] == list(range(-1, -len(chain) - 1, -1))
    level1 = set(below[user])
    level2 = {g for c in level1 for g in below.get(c, [])}
    assert {n["id"] for n in nodes if n["hop"] == 1} == level1
    assert {n["id"] for n in nodes if n["hop"] == 2} == level2
    user_page = client.get(f"/v1/users/{user}", headers=VIEWER).json()
    assert user_page["chain"] == chain
    assert view["total"] == 1 + len(chain) + user_page["metrics"]["reach"]
    referred = {(e["source"], e["target"]) for e in view["edges"] if e["kind"] == "REFERRED"}
    ids = [n["id"] for n in nodes]
    assert {(chain[i + 1], chain[i]) for i in range(len(chain) - 1)} | {
        (chain[0], user)
    } <= referred
    assert {(user, c) for c in level1} <= referred
    # A tidy tree: one row per level, the chain straight above, no two users
    # in one place, each referrer over the span of its invitees.
    at = {n["id"]: (n["x"], n["y"]) for n in nodes}
    assert all(at[n["id"]][1] == 90.0 * n["hop"] for n in nodes)
    assert all(at[c][0] == at[user][0] for c in chain)
    assert len(set(at.values())) == len(ids)
    for parent in [user, *level1]:
        xs = [at[c][0] for c in below.get(parent, []) if c in at and c not in chain]
        if xs:
            assert min(xs) <= at[parent][0] <= max(xs)


def test_tree_view_is_bounded_keeping_the_largest_reach(client):
    user, chain, below = _family(client)
    room = 1 + len(chain) + 2
    view = get(client, view="tree", user_id=user, depth=3, limit=room).json()
    assert view["showing"] == room and view["truncated"]
    kept = [n for n in view["nodes"] if n["hop"] == 1]
    reach = {
        c: client.get(f"/v1/users/{c}", headers=VIEWER).json()["metrics"]["reach"]
        for c in below[user]
    }
    best = sorted(reach.values(), reverse=True)[:2]
    assert sorted((n["reach"] for n in kept), reverse=True) == best
    assert not [n for n in view["nodes"] if n["hop"] > 1]


def test_a_referral_loop_is_drawn_once():
    # 0 -> 1 -> 2 -> 0 (a loop), 2 -> 3; the user is 1.
    parent = np.array([2, 0, 1, 2])
    reach = np.array([3, 3, 3, 0])
    # Its chain (the store's, which stops before repeating a user) is 0, 2.
    tree = referral_tree(parent, reach, 1, np.array([0, 2]), depth=5, limit=100)
    assert tree.users.tolist() == [1, 0, 2] and tree.hops.tolist() == [0, -1, -2]
    # With no chain (outside the window), going down stops at the user again.
    tree = referral_tree(parent, reach, 1, np.array([], np.int64), depth=5, limit=100)
    assert tree.users.tolist() == [1, 2, 0, 3] and tree.hops.tolist() == [0, 1, 2, 2]


def test_the_map_leaves_out_circles_of_one_or_two_users_and_says_so(client):
    service = client.app.state.service
    sizes = np.bincount(service.snapshot_graph().metrics["community"])
    small = int(((sizes > 0) & (sizes <= 2)).sum())
    assert small > 0  # the campaign has some, or this test shows nothing
    atlas = get(client, view="map").json()
    assert all(n["size"] > 2 for n in atlas["nodes"])
    assert atlas["total"] == int((sizes > 0).sum())
    assert atlas["note"] == f"{small:,} circles of one or two users are left out"
    zh = client.get(
        "/v1/explorer/view", params={"view": "map"}, headers={**VIEWER, "Accept-Language": "zh-CN"}
    ).json()
    assert [n["id"] for n in zh["nodes"]] == [n["id"] for n in atlas["nodes"]]
    for text in (zh["title"], zh["note"], zh["nodes"][0]["reason"]):
        assert re.search(r"[\u4e00-\u9fff]", text) and "社群" not in text, text
    assert "关系圈" in zh["title"] and "关系圈" in zh["note"]
