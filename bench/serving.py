"""Serving a benchmark store: an analysed copy of bench/analyze.py's cached
store, and `koc serve` on it, for the API and explorer benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from analyze import ensure_analysed, prepare  # noqa: E402

KOC = Path(sys.executable).with_name("koc")


@contextmanager
def analysed_copy(workdir: Path, size: str, name: str, shape: str = "steady") -> Iterator[Path]:
    """A throwaway copy of the cached store of `size` users (of the generator's
    `shape`), analysed (with fraud flags); the cache itself is never served,
    so it stays as it was."""
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / f"{name}-{size}.duckdb"
    shutil.copy(prepare(workdir, size, shape), store)
    try:
        ensure_analysed(store)
        yield store
    finally:
        store.unlink(missing_ok=True)
        Path(f"{store}.wal").unlink(missing_ok=True)


@contextmanager
def served(store: Path, env: dict[str, str], *options: str) -> Iterator[subprocess.Popen]:
    """`koc serve` on the store with these KOC_* settings; the process, with
    its port as `.port`, once it accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [KOC, "serve", "--port", str(port), *options],
        env={**os.environ, "KOC_STORE_URL": str(store), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server.port = port
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=60)


def latency_summary(latencies: list[float], wall: float) -> dict[str, float]:
    """Requests, their rate over `wall` seconds, and p50 / p99 / max in ms."""
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "rps": round(len(ordered) / wall, 1),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }
