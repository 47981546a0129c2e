"""Benchmark: the HTTP API under the load operators make — req/s, p50 / p99 /
max latency and timeouts of request mixes, 32 concurrent clients on
loopback, with 1M generated users loaded and analysed.

    python bench/api_load.py --no-access-log             # 1M users, every mix, 20 s each
    python bench/api_load.py --users 100k --seconds 5 --mix paging --mix users
    python bench/api_load.py --store-url neo4j://neo4j@localhost:7687 --users 1m
    python bench/api_load.py --neo4j --users 1m --mix paging --mix users

Mixes (`--mix NAME`, repeatable; default all):

- `repeated-rankings`: a fixed handful of GET /v1/referrers/top queries,
  each asked once before the load, then repeated (answers from the cache);
- `repeated-kocs`: the same with a fixed handful of GET /v1/kocs lists;
- `paging`: /v1/referrers/top?by=B&limit=20&offset=20*P, B random among the
  six rankings (three live counts, three analysis metrics), P in 0..199;
- `windows`: a live-count ranking (invites, effective_invites, conversions;
  page P in 0..9) for a random campaign (1/3), a random window of whole days
  inside the data's span (naive dates, read in KOC_TIMEZONE; 1/3) or both;
- `users`: a random user of ~5,000 sampled from the store before the load,
  half GET /v1/users/{id}, half its /network (defaults);
- `kocs`: /v1/kocs with k in {10, 20, 50, 100, 200}, strategy score or
  coverage, and a random page of it (limit 10..50).

Every request of the random mixes is chosen at random: each client has its
own Random derived from --seed. `cold_s` is the very first request of a mix,
asked alone before the load (for the repeated mixes, the first of their
queries). A request over --timeout (2 s) counts as a timeout at that
latency (the connection is closed and opened again); 503 and 429 answers
count as `refused`; any other non-200 answer stops the bench. `requests` and
`rps` count every request sent, timeouts and refusals included. The server
goes on computing the requests its clients gave up on: `drain_s` is how long
it stayed busy after the mix's load, and the next mix starts once it is idle.

The store is a copy of bench/analyze.py's cached, analysed store, or with
--store-url one served as it is (users and campaigns sampled with duckdb,
or the neo4j driver for a Neo4j URL; KOC_NEO4J_PASSWORD as the CLI reads
it), or with --neo4j the repo's own Neo4j, started empty, loaded with the
events file of bench/analyze.py's store (`koc ingest`), analysed, served,
and stopped at the end (bench/api_neo4j.py). On a Neo4j store the load
starts once the server's live index is built (two answers in a row of the
first page by invites under 100 ms; `index_ready_s` after the server first
accepts connections, at most 10 min), and `drain_s` waits for the Neo4j JVM
too (with --neo4j). The server is `koc serve` (uvicorn, one worker) with
API keys set, so every request is authenticated; the load generator is a
separate asyncio (uvloop) process with 32 keep-alive HTTP/1.1 connections,
on the same 2 cores as the server (and, with a Neo4j store, its JVM).

The clients send back to back (closed loop: each asks again as soon as it
is answered, so with 32 clients the mean latency is 32 / req/s), or with
`--rate R` together offer R requests per second on a fixed schedule (each
client one every 32/R s, at a random phase), each timed from its scheduled
moment, so a server that falls behind shows it in the latencies instead of
slowing the clients down.

Targets (issue 19; 1M users, 32 connections): paging at least 500 req/s with
p99 at most 100 ms and no timeouts; users at least 500 req/s with p99 at
most 50 ms; the repeated mixes p99 at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))
from api_mixes import MIX_NAMES, Mix, StoreSample, mix, sample_embedded, sample_neo4j  # noqa: E402
from api_neo4j import describe_setup, loaded_neo4j, wait_for_index  # noqa: E402
from neo4j_server import sampled_rss  # noqa: E402
from serving import analysed_copy, latency_summary, served  # noqa: E402

from graph.store_url import NEO4J_SCHEMES  # noqa: E402

KEY = "bench-viewer-key-0123456789"
CLIENTS = 32
COLD_TIMEOUT = 600.0  # the cold request may compute for long; past this it is a failure
REFUSED = (429, 503)


class BenchError(Exception):
    """An answer the bench cannot go on from (shown, and the bench stops)."""


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, opened when needed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """The status and body of GET `path`."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {KEY}\r\n\r\n"
        self.writer.write(request.encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding") == b"chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(headers.get(b"content-length", 0)))
        if headers.get(b"connection") == b"close":
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size + 2))
        await self.reader.readuntil(b"\r\n")  # no trailers are sent
        return b"".join(p[:-2] for p in parts)


