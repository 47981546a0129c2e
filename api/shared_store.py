"""The store as the server's threads share it (`SharedStore`): writes take
turns, reads go through a view of their own thread."""

from __future__ import annotations

import threading
from typing import Any

from graph.store import Store

# The Store protocol's methods that only read. Every other method (ingest,
# save_snapshot, record_review, record_export, prune_snapshots, and any added
# later) is taken for a write.
READS = frozenset(
    {
        "stats",
        "read_graph",
        "top_referrers",
        "referrer_count",
        "campaign_facts",
        "live_facts",
        "user",
        "referral_chain",
        "user_names",
        "search_users",
        "change_marker",
        "watermark",
        "ego_network",
        "reviews",
        "latest_snapshot",
        "snapshot_ids",
        "read_snapshot",
        "gds",
    }
)
# Reads a store answers from memory, from any thread (the embedded store
# keeps its watermark; Neo4j's driver is thread-safe): no view needed.
FROM_MEMORY = frozenset({"watermark"})


class SharedStore:
    """A store the server's threads share. Writes hold one lock, one at a
    time; reads take no lock, so they never wait for a write. A store with
    `reader()` (the embedded store: a DuckDB connection must not serve two
    threads at once) reads through one view per thread, on its own cursor,
    which sees the last committed state while a write runs; the Neo4j store
    (a thread-safe driver, a session per call) reads as it is."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.write_lock = threading.RLock()
        self._views: dict[int, Store] = {}
        self._views_lock = threading.Lock()
        self.url = store.url

    def _reading(self) -> Store:
        make = getattr(self._store, "reader", None)
        if make is None:
            return self._store
        me = threading.get_ident()
        with self._views_lock:
            view = self._views.get(me)
            if view is None:
                alive = {t.ident for t in threading.enumerate()}
                for ident in [i for i in self._views if i not in alive]:
                    self._views.pop(ident).close()  # its thread has ended
                view = self._views[me] = make()
        return view

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        if name in FROM_MEMORY:
            return attr
        if name in READS:
            return getattr(self._reading(), name)

        def written(*args: Any, **kwargs: Any) -> Any:
            with self.write_lock:
                return attr(*args, **kwargs)

        return written

    def close(self) -> None:
        with self.write_lock, self._views_lock:
            for view in self._views.values():
                view.close()
            self._views.clear()
            self._store.close()
