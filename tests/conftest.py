from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from graph.ingest import IngestReport, ingest_file
from loaders.mapping import Mapping
from loaders.quarantine import Quarantine

HEADER = ["event_id", "type", "inviter_id", "invitee_id", "occurred_at", "campaign", "amount"]


def write_csv(
    path: Path,
    rows: list[list[str]],
    header: list[str] = HEADER,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "store.duckdb", memory_limit="1GB")
    yield s
    s.close()


@pytest.fixture
def ingest(store: EmbeddedStore, tmp_path: Path):
    """Ingest a file into the test store; the quarantine goes to tmp_path."""

    def run(
        path: Path,
        mapping: Mapping | None = None,
        timezone: str = "Asia/Shanghai",
        quarantine: Path | None = None,
    ) -> IngestReport:
        q = Quarantine(quarantine or tmp_path / "quarantine.csv")
        return ingest_file(store, path, quarantine=q, mapping=mapping, timezone=timezone)

    return run


def table_rows(store: EmbeddedStore, sql: str) -> list[tuple]:
    return store.connection.execute(sql).fetchall()
