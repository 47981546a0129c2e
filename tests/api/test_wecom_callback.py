"""`/v1/wecom/callback` in the app: URL verification, pushes filed and
applied, refusals (403, logged, never a 500), the inbox applied after a
crash and drained at a stop, the settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings
from api.wecom.crypto import WeComCrypto
from api.wecom.inbox import Inbox
from graph.embedded import EmbeddedStore
from tests.api.wecom_pushes import (
    AES_KEY,
    CORP_ID,
    TOKEN,
    WECOM_ENV,
    chat_xml,
    contact_xml,
    sealed,
    verification,
)

URL = "/v1/wecom/callback"
AT = 1_772_000_000


def _settings(tmp_path, **overrides) -> Settings:
    wecom = {
        "wecom_corp_id": CORP_ID,
        "wecom_token": TOKEN,
        "wecom_aes_key": AES_KEY,
        "wecom_batch_seconds": 0.05,
    }
    return Settings(
        store_url=str(tmp_path / "store.duckdb"),
        quarantine_dir=tmp_path / "quarantine",
        wecom_inbox_dir=tmp_path / "inbox",
        warm_up=False,
        **{**wecom, **overrides},
    )


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., TestClient]]:
    """serve(**settings) -> a started TestClient on an empty store."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        client = TestClient(create_app(_settings(tmp_path, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _eventually(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not applied within 10 s"
        time.sleep(0.02)


def _events(client: TestClient) -> int:
    return client.app.state.service.store.stats().events


def test_off_without_settings(tmp_path):
    settings = Settings(
        store_url=str(tmp_path / "s.duckdb"), wecom_inbox_dir=tmp_path / "inbox", warm_up=False
    )
    with TestClient(create_app(settings)) as client:
        for response in (client.get(URL, params=verification("x")), client.post(URL)):
            assert response.status_code == 404
            assert "KOC_WECOM_AES_KEY" in response.json()["detail"]
    assert not (tmp_path / "inbox").exists()  # no inbox either


def test_url_verification_answers_the_decrypted_echostr(serve):
    client = serve()
    response = client.get(URL, params=verification("5927782489442352469"))
    assert response.status_code == 200 and response.text == "5927782489442352469"


def test_a_push_is_acknowledged_then_applied(serve):
    client = serve()
    query, body = sealed(contact_xml("add_external_contact", "s1", "wmA", AT, state="d11_wmR"))
    response = client.post(URL, params=query, content=body)
    assert response.status_code == 200 and response.text == ""
    _eventually(lambda: _events(client) == 1)
    store = client.app.state.service.store
    assert store.user("wmA").referred_by == "wmR"
    # WeCom's retry, and the same push sealed anew: acknowledged, nothing added
    resealed = sealed(contact_xml("add_external_contact", "s1", "wmA", AT, state="d11_wmR"))
    for query_, body_ in ((query, body), resealed):
        assert client.post(URL, params=query_, content=body_).status_code == 200
    wecom = client.app.state.wecom
    _eventually(lambda: wecom.applier.total.pushes == 3)
    assert (_events(client), wecom.applier.total.duplicates) == (1, 2)


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        (
            lambda q: {**q, "msg_signature": "0" * 40},
            "msg_signature does not match",
            "msg_signature",
        ),
        (
            lambda q: {**q, "nonce": q["nonce"] + "1"},
            "msg_signature does not match",
            "msg_signature",
        ),
        (lambda q: {k: v for k, v in q.items() if k != "nonce"}, "nonce is missing", "nonce"),
        (lambda q: {**q, "timestamp": "12:00"}, "not a number", "timestamp"),
    ],
)
def test_bad_callbacks_are_refused_with_a_logged_reason(serve, caplog, change, reason, field):
    client = serve()
    query, body = sealed(contact_xml("add_external_contact", "s1", "wmA", AT))
    with caplog.at_level(logging.WARNING, logger="searchlight.wecom"):
        posted = client.post(URL, params=change(query), content=body)
        got = client.get(URL, params=change(verification("echo")))
    for response in (posted, got):
        assert response.status_code == 403, response.text
        assert reason in response.json()["detail"]
        assert response.json()["errors"][0]["field"] == field
    assert (
        sum(reason in r.getMessage() and "refused (403)" in r.getMessage() for r in caplog.records)
        == 2
    )
    assert not Inbox(client.app.state.settings.wecom_inbox_dir, writer=False).durable_size


@pytest.mark.parametrize("skew", [-301, 301, -86_400 * 365])
def test_a_timestamp_outside_the_window_is_refused(serve, skew):
    client = serve(wecom_max_skew_seconds=300)
    query, body = sealed(
        contact_xml("add_external_contact", "s1", "wmA", AT), int(time.time()) + skew
    )
    response = client.post(URL, params=query, content=body)
    assert response.status_code == 403 and "KOC_WECOM_MAX_SKEW_SECONDS" in response.json()["detail"]
    inside = sealed(contact_xml("add_external_contact", "s1", "wmA", AT), int(time.time()) - 250)
    assert client.post(URL, params=inside[0], content=inside[1]).status_code == 200


