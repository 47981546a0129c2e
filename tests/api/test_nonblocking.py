"""A server that never blocks: reads beside a running write, a cap on
expensive computations, and a cache counted in bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from api.cache import MISSING, SizedCache, approx_bytes
from api.explorer_models import ViewParams
from api.service import Service
from api.settings import Settings
from graph.ingest import ingest_file
from loaders.quarantine import Quarantine
from tests.api.conftest import ADMIN, VIEWER
from tests.conftest import write_csv


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """call()'s result, or a failure when it has not answered in `seconds`."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def wait_for(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


# -- reads beside a write ------------------------------------------------------


def test_health_reads_and_analyses_go_on_while_an_ingest_holds_the_store(make_client, tmp_path):
    client = make_client(analysis_wait_seconds=0)
    service = client.app.state.service
    user_id = service.snapshot().users["id"][0].as_py()
    watermark = service.store.watermark()
    rows = [
        ["", "join", f"new-{i}", f"new-{i + 1}", "2026-11-01 10:00:00", "", ""] for i in range(500)
    ]
    path = write_csv(tmp_path / "new.csv", rows)
    inside, release = threading.Event(), threading.Event()

    def hold(done: int, total: int) -> None:
        # Called while the batch is being applied, inside its write transaction.
        if not inside.is_set():
            inside.set()
            release.wait(120)

    done: dict = {}
    ingesting = threading.Thread(
        target=lambda: done.update(
            report=ingest_file(
                service.store, path, quarantine=Quarantine(tmp_path / "q.csv"), progress=hold
            )
        )
    )
    ingesting.start()
    try:
        assert inside.wait(30)
        health = within(10, lambda: client.get("/health"))
        assert health.json()["status"] == "ok" and health.json()["watermark"] == watermark
        assert health.json()["snapshot_id"] == service.snapshot().id
        user = within(10, lambda: client.get(f"/v1/users/{user_id}", headers=VIEWER))
        assert user.status_code == 200 and user.json()["id"] == user_id
        top = within(10, lambda: client.get("/v1/referrers/top?by=conversions", headers=VIEWER))
        assert top.status_code == 200 and top.json()["items"]
        # An analysis reads its whole graph meanwhile; only its save waits.
        started = within(10, lambda: client.post("/v1/analyses", headers=ADMIN))
        job = service.jobs[started.json()["id"]]
        assert wait_for(lambda: job.stage == "saving" or job.status != "running")
        assert job.status == "running" and job.stage == "saving" and not done
    finally:
        release.set()
        ingesting.join(60)
    assert done["report"].accepted == 500
    assert job.done is not None and job.done.wait(60) and job.status == "succeeded", job.error
    assert service.store.watermark() == watermark + 1


# -- the cap on expensive computations -----------------------------------------


def test_expensive_work_beyond_the_cap_is_refused_with_retry_after(make_client):
    client = make_client(max_expensive_jobs=1)
    service = client.app.state.service
    # the warm-up's last step (the explorer's default view, as viewer keys see
    # its names: api.names) is done
    warmed = ("json", "en", "view", ViewParams(), False)
    assert wait_for(lambda: service.peek(warmed) is not None)
    with service.expensive():  # the one slot is taken (as by a running influence pick)
        busy = client.get("/v1/kocs?k=7&strategy=influence&seed=5", headers=VIEWER)
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
        assert "KOC_MAX_EXPENSIVE_JOBS" in busy.json()["detail"]
        # a list already computed pages without a slot
        page = client.get("/v1/kocs?k=50&limit=5&offset=3", headers=VIEWER)
        assert page.status_code == 200 and len(page.json()["items"]) == 5
        view = client.get("/v1/explorer/view?k=9", headers=VIEWER)
        assert view.status_code == 503
    again = client.get("/v1/kocs?k=7&strategy=influence&seed=5", headers=VIEWER)
    assert again.status_code == 200 and len(again.json()["items"]) == 7


def test_the_slots_are_released_after_a_failure_too():
    service = Service(FakeStore(), Settings(max_expensive_jobs=1))
    for _ in range(3):
        try:
            with service.expensive():
                raise ValueError("a computation that failed")
        except ValueError:
            pass
    with service.expensive():
        pass


