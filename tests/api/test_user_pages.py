"""The user pages of the API: a user's detail with its score explained
and its chain, flagged users' evidence, the bounded network and the
communities, each checked against the store."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from graph.analysis.learned_features import LEARNED_FEATURES
from graph.analysis.score import DEFAULT_WEIGHTS
from graph.store import Window
from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_app import error_fields, service


def test_user_detail_explains_the_score_and_walks_the_chain(client):
    svc = service(client)
    snapshot = svc.store.latest_snapshot()
    referred = svc.store.read_graph(Window()).referred.to_pylist()
    parent = {r["invitee_id"]: r["referrer_id"] for r in referred}
    someone = max(parent, key=lambda u: (len(_chain(parent, u)), u))
    body = client.get(f"/v1/users/{someone}", headers=VIEWER).json()
    assert body["chain"] == _chain(parent, someone) and body["referred_by"] == parent[someone]
    assert len(body["chain"]) >= 3 and body["in_snapshot"]
    row = _row(snapshot, someone)
    assert body["koc_score"] == pytest.approx(row["koc_score"])
    # The fixture's campaign has 150 days of history: its score is learned.
    assert (body["score_kind"], body["score_horizon_days"]) == ("learned", 30)
    _assert_parts_add_up(body, row)
    assert body["metrics"]["invites"] == row["invites"] and body["community"] == row["community"]


def _assert_parts_add_up(body: dict, row: dict) -> None:
    """The user page's score parts: per kind, their names and weights, largest
    first, and (with the learned baseline) adding up to the KOC score."""
    parts = body["score"]
    points = [p["points"] for p in parts]
    assert points == sorted(points, reverse=True)
    if body["score_kind"] == "learned":
        assert [p["signal"] for p in parts] == sorted(
            LEARNED_FEATURES, key=lambda f: (-round(row[f"score_{f}"], 3), f)
        )
        assert all(p["weight"] is None for p in parts)
        assert body["score_baseline"] == pytest.approx(row["score_baseline"], abs=5e-4)
        assert body["score_baseline"] > 0
    else:
        assert {p["signal"]: p["weight"] for p in parts} == DEFAULT_WEIGHTS
        assert body["score_baseline"] is None
    total = (body["score_baseline"] or 0) + sum(points)
    assert total == pytest.approx(row["koc_score"], abs=0.01) and row["koc_score"] > 0


def test_the_analysis_request_and_settings_pick_the_score(client, make_client):
    svc = service(client)
    someone = svc.store.top_referrers(Window(), "invites", 1)["id"][0].as_py()
    weighted = client.post("/v1/analyses", json={"score": "weighted"}, headers=ADMIN)
    assert weighted.json()["snapshot"]["score"]["kind"] == "weighted", weighted.text
    body = client.get(f"/v1/users/{someone}", headers=VIEWER).json()
    assert (body["score_kind"], body["score_horizon_days"]) == ("weighted", None)
    _assert_parts_add_up(body, _row(svc.store.latest_snapshot(), someone))
    client.post("/v1/analyses", json={"horizon_days": 45}, headers=ADMIN)
    latest = client.get("/v1/analyses/latest", headers=VIEWER).json()
    assert (latest["score"]["kind"], latest["score"]["horizon_days"]) == ("learned", 45)
    body = client.get(f"/v1/users/{someone}", headers=VIEWER).json()
    assert (body["score_kind"], body["score_horizon_days"]) == ("learned", 45)
    _assert_parts_add_up(body, _row(svc.store.latest_snapshot(), someone))
    by_setting = make_client(score="weighted")
    chosen = by_setting.post("/v1/analyses", headers=ADMIN).json()["snapshot"]["score"]
    assert (chosen["kind"], chosen["requested"]) == ("weighted", "weighted")


def _chain(parent: dict[str, str], user: str) -> list[str]:
    chain = []
    while user in parent and parent[user] not in chain:
        user = parent[user]
        chain.append(user)
    return chain


def _row(snapshot, user_id: str) -> dict:
    users = snapshot.users
    return users.filter(pc.equal(users["id"], user_id)).to_pylist()[0]


def test_flagged_user_detail_has_evidence_and_unknown_users_404(client):
    snapshot = service(client).store.latest_snapshot()
    flagged = snapshot.flags["user_id"][0].as_py()
    body = client.get(f"/v1/users/{flagged}", headers=VIEWER).json()
    assert body["flagged"] and body["risk"] > 0 and body["flags"]
    assert all(f["reason"] and isinstance(f["evidence"], dict) for f in body["flags"])
    missing = client.get("/v1/users/nobody-here", headers=VIEWER)
    assert missing.status_code == 404 and error_fields(missing) == {"user_id"}
    assert "nobody-here" in missing.json()["detail"]


def test_network_is_bounded_and_matches_the_store(client):
    store = service(client).store
    hub = store.top_referrers(Window(), "invites", 1).to_pylist()[0]["id"]
    body = client.get(f"/v1/users/{hub}/network?hops=2&limit=15", headers=VIEWER).json()
    ego = store.ego_network(hub, hops=2, limit=15)
    assert [n["id"] for n in body["nodes"]] == ego.users["id"].to_pylist()
    assert len(body["nodes"]) == 15 and body["truncated"]
    assert body["nodes"][0] == {**body["nodes"][0], "id": hub, "hop": 0}
    ids = {n["id"] for n in body["nodes"]}
    assert all(t["source"] in ids and t["target"] in ids for t in body["ties"])
    assert {t["kind"] for t in body["ties"]} <= {"REFERRED", "INVITED"}
    assert client.get("/v1/users/nobody/network", headers=VIEWER).status_code == 404
    too_far = client.get(f"/v1/users/{hub}/network?hops=9", headers=VIEWER)
    assert too_far.status_code == 422 and error_fields(too_far) == {"hops"}


def test_communities_and_one_community(client):
    snapshot = service(client).store.latest_snapshot()
    page = client.get("/v1/communities?limit=5", headers=VIEWER).json()
    assert page["total"] == snapshot.communities.num_rows
    sizes = [c["size"] for c in page["items"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == max(
        snapshot.communities["size"].to_pylist()
    )
    biggest = page["items"][0]["community"]
    detail = client.get(f"/v1/communities/{biggest}?limit=10", headers=VIEWER).json()
    assert detail["members_total"] == sizes[0] and len(detail["members"]) == 10
    scores = [m["koc_score"] for m in detail["members"]]
    assert scores == sorted(scores, reverse=True)
    assert detail["top_users"][0] == detail["members"][0]["id"]
    missing = client.get("/v1/communities/999999", headers=VIEWER)
    assert missing.status_code == 404 and error_fields(missing) == {"community_id"}
