"""Errors a person reads, in the request's language: API error details (our
own, the loaders' and graph's, FastAPI's validation) and the reasons of
rejected rows; English stays word for word what it was."""

from __future__ import annotations

import csv
import doctest
import re
from pathlib import Path

import duckdb
import pytest
from pydantic_core._pydantic_core import list_all_errors

import api.i18n.rejections
from api.analysis_worker import _portable
from api.i18n import error_text, use_lang
from api.i18n.rejections import reason_text
from api.i18n.validation import PROBLEMS
from graph.conflicts import conflicts_sql
from loaders.errors import MappingError, SourceError
from loaders.mapping import Mapping
from loaders.pipeline import open_events
from loaders.readers import open_source
from loaders.row_events import Condition
from loaders.source import LINE
from loaders.validate import Validator
from tests.api.conftest import ADMIN, VIEWER

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
CJK = re.compile(r"[\u3400-\u9fff]")
T0 = "2026-03-05T20:00:00+08:00"


def detail(response) -> str:
    body = response.json()
    assert body["detail"] and all(e["problem"] for e in body["errors"])
    return body["detail"]


# -- API errors -----------------------------------------------------------------


def test_an_unknown_user_is_a_404_in_the_readers_language(client):
    zh = client.get("/v1/users/nobody", headers={**VIEWER, **ZH})
    en = client.get("/v1/users/nobody", headers={**VIEWER, **EN})
    assert zh.status_code == en.status_code == 404
    assert detail(en) == "no user 'nobody' in the store"
    assert detail(zh) == "数据库中没有用户 'nobody'"
    assert zh.json()["errors"][0]["problem"] == detail(zh)
    # ?lang= wins over Accept-Language
    assert detail(client.get("/v1/users/nobody?lang=en", headers={**VIEWER, **ZH})) == detail(en)


def test_a_bad_query_parameter_is_a_422_in_the_readers_language(client):
    params = {"limit": "100000"}
    en = client.get("/v1/referrers/top", params=params, headers={**VIEWER, **EN})
    zh = client.get("/v1/referrers/top", params=params, headers={**VIEWER, **ZH})
    assert en.status_code == zh.status_code == 422
    limit = en.json()["errors"][0]
    # English: pydantic's own words, as before
    assert limit["problem"].startswith("Input should be less than or equal to ")
    assert detail(en) == f"invalid request: limit ({limit['problem']})"
    bound = limit["problem"].rsplit(" ", 1)[1]
    assert detail(zh) == f"请求无效：limit（应不大于 {bound}）"
    assert zh.json()["errors"][0] == {**limit, "problem": f"应不大于 {bound}"}


def test_validation_problems_by_type_in_chinese(client):
    headers = {**VIEWER, **ZH}
    cases = {
        "limit=abc": "limit（应为整数，无法把文本解析为整数）",
        "by=fame": "by（应为以下之一：'invites'、",
        "since=yesterday": "since（应为有效的日期时间或日期，",
    }
    for query, expected in cases.items():
        response = client.get(f"/v1/referrers/top?{query}", headers=headers)
        assert response.status_code == 422 and expected in detail(response), query
    two = client.get("/v1/referrers/top?limit=abc&offset=-1", headers=headers)
    assert detail(two).startswith("请求无效：limit（") and "；offset（应不小于 0）" in detail(two)
    missing = client.post("/v1/events/upload", headers={**ADMIN, **ZH})
    assert "file（必填）" in detail(missing)


def test_our_validation_types_are_pydantics():
    """A type pydantic renamed would leave its errors untranslated."""
    assert set(PROBLEMS) <= {e["type"] for e in list_all_errors()}


def test_no_analysis_is_a_409_in_the_readers_language(make_client):
    client = make_client(empty=True)
    zh = client.get("/v1/kocs", headers={**VIEWER, **ZH})
    en = client.get("/v1/kocs", headers={**VIEWER, **EN})
    assert zh.status_code == en.status_code == 409
    assert detail(en).startswith("no analysis yet: run one first")
    assert detail(zh).startswith("还没有分析：请先运行一次")


def test_a_refused_analysis_reads_in_each_pollers_language(make_client):
    client = make_client(empty=True)
    refused = client.post("/v1/analyses", json={}, headers={**ADMIN, **ZH})
    assert refused.status_code == 422
    assert detail(refused).startswith("时间窗口内没有任何推荐或邀请：未做分析")
    job = next(iter(client.app.state.service.jobs))
    en = client.get(f"/v1/analyses/{job}", headers={**VIEWER, **EN}).json()
    zh = client.get(f"/v1/analyses/{job}", headers={**VIEWER, **ZH}).json()
    assert en["error"].startswith("nobody referred or invited anyone in the window: nothing")
    assert zh["error"] == detail(refused)


