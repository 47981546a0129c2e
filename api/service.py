"""The running service: the store behind one lock, the read cache and the
analysis jobs. Routes get it through `Depends(get_service)`.

The server is the store's only writer (the embedded store holds a file lock
while it is open for writing), so every change goes through here and bumps
`version`; cached answers are keyed by it and so are never stale.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from api.settings import Settings
from graph.analysis.kocs import SnapshotGraph, snapshot_graph
from graph.analysis.snapshot import AnalysisParams, EmptyWindowError, analyze
from graph.store import SavedSnapshot, Store
from loaders.errors import SearchlightError

log = logging.getLogger("searchlight.api")
T = TypeVar("T")
CACHE_ENTRIES = 256


class LockedStore:
    """A store whose every call holds one lock: a DuckDB connection must not
    be used by two threads at once, and the server answers from a pool."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()
        self.url = store.url

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


class AnalysisRunningError(SearchlightError):
    """An analysis is already running; one at a time."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"analysis {job_id} is still running; poll GET /v1/analyses/{job_id}")
        self.job_id = job_id


@dataclass
class Job:
    id: str
    params: AnalysisParams
    submitted_at: datetime
    status: str = "running"
    stage: str | None = "queued"
    finished_at: datetime | None = None
    error: str | None = None
    summary: dict | None = None
    done: threading.Event | None = None
    refused: bool = False  # the parameters themselves were wrong (an empty window)


class Service:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store: Store = LockedStore(store)  # type: ignore[assignment]
        self.settings = settings
        self.version = 0
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._in_flight: dict[tuple, threading.Lock] = {}
        self.jobs: dict[str, Job] = {}
        # Called (in a thread) when the server starts and after each analysis,
        # so the first operator does not wait for the snapshot to load.
        self.warm_up: Callable[[], None] | None = None
        self._marker: tuple | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        # Every background thread, joined before the store closes: a thread
        # left inside DuckDB when the interpreter exits aborts the process.
        self._threads: list[threading.Thread] = []

    def in_background(self, work: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=work, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def watch(self, seconds: float) -> None:
        """Every `seconds`, compare the store's change marker and drop the
        cache when it moved: another process (the CLI, a second server on the
        same Neo4j) may have written. Runs beside the requests, never in them."""
        self._marker = self.store.change_marker()

        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    marker = self.store.change_marker()
                except Exception:  # the store is away; /health says so
                    log.warning("cannot read the store's change marker", exc_info=True)
                    continue
                if marker != self._marker:
                    self._marker = marker
                    self.changed()
                    self.warm()

        self._watcher = self.in_background(loop, "store-watch")

    def warm(self) -> None:
        if self.warm_up is None:
            return
        try:
            self.warm_up()
        except Exception:  # a warm-up is a courtesy; the request will say what is wrong
            log.warning("warm-up failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        self.store.close()

    # -- the cache ---------------------------------------------------------

    def changed(self) -> None:
        """The store changed: every cached answer is out of date."""
        with self._lock:
            self.version += 1
            self._cache.clear()
        if self._watcher is not None:
            # Our own write: the watcher need not drop the cache again for it.
            try:
                self._marker = self.store.change_marker()
            except Exception:
                self._marker = None

    def cached(self, key: tuple, compute: Callable[[], T]) -> T:
        """compute() once per store version; concurrent callers of the same
        key wait for the first instead of computing it again."""
        full = (self.version, *key)
        with self._lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]
            flight = self._in_flight.setdefault(full, threading.Lock())
        with flight:
            with self._lock:
                if full in self._cache:
                    return self._cache[full]
            value = compute()
            with self._lock:
                self._in_flight.pop(full, None)
                if self.version == full[0]:
                    self._cache[full] = value
                    while len(self._cache) > CACHE_ENTRIES:
                        self._cache.popitem(last=False)
            return value

    def peek(self, key: tuple) -> Any | None:
        """A cached answer without computing it (None when absent)."""
        with self._lock:
            return self._cache.get((self.version, *key))

    def snapshot(self) -> SavedSnapshot | None:
        return self.cached(("snapshot",), self.store.latest_snapshot)

    def snapshot_graph(self) -> SnapshotGraph:
        return self.cached(("snapshot-graph",), lambda: snapshot_graph(self.store, self.snapshot()))

    # -- analyses ----------------------------------------------------------

    def start_analysis(self, params: AnalysisParams) -> Job:
        with self._lock:
            running = [j for j in self.jobs.values() if j.status == "running"]
            if running:
                raise AnalysisRunningError(running[0].id)
            job = Job(uuid.uuid4().hex, params, datetime.now(UTC), done=threading.Event())
            self.jobs[job.id] = job
        self.in_background(lambda: self._run(job), f"analysis-{job.id[:8]}")
        return job

    def _run(self, job: Job) -> None:
        def progress(stage: str) -> None:
            job.stage = stage

        try:
            snapshot = analyze(self.store, job.params, progress=progress)
            job.stage = "saving"
            self.store.save_snapshot(snapshot.to_saved())
            self.changed()
            job.summary = snapshot.summary()
            job.status = "succeeded"
        except SearchlightError as exc:
            job.status, job.error = "failed", str(exc)
            job.refused = isinstance(exc, EmptyWindowError)
        except Exception as exc:  # a bug: keep the server up, say so in the job
            log.exception("analysis %s failed", job.id)
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            job.stage = None
            job.finished_at = datetime.now(UTC)
            assert job.done is not None
            job.done.set()
        if job.status == "succeeded":
            self.warm()
