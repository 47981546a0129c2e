"""`koc` in Chinese and English: `--lang` before the command, else KOC_LANG;
tables, messages, errors and `--help` (docs/i18n.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from api.cli_main import lang_option
from tests.conftest import write_csv

T0 = "2024-05-01 12:00:00"
CJK = re.compile(r"[\u3400-\u9fff]")
# An English word in a header; names that read the same in Chinese aside.
ENGLISH_WORD = re.compile(r"[A-Za-z]{4,}")
SAME_IN_BOTH = {"PageRank"}
KOC = Path(sys.executable).with_name("koc")


def headers(output: str) -> list[str]:
    """The header cells of every table in `output` (the ┃ rows above ┡)."""
    lines = output.splitlines()
    cells: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("┏"):
            for row in lines[i + 1 :]:
                if row.startswith("┡"):
                    break
                cells += [cell.strip() for cell in row.strip().strip("┃").split("┃")]
    return [c for c in cells if c]


def english_words(texts: list[str]) -> set[str]:
    return {w for t in texts for w in ENGLISH_WORD.findall(t)} - SAME_IN_BOTH


def zh_table(koc, *args) -> tuple[str, list[str]]:
    """`koc --lang zh ARGS`: its output and its tables' headers, which must be
    Chinese only."""
    result = koc("--lang", "zh", *args)
    assert result.exit_code == 0, result.output
    cells = headers(result.stdout)
    assert cells, result.stdout
    assert not english_words(cells), (args, cells)
    assert all(CJK.search(c) or c in ("KOC", "GMV") for c in cells), (args, cells)
    return result.stdout, cells


def test_ingest_and_stats_print_chinese(tmp_path, koc, wide):
    path = write_csv(
        tmp_path / "e.csv",
        [["", "join", "a", "b", T0, "spring", ""], ["", "join", "a", "a", T0, "", ""]],
    )
    text, cells = zh_table(koc, "ingest", path)
    assert {"文件", "已入库", "已拒收"} <= set(cells)
    assert "1 行及其原因已写入" in text and "存储：" in text

    stats = koc("--lang", "zh", "stats").stdout
    for label in ("用户数", "事件数", "归因邀请关系", "活动", "最早事件"):
        assert label in stats, stats
    # times in the deployment's zone, as Chinese writes them; no raw ISO
    assert "2024年5月1日 12:00" in stats and "2024-05-01" not in stats
    # JSON stays English keys and raw values in either language
    raw = json.loads(koc("--lang", "zh", "stats", "--json").stdout)
    assert raw["users"] == 2 and raw["events"] == 1


def test_analyze_top_kocs_and_flags_print_chinese(campaign, koc, wide):
    text, _cells = zh_table(koc, "analyze")
    assert "快照" in text and "关系圈" in text and "KOC 分数：" in text
    text, cells = zh_table(koc, "top")
    assert "邀请人排行榜" in text and "排名" in cells
    text, _cells = zh_table(koc, "top", "--by", "gmv", "--limit", 3)
    assert "¥" in text
    text, _cells = zh_table(koc, "kocs", "--k", 3)
    assert "位 KOC" in text
    text, cells = zh_table(koc, "flags", "--limit", 3)
    assert "风控标记用户" in text and "复核状态" in cells and "待复核" in text


def test_english_when_asked_and_the_language_is_the_runs_only(campaign, koc, wide):
    koc("analyze", "--json")
    zh = koc("--lang", "zh", "top", "--limit", 3)
    assert "排名" in headers(zh.stdout)
    # the next run, without --lang, is in KOC_LANG's language again (en here)
    for result in (koc("top", "--limit", 3), koc("--lang", "en", "top", "--limit", 3)):
        cells = headers(result.stdout)
        assert {"rank", "user", "invites"} <= set(cells), cells
        assert not any(CJK.search(c) for c in cells)
        assert "top referrers by invites" in result.stdout
    kocs = koc("--lang", "en", "kocs", "--k", 3).stdout
    assert {"rank", "user", "KOC score", "why"} <= set(headers(kocs)) and "3 KOCs by" in kocs


def test_an_unknown_language_is_a_clear_error(koc):
    result = koc("--lang", "xx", "stats")
    assert result.exit_code == 1
    assert "--lang 'xx': choose one of zh, en" in result.stderr


def test_errors_are_in_the_chosen_language(tmp_path, koc):
    missing = koc("--lang", "zh", "stats", "--store", tmp_path / "none.duckdb")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("错误：") and "no store at" not in missing.stderr
    assert CJK.search(missing.stderr.removeprefix("错误："))
    path = write_csv(tmp_path / "e.csv", [["", "join", "a", "b", T0, "", ""]])
    bad_map = koc("--lang", "zh", "ingest", path, "--map", "invitee_id")
    assert bad_map.exit_code == 1 and bad_map.stderr.startswith("错误：")
    assert "not of the form" not in bad_map.stderr and "invitee_id" in bad_map.stderr
    mine = koc("--lang", "zh", "analyze", "--since", "yesterday")
    assert "'yesterday' 不是日期" in mine.stderr
    assert "not a date" in koc("--lang", "en", "analyze", "--since", "yesterday").stderr


def test_the_run_language_is_read_before_the_command_only():
    assert lang_option(["--lang", "en", "stats"]) == "en"
    assert lang_option(["--lang=zh", "top", "--by", "reach"]) == "zh"
    assert lang_option(["--help", "--lang", "zh"]) == "zh"
    # a command's own --lang (koc export) is not the run's
    assert lang_option(["export", "--out", "k.csv", "--lang", "zh"]) is None
    assert lang_option([]) is None and lang_option(["--lang"]) is None


def _help(*args: str, lang: str) -> str:
    env = {**os.environ, "KOC_LANG": lang, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [KOC, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_is_in_the_language_of_koc_lang_or_lang():
    """The installed `koc` (pyproject's entry point): help texts are built
    when the commands are imported, in the language read first."""
    zh = _help("--help", lang="zh")
    assert "将事件文件导入存储" in zh and "命令" in zh and "用法" in zh
    assert "Load event files" not in zh and "Commands" not in zh
    ingest = _help("--lang", "zh", "ingest", "--help", lang="en")
    assert "CSV、XLSX、JSONL 或 Parquet 文件" in ingest and "显示本帮助并退出" in ingest
    assert "不显示进度条" in ingest and "选项" in ingest
    assert "no progress bar" not in ingest and "Show this message" not in ingest
    en = _help("--lang", "en", "--help", lang="zh")
    assert "Load event files into the store." in en and "将事件文件导入存储" not in en


def test_export_is_in_the_runs_language_unless_told(campaign, koc, tmp_path):
    koc("analyze", "--json")
    zh, en, told = tmp_path / "zh.csv", tmp_path / "en.csv", tmp_path / "told.csv"
    assert koc("--lang", "zh", "export", "--out", zh, "--k", 3).exit_code == 0
    assert koc("--lang", "en", "export", "--out", en, "--k", 3).exit_code == 0
    assert koc("--lang", "zh", "export", "--out", told, "--k", 3, "--lang", "en").exit_code == 0
    assert "排名" in zh.read_text("utf-8-sig").splitlines()[0]
    assert en.read_text("utf-8-sig").splitlines()[0].startswith("rank,")
    assert told.read_text("utf-8-sig").splitlines()[0].startswith("rank,")


def test_tables_show_each_users_name_above_its_id(campaign, koc, wide, tmp_path):
    """Operators know customers by their nickname: every table that lists
    users shows the store's latest name, with the id beneath it."""
    from graph.embedded import EmbeddedStore

    analysed = json.loads(koc("analyze", "--json").stdout)
    top = [r["id"] for r in json.loads(koc("top", "--limit", 8, "--json").stdout)["rows"]]
    picks = [r["user_id"] for r in json.loads(koc("kocs", "--k", 5, "--json").stdout)["rows"]]
    flagged = [
        u["user_id"] for u in json.loads(koc("flags", "--limit", 5, "--json").stdout)["users"]
    ]
    with EmbeddedStore(tmp_path / "store.duckdb", read_only=True) as store:
        names = store.user_names(top + picks + flagged + [r["id"] for r in analysed["top_kocs"]])
    assert names, "the realistic campaign names its users"
    for args, ids in (
        (("top", "--limit", 8), top),
        (("kocs", "--k", 5), picks),
        (("flags", "--limit", 5), flagged),
    ):
        lines = koc("--lang", "zh", *args).stdout.splitlines()
        for user in ids:
            at = next(i for i, line in enumerate(lines) if user in line)
            if user in names:
                assert names[user] in lines[at - 1], (args, user, lines[at - 1])
            else:
                assert f" {user} " in lines[at]
