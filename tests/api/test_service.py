"""The service's cache: once per store version, one computation per key."""

from __future__ import annotations

import threading
import time

from api.service import Service
from api.settings import Settings
from graph.analysis.kocs import KocParams
from tests.api.conftest import ADMIN_KEY


class FakeStore:
    url = "memory://"

    def close(self) -> None:
        pass


def test_cached_computes_once_per_version_even_when_asked_at_once():
    service = Service(FakeStore(), Settings())
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return len(calls)

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(service.cached(("k",), slow)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 8 and len(calls) == 1
    assert service.peek(("k",)) == 1 and service.peek(("other",)) is None
    service.changed()
    assert service.peek(("k",)) is None
    assert service.cached(("k",), slow) == 2


def test_a_change_during_a_computation_is_not_cached_as_current():
    service = Service(FakeStore(), Settings())

    def racing() -> str:
        service.changed()  # e.g. an ingest landed while this was computed
        return "stale"

    assert service.cached(("k",), racing) == "stale"
    assert service.peek(("k",)) is None


def test_the_server_warms_the_default_koc_list(client):
    service = client.app.state.service
    for _ in range(200):
        if service.peek(("kocs", KocParams())) is not None:
            break
        time.sleep(0.05)
    warmed = service.peek(("kocs", KocParams()))
    assert warmed is not None and len(warmed.rows) == 50


def test_a_server_shutting_down_stops_its_warm_up_between_steps(analysed_store, tmp_path):
    """Closing waits for background work: the warm-up stops at its next step
    instead of computing rankings and the dashboard nobody will read."""
    import shutil

    from api.app import _warm_up
    from graph.embedded import EmbeddedStore

    shutil.copy(analysed_store, tmp_path / "s.duckdb")
    service = Service(EmbeddedStore(tmp_path / "s.duckdb"), Settings())
    steps: list[tuple] = []
    cached = service.cached

    def record(key, compute, *args, **kwargs):
        steps.append(key)
        if key[:1] == ("kocs",):
            service._stop.set()  # the server is told to stop while the KOC list is made
        return cached(key, compute, *args, **kwargs)

    service.cached = record
    _warm_up(service)
    service.close()
    assert steps and all(key[:1] == ("kocs",) or "snapshot" in str(key[:1]) for key in steps), steps


def test_writes_by_another_process_reach_the_cache(make_client):
    """A review recorded straight in the store (as the CLI would on a shared
    Neo4j) drops the cached queue within the watch interval."""
    client = make_client(cache_check_seconds=0.05)
    headers = {"X-API-Key": ADMIN_KEY}
    first = client.get("/v1/flags?status=declined", headers=headers).json()
    assert first["total"] == 0
    service = client.app.state.service
    flagged = service.snapshot().flags["user_id"][0].as_py()
    service.store.record_review(flagged, "declined", "farm", "cli-user")  # not through the API
    for _ in range(100):
        now = client.get("/v1/flags?status=declined", headers=headers).json()
        if now["total"]:
            break
        time.sleep(0.05)
    assert [e["user_id"] for e in now["items"]] == [flagged]
