"""Reasons in words (api/reasons.py) in Chinese and English: why a KOC was
picked, the KOC score's parts, and why a fraud rule flagged a user."""

from __future__ import annotations

import doctest
import json
import re
from datetime import datetime, timedelta

import numpy as np
import pytest

import api.exports
import api.reasons
import api.sheets
from api.i18n import use_lang
from api.reasons import (
    RULE_LABELS,
    flag_reason,
    koc_reason,
    part_label,
    rule_label,
    score_reason,
    shown_reason,
)
from graph.analysis.fraud import RULES, FraudRules, screen_fraud
from graph.analysis.kocs import KocRow
from graph.analysis.snapshot_tables import SCORE_PARTS
from tests.api.conftest import ADMIN, VIEWER

CJK = re.compile(r"[\u3400-\u9fff]")
# The only Latin words a Chinese reason may hold.
KEPT_WORDS = {"KOC", "GMV", "PageRank"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}
MINUTE = 60_000_000
RULE_ZH = {
    "burst": "短时集中加入",
    "burst_invitee": "集中加入的被邀请人",
    "shared_device": "共用设备",
    "dead_invitees": "被邀请人无行为且流失",
    "dead_invitee": "无行为且流失的被邀请人",
    "ring": "邀请闭环",
    "chain": "单线邀请链",
}


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", text))


def numbers(text: str) -> list[str]:
    return sorted(re.findall(r"\d[\d,.]*\d|\d", text))


def row(**facts) -> KocRow:
    base = dict(
        rank=1,
        user_id="u",
        gain=716.6,
        coverage_share=0.1,
        lit_share=0.1,
        communities=[3],
        new_by_hop=[1, 3, 1],
        communities_lit=1,
        score_parts=[("pagerank", 20.1), ("reach", 13.7)],
        koc_score_exact=87.06,
        koc_score=87.06,
        invites=1204,
        effective_invites=1100,
        reach=2000,
        conversions=7,
        gmv=100.0,
        community=3,
    )
    return KocRow(**{**base, **facts})


def test_the_doctests_hold():
    assert doctest.testmod(api.reasons).failed == 0
    assert doctest.testmod(api.exports).failed == 0
    assert doctest.testmod(api.sheets).failed == 0


def test_a_pick_reads_the_same_facts_in_english_and_chinese():
    pick = row()
    with use_lang("en"):
        assert koc_reason(pick, "coverage") == (
            "lights 5 new users (3 at 1 hop, 1 at 2 hops) in 1 community; "
            "1,204 invites, reach 2,000, 7 conversions"
        )
        assert koc_reason(pick, "influence") == (
            "adds ~717 expected users to the cascade; 1,204 invites, reach 2,000, 7 conversions"
        )
        assert koc_reason(pick, "score").startswith(
            "KOC score 87.1 (pagerank +20.1, reach +13.7); 1,204 invites"
        )
        spilled = shown_reason(row(quota_spill=True, communities_lit=2), "coverage")
        assert spilled.endswith(
            " in 2 communities; 1,204 invites, reach 2,000, 7 conversions [quota spill]"
        )
        assert koc_reason(row(score_parts=[]), "score").startswith("KOC score 87.1; ")
    with use_lang("zh"):
        assert koc_reason(pick, "coverage") == (
            "新触达 5 人（第 1 层 3 人、第 2 层 1 人），分布在 1 个关系圈；"
            "邀请 1,204 人，覆盖 2,000 人，转化 7 人"
        )
        assert koc_reason(pick, "influence") == (
            "预计为裂变带来约 717 位新用户；邀请 1,204 人，覆盖 2,000 人，转化 7 人"
        )
        assert koc_reason(pick, "score").startswith(
            "KOC 分数 87.1（PageRank 影响力 +20.1、覆盖人数 +13.7）；邀请 1,204 人"
        )
        assert shown_reason(row(quota_spill=True), "coverage").endswith("（关系圈名额用尽后补选）")


