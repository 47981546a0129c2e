from __future__ import annotations

import csv

import pyarrow as pa

from loaders.quarantine import QUARANTINE_COLUMNS, Quarantine
from loaders.validate import REJECTED_SCHEMA


def rows(**columns) -> pa.Table:
    return pa.table(columns, schema=REJECTED_SCHEMA)


def read(path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_tables_with_empty_chunks_are_written_exactly(tmp_path):
    # Arrow's CSV writer garbles tables holding a zero-length chunk; the
    # quarantine must write what it was given, byte for byte.
    junk = [pa.array([f"leftover-{i}-" * 40 for i in range(3000)]) for _ in range(20)]
    del junk
    two = rows(line=[3, 6], field=["(row)", "type"], reason=["r1", "r2"], row=['["a"]', "{}"])
    chunked = pa.concat_tables([REJECTED_SCHEMA.empty_table(), two])
    q = Quarantine(tmp_path / "q.csv")
    part = q.part("in.csv")
    part.write(chunked)
    part.commit()
    assert read(tmp_path / "q.csv") == [
        list(QUARANTINE_COLUMNS),
        ["in.csv", "3", "(row)", "r1", '["a"]'],
        ["in.csv", "6", "type", "r2", "{}"],
    ]


def test_discarded_part_leaves_nothing_and_commits_append(tmp_path):
    q = Quarantine(tmp_path / "q.csv")
    gone = q.part("a.csv")
    gone.write(rows(line=[2], field=["type"], reason=["x"], row=["{}"]))
    gone.discard()
    assert not (tmp_path / "q.csv").exists() and list(tmp_path.iterdir()) == []
    for name in ("b.csv", "c.csv"):
        part = q.part(name)
        part.write(rows(line=[2], field=["type"], reason=["x"], row=["{}"]))
        part.commit()
    assert [r[0] for r in read(tmp_path / "q.csv")[1:]] == ["b.csv", "c.csv"]
    assert q.rows == 2
