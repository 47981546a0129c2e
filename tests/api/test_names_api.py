"""Users' names in the API: every response that shows a user carries its
name beside the id, masked (138****5678) for viewer keys and whole for
admin keys, from the live index and from the store alike; the user search;
hostile names come back as they were given."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from api.names import mask_phones
from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_app import service

HOSTILE = "<img src=x onerror=alert(1)>"
# Even-numbered joiners hold a mobile number whose hidden digits (9kkk) are
# never among the visible ones (0kkk); the others a Latin name.
PHONE = re.compile(r"^张三 138-9(\d{3})-0\1$")
MASKED = re.compile(r"^张三 138\*\*\*\*0\d{3}$")


def _names(invitees: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for uid in invitees:
        if uid not in names:
            j = len(names)
            k = f"{j % 1000:03d}"
            names[uid] = f"张三 138-9{k}-0{k}" if j % 2 == 0 else f"Ann Lee {j}"
    return names


@pytest.fixture(scope="session")
def named_campaign(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """tests/api/conftest.py's analysed campaign with a name on every join."""
    work = tmp_path_factory.mktemp("named-store")
    events, truth = generate_campaign(users=3000, seed=9, shape="steady")
    pairs = list(zip(events["invitee_id"].to_pylist(), events["type"].to_pylist(), strict=True))
    names = _names([u for u, kind in pairs if kind == "join"])
    column = [names[u] if kind == "join" else None for u, kind in pairs]
    events = events.append_column("invitee_name", pa.array(column, pa.string()))
    path = work / "events.csv"
    write_campaign(events, truth, path, "csv")
    store = EmbeddedStore(work / "store.duckdb", memory_limit="512MB")
    ingest_file(store, path, quarantine=Quarantine(work / "q.csv"))
    store.save_snapshot(analyze(store).to_saved())
    store.close()
    return work / "store.duckdb", names


@pytest.fixture
def analysed_store(named_campaign) -> Path:
    """make_client's store: the named campaign."""
    return named_campaign[0]


def expect(names: dict[str, str], uid: str | None, full: bool) -> str | None:
    raw = names.get(uid) if uid is not None else None
    return raw if full or raw is None else mask_phones(raw)


ROLES = [pytest.param(ADMIN, True, id="admin"), pytest.param(VIEWER, False, id="viewer")]
SOURCES = [pytest.param(True, id="live-index"), pytest.param(False, id="store")]


def named_client(make_client, live_index: bool):
    client = make_client(live_index=live_index)
    assert (service(client).live_index(wait=True) is not None) == live_index
    return client


def check(shown: list[tuple[str, str | None]], names: dict, full: bool) -> None:
    """Each (id, name) shown is the user's name as this role sees it, and the
    check is worth something: named users, phone numbers among them."""
    assert shown and all(name == expect(names, uid, full) for uid, name in shown), shown
    phones = [name for uid, name in shown if PHONE.match(names.get(uid, ""))]
    assert phones
    assert all(PHONE.match(n) if full else MASKED.match(n) for n in phones), phones


@pytest.mark.parametrize("live_index", SOURCES)
@pytest.mark.parametrize(("headers", "full"), ROLES)
def test_every_list_of_users_names_them(make_client, named_campaign, live_index, headers, full):
    client, names = named_client(make_client, live_index), named_campaign[1]

    def get(path: str) -> dict:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    top = get("/v1/referrers/top?limit=200")["items"]
    check([(r["id"], r["name"]) for r in top], names, full)
    metric = get("/v1/referrers/top?by=reach&limit=200")["items"]
    check([(r["id"], r["name"]) for r in metric], names, full)
    kocs = get("/v1/kocs?k=100")["items"]
    check([(r["user_id"], r["name"]) for r in kocs], names, full)
    flags = get("/v1/flags?limit=1000")["items"]
    check([(r["user_id"], r["name"]) for r in flags], names, full)
    communities = get("/v1/communities?limit=1000")["items"]
    check(
        [p for c in communities for p in zip(c["top_users"], c["top_user_names"], strict=True)],
        names,
        full,
    )
    biggest = get(f"/v1/communities/{communities[0]['community']}?limit=1000")
    check([(m["id"], m["name"]) for m in biggest["members"]], names, full)
    view = get("/v1/explorer/view?view=searchlight&limit=500")["nodes"]
    check([(n["id"], n["name"]) for n in view], names, full)
    assert all(n["name"] is None for n in get("/v1/explorer/view?view=map")["nodes"])


