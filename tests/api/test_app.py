"""Every endpoint through TestClient on the embedded store."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pyarrow.compute as pc

from api.service import Service
from graph.analysis.kocs import KocParams, choose_kocs
from graph.store import Window
from tests.api.conftest import ADMIN, VIEWER
from tests.conftest import HEADER

T0 = "2026-11-01T10:00:00+08:00"


def service(client) -> Service:
    return client.app.state.service


def event(n: int, inviter: str | None, invitee: str, kind: str = "join", at: str = T0) -> dict:
    return {
        "event_id": f"api-{n}",
        "type": kind,
        "inviter_id": inviter,
        "invitee_id": invitee,
        "occurred_at": at,
    }


def error_fields(response) -> set[str]:
    body = response.json()
    assert body["detail"] and all(e["problem"] for e in body["errors"])
    return {e["field"] for e in body["errors"]}


# -- health ---------------------------------------------------------------


def test_health_names_the_snapshot_and_needs_no_key(client):
    body = client.get("/health").json()
    snap = service(client).store.latest_snapshot()
    assert body["status"] == "ok" and body["store_reachable"]
    assert body["snapshot_id"] == snap.id and body["snapshot_behind_batches"] == 0
    assert 0 <= body["snapshot_age_seconds"] < 3600
    assert body["watermark"] == service(client).store.watermark()


def test_health_on_an_empty_store(make_client):
    body = make_client(empty=True).get("/health").json()
    assert body["status"] == "ok" and body["snapshot_id"] is None and body["watermark"] == 0


# -- ingest -----------------------------------------------------------------


def test_post_events_reports_quarantines_and_never_double_counts(client):
    before = service(client).store.stats().events
    events = [event(1, "api-a", "api-b"), event(2, "api-a", "api-c"), event(3, "api-a", "api-a")]
    events.append({**event(4, "api-a", "api-d"), "occurred_at": "not a time"})
    first = client.post("/v1/events", json=events, headers=ADMIN)
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["read"], report["accepted"], report["rejected"]) == (4, 2, 2)
    assert {(r["line"], r["field"]) for r in report["rejections"]} == {
        (3, "inviter_id"),  # a self-invite
        (4, "occurred_at"),
    }
    assert report["quarantine"] and report["source"] == "api:events"
    again = client.post("/v1/events", json=events, headers=ADMIN).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 2, 2)
    assert service(client).store.stats().events == before + 2
    top = client.get("/v1/referrers/top", params={"limit": 1000}, headers=VIEWER).json()
    assert {"id": "api-a", "invites": 2} in [
        {"id": r["id"], "invites": r["invites"]} for r in top["items"]
    ]


def test_post_events_as_ndjson_with_a_campaign(client):
    body = "\n".join(json.dumps(event(n, "nd-a", f"nd-{n}")) for n in range(3)) + "\n"
    response = client.post(
        "/v1/events?campaign=winter",
        content=body.encode(),
        headers={**ADMIN, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.json()["accepted"] == 3
    assert "winter" in service(client).store.stats().campaign_names


def test_a_failed_request_changes_nothing(client):
    store = service(client).store
    watermark = store.watermark()
    no_invitee = [{"event_id": "x1", "type": "join", "occurred_at": T0}]
    response = client.post("/v1/events", json=no_invitee, headers=ADMIN)
    assert response.status_code == 400 and "invitee_id" in response.json()["detail"]
    assert "/tmp" not in response.json()["detail"]  # never the server's temporary path
    bad_json = client.post(
        "/v1/events",
        content=b'[{"event_id": 1,',
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400 and error_fields(bad_json) == {"body"}
    empty = client.post("/v1/events", content=b"", headers=ADMIN)
    assert empty.status_code == 400 and "empty body" in empty.json()["detail"]
    assert store.watermark() == watermark


def test_too_many_events_or_bytes_give_413(make_client):
    client = make_client(max_events_per_request=3, max_body_bytes=4096)
    events = [event(n, "big", f"big-{n}") for n in range(4)]
    response = client.post("/v1/events", json=events, headers=ADMIN)
    assert response.status_code == 413 and "at most 3" in response.json()["detail"]
    assert error_fields(response) == {"body"}
    ndjson = "\n".join(json.dumps(e) for e in events).encode()
    assert client.post("/v1/events", content=ndjson, headers=ADMIN).status_code == 413
    huge = json.dumps([event(0, "big", "x" * 5000)]).encode()
    response = client.post("/v1/events", content=huge, headers=ADMIN)
    assert response.status_code == 413 and "limit of 4,096 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit holds as the body streams in
        for _ in range(10):
            yield b" " * 1000

    streamed = client.post("/v1/events", content=chunks(), headers=ADMIN)
    assert streamed.status_code == 413


def test_upload_a_chinese_csv_with_a_mapping_file(client):
    rows = "邀请人ID,客户ID,添加时间,事件\n900001,900002,2026/11/1 9:05,添加\n900001,900003,2026/11/1 9:06,添加\n"
    mapping = (
        '[columns]\ninviter_id = "邀请人ID"\ninvitee_id = "客户ID"\n'
        'occurred_at = "添加时间"\ntype = "事件"\n[types]\n"添加" = "join"\n'
    )
    response = client.post(
        "/v1/events/upload",
        files={
            "file": ("../../scrm export.csv", rows.encode("gb18030"), "text/csv"),
            "mapping": ("mapping.toml", mapping.encode(), "application/toml"),
        },
        data={"campaign": "双11"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (2, 0)
    assert report["source"] == "upload:scrm_export.csv"
    assert service(client).store.user("900002").referred_by == "900001"
    assert "双11" in service(client).store.stats().campaign_names


def test_upload_an_xlsx_and_refuse_bad_mappings_and_big_files(make_client, tmp_path):
    from openpyxl import Workbook

    client = make_client(max_upload_bytes=8192)
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["x-1", "join", "xl-a", "xl-b", "2026-11-01 10:00:00", "", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    ok = client.post(
        "/v1/events/upload", files={"file": ("events.xlsx", buffer.getvalue())}, headers=ADMIN
    )
    assert ok.status_code == 200 and ok.json()["accepted"] == 1, ok.text
    bad = client.post(
        "/v1/events/upload",
        files={"file": ("e.csv", b"a,b\n1,2\n"), "mapping": ("m.toml", b"[columns\n")},
        headers=ADMIN,
    )
    assert bad.status_code == 400 and error_fields(bad) == {"mapping"}
    assert "not valid" in bad.json()["detail"]
    big = client.post("/v1/events/upload", files={"file": ("e.csv", b"x" * 20_000)}, headers=ADMIN)
    assert big.status_code == 413
    missing = client.post("/v1/events/upload", headers=ADMIN)
    assert missing.status_code == 422 and "file" in error_fields(missing)


# -- rankings and KOCs ------------------------------------------------------


def test_top_referrers_pages_agree_with_the_store(client):
    store = service(client).store
    expected = store.top_referrers(Window(), "effective_invites", 30).to_pylist()
    first = client.get(
        "/v1/referrers/top", params={"by": "effective_invites", "limit": 20}, headers=VIEWER
    ).json()
    second = client.get(
        "/v1/referrers/top",
        params={"by": "effective_invites", "limit": 20, "offset": 20},
        headers=VIEWER,
    ).json()
    assert [r["id"] for r in first["items"] + second["items"][:10]] == [r["id"] for r in expected]
    assert [r["rank"] for r in second["items"][:2]] == [21, 22]
    assert first["total"] == store.referrer_count(Window()) == second["total"]
    page = first["items"] + second["items"]
    flagged = service(client).snapshot().users.filter(service(client).snapshot().users["flagged"])
    held = set(flagged["id"].to_pylist())
    assert {r["id"] for r in page if r["flagged"]} == held & {r["id"] for r in page}
    assert all((r["flag_rules"] is not None) == r["flagged"] for r in page)
    reach = client.get("/v1/referrers/top?by=reach&limit=5", headers=VIEWER).json()
    values = [r["reach"] for r in reach["items"]]
    assert values == sorted(values, reverse=True) and reach["source"].startswith("snapshot")


def test_top_referrers_filters_and_bad_parameters(client):
    store = service(client).store
    campaign = store.stats().campaign_names[0]
    got = client.get(
        "/v1/referrers/top", params={"campaign": campaign, "limit": 5}, headers=VIEWER
    ).json()
    expected = store.top_referrers(Window(campaigns=(campaign,)), "invites", 5).to_pylist()
    assert [r["id"] for r in got["items"]] == [r["id"] for r in expected]
    # A naive time is read in KOC_TIMEZONE (Asia/Shanghai): on this campaign
    # that counts 129 referrers from 2026-07-20 there and 127 from UTC's.
    since = datetime(2026, 7, 20)
    naive = client.get(
        "/v1/referrers/top", params={"since": since.isoformat()}, headers=VIEWER
    ).json()
    zone = ZoneInfo(service(client).settings.timezone)
    assert naive["total"] == store.referrer_count(Window(since=since.replace(tzinfo=zone)))
    assert naive["total"] != store.referrer_count(Window(since=since.replace(tzinfo=UTC)))
    for params, field in (
        ({"by": "fame"}, "by"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since"),
    ):
        response = client.get("/v1/referrers/top", params=params, headers=VIEWER)
        assert response.status_code == 422 and error_fields(response) == {field}, params


def test_kocs_are_the_searchlight_picks_and_follow_reviews(client):
    svc = service(client)
    snapshot = svc.store.latest_snapshot()
    direct = choose_kocs(svc.store, snapshot, KocParams(k=10))
    page = client.get("/v1/kocs?k=10&limit=4&offset=2", headers=VIEWER).json()
    assert page["total"] == 10 and page["snapshot_id"] == snapshot.id
    assert [r["user_id"] for r in page["items"]] == [r.user_id for r in direct.rows[2:6]]
    assert page["items"][0]["reason"].startswith("lights")
    flagged = set(snapshot.users.filter(snapshot.users["flagged"])["id"].to_pylist())
    scored = client.get("/v1/kocs?k=200&strategy=score", headers=VIEWER).json()
    assert not flagged & {r["user_id"] for r in scored["items"]}
    # the best-scored flagged referrer, once approved, can be picked
    users = snapshot.users.filter(
        pc.and_(snapshot.users["flagged"], pc.greater(snapshot.users["invites"], 0))
    )
    best = users.sort_by([("koc_score", "descending")])["id"][0].as_py()
    review = client.post(
        f"/v1/flags/{best}/review",
        json={"decision": "approve", "note": "known store staff", "reviewer": "ops-li"},
        headers=ADMIN,
    )
    assert review.status_code == 200, review.text
    after = client.get("/v1/kocs?k=200&strategy=score", headers=VIEWER).json()
    assert after["eligible"] == scored["eligible"] + 1
    quota = client.get("/v1/kocs?k=10&quota=community", headers=VIEWER).json()
    assert quota["quota"] == "community" and len(quota["items"]) == 10
    bad = client.get("/v1/kocs?strategy=vibes", headers=VIEWER)
    assert bad.status_code == 422 and error_fields(bad) == {"strategy"}


def test_influence_kocs_carry_their_spread(client):
    page = client.get("/v1/kocs?k=3&strategy=influence&seed=1", headers=VIEWER).json()
    spread = page["spread"]
    assert len(page["items"]) == 3 and spread["estimate"] > 0
    svc = service(client)
    direct = choose_kocs(
        svc.store, svc.store.latest_snapshot(), KocParams(k=3, strategy="influence", seed=1)
    )
    assert spread == direct.spread  # the picks' own Monte-Carlo check, as computed
    assert spread["monte_carlo_mean"] >= 3  # the three picks count themselves


# -- flags and reviews (users, networks, communities: test_user_pages.py) ---


def test_flag_queue_and_reviews(client):
    queue = client.get("/v1/flags?limit=500", headers=VIEWER).json()
    assert queue["total"] == len(queue["items"]) > 0
    risks = [e["risk"] for e in queue["items"]]
    assert risks == sorted(risks, reverse=True)
    assert all(e["status"] == "pending" for e in queue["items"])
    target = queue["items"][0]["user_id"]
    done = client.post(
        f"/v1/flags/{target}/review",
        json={"decision": "decline", "note": "same device as 40 others", "reviewer": "ops-wang"},
        headers=ADMIN,
    )
    assert done.status_code == 200 and done.json()["status"] == "declined"
    declined = client.get("/v1/flags?status=declined", headers=VIEWER).json()
    assert [e["user_id"] for e in declined["items"]] == [target]
    assert declined["items"][0]["reviewer"] == "ops-wang"
    pending = client.get("/v1/flags?status=pending", headers=VIEWER).json()
    assert pending["total"] == queue["total"] - 1
    assert (
        client.get(f"/v1/users/{target}", headers=VIEWER).json()["review"]["status"] == "declined"
    )


def test_review_refusals(client):
    snapshot = service(client).store.latest_snapshot()
    clean = snapshot.users.filter(pc.invert(snapshot.users["flagged"]))["id"][0].as_py()
    body = {"decision": "approve", "note": "fine", "reviewer": "ops"}
    not_flagged = client.post(f"/v1/flags/{clean}/review", json=body, headers=ADMIN)
    assert not_flagged.status_code == 409 and "not flagged" in not_flagged.json()["detail"]
    unknown = client.post("/v1/flags/nobody/review", json=body, headers=ADMIN)
    assert unknown.status_code == 404
    no_note = client.post(f"/v1/flags/{clean}/review", json={**body, "note": ""}, headers=ADMIN)
    assert no_note.status_code == 422 and error_fields(no_note) == {"note"}
    odd = client.post(
        f"/v1/flags/{clean}/review", json={**body, "decision": "maybe"}, headers=ADMIN
    )
    assert odd.status_code == 422 and error_fields(odd) == {"decision"}


# -- errors -------------------------------------------------------------------


def test_unknown_routes_and_methods_are_json(client):
    missing = client.get("/v1/nothing", headers=VIEWER)
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "path"
    wrong = client.delete("/v1/kocs", headers=ADMIN)
    assert wrong.status_code == 405 and wrong.json()["detail"]


def test_docs_are_served_from_the_app(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/kocs", "/v1/events", "/v1/exports/kocs", "/health"} <= set(spec["paths"])
