"""The auth matrix on every route: no key, wrong key, viewer, admin."""

from __future__ import annotations

import pytest

from api.auth import is_loopback, role_of
from api.settings import ApiKey
from tests.api.conftest import ADMIN, VIEWER

# Routes open to all: the health probe (for load balancers and containers).
OPEN = {"/health", "/docs"}  # and the API docs, which hold no data
# WeCom's callback takes no key: WeCom signs it (tests/api/test_wecom_callback.py);
# off (404) without KOC_WECOM_*, as here, whatever key is sent.
SIGNED = {"/v1/wecom/callback"}
ADMIN_ONLY = {
    ("POST", "/v1/events"),
    ("POST", "/v1/events/upload"),
    ("POST", "/v1/analyses"),
    ("POST", "/v1/flags/{user_id}/review"),
    ("GET", "/v1/exports/kocs"),
    ("GET", "/v1/exports/kocs/manifest"),
}


def routes(app) -> list[tuple[str, str]]:
    """Every operation the app publishes, and the docs page."""
    spec = app.openapi()
    found = [(m.upper(), path) for path, ops in spec["paths"].items() for m in ops]
    return sorted([*found, ("GET", "/docs")])


def call(client, method: str, path: str, headers: dict):
    concrete = path.replace("{user_id}", "nobody-at-all").replace("{job_id}", "nope")
    concrete = concrete.replace("{community_id}", "0")
    return client.request(method, concrete, headers=headers)


def test_every_route_is_in_the_matrix(client):
    found = routes(client.app)
    assert len(found) >= 16
    declared_admin = {(m, p) for m, p in found if p in {a[1] for a in ADMIN_ONLY}}
    assert set(found) >= ADMIN_ONLY and declared_admin == ADMIN_ONLY


def test_auth_matrix(client):
    for method, path in routes(client.app):
        anonymous = call(client, method, path, {})
        wrong = call(client, method, path, {"X-API-Key": "not-a-key-not-a-key-at-all"})
        viewer = call(client, method, path, VIEWER)
        admin = call(client, method, path, ADMIN)
        bearer = call(client, method, path, {"Authorization": f"Bearer {ADMIN['X-API-Key']}"})
        where = f"{method} {path}"
        if path in OPEN:
            assert anonymous.status_code == 200, where
            continue
        if path in SIGNED:
            assert {r.status_code for r in (anonymous, wrong, viewer, admin, bearer)} == {404}
            continue
        for response in (anonymous, wrong):
            assert response.status_code == 401, where
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.json()["errors"][0]["field"] == "X-API-Key"
        assert "required" in anonymous.json()["detail"]
        assert "not valid" in wrong.json()["detail"]
        assert admin.status_code not in (401, 403), where
        assert bearer.status_code not in (401, 403), where
        if (method, path) in ADMIN_ONLY:
            assert viewer.status_code == 403, where
            assert "admin key" in viewer.json()["detail"]
        else:
            assert viewer.status_code not in (401, 403), where


def test_without_keys_every_caller_is_admin(make_client):
    client = make_client(keys=False)
    assert client.get("/v1/flags").status_code == 200
    assert client.get("/v1/exports/kocs/manifest?k=3").status_code == 200


def test_role_of_compares_every_key():
    keys = [ApiKey(role="viewer", key="v" * 20), ApiKey(role="admin", key="a" * 20)]
    assert role_of("a" * 20, keys) == "admin"
    assert role_of("v" * 20, keys) == "viewer"
    assert role_of("a" * 19, keys) is None and role_of("", keys) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.5.0.1", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.com", False),
        ("::", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback
