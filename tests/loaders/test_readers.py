from __future__ import annotations

import codecs
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loaders.errors import MappingError, SourceError
from loaders.mapping import Mapping, load_mapping_file, mapping_from_options
from loaders.pipeline import open_events
from loaders.readers import detect_encoding, open_source
from tests.conftest import HEADER, write_csv
from tests.loaders.test_validate import Collect

SCRM_HEADER = ["邀请人ID", "客户ID", "添加时间", "事件", "活动名称"]
SCRM_MAPPING = Mapping(
    columns={
        "inviter_id": "邀请人ID",
        "invitee_id": "客户ID",
        "occurred_at": "添加时间",
        "type": "事件",
        "campaign": "活动名称",
    },
    types={"添加": "join", "流失": "churn"},
)


def read_all(path: Path, mapping: Mapping | None = None) -> tuple[list[dict], list[dict]]:
    stream = open_events(path, mapping)
    rejected = Collect()
    accepted = [r for t in stream.batches(rejected) for r in t.to_pylist()]
    return accepted, rejected.rows


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_encodings_are_detected_and_chinese_headers_mapped(tmp_path, encoding):
    rows = [
        ["007", "0012345678901234567890", "2024/5/1 9:05", "添加", "春季邀请有礼"],
        ["", "0012345678901234567890", "2024-05-09 10:00:00", "流失", "春季邀请有礼"],
    ]
    path = write_csv(tmp_path / "scrm.csv", rows, SCRM_HEADER, encoding=encoding)
    accepted, rejected = read_all(path, SCRM_MAPPING)
    assert rejected == []
    assert [(r["type"], r["inviter_id"], r["invitee_id"], r["campaign"]) for r in accepted] == [
        ("join", "007", "0012345678901234567890", "春季邀请有礼"),
        ("churn", None, "0012345678901234567890", "春季邀请有礼"),
    ]


def test_detect_encoding():
    assert detect_encoding(codecs.BOM_UTF8 + "客户".encode()) == "utf-8"
    assert detect_encoding("客户ID".encode()) == "utf-8"
    assert detect_encoding("客户ID,邀请人".encode("gb18030")) == "gb18030"
    # A sample cut inside a multi-byte character is still UTF-8.
    assert detect_encoding("客户".encode()[:-1]) == "utf-8"
    # A stray undecodable byte does not decide it; mostly garbage does.
    assert detect_encoding(("客户ID,邀请人\n" * 200).encode() + b"\xff") == "utf-8"
    assert detect_encoding(("客户ID,邀请人\n" * 200).encode("gbk") + b"\xff") == "gb18030"
    with pytest.raises(SourceError, match="neither UTF-8 nor GB18030"):
        detect_encoding(bytes(range(128, 256)) * 4)


def test_tab_separated_and_quoted_fields(tmp_path):
    path = write_csv(
        tmp_path / "t.tsv",
        [["", "join", "a", "b", "2024-05-01 12:00:00", "line one\nline two", ""]],
        delimiter="\t",
    )
    [ok], rejected = read_all(path)
    assert rejected == [] and ok["campaign"] == "line one\nline two"


def test_xlsx_keeps_text_ids_and_reads_dates(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(SCRM_HEADER)
    sheet.append(["1234567890123456789", "0042", dt.datetime(2024, 5, 1, 12, 0), "添加", "618"])
    sheet.append([None, None, None, None, None])  # blank rows are skipped
    sheet.append([123456, 789, "2024-05-02 08:00:00", "添加", "618"])  # numeric cells
    sheet.append([1.234567890123456e18, "x1", "2024-05-02 08:00:00", "添加", "618"])
    path = tmp_path / "export.xlsx"
    book.save(path)
    accepted, rejected = read_all(path, SCRM_MAPPING)
    assert [(r["inviter_id"], r["invitee_id"], r["line"]) for r in accepted] == [
        ("1234567890123456789", "0042", 2),
        ("123456", "789", 4),
    ]
    assert accepted[0]["occurred_at"] == dt.datetime(2024, 5, 1, 4, tzinfo=dt.UTC)
    # A 19-digit id that Excel stored as a number has lost digits: rejected.
    [bad] = rejected
    assert bad["line"] == 5 and "scientific notation" in bad["reason"]


def test_jsonl_keeps_big_numeric_ids_and_quarantines_bad_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"type": "join", "inviter_id": 1234567890123456789, "invitee_id": 98765432109876543210,'
        ' "occurred_at": 1714550400}\n'
        "\n"
        "{not json\n"
        '{"type": "convert", "invitee_id": "u2", "occurred_at": "2024-05-01 12:00:00",'
        ' "amount": 12.50}\n',
        encoding="utf-8",
    )
    accepted, rejected = read_all(path)
    assert [(r["inviter_id"], r["invitee_id"]) for r in accepted] == [
        ("1234567890123456789", "98765432109876543210"),
        (None, "u2"),
    ]
    assert accepted[1]["line"] == 4
    [bad] = rejected
    assert bad["line"] == 3 and bad["row"] == "{not json"