def test_every_score_part_and_rule_has_an_operators_name():
    for part in SCORE_PARTS:
        with use_lang("en"):
            assert part_label(part) == part  # the reasons' English names the part itself
        with use_lang("zh"):
            assert CJK.search(part_label(part)) and words(part_label(part)) <= KEPT_WORDS, part
    assert set(RULE_LABELS) == set(RULES)
    for rule in RULES:
        with use_lang("zh"):
            assert CJK.search(rule_label(rule)) and not words(rule_label(rule)), rule
    with use_lang("zh"):
        assert score_reason([("reach", 20.0), ("gmv", 3.25)]) == "覆盖人数 +20.0、带来的 GMV +3.2"
        assert part_label("a_future_part") == "a_future_part"


def screen(parent, *, at=None, ties=((), ()), churned=None, devices=((), ()), **rules):
    n = len(parent)
    at = np.arange(n) * 1000 * MINUTE if at is None else np.asarray(at, np.int64)

    def ints(values) -> np.ndarray:
        return np.asarray(values, np.int64)

    return screen_fraud(
        ints(parent),
        at,
        ints(ties[0]),
        ints(ties[1]),
        np.zeros(n, bool),
        np.zeros(n, bool) if churned is None else np.asarray(churned, bool),
        ints(devices[0]),
        ints(devices[1]),
        FraudRules(**rules),
    )


def every_kind_of_flag() -> list:
    """Flags of every rule (and both kinds of shared_device), from hand-built
    graphs like those of tests/graph/analysis/test_fraud.py."""
    burst = screen(
        [-1, 0, 0, 0, 0, 0, 0],
        at=np.array([0, 1, 2, 3, 4, 5, 1440]) * MINUTE,
        burst_joins=5,
        burst_minutes=4,
    )
    devices = screen(
        [-1, 0, 0, 0, -1, 4],
        devices=([1, 2, 3, 4, 5, 0], [7, 7, 7, 9, 9, 8]),
        device_users=3,
        min_invitees=3,
        device_share=1.0,
    )
    dead = screen([-1] + [0] * 8 + [1], churned=[False] + [True] * 5 + [False] * 4)
    ring = screen([-1, 0, 0, 0, 0, -1, 5, 6], ties=([1, 2, 3, 4, 7], [2, 3, 4, 1, 5]))
    chain = screen([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, -1, 10, 10], chain_length=9)
    return [f for s in (burst, devices, dead, ring, chain) for f in s.flags]


def test_every_rule_says_why_in_english_and_chinese():
    flags = every_kind_of_flag()
    assert {f.rule for f in flags} == set(RULES)
    shared = [f for f in flags if f.rule == "shared_device"]
    assert {"on_shared_devices" in f.evidence for f in shared} == {True, False}
    assert any(f.evidence.get("shared_with_referrer") for f in shared)
    for f in flags:
        evidence = json.loads(json.dumps(f.evidence))  # as the snapshot keeps it
        with use_lang("en"):
            assert flag_reason(f.rule, evidence, "stored") == f.reason
        with use_lang("zh"):
            zh = flag_reason(f.rule, evidence, "stored")
            assert CJK.search(zh) and not words(zh), zh
            assert numbers(zh) == numbers(f.reason), (zh, f.reason)


def test_a_flag_without_the_evidence_its_words_need_keeps_its_stored_reason():
    with use_lang("zh"):
        assert flag_reason("burst", {"joins": 12}, "12 joins in a minute") == "12 joins in a minute"
        assert flag_reason("shared_device", {"devices": []}, "by hand") == "by hand"
        assert flag_reason("a_new_rule", {"x": 1}, "flagged by hand") == "flagged by hand"
        assert flag_reason("chain", [1, 2], "old") == "old"


