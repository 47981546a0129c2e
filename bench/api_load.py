"""Benchmark: the HTTP API under load — p50/p99 latency and requests per
second of GET /v1/referrers/top and GET /v1/kocs, 32 concurrent clients on
loopback, with 1M generated users loaded and analysed.

    python bench/api_load.py                 # 1M users, 20 s per endpoint
    python bench/api_load.py --users 100k --seconds 5

The store is a copy of bench/analyze.py's cached, analysed store. The server
is `koc serve` (uvicorn, one worker) with API keys set, so every request is
authenticated. The load generator is one asyncio process with keep-alive
HTTP/1.1 connections, on the same 2 cores as the server.

Each endpoint is first asked once per distinct query, cold (the store is
read and, for /v1/kocs, the searchlight picks are computed): those times are
reported as `cold_s`. Under load the same queries repeat, as operators and
the explorer ask them, so they are answered from the per-store-version cache.

Target (issue 6): p99 at most 100 ms and at least 300 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serving import analysed_copy, latency_summary, served  # noqa: E402

KEY = "bench-viewer-key-0123456789"
CLIENTS = 32
ENDPOINTS = {
    "/v1/referrers/top": [
        "/v1/referrers/top?by=invites&limit=20",
        "/v1/referrers/top?by=effective_invites&limit=20",
        "/v1/referrers/top?by=invites&limit=20&offset=20",
        "/v1/referrers/top?by=reach&limit=20",
        "/v1/referrers/top?by=koc_score&limit=50",
    ],
    "/v1/kocs": [
        "/v1/kocs?k=50",
        "/v1/kocs?k=50&limit=10",
        "/v1/kocs?k=20&strategy=score",
        "/v1/kocs?k=50&quota=community",
    ],
}


async def request(reader, writer, path: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {KEY}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def client(port: int, paths: list[str], offset: int, stop: float, latencies: list[float]):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            status, body = await request(reader, writer, path)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"{path}: {status} {body[:200]!r}")
    finally:
        writer.close()


async def load(port: int, paths: list[str], seconds: float) -> dict:
    latencies: list[float] = []
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(*(client(port, paths, n, stop, latencies) for n in range(CLIENTS)))
    summary = latency_summary(latencies, time.perf_counter() - started)
    return {**summary, "mean_ms": round(1000 * statistics.fmean(latencies), 2)}


async def cold(port: int, paths: list[str]) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    times = {}
    for path in paths:
        started = time.perf_counter()
        status, body = await request(reader, writer, path)
        if status != 200:
            raise SystemExit(f"{path}: {status} {body[:300]!r}")
        times[path] = round(time.perf_counter() - started, 3)
    writer.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help="100k, 1m or 10m")
    parser.add_argument("--seconds", type=float, default=20.0, help="load per endpoint")
    parser.add_argument("--no-access-log", action="store_true", help="serve without access log")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    with (
        analysed_copy(args.workdir, args.users, "api") as store,
        served(
            store,
            {"KOC_API_KEYS": f"viewer:{KEY}"},
            *(["--no-access-log"] if args.no_access_log else []),
        ) as server,
    ):
        import uvloop

        uvloop.install()
        for endpoint, paths in ENDPOINTS.items():
            rss = _RssWatch(server.pid)
            row = {
                "users": args.users,
                "endpoint": endpoint,
                "clients": CLIENTS,
                "seconds": args.seconds,
                "cold_s": asyncio.run(cold(server.port, paths)),
                **asyncio.run(load(server.port, paths, args.seconds)),
                "server_rss_mb": rss.stop(),
            }
            print(json.dumps(row), flush=True)


class _RssWatch:
    """The server's peak resident memory while an endpoint is measured."""

    def __init__(self, pid: int) -> None:
        import threading

        import psutil

        self._process = psutil.Process(pid)
        self._peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return round(self._peak / 2**20)


if __name__ == "__main__":
    main()
