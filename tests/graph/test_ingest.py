from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.errors import MappingError, SourceError
from loaders.quarantine import QUARANTINE_COLUMNS, Quarantine
from tests.conftest import HEADER, table_rows, write_csv

T0 = "2024-05-01 12:00:00"


def read_quarantine(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_quarantine_keeps_line_field_reason_and_original_row(tmp_path, ingest):
    rows = [
        ["", "join", "alice", "bob", T0, "", ""],
        ["", "join", "carol", "carol", T0, "", ""],
        ["", "join", "alice", "dan", "not a time", "", ""],
    ]
    report = ingest(write_csv(tmp_path / "e.csv", rows), quarantine=tmp_path / "q" / "rej.csv")
    assert (report.read, report.accepted, report.rejected) == (3, 1, 2)
    assert report.quarantine == str(tmp_path / "q" / "rej.csv")
    raw = (tmp_path / "q" / "rej.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows Chinese correctly
    got = read_quarantine(tmp_path / "q" / "rej.csv")
    assert list(got[0]) == list(QUARANTINE_COLUMNS)
    assert [(r["line"], r["field"]) for r in got] == [("3", "inviter_id"), ("4", "occurred_at")]
    assert got[0]["source"].endswith("e.csv")
    assert json.loads(got[1]["row"])["occurred_at"] == "not a time"


def test_no_rejections_no_quarantine_file(tmp_path, ingest):
    report = ingest(write_csv(tmp_path / "e.csv", [["", "join", "a", "b", T0, "", ""]]))
    assert report.quarantine is None and not (tmp_path / "quarantine.csv").exists()


@pytest.mark.parametrize(
    ("name", "make", "error", "message"),
    [
        ("bad.dat", lambda p: p.write_bytes(b"\x00\x01binary"), SourceError, "unknown format"),
        (
            "bad.csv",
            lambda p: write_csv(p, [["a", "b"]], ["foo", "bar"]),
            MappingError,
            "required column",
        ),
    ],
)
def test_unreadable_file_changes_nothing(tmp_path, store, ingest, name, make, error, message):
    ingest(write_csv(tmp_path / "ok.csv", [["", "join", "a", "b", T0, "", ""]]))
    bad = tmp_path / name
    make(bad)
    with pytest.raises(error, match=message):
        ingest(bad, quarantine=tmp_path / "q.csv")
    s = store.stats()
    assert (s.events, s.batches) == (1, 1)
    assert not (tmp_path / "q.csv").exists()


def test_failed_batch_leaves_no_quarantine_rows(tmp_path, store):
    path = write_csv(
        tmp_path / "e.csv", [["", "join", "a", "a", T0, "", ""], ["", "join", "a", "b", T0, "", ""]]
    )
    q = Quarantine(tmp_path / "q.csv")

    class Failing:
        url = "test://failing"

        def ingest(self, batches, source):
            list(batches)
            raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        ingest_file(Failing(), path, quarantine=q)
    assert not (tmp_path / "q.csv").exists()
    assert list(tmp_path.glob(".q.csv*")) == []


def test_several_files_share_one_quarantine(tmp_path, store):
    q = Quarantine(tmp_path / "q.csv")
    for name in ("a", "b"):
        path = write_csv(tmp_path / f"{name}.csv", [["", "join", name, name, T0, "", ""]])
        ingest_file(store, path, quarantine=q)
    assert [Path(r["source"]).name for r in read_quarantine(tmp_path / "q.csv")] == [
        "a.csv",
        "b.csv",
    ]


ids = st.sampled_from(["u1", "u2", "u3", "u4", "007", "", " "])
row = st.tuples(
    st.sampled_from(["", "e1", "e2", "e3"]),
    st.sampled_from(["join", "invite", "convert", "churn", "JOIN", "bogus", ""]),
    ids,
    ids,
    st.sampled_from([T0, "2024-05-02T10:00:00+08:00", "1714550400", "garbage", ""]),
    st.sampled_from(["", "spring", "618"]),
    st.sampled_from(["", "10", "-1", "x", "¥1,000"]),
).map(list)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(row, max_size=25), min_size=1, max_size=3))
def test_every_row_is_accounted_for(tmp_path_factory, batches):
    """read = accepted + duplicates + conflicts + rejected, for every batch;
    the log grows by exactly the accepted rows; the quarantine holds every
    rejected and conflicting row; re-running any batch accepts nothing."""
    tmp = tmp_path_factory.mktemp("prop")
    with EmbeddedStore(tmp / "s.duckdb", memory_limit="512MB") as store:
        total = 0
        paths = []
        for i, rows in enumerate(batches):
            path = write_csv(tmp / f"b{i}.csv", rows, HEADER)
            paths.append(path)
            r = ingest_file(store, path, quarantine=Quarantine(tmp / f"q{i}.csv"))
            assert r.read == len(rows)
            assert r.read == r.accepted + r.duplicates + r.conflicts + r.rejected
            total += r.accepted
            assert store.stats().events == total
            if r.rejected or r.conflicts:
                assert len(read_quarantine(tmp / f"q{i}.csv")) == r.rejected + r.conflicts
        for path in paths:
            r = ingest_file(store, path, quarantine=Quarantine(tmp / "again.csv"))
            assert r.accepted == 0 and r.read == r.duplicates + r.conflicts + r.rejected
        assert store.stats().events == total
        # The graph stays consistent with its definition after any sequence.
        con = store.connection
        assert con.execute("SELECT count(*) = count(DISTINCT invitee_id) FROM referred").fetchall()[
            0
        ][0]
        assert (
            con.execute("""SELECT count(*) FROM referred r JOIN invited i
                              USING (invitee_id) WHERE r.referrer_id = i.inviter_id""").fetchall()
            == [(0,)]
        )


