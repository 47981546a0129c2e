"""Fixtures of the store contract suite: each test runs once per backend.

A new backend joins by adding itself to BACKENDS (and, when it needs a
server, a skip mark to SKIPS).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from graph.ingest import IngestReport, ingest_file
from graph.store import Store
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.conftest import HEADER, fresh_neo4j_store, needs_neo4j, write_csv


def embedded(tmp_path: Path) -> Store:
    return EmbeddedStore(tmp_path / "contract.duckdb", memory_limit="512MB")


def neo4j(tmp_path: Path) -> Store:
    return fresh_neo4j_store()


BACKENDS = {"embedded": embedded, "neo4j": neo4j}
SKIPS = {"neo4j": needs_neo4j}
PARAMS = [pytest.param(name, marks=SKIPS.get(name, ())) for name in sorted(BACKENDS)]


class Feed:
    """An empty store of one backend and a way to feed it event files.

    Times in the files are UTC (ingested with timezone="UTC"), so the
    expected answers read the same as the rows."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store = store
        self.tmp_path = tmp_path
        self.files = 0

    def write(self, rows: list[list[str]], header: list[str] = HEADER) -> Path:
        self.files += 1
        return write_csv(self.tmp_path / f"events-{self.files}.csv", rows, header)

    def ingest(self, path: Path) -> IngestReport:
        quarantine = Quarantine(self.tmp_path / f"quarantine-{path.stem}.csv")
        return ingest_file(self.store, path, quarantine=quarantine, timezone="UTC")

    def load(self, rows: list[list[str]], header: list[str] = HEADER) -> IngestReport:
        """Write the rows to a new file and ingest it; every row must be valid."""
        report = self.ingest(self.write(rows, header))
        assert report.rejected == 0, report
        return report


@pytest.fixture(params=PARAMS)
def feed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Feed]:
    """An empty store of each backend, fed by the test."""
    store = BACKENDS[request.param](tmp_path)
    yield Feed(store, tmp_path)
    store.close()


@pytest.fixture(params=PARAMS)
def loaded(request: pytest.FixtureRequest, tmp_path: Path):
    """A store of each backend holding the same generated campaign."""
    store = BACKENDS[request.param](tmp_path)
    events, truth = generate_campaign(users=3000, seed=9)
    path = tmp_path / "events.csv"
    write_campaign(events, truth, path, "csv")
    report = ingest_file(store, path, quarantine=Quarantine(tmp_path / "q.csv"))
    yield store, events, report
    store.close()