# -- the cache counted in bytes ------------------------------------------------


@dataclass
class Snapshot:
    users: np.ndarray


class FakeStore:
    url = "memory://"

    def __init__(self) -> None:
        self.snapshot = Snapshot(np.zeros(1 << 18))  # 2 MiB, over the whole budget

    def latest_snapshot(self) -> Snapshot:
        return self.snapshot

    def close(self) -> None:
        pass


class SlowStore(FakeStore):
    """Its snapshot loads wait while `gate` is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.loading = threading.Event(), threading.Event()
        self.gate.set()

    def latest_snapshot(self) -> Snapshot:
        self.loading.set()
        assert self.gate.wait(60)
        self.snapshot = Snapshot(np.zeros(1))
        return self.snapshot


def test_health_does_not_wait_for_a_snapshot_load_another_request_started():
    store = SlowStore()
    service = Service(store, Settings())
    first = service.snapshot()
    service.changed()  # e.g. an ingest: the next question loads the snapshot again
    store.gate.clear()
    store.loading.clear()
    loaded: list = []
    loader = threading.Thread(target=lambda: loaded.append(service.snapshot()))
    loader.start()
    try:
        assert store.loading.wait(10)
        assert within(5, service.snapshot_now) is first
    finally:
        store.gate.set()
        loader.join(10)
    assert loaded[0] is not first and service.snapshot_now() is loaded[0]


def test_health_never_loads_the_snapshot_again_after_a_write_that_kept_it():
    """An ingest or a review cannot change the latest snapshot: /health goes
    on naming it while nobody has reloaded it yet (it came in 1.1 s late
    when it loaded the snapshot itself right after an upload)."""
    store = SlowStore()
    service = Service(store, Settings())
    first = service.snapshot()
    store.loading.clear()
    store.gate.clear()  # any load from here on hangs until the gate opens
    try:
        service.changed(kept_latest=True)
        assert within(5, service.snapshot_now) is first
        assert not store.loading.is_set()
        service.changed()  # e.g. another process wrote: the latest may be new
        answer = ThreadPoolExecutor(1).submit(service.snapshot_now)
        assert store.loading.wait(10)  # it loads again
    finally:
        store.gate.set()
    assert answer.result(timeout=10) is store.snapshot is not first


def test_paging_never_evicts_the_snapshot_and_the_budget_is_in_bytes():
    service = Service(FakeStore(), Settings(cache_mb=1))
    snapshot = service.snapshot()
    for i in range(300):  # 300 pages of 20 kB: 6 MB through a 1 MiB budget
        service.cached(("json", "page", i), lambda: bytes(20_000))
    assert service.peek(("snapshot",)) is snapshot
    assert service.snapshot() is snapshot  # not loaded again
    # about 50 pages fit: the latest stay, the earlier ones went
    assert all(service.peek(("json", "page", i)) is not None for i in range(260, 300))
    assert all(service.peek(("json", "page", i)) is None for i in range(0, 220))


def test_the_cache_drops_the_least_recently_used_first():
    cache = SizedCache(100_000, pinned=lambda key: key == "pinned")
    for key in "abcd":
        cache.put(key, bytes(20_000))
    cache.get("a")  # used again: b is now the oldest
    cache.put("e", bytes(30_000))  # 110 kB: one entry must go
    assert {k for k in "abcde" if cache.get(k) is not MISSING} == {"a", "c", "d", "e"}
    cache.put("big", bytes(200_000))  # alone over the budget: not kept, nothing pushed out
    assert cache.get("big") is MISSING and cache.get("a") is not MISSING
    cache.put("pinned", bytes(500_000))  # kept besides the budget
    assert cache.get("pinned") is not MISSING and cache.bytes <= 100_000


def test_sizes_are_estimated_from_what_values_hold():
    assert approx_bytes(np.zeros(10_000)) >= 80_000
    table = pa.table({"x": np.arange(100_000)})
    assert approx_bytes(table) >= 800_000
    rows = [Snapshot(np.zeros(100)) for _ in range(10_000)]  # sampled, not walked
    assert 8_000_000 <= approx_bytes(rows) <= 20_000_000
    assert approx_bytes({"k": "v" * 1000}) >= 1000
