"""Several events from one row: a mapping's [[events]] with `when` conditions."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from loaders.errors import MappingError
from loaders.mapping import Mapping, load_mapping_file, mapping_from_data
from loaders.pipeline import open_events
from tests.conftest import table_rows, write_csv

CUSTOMERS = """
unused = ["标签"]

[columns]
invitee_id = "外部联系人ID"
invitee_name = "客户昵称"
inviter_id = "老客ID"
amount = "订单金额"

[[events]]
type = "join"
columns = { occurred_at = "添加时间" }

[[events]]
type = "churn"
columns = { occurred_at = "删除时间" }
when = { column = "流失状态", equals = "已流失" }

[[events]]
type = "convert"
columns = { occurred_at = "下单时间" }
when = { column = "订单金额", positive = true }
"""
HEADER = [
    "客户昵称",
    "外部联系人ID",
    "老客ID",
    "添加时间",
    "流失状态",
    "删除时间",
    "订单金额",
    "下单时间",
    "标签",
]
ROWS = [
    # joined, left, ordered: three events from one row
    [
        "小红",
        "wmA",
        "",
        "2024-05-01 10:00",
        "已流失",
        "2024-05-09 10:00",
        "¥1,299.00",
        "2024-05-02 10:00",
        "vip",
    ],
    # joined through wmA; no churn, no order
    ["小明", "wmB", "wmA", "2024-05-02 10:00", "未流失", "", "", "", ""],
    # an order of 0 and a negative one are no orders: skipped, not rejected
    ["小刚", "wmC", "wmA", "2024-05-03 10:00", "未流失", "", "0", "2024-05-04 10:00", ""],
    ["小李", "wmD", "wmB", "2024-05-03 11:00", "", "", "-5", "2024-05-04 10:00", ""],
]
MAPPING = mapping_from_data(tomllib.loads(CUSTOMERS))


def read(path: Path, mapping: Mapping = MAPPING):
    stream = open_events(path, mapping)
    rejected: list[dict] = []

    class Collect:
        def write(self, table):
            rejected.extend(table.to_pylist())

    accepted = [r for t in stream.batches(Collect()) for r in t.to_pylist()]
    stream.close()
    return stream, accepted, rejected


def test_one_row_makes_a_join_a_churn_and_an_order(tmp_path):
    stream, accepted, rejected = read(write_csv(tmp_path / "c.csv", ROWS, HEADER))
    assert rejected == []
    got = sorted(
        (r["line"], r["type"], r["invitee_id"], r["inviter_id"], r["amount"], r["invitee_name"])
        for r in accepted
    )
    assert got == [
        (2, "churn", "wmA", None, None, "小红"),
        (2, "convert", "wmA", None, Decimal("1299"), "小红"),
        (2, "join", "wmA", None, None, "小红"),
        (3, "join", "wmB", "wmA", None, "小明"),  # the inviter goes to joins only
        (4, "join", "wmC", "wmA", None, "小刚"),
        (5, "join", "wmD", "wmB", None, "小李"),
    ]
    times = {(r["line"], r["type"]): r["occurred_at"].isoformat() for r in accepted}
    assert times[(2, "churn")] == "2024-05-09T02:00:00+00:00"  # each event its own column
    assert times[(2, "convert")] == "2024-05-02T02:00:00+00:00"
    assert len({r["event_id"] for r in accepted}) == 6
    # 4 rows x 3 entries: 6 events made, 6 skipped by their conditions
    assert (stream.rows_read, stream.events, stream.skipped, stream.rows_rejected) == (4, 6, 6, 0)
    assert stream.notes == ["columns the mapping knows and does not use: 标签"]


def test_counts_add_up_and_a_second_ingest_adds_nothing(tmp_path, store, ingest):
    rows = [*ROWS, ["坏", "", "", "2024-05-05 10:00", "已流失", "", "abc", "2024-05-05 10:00", ""]]
    path = write_csv(tmp_path / "c.csv", rows, HEADER)
    first = ingest(path, MAPPING)
    # the bad row: a join and a churn without an id, a convert of 'abc'
    assert (first.read, first.events, first.skipped) == (5, 9, 6)
    assert (first.accepted, first.rejected) == (6, 3)
    assert first.events == first.accepted + first.duplicates + first.conflicts + first.rejected
    assert first.read * 3 == first.events + first.skipped
    again = ingest(path, MAPPING)
    assert (again.events, again.accepted, again.duplicates, again.rejected) == (9, 0, 6, 3)
    users = table_rows(store, "SELECT id, referred_by, amount, churned_at IS NOT NULL FROM users")
    assert sorted(users) == [
        ("wmA", None, Decimal("1299"), True),
        ("wmB", "wmA", Decimal("0"), False),
        ("wmC", "wmA", Decimal("0"), False),
        ("wmD", "wmB", Decimal("0"), False),
    ]


def test_rejections_name_their_event_and_a_bad_positive_cell(tmp_path):
    rows = [["坏", "wmX", "", "2024-05-05 10:00", "已流失", "", "abc", "2024-05-05 10:00", ""]]
    _, accepted, rejected = read(write_csv(tmp_path / "c.csv", rows, HEADER))
    assert [r["type"] for r in accepted] == ["join"]
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == [
        "amount: not a number 'abc' [convert event]",  # once, through the amount's own check
        "occurred_at: missing [churn event]",
    ]
    assert {r["line"] for r in rejected} == {2}


def test_a_positive_test_on_another_column_names_that_column(tmp_path):
    mapping = mapping_from_data(
        {
            "columns": {"invitee_id": "id"},
            "events": [
                {"type": "join", "columns": {"occurred_at": "t"}},
                {
                    "type": "convert",
                    "columns": {"occurred_at": "t"},
                    "defaults": {"amount": "9.9"},
                    "when": [
                        {"column": "单数", "positive": True},
                        {"column": "付", "present": True},
                    ],
                },
            ],
        }
    )
    rows = [
        ["u1", "2024-05-01", "x", "y"],
        ["u2", "2024-05-01", "2", "y"],
        ["u3", "2024-05-01", "2", ""],
    ]
    stream, accepted, rejected = read(
        write_csv(tmp_path / "c.csv", rows, ["id", "t", "单数", "付"]), mapping
    )
    assert sorted((r["invitee_id"], r["type"]) for r in accepted) == [
        ("u1", "join"),
        ("u2", "convert"),
        ("u2", "join"),
        ("u3", "join"),
    ]
    assert [(r["field"], r["reason"]) for r in rejected] == [
        (
            "单数",
            "单数: not a number 'x' (the event is made only when it is above 0) [convert event]",
        )
    ]
    assert stream.skipped == 1  # u3: nothing in 付


def test_an_event_id_column_gives_each_event_its_own_id(tmp_path, store, ingest):
    mapping = mapping_from_data(
        {
            "columns": {"invitee_id": "客户"},
            "events": [
                {"type": "join", "columns": {"occurred_at": "加"}},
                {
                    "type": "churn",
                    "columns": {"occurred_at": "删"},
                    "when": {"column": "删", "present": True},
                },
            ],
        }
    )
    path = write_csv(
        tmp_path / "c.csv",
        [["E1", "u1", "2024-05-01", "2024-05-03"]],
        ["event_id", "客户", "加", "删"],
    )
    report = ingest(path, mapping)
    assert (report.accepted, report.rejected) == (2, 0)
    assert sorted(r[0] for r in table_rows(store, "SELECT event_id FROM events")) == [
        "E1:churn",
        "E1:join",
    ]


def test_the_same_events_from_a_canonical_file_are_duplicates(tmp_path, ingest):
    ingest(write_csv(tmp_path / "c.csv", ROWS[:2], HEADER), MAPPING)
    canonical = write_csv(
        tmp_path / "e.csv",
        [
            ["", "join", "", "wmA", "2024-05-01 10:00", "", ""],
            ["", "churn", "", "wmA", "2024-05-09 10:00", "", ""],
            ["", "convert", "", "wmA", "2024-05-02 10:00", "", "1299"],
            ["", "join", "wmA", "wmB", "2024-05-02 10:00", "", ""],
        ],
    )
    again = ingest(canonical)
    assert (again.accepted, again.duplicates, again.conflicts) == (0, 4, 0)


def test_an_optional_event_without_its_columns_is_left_out_with_a_note(tmp_path):
    data = tomllib.loads(CUSTOMERS)
    data["events"][2]["optional"] = True
    header = [h for h in HEADER if h != "下单时间"]
    rows = [[c for h, c in zip(HEADER, row, strict=True) if h != "下单时间"] for row in ROWS]
    stream, accepted, _ = read(write_csv(tmp_path / "c.csv", rows, header), mapping_from_data(data))
    assert {r["type"] for r in accepted} == {"join", "churn"}
    assert stream.notes == [
        "the convert event is not made: the file has no column '下单时间'",
        "column '订单金额' (mapped to amount) is used by no event (only convert events carry amount)",
        "columns the mapping knows and does not use: 标签",
    ]
    # not optional: the file is refused, naming the column and the event
    with pytest.raises(
        MappingError, match=r"'下单时间' \(mapped to occurred_at\).*for the convert event"
    ):
        open_events(write_csv(tmp_path / "d.csv", rows, header), MAPPING)


def test_notes_name_unused_and_unknown_columns(tmp_path):
    header = [*HEADER, "type", "amount", "微信号"]
    rows = [[*ROWS[1], "join", "5", "w"]]
    stream, accepted, _ = read(write_csv(tmp_path / "c.csv", rows, header))
    assert [(r["type"], r["amount"]) for r in accepted] == [("join", None)]  # no amount on a join
    assert stream.notes == [
        "column 'type' is named like the field type, but is not read: "
        "each event's type is fixed by the mapping",
        "column 'amount' is named like the field amount, but is not read: amount comes from '订单金额'",
        "columns the mapping knows and does not use: 标签",
        "columns the mapping does not know, not read: 微信号",
    ]
    # a plain mapping notes the columns it leaves too
    plain = write_csv(
        tmp_path / "p.csv",
        [["", "join", "a", "b", "2024-05-01", "", "", "x"]],
        [
            "event_id",
            "type",
            "inviter_id",
            "invitee_id",
            "occurred_at",
            "campaign",
            "amount",
            "备注",
        ],
    )
    stream, _, _ = read(plain, Mapping())
    assert stream.notes == ["columns no event uses, not read: 备注"]


def test_display_names_are_checked_and_kept_but_are_not_the_event(tmp_path, store, ingest):
    header = ["type", "invitee_id", "occurred_at", "invitee_name"]
    path = write_csv(
        tmp_path / "n.csv",
        [
            ["join", "u1", "2024-05-01", "小红"],
            ["join", "u2", "2024-05-01", "bad\tname"],
            ["join", "u3", "2024-05-01", "x" * 257],
        ],
        header,
    )
    first = ingest(path)
    assert (first.accepted, first.rejected) == (1, 2)
    assert table_rows(store, "SELECT invitee_id, invitee_name FROM events") == [("u1", "小红")]
    renamed = write_csv(tmp_path / "r.csv", [["join", "u1", "2024-05-01", "红红"]], header)
    again = ingest(renamed)  # a new nickname: the same event, not a conflict
    assert (again.accepted, again.duplicates, again.conflicts) == (0, 1, 0)
    nameless = write_csv(tmp_path / "x.csv", [["join", "u1", "2024-05-01", ""]], header)
    assert ingest(nameless).duplicates == 1  # the name is not hashed into the id
    quarantined = (tmp_path / "quarantine.csv").read_text(encoding="utf-8-sig")
    assert "invitee_name: control character" in quarantined
    assert "invitee_name: longer than 256 characters" in quarantined


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"events": [{"type": "join"}, {"type": "join"}]}, "makes join more than once"),
        ({"columns": {"type": "事件"}, "events": [{"type": "join"}]}, "maps no type column"),
        ({"types": {"添加": "join"}, "events": [{"type": "join"}]}, "no \\[types\\]"),
        ({"events": [{"type": "refund"}]}, "event type 'refund' is not one of"),
        ({"events": [{"type": "join", "colums": {}}]}, "unknown key\\(s\\) colums"),
        ({"events": [{"type": "join", "columns": {"nick": "x"}}]}, "unknown field 'nick'"),
        ({"events": [{"type": "join", "defaults": {"type": "churn"}}]}, "its type is fixed"),
        ({"events": [{"columns": {}}]}, "needs type = one of"),
        ({"events": {"type": "join"}}, "must be a list of tables"),
        ({"events": [{"type": "churn", "when": {"column": "s"}}]}, "exactly one test"),
        (
            {
                "events": [
                    {"type": "churn", "when": {"column": "s", "equals": "a", "present": True}}
                ]
            },
            "exactly one test",
        ),
        ({"events": [{"type": "churn", "when": {"column": "s", "above": 3}}]}, "unknown test"),
        ({"events": [{"type": "churn", "when": {"column": "s", "equals": 3}}]}, "text or a list"),
        ({"events": [{"type": "churn", "optional": "yes"}]}, "`optional` must be true or false"),
        ({"unused": "标签"}, "list of column names"),
    ],
)
def test_bad_event_mappings_are_clear_errors(data, message):
    with pytest.raises(MappingError, match=message):
        mapping_from_data(data)


def test_a_condition_on_a_column_the_file_lacks_is_an_error(tmp_path):
    mapping = mapping_from_data(
        {
            "columns": {"invitee_id": "id", "occurred_at": "t"},
            "events": [{"type": "churn", "when": {"column": "流失状态", "equals": "已流失"}}],
        }
    )
    path = write_csv(tmp_path / "c.csv", [["u1", "2024-05-01"]], ["id", "t"])
    with pytest.raises(MappingError, match="'流失状态' \\(in the condition of the churn event\\)"):
        open_events(path, mapping)


def test_toml_and_json_event_mappings_are_the_same(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text(CUSTOMERS, encoding="utf-8")
    as_json = tmp_path / "m.json"
    as_json.write_text(json.dumps(tomllib.loads(CUSTOMERS), ensure_ascii=False), encoding="utf-8")
    assert load_mapping_file(toml) == load_mapping_file(as_json) == MAPPING
    # command-line entries are shared ones; an event's own columns still win
    merged = MAPPING.merged(Mapping(columns={"occurred_at": "x"}, defaults={"campaign": "c"}))
    per_event = {spec.type: m for spec, m in merged.per_event()}
    assert per_event["join"].columns["occurred_at"] == "添加时间"
    assert per_event["churn"].defaults["campaign"] == "c"


def test_a_store_written_before_names_gets_the_column_when_opened_for_writing(tmp_path):
    from graph.embedded import EmbeddedStore
    from graph.ingest import ingest_file
    from loaders.quarantine import Quarantine
    from tests.graph.test_embedded import _as_version_1

    header = ["type", "invitee_id", "occurred_at", "invitee_name"]
    db = tmp_path / "old.duckdb"
    with EmbeddedStore(db) as store:
        ingest_file(
            store,
            write_csv(tmp_path / "a.csv", [["join", "u1", "2024-05-01", ""]], header),
            quarantine=Quarantine(tmp_path / "q.csv"),
        )
    assert _as_version_1(db) == 1  # the store as earlier versions wrote it
    with EmbeddedStore(db) as store:
        report = ingest_file(
            store,
            write_csv(tmp_path / "b.csv", [["join", "u2", "2024-05-02", "小明"]], header),
            quarantine=Quarantine(tmp_path / "q.csv"),
        )
        assert report.accepted == 1
        rows = store.connection.sql(
            "SELECT invitee_id, invitee_name, batch_id FROM events ORDER BY 1"
        )
        assert rows.fetchall() == [("u1", None, 1), ("u2", "小明", 2)]
