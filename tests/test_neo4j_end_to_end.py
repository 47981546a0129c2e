"""The product end to end on a real Neo4j, exactly as a user drives it: the
`koc` command line as subprocesses (generate, ingest, stats, analyze, kocs,
flags, export) and `koc serve` answering the API and the explorer; then the
same run on a fresh embedded store. Both stores must give the same numbers:
counts, every user's metrics, communities, KOC picks, flags, export rows and
API answers.

Each run records every step, even after one fails, so a failing comparison
names the step and what it printed."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.store import SavedSnapshot
from graph.store_url import open_store
from tests.api.conftest import ADMIN_KEY, KOC, VIEWER, VIEWER_KEY, koc_serve
from tests.conftest import NEO4J_PASSWORD, NEO4J_URL, fresh_neo4j_store, needs_neo4j
from tests.run_differences import (
    VOLATILE,
    differences,
    keyed_flags,
    table_differences,
    without_positions,
    without_snapshot_name,
)

pytestmark = needs_neo4j

USERS, SEED = 2000, 7
K = 20  # KOCs picked, exported and drawn
STEP_TIMEOUT = 180
VOLATILE_HEALTH = {"store", "snapshot_id", "snapshot_computed_at", "snapshot_age_seconds"}


@dataclass
class Run:
    """What one store gave at every step of the run."""

    name: str
    env: dict[str, str]
    out: dict[str, Any] = field(default_factory=dict)  # step -> parsed output
    failed: dict[str, str] = field(default_factory=dict)  # step -> what went wrong

    def __getitem__(self, step: str) -> Any:
        if step in self.failed:
            pytest.fail(f"{self.name}: step {step!r} failed: {self.failed[step]}", pytrace=False)
        return self.out[step]

    def koc(self, step: str, *args: str, parse=json.loads) -> None:
        """Run `koc ARGS` with this run's store; keep its parsed stdout."""
        try:
            done = subprocess.run(
                [str(KOC), *args],
                env={**os.environ, **self.env},
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            self.failed[step] = f"koc {' '.join(args)} ran past {STEP_TIMEOUT}s"
            return
        if done.returncode != 0:
            self.failed[step] = (
                f"koc {' '.join(args)} exited {done.returncode}: {_tail(done.stderr)}"
            )
            return
        self.capture(step, lambda: parse(done.stdout))

    def capture(self, step: str, get) -> None:
        """Keep what get() gives as the step's output (unless `koc` already failed it)."""
        if step in self.failed:
            return
        try:
            self.out[step] = get()
        except Exception as exc:  # noqa: BLE001 - recorded, reported by the test that needs it
            self.failed[step] = f"{type(exc).__name__}: {_tail(str(exc))}"


def _tail(text: str, lines: int = 6) -> str:
    """The last lines of an error, without the Neo4j driver's notices."""
    kept = [
        line
        for line in text.strip().splitlines()
        if line.strip() and not line.startswith("Received notification from DBMS server")
    ]
    return " | ".join(kept[-lines:])[-1500:] or "(nothing printed)"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> dict[str, Any]:
    """`koc generate`: the events, the generator's summary, the planted truth,
    and a few users to look up through the API."""
    work = tmp_path_factory.mktemp("campaign")
    path = work / "events.csv"
    done = subprocess.run(
        [str(KOC), "generate", "--users", str(USERS), "--seed", str(SEED), "--out", str(path)]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=True,
    )
    summary = json.loads(done.stdout)
    truth = json.loads(Path(summary["truth"]).read_text())
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    joins = Counter(r["invitee_id"] for r in rows if r["type"] == "join")
    # A user joined once, through an inviter: referred, with a referral chain.
    referred = [
        r["invitee_id"]
        for r in rows
        if r["type"] == "join" and r["inviter_id"] and joins[r["invitee_id"]] == 1
    ]
    converted = [r["invitee_id"] for r in rows if r["type"] == "convert"]
    probes = [truth["planted_kocs"][0], truth["farm_accounts"][0], referred[-1], converted[0]]
    return {"path": path, "summary": summary, "probes": probes}


def product_run(name: str, store_url: str, work: Path, campaign: dict[str, Any]) -> Run:
    """Everything a user does with the campaign, on the store at store_url."""
    run = Run(
        name,
        {
            "KOC_STORE_URL": store_url,
            "KOC_QUARANTINE_DIR": str(work / "quarantine"),
            "KOC_DUCKDB_MEMORY_LIMIT": "512MB",
            "KOC_NEO4J_PASSWORD": NEO4J_PASSWORD or "",
            "KOC_API_KEYS": "",
        },
    )
    run.koc("ingest", "ingest", str(campaign["path"]), "--json", "--quiet")
    run.koc("stats", "stats", "--json")
    run.koc("analyze", "analyze", "--json")
    run.capture("snapshot", lambda: _latest_snapshot(store_url))
    run.koc("kocs", "kocs", "--k", str(K), "--json")
    run.koc("flags", "flags", "--json", "--limit", "100000")
    export = work / "kocs.csv"
    run.koc("export", "export", "--out", str(export), "--k", str(K), parse=lambda _: None)
    run.capture("export", lambda: _csv_rows(export))
    run.capture("manifest", lambda: json.loads(Path(f"{export}.manifest.json").read_text()))
    served_env = {**run.env, "KOC_API_KEYS": f"admin:{ADMIN_KEY},viewer:{VIEWER_KEY}"}
    try:
        with koc_serve(served_env, "--no-access-log") as server:
            _api_answers(run, server.base, campaign["probes"])
    except AssertionError as exc:  # koc_serve: the server did not start
        run.failed["serve"] = f"koc serve: {exc}"
    return run


def _latest_snapshot(store_url: str) -> SavedSnapshot:
    with open_store(store_url, read_only=True, neo4j_password=NEO4J_PASSWORD) as store:
        snapshot = store.latest_snapshot()
    assert snapshot is not None, "koc analyze saved no snapshot"
    return snapshot


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _api_answers(run: Run, base: str, probes: list[str]) -> None:
    def get(path: str, key: bool = True, **params: Any) -> httpx.Response:
        answer = httpx.get(
            f"{base}{path}", params=params, headers=VIEWER if key else {}, timeout=60
        )
        if answer.is_error:
            raise AssertionError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
        return answer

    run.capture("health", lambda: get("/health", key=False).json())
    run.capture("unauthorised", lambda: httpx.get(f"{base}/v1/kocs", timeout=60).status_code)
    run.capture("api kocs", lambda: get("/v1/kocs", k=K).json())
    for by in ("invites", "effective_invites", "koc_score"):
        run.capture(f"api top {by}", lambda by=by: get("/v1/referrers/top", by=by, limit=50).json())
    for user in probes:
        run.capture(f"api user {user}", lambda user=user: get(f"/v1/users/{user}").json())
    run.capture("explorer page", lambda: get("/explorer", key=False))
    run.capture("explorer view", lambda: get("/v1/explorer/view", view="searchlight", k=K).json())


@pytest.fixture(scope="module")
def neo4j_run(tmp_path_factory, campaign) -> Run:
    fresh_neo4j_store().close()
    return product_run("neo4j", NEO4J_URL, tmp_path_factory.mktemp("neo4j-run"), campaign)


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory, campaign) -> Run:
    work = tmp_path_factory.mktemp("embedded-run")
    return product_run("embedded", str(work / "store.duckdb"), work, campaign)


