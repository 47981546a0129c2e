"""GET /v1/dashboard/export: each table of the dashboard as CSV and XLSX, in
Chinese and English, its cells those of the JSON and neutralised."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from openpyxl import load_workbook

from tests.api.conftest import ADMIN, VIEWER

RANGE = {"since": "2026-04-01", "until": "2026-04-20"}
ZH = {**VIEWER, "Accept-Language": "zh-CN,zh;q=0.9"}


def download(client, headers=VIEWER, **params):
    answer = client.get("/v1/dashboard/export", params=RANGE | params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def csv_rows(answer) -> list[list[str]]:
    assert answer.content.startswith(codecs.BOM_UTF8)
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def sheet(answer):
    book = load_workbook(io.BytesIO(answer.content))
    assert len(book.worksheets) == 1
    return book.worksheets[0]


def board(client, **params):
    return client.get("/v1/dashboard", params=RANGE | params, headers=VIEWER).json()


def test_the_daily_csv_in_english_is_the_json_series(client):
    answer = download(client, table="daily")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="dashboard-daily-2026-04-01-2026-04-20.csv"'
    )
    header, *rows = csv_rows(answer)
    assert header == [
        "day",
        "new joins",
        "referred joins",
        "churned",
        "convert events",
        "GMV (CNY)",
    ]
    daily = board(client)["daily"]
    assert len(rows) == len(daily) == 20
    assert rows == [
        [d["day"], str(d["joins"]), str(d["referred_joins"]), str(d["churned"]),
         str(d["conversions"]), str(d["gmv"])]
        for d in daily
    ]  # fmt: skip


def test_the_kpi_csv_in_chinese_names_the_kpis_as_operators_do(client):
    header, *rows = csv_rows(download(client, headers=ZH, table="kpis"))
    assert header == ["指标", "区间合计", "最后一天", "前一天"]
    names = [r[0] for r in rows]
    assert names == ["新增", "其中裂变新增", "裂变率", "流失", "净增", "转化", "转化率"] + [
        "GMV（元）",
        "活跃分享人数",
    ]
    kpis = board(client)["kpis"]
    assert rows[0][1:] == [str(kpis["joins"][p]) for p in ("total", "day", "previous_day")]
    assert float(rows[7][1]) == pytest.approx(kpis["gmv"]["total"])


def test_the_channel_xlsx_in_chinese(client):
    answer = download(client, headers=ZH, table="channels", format="xlsx")
    assert answer.headers["content-disposition"].endswith('-2026-04-20.xlsx"')
    ws = sheet(answer)
    assert ws.title == "渠道活码排行" and ws.freeze_panes == "A2"
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    assert values[0] == ["渠道活码", "新增人数", "下游覆盖人数", "下游带来GMV（元）"] + [
        "其中KOC数",
        "风控标记占比",
    ]
    expected = [
        [c["channel"], c["users"], c["reach"], c["tree_gmv"], c["kocs"], c["flagged_share"]]
        for c in board(client)["channels"]
    ]
    assert values[1:] == expected and expected
    # as wide as the header: seven characters two wide and three one wide
    assert ws.column_dimensions["D"].width >= 7 * 2 + 3


def test_the_staff_funnel_and_kocs_tables_in_english(client):
    staff = [list(r) for r in sheet(download(client, table="staff", format="xlsx")).values]
    assert staff[0][0] == "staff member"
    assert [r[0] for r in staff[1:]] == [s["staff_id"] for s in board(client)["staff"]]
    header, *rows = csv_rows(download(client, table="funnel"))
    assert header == ["tier", "users joined", "converted users"]
    assert rows == [[str(t["tier"]), str(t["users"]), str(t["converted"])] for t in board(client)["funnel"]]  # fmt: skip
    ws = sheet(download(client, table="kocs", format="xlsx", k="3"))
    top = board(client, k="3")["top_kocs"]
    values = list(ws.values)
    assert values[0] == ("user id", "customer name", "KOC score", "invites") + (
        "reach (users downstream)",
        "GMV in their trees (CNY)",
    )
    assert [r[0] for r in values[1:]] == [t["user_id"] for t in top] and len(top) == 3
    assert ws.title == "top KOCs"


def test_hostile_cells_are_neutralised_and_a_missing_key_named(client):
    events = [
        {
            "event_id": f"x-{i}",
            "type": "join",
            "inviter_id": "x-inviter",
            "invitee_id": f"x-{i}",
            "occurred_at": "2026-04-10T12:00:00+08:00",
            "channel": channel,
        }
        for i, channel in enumerate(['=HYPERLINK("http://x")', "@SUM(A1)", None])
    ]
    assert client.post("/v1/events", json=events, headers=ADMIN).status_code == 200
    header, *rows = csv_rows(download(client, table="channels"))
    keys = [r[0] for r in rows]
    assert '\'=HYPERLINK("http://x")' in keys and "'@SUM(A1)" in keys
    assert "(no channel code)" in keys
    _, *zh_rows = csv_rows(download(client, headers=ZH, table="channels"))
    assert "（无渠道活码）" in [r[0] for r in zh_rows]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"table": "users"}, 422, "table"),
        ({"table": "kpis", "format": "pdf"}, 422, "format"),
        ({"table": "kpis", "since": "2026-4-1"}, 422, "since"),
        ({"table": "kpis", "campaign": "nope"}, 404, "campaign"),
    ],
)
def test_bad_exports_are_refused(client, params, status, field):
    answer = client.get("/v1/dashboard/export", params=params, headers=VIEWER)
    assert answer.status_code == status, answer.text
    assert answer.json()["errors"][0]["field"] == field
