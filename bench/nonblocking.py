"""Benchmark: GET /health and a user read while the server writes — during a
big upload, then during an analysis — on the analysed 1M-user store.

    python bench/nonblocking.py                  # 1M users, upload the 1.4M-event file
    python bench/nonblocking.py --users 100k --upload bench/out/some.csv

A probe asks `/health`, `/docs` (answered on the event loop alone) and
`/v1/users/{id}` (not cached: the store and the snapshot every time) one
after the other, every 50 ms, on one kept-alive connection, while the admin
uploads a file and then runs an analysis. Reported: each phase's length, the
probe's latencies during it (p50, p99, max), and when each answer over
100 ms came.

Target (issue 18): /health within 100 ms during any ingest or analysis.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from serving import analysed_copy, served  # noqa: E402

ADMIN = "bench-admin-key-0123456789"


def ask(sock: socket.socket, path: str) -> tuple[int, bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {ADMIN}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return int(head.split(b" ", 2)[1]), body


class Phase:
    """What the server is doing now, and since when."""

    def __init__(self) -> None:
        self.name, self.since = "idle", time.perf_counter()

    def enter(self, name: str) -> None:
        self.name, self.since = name, time.perf_counter()


class Probe(threading.Thread):
    """Asks one path every 50 ms on its own connection until stopped:
    latencies by phase, and when each one over 100 ms came."""

    def __init__(self, port: int, path: str, phase: Phase) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.path, self.phase = path, phase
        self.seen: dict[str, list[float]] = {}
        self.slow: list[tuple[str, float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            phase, started = self.phase.name, time.perf_counter()
            status, body = ask(self.sock, self.path)
            took = time.perf_counter() - started
            if status != 200:
                raise SystemExit(f"{self.path}: {status} {body[:200]!r}")
            self.seen.setdefault(phase, []).append(took)
            if took > 0.1:
                self.slow.append((phase, round(started - self.phase.since, 1), round(took, 3)))

    def report(self) -> dict:
        out: dict = {}
        for phase, times in self.seen.items():
            ordered = sorted(times)
            out[phase] = {
                "requests": len(ordered),
                "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
                "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 1),
                "max_ms": round(1000 * ordered[-1], 1),
            }
        out["over 100 ms (phase, s into it, s)"] = self.slow
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help="100k, 1m or 10m")
    parser.add_argument("--upload", type=Path, default=Path("bench/out/events-1.4m.csv"))
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    env = {"KOC_API_KEYS": f"admin:{ADMIN}", "KOC_QUARANTINE_DIR": str(args.workdir / "nb-q")}
    with (
        analysed_copy(args.workdir, args.users, "nonblocking") as store,
        served(store, env, "--no-access-log") as server,
    ):
        base = f"http://127.0.0.1:{server.port}"
        headers = {"X-API-Key": ADMIN}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as http:
            for _ in range(600):  # the warm-up has loaded the snapshot
                if http.get("/health").json().get("snapshot_id"):
                    break
                time.sleep(0.5)
            user = http.get("/v1/referrers/top?limit=1").json()["items"][0]["id"]
            # /docs is answered on the event loop alone: a stall there is the loop's (the GIL)
            phase = Phase()
            paths = ["/health", "/docs", f"/v1/users/{user}"]
            probes = [Probe(server.port, path, phase) for path in paths]
            for probe in probes:
                probe.start()
            time.sleep(2)
            result: dict = {"users": args.users, "upload": str(args.upload)}
            phase.enter("upload")
            started = time.perf_counter()
            with open(args.upload, "rb") as f:
                done = http.post("/v1/events/upload", files={"file": (args.upload.name, f)})
            result["upload_s"] = round(time.perf_counter() - started, 1)
            result["upload"] = done.json() if done.status_code == 200 else done.text[:300]
            phase.enter("analysis")
            started = time.perf_counter()
            job = http.post("/v1/analyses", json={}).json()
            while job["status"] == "running":
                time.sleep(0.5)
                job = http.get(f"/v1/analyses/{job['id']}").json()
            result["analysis_s"] = round(time.perf_counter() - started, 1)
            result["analysis"] = job["status"]
            phase.enter("after")
            time.sleep(2)
            for probe in probes:
                probe.stop.set()
                probe.join(60)
        result["probes"] = {p.path.split("?")[0]: p.report() for p in probes}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