@pytest.fixture(params=["embedded", "neo4j"])
def run(request) -> Run:
    return request.getfixturevalue(f"{request.param}_run")


@pytest.fixture
def both(embedded_run, neo4j_run) -> Iterator[tuple[Run, Run]]:
    yield embedded_run, neo4j_run


# -- each store on its own: every step works and the steps agree ------------


def test_ingest_stats_and_analysis_account_for_every_event(run, campaign):
    events = campaign["summary"]["events"]
    ingest, stats, summary = run["ingest"], run["stats"], run["analyze"]
    assert (ingest["read"], ingest["accepted"], ingest["rejected"]) == (events, events, 0)
    assert stats["events"] == sum(stats["events_by_type"].values()) == events
    assert stats["users"] >= USERS and stats["batches"] == 1
    assert stats["referred_edges"] > 0 and stats["invited_ties"] > 0
    # Every joined user has at most one referrer; every tie joins two users.
    assert stats["referred_edges"] <= stats["events_by_type"]["join"]
    assert (summary["users"], summary["referred_edges"], summary["invited_ties"]) == (
        stats["users"],
        stats["referred_edges"],
        stats["invited_ties"],
    )
    snapshot = run["snapshot"]
    assert snapshot.id == summary["id"] and snapshot.users.num_rows == stats["users"]
    assert summary["flagged_users"] > 0  # the campaign plants reward farms


