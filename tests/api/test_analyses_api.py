"""Analyses through the API: waited for or polled, one at a time, their
input errors, and the conflict before the first one."""

from __future__ import annotations

import time

from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_app import error_fields, event, service


def test_analysis_finishes_within_the_wait_and_becomes_the_latest(client):
    client.post("/v1/events", json=[event(1, "new-a", "new-b")], headers=ADMIN)
    assert client.get("/health").json()["snapshot_behind_batches"] == 1
    response = client.post("/v1/analyses", json={"seed": 3}, headers=ADMIN)
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["snapshot"]["params"]["seed"] == 3
    latest = client.get("/v1/analyses/latest", headers=VIEWER).json()
    assert latest["id"] == job["snapshot"]["id"]
    assert client.get("/health").json()["snapshot_behind_batches"] == 0
    assert client.get(f"/v1/analyses/{job['id']}", headers=VIEWER).json()["status"] == "succeeded"
    # the caches moved on to the new snapshot
    assert client.get("/v1/kocs?k=3", headers=VIEWER).json()["snapshot_id"] == latest["id"]


def test_long_analysis_answers_202_then_polls_and_runs_one_at_a_time(make_client):
    client = make_client(analysis_wait_seconds=0)
    store_lock = service(client).store.write_lock
    with store_lock:  # the analysis waits to save: it is surely still running
        started = client.post("/v1/analyses", headers=ADMIN)
        assert started.status_code == 202
        job_id = started.json()["id"]
        assert started.headers["Location"] == f"/v1/analyses/{job_id}"
        assert started.json()["status"] == "running"
        second = client.post("/v1/analyses", headers=ADMIN)
        assert second.status_code == 409 and job_id in second.json()["detail"]
    for _ in range(300):
        job = client.get(f"/v1/analyses/{job_id}", headers=VIEWER).json()
        if job["status"] != "running":
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded" and job["snapshot"]["users"] > 3000


def test_analysis_input_errors(client):
    for weights in (b'{"fame": 1}', b'{"reach": NaN}', b'{"reach": -1}', b"{}"):
        bad_weight = client.post(
            "/v1/analyses",
            content=b'{"weights": ' + weights + b"}",
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert bad_weight.status_code == 422, weights
        assert error_fields(bad_weight) == {"weights"}
    backwards = client.post(
        "/v1/analyses", json={"since": "2026-02-01", "until": "2026-01-01"}, headers=ADMIN
    )
    assert backwards.status_code == 422 and error_fields(backwards) == {"since"}
    negative = client.post("/v1/analyses", json={"half_life_days": -1}, headers=ADMIN)
    assert negative.status_code == 422 and error_fields(negative) == {"half_life_days"}
    score = client.post("/v1/analyses", json={"score": "fancy"}, headers=ADMIN)
    assert score.status_code == 422 and error_fields(score) == {"score"}
    assert "learned" in score.text and "weighted" in score.text
    horizon = client.post("/v1/analyses", json={"horizon_days": 0.5}, headers=ADMIN)
    assert horizon.status_code == 422 and error_fields(horizon) == {"horizon_days"}
    unknown = client.get("/v1/analyses/nope", headers=VIEWER)
    assert unknown.status_code == 404 and error_fields(unknown) == {"job_id"}


def test_no_analysis_yet_is_a_clear_conflict(make_client):
    client = make_client(empty=True)
    assert client.get("/v1/analyses/latest", headers=VIEWER).status_code == 404
    for path in ("/v1/kocs", "/v1/communities", "/v1/referrers/top?by=reach"):
        response = client.get(path, headers=VIEWER)
        assert response.status_code == 409, path
        assert "analysis" in response.json()["detail"]
    assert client.get("/v1/flags", headers=VIEWER).json()["total"] == 0
