"""An analysed generated campaign, copied fresh for each test, served by the
app through TestClient."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli as cli_module
from api.app import create_app
from api.cli import app as cli_app
from api.settings import ApiKey, Settings
from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine

ADMIN_KEY = "admin-key-0123456789abcdef"
VIEWER_KEY = "viewer-key-0123456789abcdef"
ADMIN = {"X-API-Key": ADMIN_KEY}
VIEWER = {"X-API-Key": VIEWER_KEY}


@pytest.fixture(scope="session")
def analysed_store(tmp_path_factory) -> Path:
    """A store holding a 3,000-user campaign and its analysis (with flags)."""
    work = tmp_path_factory.mktemp("api-store")
    # The steady shape: test_app.py pins counts of this campaign (129 referrers
    # from 2026-07-20 in Asia/Shanghai, 127 from UTC's).
    events, truth = generate_campaign(users=3000, seed=9, shape="steady")
    path = work / "events.csv"
    write_campaign(events, truth, path, "csv")
    store = EmbeddedStore(work / "store.duckdb", memory_limit="512MB")
    ingest_file(store, path, quarantine=Quarantine(work / "q.csv"))
    snapshot = analyze(store)
    assert snapshot.summary()["flagged_users"] > 0  # the flag tests need some
    store.save_snapshot(snapshot.to_saved())
    store.close()
    return work / "store.duckdb"


@pytest.fixture
def make_client(tmp_path, analysed_store) -> Iterator[Callable[..., TestClient]]:
    """make_client(**settings) -> a started TestClient on a copy of the store."""
    clients: list[TestClient] = []

    def make(*, empty: bool = False, keys: bool = True, **overrides) -> TestClient:
        path = tmp_path / f"store-{len(clients)}.duckdb"
        if not empty:
            shutil.copy(analysed_store, path)
        settings = Settings(
            store_url=str(path),
            quarantine_dir=tmp_path / "quarantine",
            duckdb_memory_limit="512MB",
            # In the server's thread: a worker process per analysis costs a
            # second; tests/api/test_analysis_worker.py and every test of a
            # real `koc serve` run the worker.
            analysis_worker=overrides.pop("analysis_worker", False),
            api_keys=[ApiKey(role="admin", key=ADMIN_KEY), ApiKey(role="viewer", key=VIEWER_KEY)]
            if keys
            else [],
            **overrides,
        )
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


KOC = Path(sys.executable).with_name("koc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def koc_serve(env: dict[str, str], *options: str) -> Iterator[subprocess.Popen]:
    """A real `koc serve` on loopback with these KOC_* settings, once /health
    answers: the process, with `.base` its URL and `.output` (after it
    stopped) what it printed."""
    port = free_port()
    server = subprocess.Popen(
        [KOC, "serve", "--port", str(port), *options],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server.base = f"http://127.0.0.1:{port}"
    server.output = ""
    try:
        for _ in range(200):
            try:
                httpx.get(f"{server.base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        yield server
    finally:
        server.terminate()
        server.output, _ = server.communicate(timeout=30)


@pytest.fixture
def koc(tmp_path, monkeypatch):
    """Run `koc` in-process with the store and quarantine under tmp_path."""
    monkeypatch.setenv("KOC_STORE_URL", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("KOC_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture
def wide(monkeypatch):
    """`koc`'s consoles wide enough that no table cell, note or title wraps
    or is cut short."""
    monkeypatch.setattr(cli_module.out, "_width", 400)
    monkeypatch.setattr(cli_module.err, "_width", 400)


@pytest.fixture
def campaign(tmp_path, koc):
    """An 800-user generated campaign ingested by `koc` (its file's path)."""
    out = tmp_path / "c.parquet"
    koc("generate", "--users", 800, "--seed", 4, "--out", out)
    koc("ingest", out)
    return out


# Debian's headless Chromium, which Playwright drives for the pages' tests.
CHROMIUM = os.environ.get("KOC_TEST_CHROMIUM", "/usr/bin/chromium")


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium",
)


def recorded_page(browser, url: str, **context):
    """A page on `url` in a browser context of its own (1400x900, and
    `context`'s options), once its data is drawn (body[data-ready='1']). It
    records what it asks for, the dialogs it opens and its script errors:
    `page.requests`, `page.dialogs`, `page.errors`."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}, **context).new_page()
    page.requests, page.dialogs, page.errors = [], [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page


def close_recorded(page, screenshot: Path) -> None:
    """Leave a screenshot of a `recorded_page`, close it, and fail on any
    script error it met."""
    page.screenshot(path=str(screenshot))
    page.context.close()
    assert not page.errors, page.errors


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module (tests/api/test_explorer_page.py, test_pages.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
