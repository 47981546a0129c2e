"""`koc ingest --preset` and the upload API's `preset`."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.settings import Settings
from loaders.presets import preset_names
from tests.conftest import write_csv

HEADER = [
    "客户名称",
    "外部联系人ID",
    "添加人",
    "添加时间",
    "添加渠道",
    "流失状态",
    "删除时间",
    "标签",
]
ROWS = [
    ["小红", "wmA", "zhangsan", "2024-05-01 10:00", "poster", "未流失", "", "vip"],
    ["小明", "wmB", "lisi", "2024-05-02 10:00", "card", "已流失", "2024-05-06 09:30", ""],
]


def test_help_lists_every_preset():
    result = CliRunner().invoke(app, ["ingest", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--preset" in result.stdout
    for name in preset_names():
        assert name in result.stdout


def test_ingest_with_a_preset_reports_events_skips_and_notes(tmp_path, koc):
    path = write_csv(tmp_path / "wecom.csv", ROWS, HEADER)
    report = json.loads(koc("ingest", path, "--preset", "wecom-customers", "--json").stdout)
    assert {k: report[k] for k in ("read", "events", "skipped", "accepted", "rejected")} == {
        "read": 2,
        "events": 3,
        "skipped": 1,
        "accepted": 3,
        "rejected": 0,
    }
    assert report["files"][0]["notes"] == ["columns the mapping knows and does not use: 标签"]
    # --campaign still applies on top of the preset, and the table shows the notes
    other = write_csv(
        tmp_path / "wecom2.csv", [["小刚", "wmC", "lisi", "2024-05-03", "", "", "", ""]], HEADER
    )
    table = koc("ingest", other, "--preset", "wecom-customers", "--campaign", "spring")
    assert table.exit_code == 0
    assert "note: " in table.stdout and "标签" in table.stdout
    assert "┃ events ┃" in table.stdout  # rows made other than one event each: the columns show


def test_bad_presets_are_clear_errors(tmp_path, koc):
    path = write_csv(tmp_path / "wecom.csv", ROWS, HEADER)
    unknown = koc("ingest", path, "--preset", "nope")
    assert unknown.exit_code != 0
    assert "unknown preset 'nope'; presets are: " + ", ".join(preset_names()) in unknown.output
    mapping = tmp_path / "m.toml"
    mapping.write_text('[defaults]\ntype = "join"\n', encoding="utf-8")
    both = koc("ingest", path, "--preset", "wecom-customers", "--mapping", mapping)
    assert both.exit_code != 0 and "give --preset or --mapping, not both" in both.output
    wrong = koc("ingest", path, "--preset", "linkwechat-customers")
    assert (
        wrong.exit_code != 0
        and "'unionid' (mapped to invitee_id) is not in the file" in wrong.output
    )


def test_upload_with_a_preset(tmp_path):
    settings = Settings(store_url=str(tmp_path / "s.duckdb"), quarantine_dir=tmp_path / "q")
    body = "\n".join(",".join(r) for r in [HEADER, *ROWS]).encode("utf-8")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ok = client.post(
            "/v1/events/upload?preset=wecom-customers", files={"file": ("wecom.csv", body)}
        )
        assert ok.status_code == 200, ok.text
        report = ok.json()
        assert (report["read"], report["events"], report["skipped"], report["accepted"]) == (
            2,
            3,
            1,
            3,
        )
        assert report["notes"] == ["columns the mapping knows and does not use: 标签"]
        bad = client.post("/v1/events/upload?preset=nope", files={"file": ("wecom.csv", body)})
        assert bad.status_code == 400
        assert "presets are: " + ", ".join(preset_names()) in bad.json()["detail"]
        assert bad.json()["errors"][0]["field"] == "preset"
        both = client.post(
            "/v1/events/upload?preset=wecom-customers",
            files={
                "file": ("wecom.csv", body),
                "mapping": ("m.toml", b'[defaults]\ntype = "join"\n'),
            },
        )
        assert both.status_code == 400 and "not both" in both.json()["detail"]
        again = client.post(
            "/v1/events/upload?preset=wecom-customers", files={"file": ("wecom.csv", body)}
        )
        assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 3)
