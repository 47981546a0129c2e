"""The words graph/ and loaders/ put around their results reach people in
their language (issue 16): notes (`loaders.errors.Note`), an analysis's and
a backtest's stages, and where a ranking comes from; English as it was."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.i18n import error_text, note_text, use_lang
from api.i18n.formats import moment
from api.notes import STAGES, score_notes, stage_text
from api.settings import ApiKey, Settings
from graph.analysis.backtest import backtest
from graph.analysis.snapshot import AnalysisParams, analyze
from graph.embedded import EmbeddedStore
from loaders.edges import parse_edges
from loaders.errors import Note, SourceError
from tests.api.conftest import ADMIN_KEY, VIEWER, VIEWER_KEY
from tests.conftest import HEADER, write_csv

ZH = {"Accept-Language": "zh-CN", **VIEWER}
EN = {"Accept-Language": "en-US", **VIEWER}
# 20 joins by one referrer over 20 days: under two 30-day horizons, so the
# learned score falls back to the weighted one with a note.
JOINS = [
    ["", "join", "a", f"b{i}", f"2024-05-{1 + i:02d} 12:00:00", "spring", ""] for i in range(20)
]


@pytest.fixture
def short(tmp_path, koc) -> Path:
    """The store of `koc` holding JOINS (not analysed)."""
    assert koc("ingest", write_csv(tmp_path / "short.csv", JOINS)).exit_code == 0
    return tmp_path / "store.duckdb"


@contextmanager
def served(store: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The API on `store`, as a server started after the CLI wrote it."""
    settings = Settings(
        store_url=str(store),
        quarantine_dir=tmp_path / "quarantine",
        duckdb_memory_limit="512MB",
        analysis_worker=False,
        api_keys=[ApiKey(role="admin", key=ADMIN_KEY), ApiKey(role="viewer", key=VIEWER_KEY)],
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def latest_snapshot(store: Path):
    opened = EmbeddedStore(store, read_only=True)
    try:
        return opened.latest_snapshot()
    finally:
        opened.close()


def test_a_note_is_its_english_text_and_keeps_its_template_through_pickle_and_json():
    note = Note(
        "only {picked} of k={k} picked: no other eligible user adds anything", picked=3, k=9
    )
    assert note == "only 3 of k=9 picked: no other eligible user adds anything"
    assert json.dumps([note]) == json.dumps([str(note)])  # JSON fields unchanged
    # Back from the analysis worker (pickled) and from a saved summary (JSON).
    for back in (
        pickle.loads(pickle.dumps(note)),
        Note.from_json(json.loads(json.dumps(note.to_json()))),
    ):
        assert (back, back.message, back.params) == (note, note.message, note.params)
        with use_lang("zh"):
            assert note_text(back) == "k=9 中只选出了 3 位：其他符合条件的用户已无法带来任何增益"
    with use_lang("en"):
        assert note_text(note) == note
    assert note_text("any other text") == "any other text"


def test_kocs_notes_in_the_cli_and_the_api(campaign, koc, wide, make_client):
    koc("analyze", "--score", "weighted", "--json")
    zh = koc("--lang", "zh", "kocs", "--k", 5000)
    assert zh.exit_code == 0, zh.output
    assert "提示：k=5000 中只选出了 " in zh.stderr
    assert "no other eligible user" not in zh.stderr
    listed = json.loads(koc("--lang", "zh", "kocs", "--k", 5000, "--json").stdout)
    assert listed["notes"][0].startswith("k=5000 中只选出了 ")
    en = koc("kocs", "--k", 5000)
    assert "note: only " in en.stderr and " of k=5000 picked: no other eligible" in en.stderr

    client = make_client()
    chinese = client.get("/v1/kocs", params={"k": 1000}, headers=ZH).json()["notes"]
    english = client.get("/v1/kocs", params={"k": 1000}, headers=EN).json()["notes"]
    assert chinese[0].startswith("k=1000 中只选出了 ") and len(chinese) == len(english)
    assert english[0].startswith("only ") and english[0].endswith(
        " of k=1000 picked: no other eligible user adds anything"
    )


def test_every_analysis_and_backtest_stage_has_chinese(store, ingest, tmp_path):
    ingest(write_csv(tmp_path / "e.csv", JOINS))
    stages: list[str] = []
    analyze(store, AnalysisParams(score="learned"), progress=stages.append)
    stages.append("read")  # the server's own, before the worker analyses
    backtest(
        store,
        datetime.fromisoformat("2024-05-12T00:00:00+00:00"),
        k=2,
        horizon_days=5,
        progress=stages.append,
    )
    assert {"fraud", "pagerank", "learned"} <= set(stages) and set(STAGES) >= {
        s for s in stages if not isinstance(s, Note)
    }
    with use_lang("zh"):
        shown = [stage_text(s) for s in stages]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in shown), shown
    assert "按 coverage 挑选" in shown and "风控筛查" in shown
    with use_lang("en"):
        assert [stage_text(s) for s in stages] == [str(s) for s in stages]  # as they were


def test_analyze_shows_its_stages_and_score_note_in_chinese(short, koc, wide):
    zh = koc("--lang", "zh", "analyze")
    assert zh.exit_code == 0, zh.output
    assert "风控筛查 " in zh.stdout and "划分关系圈 " in zh.stdout
    assert "加权型 — 邀请记录只有 19 天，不足两个 30 天的预测期：改用加权型分数" in zh.stdout
    assert "weighted score is used" not in zh.stdout
    en = koc("analyze")
    assert "fraud " in en.stdout and "communities " in en.stdout
    assert "KOC score: weighted — only 19 days of referrals, under two horizons" in en.stdout