def test_parquet_types_become_exact_text(tmp_path):
    table = pa.table(
        {
            "type": ["join", "convert"],
            "inviter_id": pa.array([1234567890123456789, None], pa.int64()),
            "invitee_id": pa.array([42.0, 7.0]),  # ids written as floats by pandas
            "occurred_at": pa.array(
                [dt.datetime(2024, 5, 1, 4, 0), dt.datetime(2024, 5, 2, 4, 0)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "amount": pa.array([None, 19.9]),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    accepted, rejected = read_all(path)
    assert rejected == []
    assert [(r["inviter_id"], r["invitee_id"]) for r in accepted] == [
        ("1234567890123456789", "42"),
        (None, "7"),
    ]
    assert accepted[0]["occurred_at"] == dt.datetime(2024, 5, 1, 4, tzinfo=dt.UTC)
    assert str(accepted[1]["amount"]) == "19.9000"
    assert [r["line"] for r in accepted] == [1, 2]


def test_naive_parquet_timestamps_are_local_time(tmp_path):
    table = pa.table(
        {
            "type": ["join"],
            "invitee_id": ["u"],
            "occurred_at": pa.array([dt.datetime(2024, 5, 1, 12)], pa.timestamp("s")),
        }
    )
    pq.write_table(table, tmp_path / "n.parquet")
    [ok], _ = read_all(tmp_path / "n.parquet")
    assert ok["occurred_at"] == dt.datetime(2024, 5, 1, 4, tzinfo=dt.UTC)


def test_unknown_format_is_a_clear_error(tmp_path):
    path = tmp_path / "events.bin"
    path.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(SourceError, match=r"events\.bin: unknown format"):
        open_source(path)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SourceError, match="empty file"):
        open_source(tmp_path / "empty.csv")


def test_required_columns_missing_after_mapping_names_file_and_columns(tmp_path):
    path = write_csv(tmp_path / "scrm.csv", [["a", "b", "2024-05-01", "添加", "x"]], SCRM_HEADER)
    with pytest.raises(MappingError) as err:
        open_events(path)
    message = str(err.value)
    assert "scrm.csv" in message and "type, invitee_id, occurred_at" in message
    assert "邀请人ID" in message  # lists the columns the file does have


def test_mapped_column_not_in_file(tmp_path):
    path = write_csv(tmp_path / "in.csv", [], HEADER)
    with pytest.raises(MappingError, match="column '客户ID' \\(mapped to invitee_id\\) is not in"):
        open_events(path, Mapping(columns={"invitee_id": "客户ID"}))


def test_mapping_options_and_files(tmp_path):
    toml = tmp_path / "map.toml"
    toml.write_text(
        '[columns]\ninviter_id = "邀请人ID"\n[types]\n"添加" = "join"\n'
        '[defaults]\ncampaign = "spring"\n',
        encoding="utf-8",
    )
    as_json = tmp_path / "map.json"
    as_json.write_text(
        json.dumps(
            {
                "columns": {"inviter_id": "邀请人ID"},
                "types": {"添加": "join"},
                "defaults": {"campaign": "spring"},
            }
        ),
        encoding="utf-8",
    )
    assert load_mapping_file(toml) == load_mapping_file(as_json)
    merged = mapping_from_options(["invitee_id=客户ID"], ["流失=churn"], [], toml)
    assert merged.columns == {"inviter_id": "邀请人ID", "invitee_id": "客户ID"}
    assert merged.types == {"添加": "join", "流失": "churn"}
    assert merged.defaults == {"campaign": "spring"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": ["inviter=x"]}, "unknown field 'inviter'"),
        ({"columns": ["inviter_id"]}, "not of the form KEY=VALUE"),
        ({"types": ["添加=joined"]}, "maps to 'joined'"),
    ],
)
def test_bad_mapping_options(kwargs, message):
    with pytest.raises(MappingError, match=message):
        mapping_from_options(**kwargs)


def test_bad_mapping_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[colums]\nx = 'y'\n")
    with pytest.raises(MappingError, match="unknown section"):
        load_mapping_file(bad)


def test_jsonl_with_undecodable_bytes_past_the_first_mib_quarantines_that_line(tmp_path):
    good = (
        '{"type":"join","inviter_id":"a","invitee_id":"u%d","occurred_at":"2024-05-01 12:00:00"}\n'
    )
    body = "".join(good % n for n in range(15_000)).encode()
    assert len(body) > 1 << 20  # past the sample the encoding is detected from
    bad = b'{"type":"join","inviter_id":"a","invitee_id":"\xff\xfe","occurred_at":"2024-05-01"}\n'
    path = tmp_path / "e.jsonl"
    path.write_bytes(body + bad + (good % 99_999).encode())
    accepted, rejected = read_all(path)
    assert len(accepted) == 15_001
    [row] = rejected
    assert row["line"] == 15_001 and "\\xff\\xfe" in row["row"]  # the bytes, kept


def test_jsonl_lines_nested_too_deeply_are_quarantined(tmp_path):
    good = '{"type":"join","inviter_id":"a","invitee_id":"b","occurred_at":"2024-05-01 12:00:00"}\n'
    deep = '{"type":"join","invitee_id":"c","x":' + "[" * 5000 + "]" * 5000 + "}\n"
    path = tmp_path / "e.jsonl"
    path.write_text(good + deep, encoding="utf-8")
    accepted, [row] = read_all(path)
    assert [a["invitee_id"] for a in accepted] == ["b"] and row["line"] == 2


def test_a_header_field_over_the_csv_limit_is_a_clear_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text('"' + "h" * 200_000 + '",type\n1,join\n', encoding="utf-8")
    with pytest.raises(SourceError, match="the header row cannot be read"):
        read_all(path)


def test_a_csv_header_past_its_limits_is_refused_in_linear_time(tmp_path):
    # A million columns: the header line does not end within 256 KiB. It is
    # refused, never cut (a cut header names columns that are not there).
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{n}" for n in range(1_000_000)) + "\ntype\n", encoding="utf-8")
    with pytest.raises(SourceError, match="header line does not end within its first 262,144"):
        open_source(wide)
    # 100,001 one-letter columns fit in the bytes, not in the column limit;
    # counting them, duplicates and all, takes linear time.
    many = tmp_path / "many.csv"
    many.write_text("a," * 100_000 + "b\n", encoding="utf-8")
    with pytest.raises(SourceError, match="the header has 100,001 columns; at most 1,000"):
        open_source(many)
    # A header of 1,000 long names (about 200 KB) is read whole.
    names = [f"{n:04d}" + "x" * 196 for n in range(1000)]
    fine = write_csv(tmp_path / "fine.csv", [["v"] * 1000], names)
    assert open_source(fine).columns == names


def test_jsonl_keys_past_the_column_limit_are_refused_in_linear_time(tmp_path):
    wide = tmp_path / "wide.jsonl"
    wide.write_text(json.dumps({f"k{n}": n for n in range(200_000)}) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="line 1: an object with 200,000 keys; at most 1,000"):
        open_source(wide)
    spread = tmp_path / "spread.jsonl"
    spread.write_text(
        "".join(json.dumps({f"k{n}-{i}": 1 for i in range(20)}) + "\n" for n in range(60)),
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="up to line 51 have 1,020 distinct keys; at most 1,000"):
        open_source(spread)


def test_duplicate_columns_are_named_blank_ones_included(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a,,\n1,2,3,4,5\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"column\(s\) \(blank\), a appear more than once"):
        open_source(path)
