from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from api.settings import Settings
from loaders.errors import MappingError
from loaders.mapping import Mapping
from loaders.pipeline import open_events
from loaders.validate import check_timezone
from tests.conftest import HEADER, write_csv


class Collect:
    """A quarantine part that keeps rejected rows in memory."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write(self, table: pa.Table) -> None:
        self.rows.extend(table.to_pylist())


def check(
    tmp_path: Path,
    rows: list[list[str]],
    header: list[str] = HEADER,
    mapping: Mapping | None = None,
    tz: str = "Asia/Shanghai",
) -> tuple[list[dict], list[dict]]:
    path = write_csv(tmp_path / "in.csv", rows, header)
    stream = open_events(path, mapping, tz)
    rejected = Collect()
    accepted = [r for t in stream.batches(rejected) for r in t.to_pylist()]
    assert stream.rows_read == len(rows)
    return accepted, rejected.rows


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (["", "", "a", "b", "2024-05-01 12:00:00", "", ""], "type", "type: missing"),
        (["", "refund", "a", "b", "2024-05-01 12:00:00", "", ""], "type", "unknown type 'refund'"),
        (["", "join", "a", "", "2024-05-01 12:00:00", "", ""], "invitee_id", "invitee_id: missing"),
        (
            ["", "invite", "", "b", "2024-05-01 12:00:00", "", ""],
            "inviter_id",
            "missing (required for invite)",
        ),
        (["", "join", "a", "a", "2024-05-01 12:00:00", "", ""], "inviter_id", "self-referral"),
        (["", "invite", "a", "a", "2024-05-01 12:00:00", "", ""], "inviter_id", "self-referral"),
        (["", "join", "a", "b", "", "", ""], "occurred_at", "occurred_at: missing"),
        (
            ["", "join", "a", "b", "2024-13-45 99:00", "", ""],
            "occurred_at",
            "unparseable timestamp '2024-13-45 99:00'",
        ),
        (["", "join", "a", "b", "yesterday", "", ""], "occurred_at", "unparseable timestamp"),
        (
            ["", "convert", "", "b", "2024-05-01 12:00:00", "", "12元"],
            "amount",
            "not a number '12元'",
        ),
        (
            ["", "convert", "", "b", "2024-05-01 12:00:00", "", "-5"],
            "amount",
            "negative amount '-5'",
        ),
        (
            ["", "convert", "", "b", "2024-05-01 12:00:00", "", ""],
            "amount",
            "missing (required for convert)",
        ),
        (
            ["", "join", "1.23457E+18", "b", "2024-05-01 12:00:00", "", ""],
            "inviter_id",
            "scientific notation",
        ),
        # Poison: times no real export holds, ids that break exports and terminals.
        (["", "join", "a", "b", "0001-01-01 00:00:00", "", ""], "occurred_at", "is outside"),
        (["", "join", "a", "b", "10000-01-01 00:00:00", "", ""], "occurred_at", "is outside"),
        (["", "join", "a", "b", "1999-12-31 23:59:59", "", ""], "occurred_at", "is outside"),
        (["", "join", "a", "b", "2100-01-01T00:00:00Z", "", ""], "occurred_at", "is outside"),
        (["", "join", "a", "b", "99999999999999", "", ""], "occurred_at", "unparseable"),
        (
            ["", "join", "a", "b", "2024-05-01T12:00:00+99:00", "", ""],
            "occurred_at",
            "'2024-05-01T12:00:00+99:00' has no real UTC offset",
        ),
        (["", "join", "a", "b", "2024-05-01 12:00+1430", "", ""], "occurred_at", "no real UTC"),
        (["", "join", "a", "b\x00c", "2024-05-01 12:00:00", "", ""], "invitee_id", "control"),
        (["", "join", "a\tb", "c", "2024-05-01 12:00:00", "", ""], "inviter_id", "control"),
        (
            ["", "join", "a", "b", "2024-05-01 12:00:00", "c" * 257, ""],
            "campaign",
            "longer than 256",
        ),
        (["e\nx", "join", "a", "b", "2024-05-01 12:00:00", "", ""], "event_id", "control"),
        (
            ["", "join", "a", "x" * 257, "2024-05-01 12:00:00", "", ""],
            "invitee_id",
            "longer than 256",
        ),
    ],
)
def test_each_rejection_names_its_field_and_reason(tmp_path, row, field, reason):
    accepted, rejected = check(tmp_path, [row])
    assert accepted == []
    [bad] = rejected
    assert bad["line"] == 2
    assert field in bad["field"].split(", ")
    assert reason in bad["reason"]
    # The original row travels with the reason, every column as written.
    assert json.loads(bad["row"]) == dict(zip(HEADER, row, strict=True))


@pytest.mark.parametrize(
    "at",
    [
        "2024-05-01T12:00:00-05:30",
        "2024-05-01T12:00:00+14:00",
        "2024-05-01T12:00:00-1200",
        "2024-05-01",
        "2000-01-01T00:00:00Z",
        "4102444799",  # 2099-12-31 23:59:59 UTC
    ],
)
def test_real_times_and_offsets_at_the_edges_are_accepted(tmp_path, at):
    [ok], rejected = check(tmp_path, [["", "join", "a", "x" * 256, at, "", ""]])
    assert rejected == [] and utc(2000, 1, 1) <= ok["occurred_at"] < utc(2100, 1, 1)


def test_the_time_bounds_are_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("KOC_EVENT_EARLIEST", "2024-01-01T00:00:00+08:00")
    bounds = Settings().time_bounds
    assert bounds.earliest == utc(2023, 12, 31, 16) and bounds.latest == utc(2100, 1, 1)
    path = write_csv(tmp_path / "in.csv", [["", "join", "a", "b", "2023-12-31 23:00:00", "", ""]])
    rejected = Collect()
    stream = open_events(path, None, "Asia/Shanghai", bounds=bounds)
    assert [t.num_rows for t in stream.batches(rejected)] in ([], [0])
    assert "outside 2024-01-01 .. 2100-01-01" in rejected.rows[0]["reason"]
    monkeypatch.setenv("KOC_EVENT_LATEST", "2020-01-01T00:00:00Z")
    with pytest.raises(ValidationError, match="must come before"):
        Settings()
    monkeypatch.setenv("KOC_EVENT_LATEST", "2030-01-01T00:00:00")
    with pytest.raises(ValidationError, match="need a time zone"):
        Settings()


def test_every_reason_of_a_row_is_reported(tmp_path):
    _, [bad] = check(tmp_path, [["", "convert", "", "", "garbage", "", "abc"]])
    assert bad["field"] == "invitee_id, occurred_at, amount"
    assert bad["reason"].count(";") == 2


def test_join_without_inviter_is_unknown_attribution_not_an_error(tmp_path):
    [ok], rejected = check(tmp_path, [["", "join", "", "b", "2024-05-01 12:00:00", "", ""]])
    assert rejected == []
    assert ok["inviter_id"] is None and ok["invitee_id"] == "b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00+08:00", utc(2024, 5, 1, 4)),
        ("2024-05-01T04:00:00Z", utc(2024, 5, 1, 4)),
        ("2024-05-01T12:00:00.250+0800", utc(2024, 5, 1, 4, 0, 0, 250000)),
        ("2024-05-01 12:00:00", utc(2024, 5, 1, 4)),  # naive: Asia/Shanghai
        ("2024-05-01T12:00:00", utc(2024, 5, 1, 4)),
        ("2024/05/01 12:00", utc(2024, 5, 1, 4)),
        ("2024/5/1 9:05", utc(2024, 5, 1, 1, 5)),
        ("1714550400", utc(2024, 5, 1, 8)),  # epoch seconds
        ("1714550400123", utc(2024, 5, 1, 8, 0, 0, 123000)),  # epoch milliseconds
    ],
)
def test_timestamp_formats_are_stored_in_utc(tmp_path, text, expected):
    [ok], _ = check(tmp_path, [["", "join", "a", "b", text, "", ""]])
    assert ok["occurred_at"] == expected


def test_naive_times_follow_the_configured_zone(tmp_path):
    [ok], _ = check(
        tmp_path, [["", "join", "a", "b", "2024-07-01 12:00:00", "", ""]], tz="Europe/Berlin"
    )
    assert ok["occurred_at"] == utc(2024, 7, 1, 10)  # CEST is UTC+2


def test_unknown_zone_is_a_clear_error():
    with pytest.raises(MappingError, match="unknown time zone 'Mars/Olympus'"):
        check_timezone("Mars/Olympus")


def test_ids_stay_strings_exactly_as_written(tmp_path):
    rows = [
        ["", "join", "0012345", "1234567890123456789", "2024-05-01 12:00:00", "", ""],
        ["", "join", "  wmAbC  ", "\u3000u-2\u3000", "2024-05-01 12:00:00", "", ""],
    ]
    accepted, rejected = check(tmp_path, rows)
    assert rejected == []
    assert [(r["inviter_id"], r["invitee_id"]) for r in accepted] == [
        ("0012345", "1234567890123456789"),
        ("wmAbC", "u-2"),
    ]


def test_amounts_allow_currency_sign_and_thousands_separators(tmp_path):
    [ok], _ = check(tmp_path, [["", "convert", "", "b", "2024-05-01 12:00:00", "", "¥1,299.50"]])
    assert ok["amount"] == Decimal("1299.5")


def test_generated_event_id_is_stable_across_time_formats(tmp_path):
    rows = [
        ["", "join", "a", "b", "2024-05-01 12:00:00", "c", ""],
        ["", "join", "a", "b", "2024-05-01T04:00:00Z", "c", ""],
        ["", "join", "a", "b", "2024-05-01 12:00:01", "c", ""],
    ]
    accepted, _ = check(tmp_path, rows)
    ids = [r["event_id"] for r in accepted]
    assert ids[0] == ids[1] != ids[2]
    assert all(len(i) == 32 for i in ids)


def test_given_event_id_is_kept(tmp_path):
    [ok], _ = check(tmp_path, [["evt-001", "join", "a", "b", "2024-05-01 12:00:00", "", ""]])
    assert ok["event_id"] == "evt-001"


def test_type_values_are_mapped_and_case_folded(tmp_path):
    mapping = Mapping(types={"添加": "join", "流失": "churn"})
    rows = [
        ["", "添加", "a", "b", "2024-05-01 12:00:00", "", ""],
        ["", "流失", "", "b", "2024-05-02 12:00:00", "", ""],
        ["", "Invite", "a", "c", "2024-05-02 12:00:00", "", ""],
    ]
    accepted, rejected = check(tmp_path, rows, mapping=mapping)
    assert rejected == []
    assert [r["type"] for r in accepted] == ["join", "churn", "invite"]


def test_defaults_fill_absent_and_empty_cells(tmp_path):
    mapping = Mapping(defaults={"type": "join", "campaign": "spring"})
    header = ["inviter_id", "invitee_id", "occurred_at", "campaign"]
    rows = [["a", "b", "2024-05-01 12:00:00", ""], ["a", "c", "2024-05-01 12:00:00", "618"]]
    accepted, _ = check(tmp_path, rows, header=header, mapping=mapping)
    assert [(r["type"], r["campaign"]) for r in accepted] == [("join", "spring"), ("join", "618")]