def test_an_analysis_parameter_error_in_chinese(client):
    response = client.post("/v1/analyses", json={"weights": {"fame": 1.0}}, headers={**ADMIN, **ZH})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "weights"
    assert detail(response).startswith("评分权重含未知信号：fame；已知信号：")


def test_a_body_over_the_limit_is_refused_in_the_readers_language(make_client):
    client = make_client(max_body_bytes=4096)
    zh = client.post("/v1/events", content=b"[" + b" " * 5000 + b"]", headers={**ADMIN, **ZH})
    assert zh.status_code == 413
    assert detail(zh) == "请求体至少 5,002 字节，超过此接口 4,096 字节的上限"


def test_an_unknown_route_and_a_wrong_method_in_chinese(client):
    assert detail(client.get("/v1/nothing", headers=ZH)) == "没有路径 /v1/nothing；请查看 /docs"
    assert detail(client.delete("/v1/kocs", headers={**ADMIN, **ZH})) == "不支持此请求方法"


# -- ingest -------------------------------------------------------------------------


def event(n: int, inviter: str, invitee: str) -> dict:
    return {
        "event_id": f"i18n-{n}",
        "type": "invite",
        "inviter_id": inviter,
        "invitee_id": invitee,
        "occurred_at": T0,
    }


def test_rejected_rows_are_explained_in_the_readers_language(client, tmp_path):
    events = [event(1, "a", "b"), event(2, "a", "a"), {**event(3, "a", "c"), "amount": "12元"}]
    events[2]["type"] = "convert"
    zh = client.post("/v1/events", json=events, headers={**ADMIN, **ZH}).json()
    reasons = {r["line"]: r["reason"] for r in zh["rejections"]}
    assert reasons == {
        2: "inviter_id：自邀（邀请人与被邀请人相同）",
        3: "amount：不是数字 '12元'",
    }
    # the quarantine file is data: it keeps the English
    with open(zh["quarantine"], encoding="utf-8-sig", newline="") as f:
        kept = {int(r["line"]): r["reason"] for r in csv.DictReader(f)}
    assert kept == {
        2: "inviter_id: self-referral (inviter_id equals invitee_id)",
        3: "amount: not a number '12元'",
    }
    again = client.post("/v1/events", json=events, headers={**ADMIN, **EN}).json()
    assert {r["line"]: r["reason"] for r in again["rejections"]} == kept


def test_a_bad_body_is_a_400_in_the_readers_language(client):
    no_invitee = [{"event_id": "x1", "type": "join", "occurred_at": T0}]
    en = client.post("/v1/events", json=no_invitee, headers={**ADMIN, **EN})
    zh = client.post("/v1/events", json=no_invitee, headers={**ADMIN, **ZH})
    assert en.status_code == zh.status_code == 400
    assert detail(en).startswith("api:events: required column(s) missing after mapping: ")
    assert detail(zh).startswith("api:events：映射后仍缺少必需的列：")
    assert "/tmp" not in detail(zh)  # the server's temporary path is named as the client's
    empty = client.post("/v1/events", content=b"", headers={**ADMIN, **ZH})
    assert detail(empty) == "请求体为空：请发送事件的 JSON 数组或 NDJSON 行"


# -- errors from the loaders and the graph --------------------------------------------


