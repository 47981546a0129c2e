"""Hostile and awkward input through the API (issue 18): whatever a real
export or an attacker sends ends in a clear answer, never a 500, and loses
nothing."""

from __future__ import annotations

import io
import json
import time
from urllib.parse import quote

from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_app import error_fields, event
from tests.loaders.xlsx_files import row, text, write_xlsx


def test_an_analysis_of_an_empty_window_is_refused_and_keeps_the_latest(client):
    latest = client.get("/v1/analyses/latest", headers=VIEWER).json()["id"]
    future = client.post("/v1/analyses", json={"since": "2099-01-01"}, headers=ADMIN)
    assert future.status_code == 422 and error_fields(future) == {"since"}
    assert "nobody referred or invited anyone" in future.json()["detail"]
    assert client.get("/v1/analyses/latest", headers=VIEWER).json()["id"] == latest
    kocs = client.get("/v1/kocs", headers=VIEWER).json()
    assert kocs["snapshot_id"] == latest and kocs["items"]


# Ids a real export can hold that a URL must carry: every user route takes them.
AWKWARD_IDS = [
    "wm/a/b",
    "../etc/passwd",
    "x%2Fy",
    "q?x=1&y=2",
    "h#frag",
    "sp ace",
    "客户/小王",
    "/lead",
    "trail/",
    "a//b",
    "ends/network",
]


def test_every_user_route_takes_every_id_ingest_accepts(client):
    events = [event(n, "awk-root", user) for n, user in enumerate(AWKWARD_IDS)]
    report = client.post("/v1/events", json=events, headers=ADMIN).json()
    assert report["accepted"] == len(AWKWARD_IDS), report
    for user in AWKWARD_IDS:
        path = quote(user, safe="")
        detail = client.get(f"/v1/users/{path}", headers=VIEWER)
        assert detail.status_code == 200 and detail.json()["id"] == user, user
        around = client.get(f"/v1/users/{path}/network?hops=1", headers=VIEWER)
        assert around.status_code == 200, user
        assert {n["id"] for n in around.json()["nodes"]} >= {user, "awk-root"}, user
        # Reviews reach the user too: it is simply not flagged.
        review = client.post(
            f"/v1/flags/{path}/review",
            json={"decision": "approve", "note": "checked", "reviewer": "ops"},
            headers=ADMIN,
        )
        assert review.status_code == 409 and "not flagged" in review.json()["detail"], user
    missing = client.get(f"/v1/users/{quote('no/such/user', safe='')}", headers=VIEWER)
    assert missing.status_code == 404


def test_json_nested_too_deeply_is_a_clear_400_not_a_crash(client):
    deep = b"[" * 5000 + b"]" * 5000
    inside = b'[{"type": "join", "invitee_id": "d", "x": ' + deep + b"}]"
    for body in (deep, inside):
        response = client.post(
            "/v1/events", content=body, headers={**ADMIN, "Content-Type": "application/json"}
        )
        assert response.status_code == 400 and "nests" in response.json()["detail"]
    good = json.dumps(event(1, "deep-a", "deep-b"))
    lines = (good + "\n" + '{"type": "join", "x": ' + "[" * 5000 + "]" * 5000 + "}\n").encode()
    mixed = client.post(
        "/v1/events", content=lines, headers={**ADMIN, "Content-Type": "application/x-ndjson"}
    ).json()
    assert (mixed["accepted"], mixed["rejected"]) == (1, 1)
    assert mixed["rejections"][0]["line"] == 2


def test_an_upload_past_the_reader_limits_is_a_quick_400_and_the_server_answers_on(
    client, tmp_path
):
    # A CSV header of a million columns once held a worker at 100% CPU for
    # good; a sheet of 64 MiB packed into 64 KiB, gigabytes of memory.
    header = ",".join(f"c{n}" for n in range(1_000_000)).encode()
    cells = "<c><v>1</v></c>" * 64
    bomb = write_xlsx(
        tmp_path / "bomb.xlsx",
        [row(1, text("A1", "type")), *(row(2, cells) for _ in range(65_536))],
    )
    uploads = [
        ("wide.csv", header + b"\njoin\n", "the header line does not end within its first 262,144"),
        (
            "many.csv",
            b"a," * 100_000 + b"b\njoin\n",
            "the header has 100,001 columns; at most 1,000",
        ),
        ("bomb.xlsx", bomb.read_bytes(), "sheet1.xml is compressed"),
    ]
    for name, body, reason in uploads:
        started = time.monotonic()
        response = client.post(
            "/v1/events/upload", files={"file": (name, io.BytesIO(body))}, headers=ADMIN
        )
        # A bound on a hang, not a speed target: each answers in well under a second.
        assert time.monotonic() - started < 20, name
        assert response.status_code == 400, (name, response.text[:300])
        detail = response.json()["detail"]
        assert detail.startswith(f"upload:{name}: ") and reason in detail, detail
    assert client.get("/health").status_code == 200
    assert client.get("/v1/kocs", headers=VIEWER).json()["items"]