def test_a_saved_snapshot_s_score_note_reads_back_in_chinese(short, koc, tmp_path):
    koc("analyze", "--json")
    saved = latest_snapshot(short).summary["score"]
    # The English stays as it was; the template travels beside it.
    assert saved["notes"] == [
        "only 19 days of referrals, under two horizons of 30 days: the weighted score is used"
    ]
    assert saved["note_messages"][0]["params"] == {"days": 19.0, "horizon_days": 30.0}
    with served(short, tmp_path) as client:
        zh = client.get("/v1/analyses/latest", headers=ZH).json()["score"]["notes"]
        en = client.get("/v1/analyses/latest", headers=EN).json()["score"]["notes"]
    assert zh == ["邀请记录只有 19 天，不足两个 30 天的预测期：改用加权型分数"]
    assert en == saved["notes"]
    # A snapshot saved before the templates shows its notes as saved.
    with use_lang("zh"):
        assert score_notes({"notes": saved["notes"]}) == saved["notes"]


def test_backtest_notes_in_chinese(short, koc, wide):
    args = ("backtest", "--cutoff", "2024-05-12", "--horizon", "6d", "--k", 5)
    zh = koc("--lang", "zh", *args)
    assert zh.exit_code == 0, zh.output
    assert "提示：有邀请记录的用户不足 k=5 位：无法给出随机对照" in zh.stderr
    assert (
        "提示：学习型分数：邀请记录只有 10 天，不足两个 6 天的预测期：改用加权型分数" in zh.stderr
    )
    assert "提示：coverage: k=5 中只选出了 1 位" in zh.stderr
    assert "note" not in zh.stderr
    assert json.loads(koc("--lang", "zh", *args, "--json").stdout)["notes"] == [
        line.removeprefix("提示：") for line in zh.stderr.splitlines() if line.startswith("提示：")
    ]
    en = koc(*args)
    assert "note: fewer than k=5 users with an invite: no random baseline" in en.stderr
    assert "note: coverage: only 1 of k=5 picked" in en.stderr


def test_a_ranking_s_source_in_the_readers_language_and_zone(short, koc, wide, tmp_path):
    koc("analyze", "--campaign", "spring", "--since", "2024-05-01", "--json")
    snapshot = latest_snapshot(short)
    zone = Settings().timezone
    with use_lang("zh"):
        when, since = (
            moment(snapshot.computed_at, zone),
            moment(datetime(2024, 5, 1, tzinfo=ZoneInfo(zone)), zone),
        )
    zh = koc("--lang", "zh", "top", "--by", "reach").stdout
    assert f"快照 {snapshot.id[:8]}，{when}；自 {since} 起；活动：spring" in zh
    assert "UTC" not in zh
    with use_lang("en"):
        when = moment(snapshot.computed_at, zone)
    en = koc("top", "--by", "reach").stdout
    assert f"snapshot {snapshot.id[:8]}, {when}; since " in en and "campaigns spring" in en
    assert "UTC" not in en
    raw = json.loads(koc("top", "--by", "reach", "--json").stdout)["source"]
    assert raw.startswith(f"snapshot {snapshot.id[:8]}, {snapshot.computed_at:%Y-%m-%d %H:%M} UTC")

    late = [["", "join", "x", "y", "2024-06-01 12:00:00", "spring", ""]]
    koc("ingest", write_csv(tmp_path / "late.csv", late))
    with served(short, tmp_path) as client:
        reach = client.get("/v1/referrers/top", params={"by": "reach"}, headers=ZH).json()
        live = client.get("/v1/referrers/top", headers=ZH).json()
        english = client.get("/v1/referrers/top", params={"by": "reach"}, headers=EN).json()
    assert reach["source"].startswith(f"快照 {snapshot.id[:8]}，")
    assert reach["source"].endswith("；另有 1 个较新的导入批次尚未分析")
    assert live["source"] == "实时统计"
    assert english["source"].endswith("; 1 newer ingest batch not analysed yet")


def test_ingest_notes_and_spliced_reasons_in_chinese(tmp_path, koc, wide):
    path = write_csv(tmp_path / "e.csv", [[*JOINS[0], "hi"]], [*HEADER, "备注"])
    zh = koc("--lang", "zh", "ingest", path)
    assert f"提示：{path}：没有事件使用的列，未读取：备注" in zh.stdout
    report = json.loads(koc("--lang", "zh", "ingest", path, "--json").stdout)
    assert report["files"][0]["notes"] == ["没有事件使用的列，未读取：备注"]
    assert "note: " in koc("ingest", path).stdout
    with pytest.raises(SourceError) as bad:
        parse_edges("1 2\n3 x\n5 y\n", name="e.txt")
    assert (
        str(bad.value)
        == "e.txt: line 2: ids must be integers (up to 18 digits), times unix seconds: '3 x' (1 more bad lines)"
    )
    with use_lang("zh"):
        text = error_text(bad.value)
    assert "ID 须为整数（最多 18 位），时间须为 Unix 秒" in text and "（另有 1 行有误）" in text
