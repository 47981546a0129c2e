"""`koc serve`: a real uvicorn server on loopback, and its refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
from urllib.parse import quote

import httpx

from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.quarantine import Quarantine
from tests.api.conftest import KOC, VIEWER, VIEWER_KEY, free_port, koc_serve
from tests.conftest import write_csv


def test_serve_answers_on_loopback_and_holds_the_store(tmp_path, analysed_store):
    store = tmp_path / "store.duckdb"
    shutil.copy(analysed_store, store)
    awkward = "x%2Fy/?#z"  # percent signs and slashes in an id, as exports hold them
    rows = [["", "join", "awk-root", awkward, "2026-06-01 10:00:00", "", ""]]
    with EmbeddedStore(store) as s:
        path = write_csv(tmp_path / "awk.csv", rows)
        ingest_file(s, path, quarantine=Quarantine(tmp_path / "q.csv"))
    env = {
        "KOC_STORE_URL": str(store),
        "KOC_API_KEYS": f"viewer:{VIEWER_KEY}",
        "KOC_QUARANTINE_DIR": str(tmp_path / "q"),
    }
    with koc_serve(env) as server:
        base = server.base
        health = httpx.get(f"{base}/health", timeout=5)
        assert health.json()["status"] == "ok" and health.json()["snapshot_id"]
        kocs = httpx.get(f"{base}/v1/kocs?k=5", headers=VIEWER, timeout=30)
        assert kocs.status_code == 200 and len(kocs.json()["items"]) == 5
        assert httpx.get(f"{base}/v1/kocs", timeout=5).status_code == 401
        user = httpx.get(f"{base}/v1/users/{quote(awkward, safe='')}", headers=VIEWER, timeout=5)
        assert user.status_code == 200 and user.json()["id"] == awkward
        # the server holds the store: a second writer is told who has it
        busy = subprocess.run(
            [KOC, "analyze"], env={**os.environ, **env}, capture_output=True, text=True
        )
        assert busy.returncode == 1 and "in use by another process" in busy.stderr
    output = server.output
    assert (
        f"{base}/explorer" in output
        and f"{base}/docs" in output
        and "/v1/exports/kocs?format=xlsx" in output
    )
    # a graceful stop: the lifespan ran to its end and closed the store
    assert "Application shutdown complete" in output, output


def test_serve_without_keys_refuses_anything_but_loopback(tmp_path):
    env = {**os.environ, "KOC_STORE_URL": str(tmp_path / "s.duckdb"), "KOC_API_KEYS": ""}
    done = subprocess.run(
        [KOC, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no API keys are configured" in done.stderr and "KOC_API_KEYS" in done.stderr
    assert not (tmp_path / "s.duckdb").exists()  # refused before opening anything


def test_serve_reports_a_bad_key_setting(tmp_path):
    env = {**os.environ, "KOC_STORE_URL": str(tmp_path / "s.duckdb"), "KOC_API_KEYS": "root:short"}
    done = subprocess.run([KOC, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "KOC_API_KEYS" in done.stderr
    assert "short" not in done.stderr.replace("shorter", "")  # the key itself is never echoed