def test_rows_with_the_wrong_number_of_fields_are_quarantined_with_their_line(
    tmp_path, store, ingest
):
    path = tmp_path / "ragged.csv"
    path.write_text(
        ",".join(HEADER) + "\n"
        f",join,a,b,{T0},,\n"
        ",join,a,c\n"  # too few fields
        f',join,a,d,{T0},"spring\nsale",\n'  # a quoted field over two lines
        f",join,a,e,{T0},,,extra\n"  # too many
        f",join,a,f,{T0},,\n",
        encoding="utf-8",
    )
    report = ingest(path, quarantine=tmp_path / "q.csv")
    assert (report.read, report.accepted, report.rejected) == (5, 3, 2)
    bad = read_quarantine(tmp_path / "q.csv")
    assert [(r["line"], r["field"]) for r in bad] == [("3", "(row)"), ("6", "(row)")]
    assert "row has 4 fields, the header has 7" in bad[0]["reason"]
    assert json.loads(bad[1]["row"])[-1] == "extra"
    # Lines after the bad rows are still exact.
    assert sorted(table_rows(store, "SELECT invitee_id, line FROM events")) == [
        ("b", 2),
        ("d", 4),
        ("f", 7),
    ]


def test_undecodable_row_after_the_sample_is_quarantined_with_its_line(tmp_path, ingest):
    # Valid UTF-8 for the first MiB (what detection samples), then a GBK row.
    good = "".join(f",join,a{i},b{i},{T0},,\n" for i in range(40_000))
    bad = f",join,邀请人,客户,{T0},,\n".encode("gbk")
    path = tmp_path / "mixed.csv"
    path.write_bytes((",".join(HEADER) + "\n" + good).encode() + bad)
    assert path.stat().st_size > 1 << 20
    report = ingest(path, quarantine=tmp_path / "q.csv")
    assert (report.read, report.accepted, report.rejected) == (40_001, 40_000, 1)
    [row] = read_quarantine(tmp_path / "q.csv")
    assert row["line"] == "40002" and "not valid utf-8" in row["reason"]
    assert json.loads(row["row"])[2] == "\\xd1\\xfb\\xc7\\xeb\\xc8\\xcb"  # 邀请人 in GBK


def test_undecodable_row_in_a_gb18030_file_is_quarantined(tmp_path, ingest):
    rows = "".join(f",join,邀请{i},客户{i},{T0},,\n" for i in range(3))
    path = tmp_path / "gb.csv"
    path.write_bytes(
        (",".join(HEADER) + "\n" + rows).encode("gb18030")
        + f",join,x\xff,y,{T0},,\n".encode("latin-1")
    )
    report = ingest(path, quarantine=tmp_path / "q.csv")
    assert (report.read, report.accepted, report.rejected) == (4, 3, 1)
    [row] = read_quarantine(tmp_path / "q.csv")
    assert row["line"] == "5" and "not valid gb18030" in row["reason"]
    assert json.loads(row["row"])[2] == "x\\xff"