def test_koc_lists_from_a_small_graph_in_both_languages(make_client):
    client = make_client(empty=True)
    start, events = datetime(2026, 5, 1, 9), []
    tree = {"A": ["a1", "a2", "a3", "a4"], "a1": ["b1", "b2"], "B": ["c1", "c2", "c3"]}
    tree |= {"C": ["d1", "d2"], "c1": ["e1"]}
    for referrer, invitees in tree.items():
        for invitee in invitees:
            events.append(
                {
                    "event_id": f"j-{len(events)}",
                    "type": "join",
                    "inviter_id": referrer,
                    "invitee_id": invitee,
                    "occurred_at": (start + timedelta(days=len(events))).isoformat() + "+08:00",
                }
            )
    events.append(
        {
            "event_id": "buy-1",
            "type": "convert",
            "invitee_id": "a2",
            "amount": "88.50",
            "occurred_at": (start + timedelta(days=30)).isoformat() + "+08:00",
        }
    )
    assert client.post("/v1/events", json=events, headers=ADMIN).json()["accepted"] == len(events)
    done = client.post("/v1/analyses", json={"score": "weighted"}, headers=ADMIN).json()
    assert done["status"] == "succeeded", done
    for strategy in ("coverage", "influence", "score"):
        url = f"/v1/kocs?k=3&strategy={strategy}"
        english = client.get(url, headers={**VIEWER, **EN}).json()["items"]
        chinese = client.get(url, headers={**VIEWER, **ZH}).json()["items"]
        assert [r["user_id"] for r in english] == [r["user_id"] for r in chinese]
        assert english and "new_by_hop" in english[0] and "score_parts" in english[0]
        for en, zh in zip(english, chinese, strict=True):
            assert CJK.search(zh["reason"]) and words(zh["reason"]) <= KEPT_WORDS, zh["reason"]
            assert not CJK.search(en["reason"]), en["reason"]
            assert numbers(zh["reason"]) == numbers(en["reason"])
            opening = {"coverage": "lights ", "influence": "adds ~", "score": "KOC score "}
            assert en["reason"].startswith(opening[strategy])
    pick = client.get("/v1/kocs?k=1&strategy=score", headers={**VIEWER, **ZH}).json()["items"][0]
    user = client.get(f"/v1/users/{pick['user_id']}", headers={**VIEWER, **ZH}).json()
    assert pick["reason"].startswith(f"KOC 分数 {user['koc_score']:.1f}（{user['top_reason']}）；")


@pytest.fixture
def flagged_client(client):
    queue = client.get("/v1/flags?limit=5", headers=VIEWER).json()["items"]
    assert queue
    return client, queue


def test_the_review_queue_and_user_pages_say_why_in_the_readers_language(flagged_client):
    client, english = flagged_client
    chinese = client.get("/v1/flags?limit=5", headers={**VIEWER, **ZH}).json()["items"]
    assert [u["user_id"] for u in chinese] == [u["user_id"] for u in english]
    for en, zh in zip(english, chinese, strict=True):
        for f_en, f_zh in zip(en["flags"], zh["flags"], strict=True):
            assert f_en["evidence"] == f_zh["evidence"] and not CJK.search(f_en["reason"])
            assert CJK.search(f_zh["reason"]), f_zh
            assert f_en["label"] == f_en["rule"] and f_zh["label"] == RULE_ZH[f_zh["rule"]]
    first = chinese[0]["user_id"]
    page = client.get(f"/v1/users/{first}", headers={**VIEWER, **ZH}).json()
    assert [f["reason"] for f in page["flags"]] == [f["reason"] for f in chinese[0]["flags"]]


def test_the_cli_says_why_in_the_runs_language(campaign, koc):
    assert koc("analyze", "--json").exit_code == 0
    listing = json.loads(koc("--lang", "zh", "kocs", "--k", "3", "--json").stdout)
    assert all(
        CJK.search(r["reason"]) and words(r["reason"]) <= KEPT_WORDS for r in listing["rows"]
    )
    queue = json.loads(koc("--lang", "zh", "flags", "--json").stdout)
    reasons = [f["reason"] for u in queue["users"] for f in u["flags"]]
    assert reasons and all(CJK.search(r) for r in reasons)
    english = json.loads(koc("--lang", "en", "kocs", "--k", "3", "--json").stdout)
    assert all(r["reason"].startswith("lights ") for r in english["rows"])