@dataclass
class Tally:
    """What the clients of one mix saw: every latency (a timeout counts as
    the timeout), timeouts and refusals."""

    latencies: list[float] = field(default_factory=list)
    timeouts: int = 0
    refused: int = 0


async def client(
    port: int,
    mix: Mix,
    rng: random.Random,
    stop: float,
    timeout: float,
    tally: Tally,
    interval: float | None = None,
) -> None:
    """Requests back to back, or with `interval` one every `interval` s on a
    fixed schedule (random phase), each timed from its scheduled moment, so
    a slow answer delays the next and that delay counts as latency."""
    conn = Connection(port)
    due = time.perf_counter() + (rng.random() * interval if interval else 0.0)
    try:
        while (due if interval else time.perf_counter()) < stop:
            path = mix.pick(rng)
            if interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                started, due = due, due + interval
            else:
                started = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(conn.get(path), timeout)
            except TimeoutError:
                tally.latencies.append(timeout)
                tally.timeouts += 1
                conn.close()
                continue
            tally.latencies.append(time.perf_counter() - started)
            if status in REFUSED:
                tally.refused += 1
            elif status != 200:
                raise BenchError(f"{path}: {status} {body[:300]!r}")
    finally:
        conn.close()


async def cold(port: int, mix: Mix, seed: int) -> float:
    """Seconds of the mix's very first request; the repeated mixes then ask
    each of their other queries once, so the load repeats answered ones."""
    paths = mix.warm or (mix.pick(random.Random(f"{seed}/{mix.name}/cold")),)
    conn = Connection(port)
    try:
        for n, path in enumerate(paths):
            started = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(conn.get(path), COLD_TIMEOUT)
            except TimeoutError:
                raise BenchError(f"{path}: no answer within {COLD_TIMEOUT:.0f} s") from None
            if status != 200:
                raise BenchError(f"{path}: {status} {body[:300]!r}")
            if n == 0:
                first = time.perf_counter() - started
    finally:
        conn.close()
    return round(first, 3)


async def measure(
    port: int, mix: Mix, seed: int, seconds: float, timeout: float, rate: float | None
) -> dict:
    """The mix's cold request, then CLIENTS clients for `seconds`: back to
    back, or together offering `rate` requests per second."""
    cold_s = await cold(port, mix, seed)
    tally = Tally()
    started = time.perf_counter()
    stop = started + seconds
    rngs = [random.Random(f"{seed}/{mix.name}/{n}") for n in range(CLIENTS)]
    interval = CLIENTS / rate if rate else None
    await asyncio.gather(*(client(port, mix, rng, stop, timeout, tally, interval) for rng in rngs))
    summary = latency_summary(tally.latencies, time.perf_counter() - started)
    return {**summary, "timeouts": tally.timeouts, "refused": tally.refused, "cold_s": cold_s}


@dataclass(frozen=True)
class ToServe:
    """A store to serve: its URL and sample, the KOC_* settings the server
    needs for it, the PID of the Neo4j JVM (--neo4j) and how it was set up."""

    url: str
    sample: StoreSample
    env: dict[str, str] = field(default_factory=dict)
    jvm_pid: int | None = None
    setup: dict | None = None

    @property
    def on_neo4j(self) -> bool:
        return self.url.partition("://")[0] in NEO4J_SCHEMES


@contextmanager
def store_to_serve(args: argparse.Namespace) -> Iterator[ToServe]:
    """The store to serve: the analysed copy, --store-url as it is (nothing
    copied or analysed), or with --neo4j a fresh Neo4j loaded and analysed."""
    from api.settings import get_settings

    settings = get_settings()  # as `koc` reads KOC_TIMEZONE and KOC_NEO4J_PASSWORD
    zone = ZoneInfo(settings.timezone)
    url = args.store_url
    if args.neo4j:
        with loaded_neo4j(args.workdir, args.users) as neo4j:
            sample = sample_neo4j(neo4j.url, neo4j.password, zone)
            env = {"KOC_NEO4J_PASSWORD": neo4j.password}
            yield ToServe(neo4j.url, sample, env, neo4j.pid, neo4j.setup)
    elif url and url.partition("://")[0] in NEO4J_SCHEMES:
        secret = settings.neo4j_password
        password = secret.get_secret_value() if secret else None
        yield ToServe(url, sample_neo4j(url, password, zone))
    elif url:
        yield ToServe(url, sample_embedded(Path(url.removeprefix("duckdb:///")), args.seed, zone))
    else:
        with analysed_copy(args.workdir, args.users, "api") as store:
            yield ToServe(str(store), sample_embedded(store, args.seed, zone))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help="100k, 1m or 10m")
    parser.add_argument("--seconds", type=float, default=20.0, help="load per mix")
    parser.add_argument("--mix", action="append", choices=MIX_NAMES, help="repeatable; default all")
    parser.add_argument("--seed", type=int, default=1, help="seeds every random choice")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    parser.add_argument(
        "--rate", type=float, help="offer this many requests/s in all (default: back to back)"
    )
    parser.add_argument("--store-url", help="serve this store instead of the analysed copy")
    parser.add_argument(
        "--neo4j", action="store_true", help="serve the repo's Neo4j, loaded and analysed"
    )
    parser.add_argument("--markdown", action="store_true", help="also a markdown table")
    parser.add_argument("--no-access-log", action="store_true", help="serve without access log")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    if args.neo4j and args.store_url:
        parser.error("--neo4j starts its own store: give it or --store-url, not both")
    return args