@pytest.mark.parametrize("live_index", SOURCES)
@pytest.mark.parametrize(("headers", "full"), ROLES)
def test_a_user_page_and_network_name_everyone_on_them(
    make_client, named_campaign, live_index, headers, full
):
    client, names = named_client(make_client, live_index), named_campaign[1]
    svc = service(client)
    referred = svc.store.live_facts().referred.to_pylist()
    parent = {r["invitee_id"]: r["referrer_id"] for r in referred}
    deep = max(parent, key=lambda u: (parent.get(parent[u]) is not None, u))
    body = client.get(f"/v1/users/{deep}", headers=headers).json()
    assert len(body["chain"]) >= 2
    assert body["name"] == expect(names, deep, full)
    assert body["referred_by_name"] == expect(names, body["referred_by"], full)
    assert body["chain_names"] == [expect(names, u, full) for u in body["chain"]]
    network = client.get(f"/v1/users/{deep}/network?hops=3", headers=headers).json()
    check([(n["id"], n["name"]) for n in network["nodes"]], names, full)
    ego = client.get(f"/v1/explorer/view?view=ego&user_id={deep}", headers=headers).json()
    check([(n["id"], n["name"]) for n in ego["nodes"]], names, full)


def _search(client, headers, q: str, limit: int = 50) -> list[tuple[str, str | None, str]]:
    response = client.get("/v1/users/search", params={"q": q, "limit": limit}, headers=headers)
    assert response.status_code == 200, response.text
    return [(r["id"], r["name"], r["match"]) for r in response.json()["items"]]


@pytest.mark.parametrize("live_index", SOURCES)
def test_search_finds_ids_and_names_and_viewers_only_what_they_see(
    make_client, named_campaign, live_index
):
    client, names = named_client(make_client, live_index), named_campaign[1]
    phoned = next(u for u, n in names.items() if PHONE.match(n) and n.endswith("-0008"))
    same_digits = sorted(u for u, n in names.items() if n.endswith("-0008"))
    latin = next(u for u, n in names.items() if n == "Ann Lee 7")
    for headers, full in ((ADMIN, True), (VIEWER, False)):
        assert _search(client, headers, phoned)[0] == (phoned, expect(names, phoned, full), "id")
        assert _search(client, headers, phoned[:5])[0][2] == "prefix"
        assert _search(client, headers, "ann lee 7")[0] == (latin, "Ann Lee 7", "name")
        found = _search(client, headers, "lee 7")
        assert [m for _, _, m in found] == ["contains"] * len(found)
        assert latin in [u for u, _, _ in found] and len(found) > 5
        assert [u for u, _, _ in found] == sorted(u for u, _, _ in found)
        assert len(_search(client, headers, "张三", limit=7)) == 7
        visible = _search(client, headers, "0008")
        assert [u for u, _, _ in visible] == same_digits
    # The hidden digits find the user for an admin, never for a viewer.
    assert [u for u, _, _ in _search(client, ADMIN, "138-9008")] == same_digits
    assert [u for u, _, _ in _search(client, ADMIN, "9008")] == same_digits
    assert _search(client, VIEWER, "138-9008") == []
    assert _search(client, VIEWER, "9008") == []


def test_search_bounds_and_errors(client):
    for params in ({"q": "a", "limit": 51}, {"q": "a", "limit": 0}, {"q": "x" * 257}, {}):
        assert client.get("/v1/users/search", params=params, headers=VIEWER).status_code == 422
    blank = client.get("/v1/users/search", params={"q": "   "}, headers=VIEWER)
    assert blank.status_code == 422 and "q must hold more than spaces" in blank.text
    chinese = client.get(
        "/v1/users/search", params={"q": " "}, headers={**VIEWER, "Accept-Language": "zh-CN"}
    )
    assert "搜索内容不能只有空格" in chinese.json()["detail"]
    assert client.get("/v1/users/search", params={"q": "a"}).status_code == 401


def test_hostile_names_come_back_verbatim_and_long_ones_are_refused(client):
    long_name = "名" * 10_000
    sent = client.post(
        "/v1/events",
        json=[
            {
                "type": "join",
                "inviter_id": "host-a",
                "invitee_id": "host-b",
                "occurred_at": "2026-08-01T10:00:00+08:00",
                "invitee_name": HOSTILE,
            },
            {
                "type": "join",
                "inviter_id": "host-a",
                "invitee_id": "host-c",
                "occurred_at": "2026-08-01T10:00:00+08:00",
                "invitee_name": long_name,
            },
        ],
        headers=ADMIN,
    ).json()
    assert (sent["accepted"], sent["rejected"]) == (1, 1), sent
    assert "longer than 256 characters" in sent["rejections"][0]["reason"]
    for headers in (ADMIN, VIEWER):
        page = client.get("/v1/users/host-b", headers=headers)
        assert page.headers["content-type"] == "application/json"
        assert page.json()["name"] == HOSTILE
        assert _search(client, headers, "onerror") == [("host-b", HOSTILE, "contains")]
    assert client.get("/v1/users/host-c", headers=ADMIN).status_code == 404
