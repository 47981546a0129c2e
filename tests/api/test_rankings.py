"""Rankings are ranked once per store version and every page is a slice
(issue 19): pages tile the whole ranking with no gap or repeat, `total` is
exact, the live index and the store answer alike, and a write through the
server (an ingest, a review) is seen by the next page."""

from __future__ import annotations

import random
import time

import pytest

from api.service import Service
from graph.ranking import TOP_BY
from graph.store import TOP_COUNTS
from tests.api.conftest import ADMIN, VIEWER

WINDOWS = [
    {},
    {"until": "2026-03-20T00:00:00+00:00"},
    {"since": "2026-03-10T00:00:00+00:00", "until": "2026-04-01T00:00:00+00:00"},
]


def service(client) -> Service:
    return client.app.state.service


def built(client):
    """The client, once its server's live index is built (so reads use it)."""
    assert service(client).live_index(wait=True) is not None
    return client


def whole(client, by: str, page: int, **filters) -> tuple[list[dict], int]:
    """Every page of a ranking, `page` rows at a time, and the totals seen."""
    items: list[dict] = []
    totals = set()
    offset = 0
    while True:
        body = client.get(
            "/v1/referrers/top",
            params={"by": by, "limit": page, "offset": offset, **filters},
            headers=VIEWER,
        ).json()
        totals.add(body["total"])
        items += body["items"]
        offset += page
        if not body["items"]:
            return items, totals.pop() if len(totals) == 1 else -1


@pytest.mark.parametrize("by", TOP_BY)
def test_pages_tile_every_ranking_and_total_is_exact(make_client, by):
    client = built(make_client())
    items, total = whole(client, by, 37)
    assert total == len(items) > 37
    assert [i["rank"] for i in items] == list(range(1, total + 1))
    assert len({i["id"] for i in items}) == total
    key = [(-i[by], i["id"]) for i in items]
    assert key == sorted(key)
    # Referrers only: an invite in the window, or the metric itself above 0.
    assert all(i["invites" if by in TOP_COUNTS else by] > 0 for i in items)
    one_page = client.get(
        "/v1/referrers/top", params={"by": by, "limit": 1000}, headers=VIEWER
    ).json()
    assert one_page["items"] == items[:1000] and one_page["total"] == total


def test_the_live_index_and_the_store_answer_every_read_alike(make_client, analysed_store):
    indexed = built(make_client())
    plain = make_client(live_index=False)
    assert service(plain).live_index(wait=True) is None
    campaigns = sorted(service(plain).store.stats().campaign_names)
    for filters in [
        *WINDOWS,
        {"campaign": campaigns[0]},
        {"campaign": campaigns[:2], **WINDOWS[2]},
    ]:
        for by in TOP_COUNTS:
            params = {"by": by, "limit": 50, "offset": 10, **filters}
            a = indexed.get("/v1/referrers/top", params=params, headers=VIEWER)
            b = plain.get("/v1/referrers/top", params=params, headers=VIEWER)
            assert a.status_code == b.status_code == 200
            assert a.json() == b.json(), (by, filters)
    ids = service(plain).store.live_facts().users["id"].to_pylist()
    for user_id in random.Random(3).sample(ids, 30):
        for path in (f"/v1/users/{user_id}", f"/v1/users/{user_id}/network?hops=2&limit=40"):
            a, b = indexed.get(path, headers=VIEWER), plain.get(path, headers=VIEWER)
            assert a.status_code == b.status_code == 200
            assert a.json() == b.json(), path
    assert indexed.get("/v1/users/nobody", headers=VIEWER).status_code == 404


def test_an_ingest_and_a_review_change_the_next_page(client):
    built(client)
    before = client.get("/v1/referrers/top", params={"limit": 5}, headers=VIEWER).json()
    star = [
        {
            "event_id": f"star-{n}",
            "type": "join",
            "inviter_id": "aaa-star",
            "invitee_id": f"star-friend-{n}",
            "occurred_at": "2026-03-02T10:00:00+08:00",
        }
        for n in range(before["items"][0]["invites"] + 5)
    ]
    assert client.post("/v1/events", json=star, headers=ADMIN).status_code == 200
    after = client.get("/v1/referrers/top", params={"limit": 5}, headers=VIEWER).json()
    assert after["total"] == before["total"] + 1
    assert after["items"][0]["id"] == "aaa-star" and after["items"][1:] == [
        {**i, "rank": i["rank"] + 1} for i in before["items"][:4]
    ]
    # A flagged invitee approved on review counts as effective again.
    queue = client.get("/v1/flags?status=pending&limit=500", headers=VIEWER).json()["items"]
    referred = [
        (u["user_id"], detail["referred_by"])
        for u in queue
        if (detail := client.get(f"/v1/users/{u['user_id']}", headers=VIEWER).json())["referred_by"]
        and not detail["churned_at"]
    ]
    invitee, referrer = referred[0]

    def effective() -> int:
        items, _ = whole(client, "effective_invites", 500)
        return next(i["effective_invites"] for i in items if i["id"] == referrer)

    was = effective()
    review = {"decision": "approve", "note": "a real customer", "reviewer": "ops-li"}
    assert client.post(f"/v1/flags/{invitee}/review", json=review, headers=ADMIN).status_code == 200
    assert effective() == was + 1


def until_built(svc: Service, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while (index := svc.live_index()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return index


def test_the_index_is_built_in_the_background_and_reads_never_wait_for_it(make_client):
    client = make_client(warm_up=False)  # nothing else builds it meanwhile
    svc = service(client)
    built(client)
    svc.changed()  # as after a write: the index of the last version is gone
    assert svc.live_index() is None  # the build has started, nobody waits
    page = client.get("/v1/referrers/top", params={"limit": 3}, headers=VIEWER)
    assert page.status_code == 200 and len(page.json()["items"]) == 3
    assert until_built(svc) is not None


def test_reads_ask_the_store_when_the_index_cannot_be_built(make_client, caplog):
    client = make_client(warm_up=False)
    svc = service(client)
    built(client)
    # A REFERRED edge naming a user the users table lacks: no index can
    # code it, and the store itself still answers.
    with svc.store.write_lock:
        svc.store.connection.execute(
            "DELETE FROM users WHERE id = (SELECT min(referrer_id) FROM referred)"
        )
    svc.changed()
    assert svc.live_index() is None
    deadline = time.monotonic() + 30
    while "cannot build the live index" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "missing from its users" in caplog.text
    assert svc.live_index() is None  # not built again for the same version
    top = client.get("/v1/referrers/top", params={"by": "effective_invites"}, headers=VIEWER)
    assert top.status_code == 200 and top.json()["total"] > 0
    assert caplog.text.count("cannot build the live index") == 1
