"""Benchmark: the campaign dashboard (GET /v1/dashboard) with 1M users on the
embedded store — how long its first request and a repeat take, for all
campaigns and for one campaign.

    python bench/dashboard.py                    # 1M users, the steady shape
    python bench/dashboard.py --users 100k       # a quick look
    python bench/dashboard.py --shape realistic  # the realistic campaign shape
    python bench/dashboard.py --markdown         # rows for docs/benchmarks.md

The store is a copy of bench/analyze.py's analysed store; `koc serve` serves
it as deployed (warm-up on). Once the warm-up's default KOC list answers and
--settle seconds more have passed (the warm-up's last steps: the live index,
the rankings, the default dashboard, the explorer's view), each question is
asked twice, the second time answered from the cache:

- all campaigns, the default range (the 30 days to the last event): the
  dashboard the page opens first, which the warm-up computed;
- one campaign (--campaign, default the store's first) over the default
  range and over 90 days, and all campaigns over 90 days: first asked here.

Reported: the seconds of each request (client side, the server on this
machine) and the server's peak RSS. Target (issue 16): one campaign's
dashboard within 1 s after warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from ingest import add_shape_option  # noqa: E402  (bench/ingest.py)
from serving import analysed_copy, served  # noqa: E402

TARGET_S = 1.0
WARM_UP_LIMIT_S = 600


def timed(client: httpx.Client, params: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = client.get("/v1/dashboard", params=params)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"/v1/dashboard {params}: {answer.status_code} {answer.text[:300]}")
    return seconds, answer.json()


def wait_for_warm_up(client: httpx.Client) -> float:
    """Seconds until the warm-up's default KOC list answers (a request for
    it waits for the warm-up's own computation instead of starting one)."""
    started = time.perf_counter()
    while time.perf_counter() - started < WARM_UP_LIMIT_S:
        if client.get("/v1/kocs", params={"limit": 1}).status_code == 200:
            return time.perf_counter() - started
        time.sleep(1)
    raise SystemExit("the warm-up did not finish")


def questions(board: dict, campaign: str | None) -> list[tuple[str, dict]]:
    """What is asked after the default dashboard (`board`)."""
    chosen = campaign or board["campaigns"][0]
    until = date.fromisoformat(board["until"])
    quarter = {"since": (until - timedelta(days=89)).isoformat(), "until": board["until"]}
    return [
        (f"campaign {chosen}, default 30 days", {"campaign": chosen}),
        (f"campaign {chosen}, 90 days", {"campaign": chosen, **quarter}),
        ("all campaigns, 90 days", quarter),
    ]


def row(users: str, name: str, board: dict, first: float, repeat: float) -> dict:
    return {
        "users": users,
        "question": name,
        "joins": board["kpis"]["joins"]["total"],
        "first_s": round(first, 3),
        "repeat_s": round(repeat, 4),
        "within_target": first <= TARGET_S,
    }


def run(store: Path, campaign: str | None, users: str, settle_s: float) -> list[dict]:
    env = {"KOC_API_KEYS": "", "KOC_WARM_UP": "true"}
    with served(store, env, "--no-access-log") as server:
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, timeout=600) as client:
            warm_s = wait_for_warm_up(client)
            time.sleep(settle_s)  # the rest of the warm-up (the dashboard, the explorer's view)
            # The warm-up computed this one (the page's first).
            first, board = timed(client, {})
            repeat, _ = timed(client, {})
            rows = [row(users, "all campaigns, default 30 days (warm-up's)", board, first, repeat)]
            for name, params in questions(board, campaign):
                first, answer = timed(client, params)
                repeat, _ = timed(client, params)
                rows.append(row(users, name, answer, first, repeat))
            rss = psutil.Process(server.pid).memory_info().rss
        for r in rows:
            r.update(warm_up_s=round(warm_s, 1), server_rss_mb=round(rss / 2**20))
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| users | question | joins in range | first request | repeat | server RSS |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['users']} | {r['question']} | {r['joins']:,} | {r['first_s']:.2f} s "
            f"| {1000 * r['repeat_s']:.1f} ms | {r['server_rss_mb']:,} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help="100k, 1m or 10m (bench/analyze.py)")
    parser.add_argument("--campaign", help="the one campaign asked for (default: the first)")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds left to the warm-up's last steps"
    )
    add_shape_option(parser)
    args = parser.parse_args()
    with analysed_copy(args.workdir, args.users, "dashboard", args.shape) as store:
        rows = run(store, args.campaign, args.users, args.settle)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    main()
