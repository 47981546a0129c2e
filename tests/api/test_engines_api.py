"""The engine options of the API on an embedded store: GDS runs inside
Neo4j only, so asking for it here is the request's mistake (422 naming
`engine`), never a failed job or a 500. (On Neo4j: tests/graph/test_neo4j_gds.py.)"""

from __future__ import annotations

from tests.api.conftest import ADMIN, VIEWER


def _problem(response) -> tuple[int, str, str]:
    body = response.json()
    item = body["errors"][0]
    return response.status_code, item["field"], body["detail"]


def test_an_analysis_with_gds_on_an_embedded_store_is_refused_up_front(client):
    status, field, detail = _problem(
        client.post("/v1/analyses", json={"engine": "gds"}, headers=ADMIN)
    )
    assert (status, field) == (422, "engine") and "inside Neo4j" in detail
    # nothing was started: the next analysis is not told one is running
    done = client.post("/v1/analyses", json={"engine": "searchlight"}, headers=ADMIN)
    assert done.status_code in (201, 202)
    assert done.json()["snapshot"] is None or done.json()["snapshot"]["engine"] == "searchlight"
    bad = client.post("/v1/analyses", json={"engine": "spark"}, headers=ADMIN)
    assert bad.status_code == 422


def test_influence_kocs_with_gds_on_an_embedded_store_name_the_engine(client):
    status, field, detail = _problem(
        client.get("/v1/kocs", params={"strategy": "influence", "engine": "gds"}, headers=VIEWER)
    )
    assert (status, field) == (422, "engine") and "embedded" in detail
    status, field, detail = _problem(
        client.get("/v1/kocs", params={"strategy": "coverage", "engine": "gds"}, headers=VIEWER)
    )
    assert (status, field) == (422, "engine") and "influence only" in detail
    ours = client.get("/v1/kocs", params={"strategy": "influence", "k": 3}, headers=VIEWER)
    assert ours.status_code == 200 and len(ours.json()["items"]) == 3


def test_influence_models_and_candidates_from_the_api(client):
    wc = client.get(
        "/v1/kocs",
        params={"strategy": "influence", "model": "wc", "candidates": "all", "k": 3},
        headers=VIEWER,
    )
    assert wc.status_code == 200 and len(wc.json()["items"]) == 3
    assert wc.json()["spread"]["model"] == "wc"
    status, field, detail = _problem(
        client.get(
            "/v1/kocs", params={"strategy": "influence", "model": "uniform:5"}, headers=VIEWER
        )
    )
    assert (status, field) == (422, "model") and "uniform:0.01" in detail
    bad = client.get("/v1/kocs", params={"candidates": "friends"}, headers=VIEWER)
    assert bad.status_code == 422