def test_a_push_for_another_corp_is_refused(serve):
    client = serve()
    other = WeComCrypto(TOKEN, AES_KEY, "wwanothercorp")
    query, body = sealed(contact_xml("add_external_contact", "s1", "wmA", AT), crypto=other)
    response = client.post(URL, params=query, content=body)
    assert response.status_code == 403 and "another corp id" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ("not xml at all", 400, "not WeCom's XML"),
        ("<xml><ToUserName>x</ToUserName></xml>", 400, "no <Encrypt>"),
        ('<!DOCTYPE x [<!ENTITY e "e">]><xml><Encrypt>&e;</Encrypt></xml>', 400, "not WeCom's XML"),
        ("<xml><Encrypt>" + "A" * (1 << 20) + "</Encrypt></xml>", 413, "far below"),
    ],
)
def test_malformed_bodies_are_client_errors(serve, body, status, problem):
    client = serve()
    query, _ = sealed("<xml/>")
    response = client.post(URL, params=query, content=body)
    assert response.status_code == status and problem in response.json()["detail"]


def test_unknown_events_are_kept_and_acknowledged(serve):
    client = serve()
    tag = f"<xml><ToUserName>{CORP_ID}</ToUserName><CreateTime>{AT}</CreateTime><MsgType>event</MsgType><Event>change_external_tag</Event><ChangeType>create</ChangeType></xml>"
    for xml in (tag, chat_xml("change_owner", "wrG", [], AT)):
        query, body = sealed(xml)
        assert client.post(URL, params=query, content=body).status_code == 200
    inbox = Inbox(client.app.state.settings.wecom_inbox_dir, writer=False)
    records, _ = inbox.read(0, limit=10)
    assert [r.record["xml"] for r in records][0] == tag
    _eventually(lambda: client.app.state.wecom.applier.total.pushes == 2)
    assert client.app.state.wecom.applier.total.kinds["change_external_tag/create"] == 1
    assert _events(client) == 0


def test_the_inbox_is_applied_after_a_crash_and_drained_at_a_stop(tmp_path, serve):
    settings = _settings(tmp_path)
    crashed = Inbox(settings.wecom_inbox_dir, writer=True)  # received, never applied
    crashed.append({"xml": contact_xml("add_external_contact", "s1", "wmA", AT, state="c_wmR")})
    crashed.close()
    client = serve(wecom_batch_seconds=3600, wecom_batch_events=100_000)
    _eventually(lambda: _events(client) == 1)  # at start-up, not an hour later
    query, body = sealed(chat_xml("add_member", "wrG", ["wmB", "wmC"], AT + 5))
    assert client.post(URL, params=query, content=body).status_code == 200
    assert _events(client) == 1  # waiting for its batch
    client.__exit__(None, None, None)  # a graceful stop drains the inbox
    with EmbeddedStore(tmp_path / "store.duckdb", read_only=True) as store:
        assert store.stats().events == 3
    inbox = Inbox(settings.wecom_inbox_dir, writer=False)
    assert inbox.applied() == inbox.durable_size


def test_secrets_are_never_logged_or_shown(tmp_path, serve, caplog):
    with caplog.at_level(logging.DEBUG):
        client = serve()
        query, body = sealed(contact_xml("add_external_contact", "s1", "wmA", AT))
        client.post(URL, params={**query, "msg_signature": "f" * 40}, content=body)
        client.post(URL, params=query, content=body)
        _eventually(lambda: _events(client) == 1)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    settings = client.app.state.settings
    assert "refused" in logged
    for shown in (logged, repr(settings), str(settings.model_dump())):
        assert TOKEN not in shown and AES_KEY not in shown


def test_the_settings_come_all_three_or_none():
    for one in WECOM_ENV:
        partial = {k.removeprefix("KOC_").lower(): v for k, v in WECOM_ENV.items() if k != one}
        with pytest.raises(ValidationError, match="together"):
            Settings(**partial)
    with pytest.raises(ValidationError, match="42 characters"):
        Settings(wecom_corp_id=CORP_ID, wecom_token=TOKEN, wecom_aes_key=AES_KEY[:-1])


def test_a_push_the_inbox_cannot_take_is_a_503_to_be_retried(serve):
    client = serve()
    client.app.state.wecom.inbox.stop_appending()  # as while the server stops
    query, body = sealed(contact_xml("add_external_contact", "s1", "wmA", AT))
    response = client.post(URL, params=query, content=body)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "inbox is closed" in response.json()["detail"]
