from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite reads English unless a test asks for Chinese (use_lang, --lang,
# Accept-Language): the product's default is Chinese (KOC_LANG, docs/i18n.md).
os.environ.setdefault("KOC_LANG", "en")

from graph.embedded import EmbeddedStore
from graph.ingest import IngestReport, ingest_file
from loaders.mapping import Mapping
from loaders.quarantine import Quarantine

# The Neo4j the tests use: `make test` starts the repo's own (neo4j-server/)
# and sets these; any Neo4j 5 works (its database is emptied by the tests).
NEO4J_URL = os.environ.get("KOC_TEST_NEO4J_URL")
NEO4J_PASSWORD = os.environ.get("KOC_NEO4J_PASSWORD")
NEO4J_SKIP_REASON = (
    "Neo4j tests need KOC_TEST_NEO4J_URL: `make test` starts Neo4j where java and mvn are "
    "present"
    + (
        f" ({os.environ['KOC_TEST_NEO4J_MISSING']})"
        if os.environ.get("KOC_TEST_NEO4J_MISSING")
        else ""
    )
)
# Put on every test that talks to a real Neo4j: skipped without one, counted with one.
needs_neo4j = [
    pytest.mark.neo4j,
    pytest.mark.skipif(not NEO4J_URL, reason=NEO4J_SKIP_REASON),
    # One database for every Neo4j test, each emptying it first: under
    # pytest-xdist they all run in one worker, one after another.
    pytest.mark.xdist_group("neo4j"),
]


def fresh_neo4j_store(**options):
    """The Neo4j at KOC_TEST_NEO4J_URL, its database emptied first."""
    from graph import cypher
    from graph.neo4j_store import Neo4jStore

    store = Neo4jStore(NEO4J_URL, password=NEO4J_PASSWORD, **options)
    while store._runner.write(cypher.DELETE_EVERYTHING, {"limit": 10_000})[0]["deleted"]:
        pass
    return store


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "neo4j: runs against a real Neo4j server")


_neo4j_ran: list[str] = []
_neo4j_seen: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Reports reach the controller from pytest-xdist's workers too.
    if "neo4j" in report.keywords and report.when in ("setup", "call"):
        _neo4j_seen.append(report.nodeid)
        if report.when == "call" and report.passed:
            _neo4j_ran.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """CI must run the Neo4j tests, not skip them: zero of them is a failure."""
    if os.environ.get("CI") and _neo4j_seen and not _neo4j_ran:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(
                f"FAILED: CI ran none of the {len(set(_neo4j_seen))} Neo4j tests "
                f"({NEO4J_SKIP_REASON})",
                red=True,
            )


# The real networks of ../shared/data (README there): beside the repo, or
# where KOC_SHARED_DATA points.
SHARED_DATA = Path(
    os.environ.get("KOC_SHARED_DATA")
    or Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
)


def shared_data(name: str) -> Path:
    """The shared data file `name`; skips the calling test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"shared data {name} not found at {path} (set KOC_SHARED_DATA to its folder)")
    return path


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


def write_named_events(path: Path) -> Path:
    """Events naming bob twice and then not at all: his latest name (with a
    mobile number in it) is the second; the others have none."""
    rows = [
        ["", "join", "alice", "bob", "2024-05-01 10:00:00", "Bob"],
        ["", "invite", "carol", "bob", "2024-05-02 10:00:00", "小明 138-1234-5678"],
        ["", "invite", "carol", "bob", "2024-05-03 10:00:00", ""],
        ["", "join", "bob", "dan", "2024-05-01 11:00:00", ""],
    ]
    return write_csv(path, rows, [*HEADER[:5], "invitee_name"])


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


# Runs a command and reports its own peak memory. Linux carries a process's
# peak resident size across fork and exec, so a child of the test process
# (grown to a gigabyte over the session) reports at least that much; a child
# of this small launcher reports only its own.
_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(done.returncode)
"""


def run_measured(
    command: list[str], *, peak_file: Path, **options
) -> tuple[subprocess.CompletedProcess, int]:
    """subprocess.run(command, **options), and the command's peak resident
    memory in bytes (written to `peak_file` by a small launcher)."""
    done = subprocess.run([sys.executable, "-c", _MEASURED, str(peak_file), *command], **options)
    return done, int(peak_file.read_text()) * 1024