def test_kocs_export_and_api_agree(run):
    picks = [r["user_id"] for r in run["kocs"]["rows"]]
    assert len(picks) == K, run["kocs"]["notes"]
    export = run["export"]
    assert export[0][:2] == ["rank", "user id"]
    assert [row[1] for row in export[1:]] == picks
    assert run["manifest"]["snapshot_id"] == run["analyze"]["id"]
    assert [r["user_id"] for r in run["api kocs"]["items"]] == picks
    flagged = {u["user_id"] for u in run["flags"]["users"]}
    assert run["flags"]["total"] == run["analyze"]["flagged_users"] == len(flagged)
    assert not flagged & set(picks)


def test_the_server_answers(run, campaign):
    health = run["health"]
    assert health["status"] == "ok" and health["store_reachable"]
    assert health["snapshot_id"] == run["analyze"]["id"]
    assert run["unauthorised"] == 401
    top = run["api top invites"]["items"]
    assert top and [r["invites"] for r in top] == sorted((r["invites"] for r in top), reverse=True)
    users = {r["id"]: r for r in run["snapshot"].users.to_pylist()}
    for user in campaign["probes"]:
        detail = run[f"api user {user}"]
        assert detail["id"] == user and detail["in_snapshot"]
        assert detail["koc_score"] == pytest.approx(users[user]["koc_score"], abs=1e-3)
    referred = run[f"api user {campaign['probes'][2]}"]
    assert referred["referred_by"] and referred["chain"][0] == referred["referred_by"]
    page = run["explorer page"]
    assert page.headers["content-type"].startswith("text/html") and "<html" in page.text.lower()
    view = run["explorer view"]
    assert view["snapshot_id"] == run["analyze"]["id"]
    drawn = {n["id"] for n in view["nodes"]}
    assert {n["id"] for n in view["nodes"] if n["koc"]} == {
        r["user_id"] for r in run["api kocs"]["items"]
    }
    assert view["edges"] and all({e["source"], e["target"]} <= drawn for e in view["edges"])


# -- the two stores: the same numbers ------------------------------------


def test_same_counts(both):
    embedded, neo4j = both
    assert differences(embedded["ingest"], neo4j["ingest"]) == []
    assert differences(embedded["stats"], neo4j["stats"]) == []


def test_same_user_metrics(both):
    """Every column of the snapshot's users table, for every user."""
    embedded, neo4j = both
    assert table_differences(embedded["snapshot"].users, neo4j["snapshot"].users, "id") == []


def test_same_communities(both):
    embedded, neo4j = both
    assert differences(embedded["analyze"], neo4j["analyze"]) == []
    a, b = embedded["snapshot"], neo4j["snapshot"]
    assert table_differences(a.communities, b.communities, "community") == []


def test_same_flags(both):
    """The same users flagged by the same rules with the same evidence, and
    the review queue (`koc flags`) listing them in the same order."""
    embedded, neo4j = both
    a, b = (keyed_flags(run["snapshot"]) for run in both)
    assert table_differences(a, b, "key") == []
    assert differences(embedded["flags"], neo4j["flags"]) == []


def test_same_koc_picks(both):
    embedded, neo4j = both
    ids = [[r["user_id"] for r in run["kocs"]["rows"]] for run in both]
    assert ids[1] == ids[0]
    assert differences(embedded["kocs"], neo4j["kocs"]) == []


def test_same_export_rows(both):
    embedded, neo4j = both
    assert neo4j["export"] == embedded["export"]
    assert (
        differences(
            embedded["manifest"],
            neo4j["manifest"],
            volatile=VOLATILE | {"exported_at", "snapshot_computed_at"},
        )
        == []
    )


def test_same_api_answers(both, campaign):
    embedded, neo4j = both
    steps = ["api kocs", "api top invites", "api top effective_invites", "api top koc_score"]
    steps += [f"api user {user}" for user in campaign["probes"]]
    found = {}
    for step in steps:
        a, b = (without_snapshot_name(run[step]) for run in both)
        found[step] = differences(a, b)
    found["health"] = differences(embedded["health"], neo4j["health"], volatile=VOLATILE_HEALTH)
    # Two servers on the same data draw the same users and ties, but not at
    # the same positions (not even two embedded stores): the layout follows
    # the order the store returns ties in. Compared without positions, ties
    # as a sorted list.
    views = [without_positions(run["explorer view"]) for run in both]
    found["explorer view"] = differences(views[0], views[1])
    assert {step: lines for step, lines in found.items() if lines} == {}


# -- comparing -------------------------------------------------------------
