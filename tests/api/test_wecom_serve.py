"""End to end: WeCom's callbacks, encrypted and signed with the published
algorithm, sent to a running `koc serve`; then the store holds exactly the
users, edges and churn they describe."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx

from graph.embedded import EmbeddedStore
from graph.store import Window
from tests.api.conftest import KOC, koc_serve
from tests.api.wecom_pushes import WECOM_ENV, chat_xml, contact_xml, sealed, verification

AT = 1_772_000_000


def _pushes() -> list[str]:
    return [
        contact_xml("add_external_contact", "s1", "wmA", AT, state="d11_wmROOT"),
        contact_xml("add_external_contact", "s2", "wmB", AT + 10, state="d11_wmA"),
        contact_xml("add_half_external_contact", "s1", "wmC", AT + 20, state="d11_wmA"),
        contact_xml("add_external_contact", "s1", "wmD", AT + 30),  # no state: no inviter
        contact_xml("edit_external_contact", "s1", "wmA", AT + 40),  # accepted, changes nothing
        contact_xml("del_follow_user", "s1", "wmC", AT + 50),  # wmC deleted the staff member
        # a hand-over to another staff member: not churn
        contact_xml("del_external_contact", "s1", "wmD", AT + 60, source="DELETE_BY_TRANSFER"),
        chat_xml("add_member", "wrGROUP", ["wmE", "wmF"], AT + 70, state="d11_wmB", join_scene=3),
        chat_xml("del_member", "wrGROUP", ["wmF"], AT + 80),
    ]


def _post(base: str, query: dict, body: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/wecom/callback", params=query, content=body, timeout=10)


def test_pushes_to_a_running_server_become_the_graph(tmp_path):
    env = {
        **WECOM_ENV,
        "KOC_STORE_URL": str(tmp_path / "store.duckdb"),
        "KOC_QUARANTINE_DIR": str(tmp_path / "quarantine"),
        "KOC_WECOM_INBOX_DIR": str(tmp_path / "inbox"),
        "KOC_WECOM_BATCH_SECONDS": "0.2",
        "KOC_WECOM_MAX_SKEW_SECONDS": "300",
    }
    with koc_serve(env) as server:
        base = server.base
        check = httpx.get(f"{base}/v1/wecom/callback", params=verification("echo-42"), timeout=10)
        assert (check.status_code, check.text) == (200, "echo-42")
        first = sealed(_pushes()[0])
        for xml in _pushes():
            query, body = sealed(xml)
            assert _post(base, query, body).status_code == 200, xml
        assert _post(base, *first).status_code == 200  # WeCom's retry: the same request
        bad = sealed(contact_xml("add_external_contact", "s1", "wmEVIL", AT, state="d11_wmA"))
        assert _post(base, {**bad[0], "msg_signature": "0" * 40}, bad[1]).status_code == 403
        old = sealed(
            contact_xml("add_external_contact", "s1", "wmOLD", AT), int(time.time()) - 3600
        )
        assert _post(base, *old).status_code == 403  # a push captured an hour ago, replayed
        # live: the graph grows while the server runs
        deadline = time.monotonic() + 15
        while httpx.get(f"{base}/v1/users/wmF", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the pushes were not applied within 15 s"
            time.sleep(0.1)
    assert "refused (403): msg_signature does not match" in server.output
    assert "refused (403): timestamp is" in server.output

    with EmbeddedStore(tmp_path / "store.duckdb", read_only=True) as store:
        stats = store.stats()
        assert stats.users == 7  # wmROOT and wmA..wmF; not wmEVIL, not wmOLD
        assert stats.events_by_type == {"join": 6, "churn": 2}
        assert stats.campaign_names == ["d11"]
        referred = store.read_graph(Window()).referred
        assert sorted(
            zip(
                referred["referrer_id"].to_pylist(), referred["invitee_id"].to_pylist(), strict=True
            )
        ) == [
            ("wmA", "wmB"),
            ("wmA", "wmC"),
            ("wmB", "wmE"),
            ("wmB", "wmF"),
            ("wmROOT", "wmA"),
        ]
        churned = {
            u for u in ("wmA", "wmB", "wmC", "wmD", "wmE", "wmF") if store.user(u).churned_at
        }
        assert churned == {"wmC", "wmF"}
        assert store.user("wmD").referred_by is None

    # the inbox holds every acknowledged push, applied; replaying it adds nothing
    cli_env = {**os.environ, **env}
    status = subprocess.run(
        [KOC, "wecom", "status", "--json"], env=cli_env, capture_output=True, text=True
    )
    row = json.loads(status.stdout)
    assert (row["records"], row["waiting"], row["applied_bytes"]) == (10, 0, row["bytes"])
    replay = subprocess.run(
        [KOC, "wecom", "replay", "--json"], env=cli_env, capture_output=True, text=True
    )
    assert replay.returncode == 0, replay.stderr
    report = json.loads(replay.stdout)
    assert (report["pushes"], report["accepted"], report["duplicates"]) == (10, 0, 9)
    with EmbeddedStore(tmp_path / "store.duckdb", read_only=True) as store:
        assert store.stats().events == 8