def main() -> None:
    args = parse_args()
    rows = []
    with (
        store_to_serve(args) as store,
        served(
            store.url,
            {"KOC_API_KEYS": f"viewer:{KEY}", **store.env},
            *(["--no-access-log"] if args.no_access_log else []),
        ) as server,
    ):
        import uvloop

        uvloop.install()
        extra = {}
        if store.on_neo4j:
            extra["index_ready_s"] = wait_for_index(server.port, KEY)
            print(json.dumps({"store": store.url, **(store.setup or {}), **extra}), flush=True)
        jvm = () if store.jvm_pid is None else (store.jvm_pid,)
        busy(server.pid, *jvm)  # the start-up warm-up
        for name in args.mix or MIX_NAMES:
            chosen = mix(name, store.sample)
            try:
                with sampled_rss(server.pid) as rss:
                    result = asyncio.run(
                        measure(
                            server.port, chosen, args.seed, args.seconds, args.timeout, args.rate
                        )
                    )
            except BenchError as exc:
                raise SystemExit(f"{name}: {exc}") from None
            server_rss_mb = rss["peak_mb"]
            cold_s = result.pop("cold_s")
            row = {"users": args.users, "mix": name, "clients": CLIENTS, "rate": args.rate}
            row |= {"seconds": args.seconds, **result, "server_rss_mb": server_rss_mb}
            rows.append(row | {"cold_s": cold_s, "drain_s": busy(server.pid, *jvm)} | extra)
            print(json.dumps(rows[-1]), flush=True)
    if args.markdown:
        print(markdown(rows))
        if store.setup:
            print("\n" + describe_setup(store.setup, extra["index_ready_s"]))


def markdown(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| users | mix | offered req/s | requests | req/s | p50 ms | p99 ms | max ms | timeouts "
        "| refused | cold s | drain s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    keys = ("requests", "rps", "p50_ms", "p99_ms", "max_ms", "timeouts", "refused", "cold_s")
    keys += ("drain_s",)
    if any("index_ready_s" in row for row in rows):  # a Neo4j store
        lines[0] += " index ready s |"
        lines[1] += "--:|"
        keys += ("index_ready_s",)
    for row in rows:
        offered = row["rate"] or "as fast as answered"
        cells = [row["users"], row["mix"], offered, *(row[k] for k in keys)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def busy(pid: int, *others: int, limit: float = 900.0) -> float:
    """Seconds until the server, its worker processes and the `others` (the
    Neo4j JVM) are idle (under 5% of a core for a second): requests whose
    clients timed out are still computed, and the next mix must not wait
    behind them."""
    import psutil

    server = psutil.Process(pid)
    watched = [psutil.Process(p) for p in others]
    started = time.perf_counter()
    before = _cpu_seconds(server, watched)
    while time.perf_counter() - started < limit:
        time.sleep(1.0)
        now = _cpu_seconds(server, watched)
        if sum(now[p] - before[p] for p in now.keys() & before.keys()) < 0.05:
            return round(time.perf_counter() - started, 1)
        before = now
    print(f"the server was still busy after {limit:.0f} s; going on", file=sys.stderr)
    return round(time.perf_counter() - started, 1)


def _cpu_seconds(server, others: list) -> dict[int, float]:
    """CPU seconds used so far by the server, each of its children and the
    `others`, by pid."""
    import psutil

    used = {}
    for process in (server, *server.children(recursive=True), *others):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[process.pid] = times.user + times.system
    return used


if __name__ == "__main__":
    main()
