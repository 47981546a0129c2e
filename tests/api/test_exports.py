"""Reward exports: CSV and XLSX read back with pandas and openpyxl."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from urllib.parse import quote

import pandas as pd
import pytest
from openpyxl import load_workbook

from api.cli import app as cli
from api.exports import KocExport, neutralise, reward_tier, to_csv, to_xlsx
from api.sheets import WRAP_WIDTH, text_width
from tests.api.conftest import ADMIN

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-10+20", "@SUM(A1)"]
FARMER = "burst-farmer"
START = datetime(2026, 11, 1, 10, 0)
EN_HEADERS = [
    "rank",
    "user id",
    "customer name",
    "staff member",
    "channel",
    "KOC score",
    "reward tier",
    "invites",
    "effective invites",
    "reach",
    "conversions",
    "GMV",
    "community",
    "why",
    "flags",
]
ZH_HEADERS = [
    "排名",
    "用户ID",
    "客户昵称",
    "归属成员",
    "渠道",
    "KOC分数",
    "奖励等级",
    "邀请人数",
    "有效邀请人数",
    "覆盖人数",
    "转化人数",
    "带来GMV",
    "关系圈",
    "入选理由",
    "风控标记",
]
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def campaign() -> list[dict]:
    """Hostile-id referrers with 6..9 invitees, an honest 张三 with 5, and a
    farmer whose 12 invitees join within 6 minutes (flagged: burst). 张三
    came in twice through staff codes (the first join counts), named once;
    its invitees came through another staff member."""
    events, n = [], 0

    def join(referrer: str | None, invitee: str, at: datetime, **more: str) -> None:
        nonlocal n
        n += 1
        events.append(
            {
                "event_id": f"x-{n}",
                "type": "join",
                "inviter_id": referrer,
                "invitee_id": invitee,
                "occurred_at": at.isoformat() + "+08:00",
                **more,
            }
        )

    for i, referrer in enumerate(HOSTILE):
        for j in range(6 + i):
            join(referrer, f"{i}-fan-{j}", START + timedelta(days=j, hours=i))
    join(None, "张三", START - timedelta(days=3), staff_id="王店长", channel="门店海报")
    join(None, "张三", START - timedelta(days=1), staff_id="李导购", channel="朋友圈")
    events[-2]["invitee_name"] = "张小三"
    for j in range(5):
        join("张三", f"zs-fan-{j}", START + timedelta(days=2 * j), staff_id="李导购")
    for j in range(12):
        join(FARMER, f"farm-{j}", START + timedelta(days=3, seconds=30 * j))
    return events


@pytest.fixture
def exporting(make_client):
    client = make_client(empty=True, reward_tiers={"金牌": 60, "银牌": 20})
    assert client.post("/v1/events", json=campaign(), headers=ADMIN).json()["accepted"] == 49
    assert client.post("/v1/analyses", headers=ADMIN).json()["status"] == "succeeded"
    return client


def test_csv_export_in_chinese_with_neutralised_formulas(exporting):
    response = exporting.get(
        "/v1/exports/kocs",
        params={"format": "csv", "lang": "zh", "k": 10, "strategy": "score"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="kocs-' in response.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig", dtype=str)
    assert list(table.columns) == ZH_HEADERS
    ids = table["用户ID"].tolist()
    assert {"'" + h for h in HOSTILE} <= set(ids) and "张三" in ids
    assert not any(i.startswith(("=", "+", "-", "@")) for i in ids)
    assert exporting.get(f"/v1/users/{FARMER}", headers=ADMIN).json()["flagged"]
    assert FARMER not in ids  # flagged, not approved
    assert table["排名"].tolist() == [str(i) for i in range(1, len(ids) + 1)]
    for _, row in table.iterrows():
        assert row["奖励等级"] == reward_tier(float(row["KOC分数"]), {"金牌": 60, "银牌": 20}) or (
            pd.isna(row["奖励等级"]) and float(row["KOC分数"]) < 20
        )
    # 12 days of history: the learned score falls back to the weighted one
    latest = exporting.get("/v1/analyses/latest", headers=ADMIN).json()
    assert latest["score"]["kind"] == "weighted" and latest["score"]["notes"]
    reasons = zip(ids, table["入选理由"], strict=True)
    assert_reasons_name_the_score_parts(exporting, reasons, lang="zh")
    link = response.headers["link"]
    manifest_url = link[link.index("<") + 1 : link.index(">")]
    manifest = exporting.get(manifest_url, headers=ADMIN).json()
    assert manifest["strategy"] == "score" and manifest["k"] == 10 and manifest["lang"] == "zh"
    assert manifest["export"] == "Searchlight KOC 奖励名单" and manifest["headers"] == ZH_HEADERS
    assert manifest["rows"] == len(ids) and manifest["withheld_flagged"] == []
    latest = exporting.get("/v1/analyses/latest", headers=ADMIN).json()
    assert manifest["snapshot_id"] == latest["id"]
    assert manifest["reward_tiers"] == {"金牌": 60, "银牌": 20} and manifest["exported_at"]


def test_xlsx_export_has_a_manifest_sheet_and_approved_users(exporting):
    review = exporting.post(
        f"/v1/flags/{FARMER}/review",
        json={"decision": "approve", "note": "a real flash sale", "reviewer": "ops-li"},
        headers=ADMIN,
    )
    assert review.status_code == 200, review.text
    response = exporting.get(
        "/v1/exports/kocs", params={"format": "xlsx", "k": 10, "strategy": "score"}, headers=ADMIN
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["KOCs", "manifest"]
    rows = list(book["KOCs"].values)
    assert list(rows[0]) == EN_HEADERS
    by_id = {r[1]: r for r in rows[1:]}
    assert FARMER in by_id and "approved on review" in by_id[FARMER][-1]
    assert "burst" in by_id[FARMER][-1]
    for hostile in HOSTILE:
        cell = by_id["'" + hostile]
        assert cell[1] == "'" + hostile
    # no cell anywhere is a formula
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(c.data_type != "f" for c in row)
    about = list(book["manifest"].values)
    assert about[0] == ("manifest key", "manifest value", "what it is")
    manifest = {k: v for k, v, _label in about[1:]}
    assert manifest["strategy"] == "score" and manifest["rows"] == len(rows) - 1
    assert json.loads(manifest["excluded"]) == [] and manifest["lang"] == "en"
    frame = pd.read_excel(io.BytesIO(response.content), sheet_name="KOCs", engine="calamine")
    assert frame["user id"].tolist() == [r[1] for r in rows[1:]]
    why = EN_HEADERS.index("why")
    assert_reasons_name_the_score_parts(exporting, [(r[1], r[why]) for r in rows[1:]])


def test_a_learned_score_export_names_its_largest_contributions(client):
    assert client.get("/v1/analyses/latest", headers=ADMIN).json()["score"]["kind"] == "learned"
    response = client.get(
        "/v1/exports/kocs", params={"format": "xlsx", "k": 8, "strategy": "score"}, headers=ADMIN
    )
    rows = list(load_workbook(io.BytesIO(response.content))["KOCs"].values)
    why = EN_HEADERS.index("why")
    assert rows[0][why] == "why" and len(rows) == 9
    assert_reasons_name_the_score_parts(client, [(r[1], r[why]) for r in rows[1:]])


def assert_reasons_name_the_score_parts(client, rows, lang: str = "en") -> None:
    """Each exported reason opens with the KOC score and the user's two
    largest contributions, as the user page words them (its top reason) in
    the same language; a sharer's (a learned score's pick by its sharing
    score) says so first."""
    head = {"en": "KOC score {score} ({words}); ", "zh": "KOC 分数 {score}（{words}）；"}[lang]
    sharer = {"en": "sharer: expected to bring", "zh": "分享达人："}[lang]
    for shown_id, reason in rows:
        user_id = shown_id[1:] if shown_id[1:] in HOSTILE else shown_id
        user = client.get(
            f"/v1/users/{quote(user_id, safe='')}",
            headers={**ADMIN, **(ZH if lang == "zh" else {})},
        ).json()
        words = user["top_reason"]
        assert words and words.count(" +") == 2 and "baseline" not in words
        expected = head.format(score=f"{user['koc_score']:.1f}", words=words)
        assert reason.startswith(expected) or (reason.startswith(sharer) and expected in reason), (
            reason
        )


def test_export_parameters_are_checked(exporting):
    bad = exporting.get("/v1/exports/kocs?format=pdf", headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "format"
    lang = exporting.get("/v1/exports/kocs?lang=fr", headers=ADMIN)
    assert lang.status_code == 422 and lang.json()["errors"][0]["field"] == "lang"
    share = exporting.get("/v1/exports/kocs?strategy=score&sharers=1.5", headers=ADMIN)
    assert share.status_code == 422 and share.json()["errors"][0]["field"] == "sharers"
    elsewhere = exporting.get("/v1/kocs?strategy=coverage&sharers=0.5", headers=ADMIN)
    assert elsewhere.status_code == 422 and elsewhere.json()["errors"][0]["field"] == "sharers"
    assert "--strategy score" in elsewhere.json()["detail"]


def test_the_sharers_share_reaches_the_picks_and_the_manifest(client):
    query = {"strategy": "score", "k": 10, "sharers": 0.4}
    page = client.get("/v1/kocs", params=query, headers=ADMIN).json()
    assert page["sharers"] == 0.4
    assert [r["picked_as"] for r in page["items"]] == ["tree"] * 6 + ["sharer"] * 4
    export = client.get("/v1/exports/kocs", params=query, headers=ADMIN)
    assert "&sharers=0.4" in export.headers["Link"]
    manifest = client.get("/v1/exports/kocs/manifest", params=query, headers=ADMIN).json()
    assert manifest["sharers"] == 0.4 and manifest["rows"] == 10


def test_neutralise_and_tiers():
    assert neutralise("=1+1") == "'=1+1" and neutralise("\t=x") == "'\t=x"
    assert neutralise("a=b") == "a=b" and neutralise(-5) == -5 and neutralise(None) is None
    tiers = {"B": 50.0, "A": 80.0}
    assert [reward_tier(s, tiers) for s in (90, 80, 79.9, 50, 10)] == ["A", "A", "B", "B", ""]


def test_a_row_with_control_characters_cannot_break_an_export():
    # Stores written before ingest refused them may hold such ids.
    rows = [[neutralise(v) for v in (1, "wm\x00nul", "=cmd\x1b", 80.5)]]
    export = KocExport(["rank", "user", "note", "score"], rows, {"lang": "en", "rows": 1})
    sheet = load_workbook(io.BytesIO(to_xlsx(export)))["KOCs"]
    assert [c.value for c in sheet[2]] == [1, "wm\ufffdnul", "'=cmd\ufffd", 80.5]
    assert "wm\ufffdnul" in to_csv(export).decode("utf-8-sig")


def test_cli_export_writes_the_file_and_its_manifest(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tests.conftest import write_csv

    monkeypatch.setenv("KOC_STORE_URL", str(tmp_path / "s.duckdb"))
    monkeypatch.setenv("KOC_QUARANTINE_DIR", str(tmp_path / "q"))
    rows = [
        [e["event_id"], "join", e["inviter_id"], e["invitee_id"], e["occurred_at"], "", ""]
        for e in campaign()
    ]
    runner = CliRunner()
    runner.invoke(cli, ["ingest", str(write_csv(tmp_path / "e.csv", rows))], catch_exceptions=False)
    runner.invoke(cli, ["analyze", "--json"], catch_exceptions=False)
    out = tmp_path / "out" / "kocs.csv"
    result = runner.invoke(cli, ["export", "--out", str(out), "--k", "5", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    manifest = json.loads((tmp_path / "out" / "kocs.csv.manifest.json").read_text("utf-8"))
    assert manifest["k"] == 5 and manifest["strategy"] == "coverage"
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert len(table) == manifest["rows"] <= 5 and "用户ID" in table.columns
    xlsx = tmp_path / "kocs.xlsx"
    assert runner.invoke(cli, ["export", "--out", str(xlsx)]).exit_code == 0
    assert load_workbook(xlsx).sheetnames == ["KOCs", "manifest"]
    bad = runner.invoke(cli, ["export", "--out", str(tmp_path / "k.pdf")])
    assert bad.exit_code == 1 and "choose one of csv, xlsx" in bad.stderr
    # The score strategy's share of sharers reaches the manifest; elsewhere it is refused.
    by_score = ["export", "--out", str(tmp_path / "s.csv"), "--strategy", "score"]
    assert runner.invoke(cli, [*by_score, "--sharers", "0.5"]).exit_code == 0
    shared = json.loads((tmp_path / "s.csv.manifest.json").read_text("utf-8"))
    assert shared["strategy"] == "score" and shared["sharers"] == 0.5
    refused = runner.invoke(cli, ["export", "--out", str(out), "--sharers", "0.5"])
    assert refused.exit_code == 1 and "--strategy score" in refused.stderr


def test_an_export_names_each_koc_and_the_staff_and_channel_it_came_through(exporting):
    response = exporting.get(
        "/v1/exports/kocs", params={"format": "xlsx", "k": 10, "lang": "zh"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["KOC名单", "导出说明"]
    sheet = book["KOC名单"]
    rows = list(sheet.values)
    assert list(rows[0]) == ZH_HEADERS
    by_id = {r[1]: dict(zip(ZH_HEADERS, r, strict=True)) for r in rows[1:]}
    # 张三's first join (王店长, 门店海报), not its later one nor its invitees' (李导购)
    zs = by_id["张三"]
    assert (zs["客户昵称"], zs["归属成员"], zs["渠道"]) == ("张小三", "王店长", "门店海报")
    # the hostile referrers never joined themselves: nothing known, blank cells
    hostile = by_id["'" + HOSTILE[0]]
    assert hostile["客户昵称"] is hostile["归属成员"] is hostile["渠道"] is None
    # readable: the header row stays, every column fits its longest cell
    # (Chinese counting two) unless it is long text, which wraps
    assert sheet.freeze_panes == "A2" and book["导出说明"].freeze_panes == "A2"
    for i, column in enumerate(zip(*rows, strict=True)):
        width = sheet.column_dimensions[sheet.cell(1, i + 1).column_letter].width
        longest = max(text_width(v) for v in column)
        assert width >= min(longest, WRAP_WIDTH), (rows[0][i], width, longest)
    assert text_width("张小三") == 6
    why = sheet.cell(2, ZH_HEADERS.index("入选理由") + 1)
    assert why.alignment.wrap_text and why.value.startswith("新触达 ")
    about = list(book["导出说明"].values)
    assert about[0] == ("字段名", "内容", "说明")
    labels = {key: label for key, _value, label in about[1:]}
    assert labels["snapshot_id"] == "分析快照" and labels["rows"] == "文件中的 KOC 人数"


def test_an_export_is_in_the_readers_language_unless_lang_says_otherwise(exporting):
    chinese = exporting.get("/v1/exports/kocs", params={"k": 5}, headers={**ADMIN, **ZH})
    table = pd.read_csv(io.BytesIO(chinese.content), encoding="utf-8-sig", dtype=str)
    assert list(table.columns) == ZH_HEADERS and "lang=zh" in chinese.headers["link"]
    english = exporting.get("/v1/exports/kocs", params={"k": 5, "lang": "en"}, headers=ZH | ADMIN)
    table = pd.read_csv(io.BytesIO(english.content), encoding="utf-8-sig", dtype=str)
    assert list(table.columns) == EN_HEADERS
    assert table["why"].str.startswith("lights ").all()
    manifest = exporting.get(
        "/v1/exports/kocs/manifest", params={"k": 5}, headers={**ADMIN, **ZH}
    ).json()
    assert manifest["lang"] == "zh" and manifest["headers"] == ZH_HEADERS