def test_a_loaders_error_in_both_languages(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(SourceError) as info:
        open_source(missing)
    assert str(info.value) == f"{missing}: no such file"
    with use_lang("en"):
        assert error_text(info.value) == f"{missing}: no such file"
    with use_lang("zh"):
        assert error_text(info.value) == f"{missing}：文件不存在"


def test_a_nested_error_is_translated_too():
    inner = MappingError("unknown preset {name!r}; presets are: {presets}", name="x", presets="a")
    outer = MappingError("mapping file {path}: {error}", path="m.toml", error=inner)
    assert str(outer) == "mapping file m.toml: unknown preset 'x'; presets are: a"
    with use_lang("zh"):
        assert error_text(outer) == "映射文件 m.toml：未知的预设 'x'；可用预设：a"


def test_a_workers_error_travels_with_its_params():
    error = MappingError("unknown preset {name!r}; presets are: {presets}", name="x", presets="a")
    assert _portable(error) == (error.message, error.params)
    odd = MappingError("{path}: {error}", path="p", error=lambda: None)  # cannot be pickled
    assert _portable(odd) == (str(odd), {})


# -- rejection reasons ----------------------------------------------------------------


def _sql_text(chain: str, params: dict) -> str | None:
    """The text a SQL `||` chain of literals, bound parameters and echoed
    values (`left(…, 60)`) makes, the echoed values as `x`; None when the
    chain holds anything else."""
    out, at = [], 0
    while at < len(chain):
        if chain[at].isspace() or chain.startswith("||", at):
            at += 1 if chain[at].isspace() else 2
        elif chain[at] == "'":
            m = re.compile(r"'((?:[^']|'')*)'").match(chain, at)
            out.append(m.group(1).replace("''", "'"))
            at = m.end()
        elif m := re.compile(r"\$(p\d+)").match(chain, at):
            if not isinstance(params[m.group(1)], str):
                return None
            out.append(params[m.group(1)])
            at = m.end()
        elif chain.startswith("left(", at):
            depth, at = 0, at + 4
            while True:
                depth += {"(": 1, ")": -1}.get(chain[at], 0)
                at += 1
                if depth == 0:
                    break
            out.append("x")
        else:
            return None
    return "".join(out)


def validator_reasons() -> set[str]:
    """Every reason `loaders.validate.Validator` can write (a `positive`
    condition's too), read from its own SQL, with `x` for echoed values."""
    fields = ["event_id", "type", "inviter_id", "invitee_id", "occurred_at", "campaign"]
    fields += ["channel", "staff_id", "amount", "device_id", "ip", "invitee_name", "paid"]
    validator = Validator(
        [*fields, LINE],
        {f: f for f in fields if f != "paid"},
        Mapping(),
        "UTC",
        when=(Condition("paid", positive=True),),
    )
    try:
        sql, params = validator._sql, validator._params
    finally:
        validator.close()
    reasons = set()
    for chain in re.findall(r"THEN\s+(.*?)\s*(?=\bWHEN\b|\bEND\b)", sql, re.DOTALL):
        text = _sql_text(chain, params)
        if text and re.match(r"^[\w()]+: ", text):
            reasons.add(text)
    return reasons


def test_the_reasons_are_read_from_the_validators_sql():
    reasons = validator_reasons()
    assert "type: missing" in reasons and "amount: negative amount 'x'" in reasons
    assert "paid: not a number 'x' (the event is made only when it is above 0)" in reasons
    assert len(reasons) >= 30  # the per-field id and length checks among them


def test_every_reason_the_validator_writes_has_chinese():
    untranslated = []
    for reason in sorted(validator_reasons()):
        with use_lang("en"):
            assert reason_text(reason) == reason
        with use_lang("zh"):
            text = reason_text(reason)
        if text == reason or not CJK.search(text):
            untranslated.append(reason)
    assert not untranslated, "\n".join(untranslated)


def test_every_conflict_reason_has_chinese():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE r AS SELECT 'e1' AS event_id, 'convert' AS type, NULL AS inviter_id, "
        "'u1' AS invitee_id, TIMESTAMPTZ '2026-01-01' AS occurred_at, NULL AS campaign, "
        "NULL AS channel, NULL AS staff_id, 50::DECIMAL(18, 4) AS amount, "
        "NULL AS device_id, NULL AS ip, 7 AS line"
    )
    for origin in ("batch 1, line 2", "line 5 of the same source"):
        con.execute(
            "CREATE OR REPLACE TABLE s AS SELECT * REPLACE (10::DECIMAL(18, 4) AS amount, "
            f"'u2' AS invitee_id), '{origin}' AS origin FROM r"
        )
        reason = con.sql(conflicts_sql("r", "s")).fetchall()[0][2]
        with use_lang("zh"):
            text = reason_text(reason)
        assert text.startswith("event_id：'e1' 已") and "invitee_id, amount 不同" in text


def test_joined_reasons_and_events_in_chinese():
    reason = "invitee_id: missing; amount: not a number 'a; b'; type: missing [convert event]"
    with use_lang("zh"):
        assert (
            reason_text(reason)
            == "invitee_id：缺失；amount：不是数字 'a; b'；type：缺失（convert 事件）"
        )
    with use_lang("en"):
        assert reason_text(reason) == reason


def test_a_reason_not_known_whole_stays_english():
    for reason in ("", "invitee_id: missing; something new", "amount: not a number"):
        with use_lang("zh"):
            assert reason_text(reason) == reason


def test_the_rejections_doctest_holds():
    assert doctest.testmod(api.i18n.rejections).failed == 0


class Collect:
    """A quarantine part that keeps rejected rows in memory."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write(self, table) -> None:
        self.rows.extend(table.to_pylist())


def test_unreadable_rows_are_explained_in_chinese(tmp_path):
    path = Path(tmp_path / "rows.csv")
    path.write_text("type,invitee_id,occurred_at\njoin,u1,2026-01-01,extra\n", encoding="utf-8")
    rejected = Collect()
    for _batch in open_events(path, None, "UTC", tolerant=True).batches(rejected):
        pass
    [row] = rejected.rows
    assert row["reason"] == "(row): row has 4 fields, the header has 3"
    with use_lang("zh"):
        assert reason_text(row["reason"]) == "(row)：该行有 4 个字段，表头有 3 个"
