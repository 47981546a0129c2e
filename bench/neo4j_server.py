"""The repo's own Neo4j for benchmarks (neo4j-server/run.sh), and the peak
memory of a process sampled while a step runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

RUN_SH = Path(__file__).resolve().parent.parent / "neo4j-server" / "run.sh"


def require_tools() -> None:
    """Stop with a clear message where the repo's Neo4j cannot be built."""
    if subprocess.run(["bash", str(RUN_SH), "check"]).returncode != 0:
        raise SystemExit("Neo4j needs java 17 and mvn on PATH")


class Neo4j:
    """The repo's own Neo4j (neo4j-server/run.sh) with its state in `state`."""

    def __init__(self, state: Path, heap: str, pagecache: str) -> None:
        self.state = state
        self.env = {**os.environ, "NEO4J_HEAP": heap, "NEO4J_PAGECACHE": pagecache}

    def up(self) -> None:
        started = time.perf_counter()
        subprocess.run(
            ["bash", str(RUN_SH), "up", str(self.state)],
            env=self.env,
            check=True,
            stdout=sys.stderr,  # stdout is for the results
        )
        print(f"Neo4j up in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    def down(self) -> None:
        subprocess.run(
            ["bash", str(RUN_SH), "down", str(self.state)],
            env=self.env,
            check=False,
            stdout=sys.stderr,
        )

    def restart(self) -> None:
        """Down and up again: the server drops its data, so the next load is a first load."""
        self.down()
        self.up()

    @property
    def url(self) -> str:
        return (self.state / "url").read_text().strip()

    @property
    def password(self) -> str:
        return (self.state / "password").read_text().strip()

    @property
    def pid(self) -> int:
        return int((self.state / "pid").read_text().strip())

    def hwm_mb(self) -> int | None:
        """The JVM's peak RSS since it started (VmHWM), where /proc has it."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        return round(int(match.group(1)) / 1024) if match else None


@contextmanager
def sampled_rss(pid: int | None, every: float = 0.2) -> Iterator[dict]:
    """While the block runs, the peak RSS (MB) of process `pid`, in result['peak_mb']."""
    result: dict = {"peak_mb": None}
    if pid is None:
        yield result
        return
    stop = threading.Event()

    def sample() -> None:
        try:
            proc = psutil.Process(pid)
            while True:
                rss = proc.memory_info().rss
                result["peak_mb"] = max(result["peak_mb"] or 0, round(rss / 2**20))
                if stop.wait(every):
                    return
        except psutil.Error:
            return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
