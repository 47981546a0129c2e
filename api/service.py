"""The running service: the store shared by the server's threads (writes
one at a time, reads beside them), the read cache, the cap on expensive
computations and the analysis jobs. Routes get it through
`Depends(get_service)`.

The server is the store's only writer (the embedded store holds a file lock
while it is open for writing), so every change goes through here and bumps
`version`; cached answers are keyed by it and so are never stale.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pyarrow as pa

from api.analysis_worker import analyze_in_worker
from api.cache import MISSING, SizedCache
from api.i18n import N_
from api.settings import Settings
from api.shared_store import SharedStore
from graph.analysis.kocs import SnapshotGraph, snapshot_graph
from graph.analysis.snapshot import (
    AnalysisParams,
    EmptyWindowError,
    Snapshot,
    analyze,
    read_inputs,
)
from graph.live_index import LiveIndex
from graph.live_index_build import build_live_index
from graph.ranking import judged_fraudulent
from graph.store import SavedSnapshot, Store
from loaders.errors import SearchlightError

log = logging.getLogger("searchlight.api")
T = TypeVar("T")

# Cache keys kept outside the byte budget: the latest snapshot and its graph,
# the live index and the user lookup (one of each per store version).
PINNED = (("snapshot",), ("snapshot-graph",), ("live-index",), ("user-lookup",))
BUSY_RETRY_SECONDS = 10


class BusyError(SearchlightError):
    """As many expensive computations as allowed are running (503)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            N_(
                "the server is already running {limit} expensive computation(s), its limit "
                "(KOC_MAX_EXPENSIVE_JOBS): KOC picks with new parameters (strategy, k, seed, "
                "exclude, model, ...); retry in {seconds} s, or ask for a list "
                "already computed"
            ),
            limit=limit,
            seconds=BUSY_RETRY_SECONDS,
        )
        self.retry_after = BUSY_RETRY_SECONDS


class AnalysisRunningError(SearchlightError):
    """An analysis is already running; one at a time."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            N_("analysis {job_id} is still running; poll GET /v1/analyses/{job_id}"),
            job_id=job_id,
        )
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
    failure: SearchlightError | None = None  # the error, to show in each reader's language
    summary: dict | None = None
    done: threading.Event | None = None
    refused: bool = False  # the parameters themselves were wrong (an empty window)


class Service:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store: Store = SharedStore(store)  # type: ignore[assignment]
        self.settings = settings
        self.version = 0
        self._lock = threading.Lock()
        self._cache = SizedCache(settings.cache_mb << 20, pinned=lambda key: key[1:] in PINNED)
        self._in_flight: dict[tuple, threading.Lock] = {}
        self._expensive = threading.BoundedSemaphore(settings.max_expensive_jobs)
        # One warm-up at a time (after an analysis and from the store watcher
        # they can start together): it holds at most one expensive slot, so
        # a viewer's request right after an analysis still finds one.
        self._warming = threading.Lock()
        # Rankings of new windows at once: each is milliseconds of numpy but
        # tens of MB at 1M users, so 32 at a time only cost memory.
        self.ranking_slots = threading.BoundedSemaphore(2)
        self._last_snapshot: tuple[SavedSnapshot | None] | None = None
        # Whether no write since its load can have changed the latest snapshot.
        self._last_confirmed = False
        self.jobs: dict[str, Job] = {}
        # Called (in a thread) when the server starts and after each analysis,
        # so the first operator does not wait for the snapshot to load.
        self.warm_up: Callable[[], None] | None = None
        self._marker: tuple | None = None
        self._index_failed: int | None = None  # the version whose live index failed
        self._index_building = False
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        # Every background thread, joined before the store closes: a thread
        # left inside DuckDB when the interpreter exits aborts the process.
        self._threads: list[threading.Thread] = []

    def in_background(self, work: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=work, name=name, daemon=True)
        with self._lock:  # started under the lock: `close` sees it alive or not at all
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
            with self._warming:
                self.warm_up()
        except BusyError as exc:  # viewers hold every slot: they come first
            log.warning("warm-up stopped: %s", exc)
        except Exception:  # a warm-up is a courtesy; the request will say what is wrong
            log.warning("warm-up failed", exc_info=True)

    @property
    def stopping(self) -> bool:
        """The server is shutting down: background work stops at its next step."""
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        # Until none is left: work being joined may start more (a warm-up
        # step asks for the live index), and none may outlive the store.
        while True:
            with self._lock:
                threads = [t for t in self._threads if t.is_alive()]
            if not threads:
                break
            for thread in threads:
                thread.join()
        self.store.close()

    # -- the cache ---------------------------------------------------------

    def changed(self, *, kept_latest: bool = False) -> None:
        """The store changed: every cached answer is out of date.
        kept_latest: the write cannot have changed the latest snapshot (an
        ingest, a review), so `snapshot_now` may go on answering the one it
        knows instead of loading it again."""
        with self._lock:
            self.version += 1
            self._cache.clear()
            if not kept_latest:
                self._last_confirmed = False
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
            value = self._cache.get(full)
            if value is not MISSING:
                return value
            flight = self._in_flight.setdefault(full, threading.Lock())
        with flight:
            with self._lock:
                value = self._cache.get(full)
            if value is not MISSING:
                return value
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._in_flight.pop(full, None)
                raise
            with self._lock:
                self._in_flight.pop(full, None)
                if self.version == full[0]:
                    self._cache.put(full, value)
            return value

    def peek(self, key: tuple) -> Any | None:
        """A cached answer without computing it (None when absent)."""
        with self._lock:
            value = self._cache.get((self.version, *key))
        return None if value is MISSING else value

    @contextmanager
    def expensive(self, wait: bool = False) -> Iterator[None]:
        """A slot for an expensive computation, at most
        KOC_MAX_EXPENSIVE_JOBS at once: `BusyError` when none is free, or,
        with `wait`, wait for one (the server's own warm-up does)."""
        if not self._expensive.acquire(blocking=wait):
            raise BusyError(self.settings.max_expensive_jobs)
        try:
            yield
        finally:
            self._expensive.release()

    def snapshot(self) -> SavedSnapshot | None:
        def load() -> SavedSnapshot | None:
            snapshot = self.store.latest_snapshot()
            with self._lock:
                self._last_snapshot, self._last_confirmed = (snapshot,), True
            return snapshot

        return self.cached(("snapshot",), load)

    def snapshot_now(self) -> SavedSnapshot | None:
        """The latest snapshot without loading it again after a write that
        kept it (an ingest, a review), and without waiting for a load another
        thread is doing: the one known before, meanwhile."""
        with self._lock:
            full = (self.version, "snapshot")
            loading = full in self._in_flight and self._cache.get(full) is MISSING
            last = self._last_snapshot
            confirmed = self._last_confirmed
        if last is not None and (loading or confirmed):
            return last[0]
        return self.snapshot()

    def live_index(self, wait: bool = False) -> LiveIndex | None:
        """The store's live reads in memory for this version (graph.live_index),
        or, without `wait`, None while it is being built: the build starts
        in the background and the caller asks the store meanwhile, so no
        request waits for it (at 1M users it takes about 2.5 s, on Neo4j far
        longer). None as well with KOC_LIVE_INDEX off."""
        if not self.settings.live_index:
            return None
        key = ("live-index",)
        if wait:
            return self.cached(key, self._build_live_index)
        index = self.peek(key)
        if index is None:
            with self._lock:
                # One build at a time, even of an older version: under a
                # stream of writes the index lags instead of eating the CPU.
                # Nor while the server shuts down: `close` would wait for it.
                start = (
                    not self._index_building
                    and self._index_failed != self.version
                    and not self.stopping
                )
                self._index_building = self._index_building or start
            if start:
                self.in_background(self._build_in_background, "live-index")
        return index

    def _build_in_background(self) -> None:
        version = self.version
        try:
            self.cached(("live-index",), self._build_live_index)
        except Exception:  # reads go on from the store; say why once per version
            log.warning("cannot build the live index; reads ask the store", exc_info=True)
            with self._lock:
                self._index_failed = version
        finally:
            with self._lock:
                self._index_building = False

    def reviews(self) -> pa.Table:
        """The store's current review decisions, read once per version."""
        return self.cached(("reviews",), self.store.reviews)

    def _build_live_index(self) -> LiveIndex:
        judged = judged_fraudulent(self.snapshot(), self.reviews())
        return build_live_index(self.store.live_facts(), judged)

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

    def _analyze(self, params: AnalysisParams, progress: Callable[[str], None]) -> Snapshot:
        """In a worker process (api.analysis_worker) unless the gds engine
        computes inside Neo4j or KOC_ANALYSIS_WORKER is off."""
        if params.engine == "gds" or not self.settings.analysis_worker:
            return analyze(self.store, params, progress=progress)
        progress("read")
        started = time.perf_counter()
        inputs = read_inputs(self.store, params)
        read_seconds = time.perf_counter() - started
        snapshot = analyze_in_worker(inputs, params, progress)
        snapshot.stage_seconds = {"read": read_seconds, **snapshot.stage_seconds}
        return snapshot

    def _run(self, job: Job) -> None:
        def progress(stage: str) -> None:
            job.stage = stage

        try:
            snapshot = self._analyze(job.params, progress)
            job.stage = "saving"
            saved = snapshot.to_saved()
            self.store.save_snapshot(saved)
            self.changed()
            with self._lock:  # the new latest, known without reading it back
                self._last_snapshot, self._last_confirmed = (saved,), True
            job.stage = "pruning"
            pruned = self.store.prune_snapshots(self.settings.keep_snapshots)
            job.summary = {**snapshot.summary(), "pruned_snapshots": len(pruned)}
            job.status = "succeeded"
        except SearchlightError as exc:
            job.status, job.error = "failed", str(exc)
            # A copy that was never raised: no traceback holds the analysis' tables.
            job.failure = SearchlightError(exc.message, **exc.params)
            job.refused = isinstance(exc, EmptyWindowError)
        except Exception as exc:  # a bug: keep the server up, say so in the job
            log.exception("analysis %s failed", job.id)
            job.failure = SearchlightError(
                "internal error: {kind}: {error}", kind=type(exc).__name__, error=str(exc)
            )
            job.status, job.error = "failed", str(job.failure)
        finally:
            job.stage = None
            job.finished_at = datetime.now(UTC)
            assert job.done is not None
            job.done.set()
        if job.status == "succeeded":
            self.warm()
