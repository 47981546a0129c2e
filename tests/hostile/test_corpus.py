"""The hostile-input corpus (tests/hostile/corpus.py) through `koc ingest`
and a real `koc serve`: every case ends in a clean report or a clear
error, within a time and memory limit, and the store reads afterwards."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from graph.embedded import EmbeddedStore
from graph.store import Window
from tests.api.conftest import ADMIN, ADMIN_KEY, KOC, koc_serve
from tests.conftest import run_measured
from tests.hostile.corpus import CASES, Case

SECONDS = 60  # each case; the slowest takes a few seconds
MEMORY_BYTES = 1 << 30  # peak resident memory of any one ingest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    paths = {}
    for case in CASES:
        folder = root / case.name
        folder.mkdir()
        paths[case.name] = case.write(folder)
    return paths


def _ingest_case(case: Case, path: Path, folder: Path) -> str | None:
    """Run one case through `koc ingest`; what went wrong, or None."""
    store = folder / "s.duckdb"
    env = {"KOC_STORE_URL": str(store), "KOC_QUARANTINE_DIR": str(folder)}
    done, peak = run_measured(
        [str(KOC), "ingest", str(path), "--json"],
        peak_file=folder / "peak",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SECONDS,
    )
    if peak >= MEMORY_BYTES:
        return f"peak memory {peak >> 20} MiB"
    if "Traceback" in done.stderr + done.stdout:
        return f"a traceback: {done.stderr[-2000:]}"
    if case.outcome == "report":
        if done.returncode != 0:
            return f"exit {done.returncode}: {done.stderr}"
        report = json.loads(done.stdout)
        accounted = report["accepted"] + report["duplicates"] + report["conflicts"]
        if report["events"] != accounted + report["rejected"]:
            return f"rows unaccounted for: {report}"
        if (report["rejected"] or report["conflicts"]) and not report["quarantine"]:
            return f"rows set aside without a quarantine: {report}"
    else:
        lines = done.stderr.strip().splitlines()
        if (
            done.returncode != 1
            or done.stdout
            or len(lines) != 1
            or not lines[0].startswith("error: ")
        ):
            return f"not one clear error (exit {done.returncode}): {done.stderr}"
    if store.exists():  # the store reads afterwards
        with EmbeddedStore(store, read_only=True) as s:
            s.stats()
            s.read_graph(Window())
    return None


def test_koc_ingest_ends_every_case_cleanly(corpus, tmp_path):
    """Two cases at a time (the machine's cores), each its own `koc ingest`
    process under the time and memory limits."""
    for case in CASES:
        (tmp_path / case.name).mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = {
            case.name: pool.submit(_ingest_case, case, corpus[case.name], tmp_path / case.name)
            for case in CASES
        }
        found = {name: future.result() for name, future in problems.items()}
    assert {name: problem for name, problem in found.items() if problem} == {}


def test_the_api_answers_every_case_and_keeps_serving(corpus, tmp_path):
    env = {
        "KOC_STORE_URL": str(tmp_path / "s.duckdb"),
        "KOC_QUARANTINE_DIR": str(tmp_path / "q"),
        "KOC_API_KEYS": f"admin:{ADMIN_KEY}",
    }
    with koc_serve(env) as server:
        for case in CASES:
            path = corpus[case.name]
            with open(path, "rb") as f:
                answer = httpx.post(
                    f"{server.base}/v1/events/upload",
                    files={"file": (path.name, f)},
                    headers=ADMIN,
                    timeout=SECONDS,
                )
            expected = {200} if case.outcome == "report" else {400, 413, 415, 422}
            assert answer.status_code in expected, (case.name, answer.text)
            assert answer.json()["detail" if answer.status_code != 200 else "read"]
            assert httpx.get(f"{server.base}/health", timeout=5).json()["store_reachable"]
        # the store reads: two orders at one second (100 + 250) and the first
        # version of a re-sent one (10; its 5,000,000 was a conflict)
        buyer = httpx.get(f"{server.base}/v1/users/hostile-b", headers=ADMIN, timeout=10)
        assert buyer.status_code == 200 and buyer.json()["amount"] == 360.0, buyer.text
        top = httpx.get(f"{server.base}/v1/referrers/top", headers=ADMIN, timeout=10)
        assert top.status_code == 200 and top.json()["items"][0]["id"] == "hostile-a"
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_kib = int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1])
        assert peak_kib * 1024 < 2 * MEMORY_BYTES
    assert "Traceback" not in server.output, server.output[-3000:]
