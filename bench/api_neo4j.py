"""The Neo4j store of `bench/api_load.py --neo4j`, and the wait for a served
store's live index.

The store: the repo's own Neo4j (bench/neo4j_server.py; state in
WORKDIR/neo4j-api, heap 4g, page cache 2g), started empty, loaded with
`koc ingest` from the events file bench/analyze.py made its store of the
same size from (WORKDIR/analyze-SIZE.parquet), analysed with `koc analyze`
(bench/stores.py's steps), and stopped when the bench ends, on errors too.

The wait: the server builds its live index (graph.live_index) in the
background at start-up; until then rankings by live counts and user pages
ask the store, which on Neo4j is far slower. A ranking by a live count is
not cached while the index is missing, so the first page of the ranking by
invites, asked again and again, answers fast only once the index is built.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from analyze import prepare  # noqa: E402
from neo4j_server import Neo4j, require_tools  # noqa: E402
from stores import analyze, ingest  # noqa: E402

HEAP, PAGECACHE = "4g", "2g"
PROBE = "/v1/referrers/top?by=invites&limit=20"
FAST_S = 0.1  # two answers in a row under this: the index is built
INDEX_LIMIT_S = 600.0


@dataclass(frozen=True)
class LoadedNeo4j:
    """A running Neo4j holding the analysed events: its URL, password, the
    JVM's PID, and how long the load and the analysis took."""

    url: str
    password: str
    pid: int
    setup: dict


def analyze_events(workdir: Path, size: str) -> Path:
    """The events file bench/analyze.py made its store of `size` users from
    (generated, with the store, when neither is there)."""
    store = prepare(workdir, size)
    events = workdir / f"analyze-{size}.parquet"
    if not events.exists():
        raise SystemExit(f"{events} is missing; delete {store} and both are generated again")
    return events


@contextmanager
def loaded_neo4j(workdir: Path, size: str) -> Iterator[LoadedNeo4j]:
    """A fresh Neo4j with bench/analyze.py's events of `size` users loaded
    and analysed; stopped when the block ends, however it ends (SIGTERM is
    turned into an exit, so the JVM, started detached, is not left behind)."""
    require_tools()
    events = analyze_events(workdir, size)
    neo4j = Neo4j(workdir.resolve() / "neo4j-api", HEAP, PAGECACHE)
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        neo4j.restart()  # the server drops its data when it stops: the load starts empty
        env = {"KOC_NEO4J_PASSWORD": neo4j.password}
        load = ingest(neo4j.url, events, env, neo4j.pid)
        print(json.dumps({"neo4j": "load", "events_file": str(events), **load}), flush=True)
        analysis = analyze(neo4j.url, env, neo4j.pid)
        print(json.dumps({"neo4j": "analyze", **analysis}), flush=True)
        setup = {
            "load_s": load["seconds"],
            "load_wall_s": load["wall_s"],
            "events": load["events"],
            "analyze_wall_s": analysis["wall_s"],
            "analyze_read_s": analysis["read_s"],
            "analysis_s": analysis["analysis_s"],
            "save_s": analysis["save_s"],
            "users": analysis["users"],
        }
        yield LoadedNeo4j(neo4j.url, neo4j.password, neo4j.pid, setup)
    finally:
        neo4j.down()
        signal.signal(signal.SIGTERM, previous)


def describe_setup(setup: dict, index_ready_s: float) -> str:
    """The load, the analysis and the index wait in a sentence (markdown)."""
    s = {
        k: "-" if v is None else f"{v:,.1f}" if isinstance(v, float) else v
        for k, v in setup.items()
    }
    return (
        f"Neo4j (heap {HEAP}, page cache {PAGECACHE}): `koc ingest` of {setup['events']:,} "
        f"events {s['load_s']} s ({s['load_wall_s']} s wall); `koc analyze` of "
        f"{setup['users']:,} users {s['analyze_wall_s']} s wall (read {s['analyze_read_s']} s, "
        f"analysis {s['analysis_s']} s, save {s['save_s']} s); live index ready "
        f"{index_ready_s:.1f} s after the server accepted connections"
    )


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def wait_for_index(port: int, key: str, limit: float = INDEX_LIMIT_S) -> float:
    """Seconds until the server on `port` is healthy and answers PROBE in
    under FAST_S twice in a row: its live index is built. Past `limit`
    seconds the bench stops."""
    started = time.perf_counter()

    def left() -> float:
        remaining = limit - (time.perf_counter() - started)
        if remaining <= 0:
            raise SystemExit(f"the live index was not built within {limit:.0f} s")
        return remaining

    while _get(port, key, "/health", left())[0] != "ok":
        time.sleep(0.5)
    fast = 0
    while fast < 2:
        took = time.perf_counter()
        try:
            status, body = _get(port, key, PROBE, left())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise SystemExit(f"{PROBE}: no answer ({exc})") from None
        took = time.perf_counter() - took
        if status != 200:
            raise SystemExit(f"{PROBE}: {status} {body[:300]!r}")
        fast = fast + 1 if took < FAST_S else 0
    return round(time.perf_counter() - started, 1)


def _get(port: int, key: str, path: str, timeout: float) -> tuple[int | str, bytes]:
    """The status and body of GET `path`; for /health, its `status` field
    ("ok", "degraded", or "down" when it does not answer)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        if path == "/health":
            return "down", b""
        raise
    if path == "/health":
        return (json.loads(body).get("status", "down") if status == 200 else "down"), body
    return status, body
