"""Benchmark: does the learned KOC score predict the next month better than
the raw invite count? (issue 15; docs/quality.md, "The learned score").

    python bench/backtest_learned.py                    # 50k and 1M, seeds 1-3, and CollegeMsg
    python bench/backtest_learned.py --sizes 50k --seeds 1
    python bench/backtest_learned.py --real             # CollegeMsg only

Each campaign is generated with the realistic shape (`koc generate`),
ingested into a fresh embedded store, and backtested (`koc backtest`): the
picks are made from the events before the cutoff (45 days before the last
event), by the learned score (trained on the history before the cutoff
only), the weighted score, top invites, top PageRank, coverage and
influence; then measured on the next 30 days: the share of the horizon's new
referrals inside the picks' trees, and precision@50 against the horizon's
top 50 referrers. CollegeMsg (real timing) is backtested with a 14-day
horizon (the longest its early weeks allow with two horizons of history
before the first cutoff's own training cutoff) at weekly cutoffs from the
first that allows it, while the horizon holds at least 50 new referrals
(from mid-June on it holds under 30: a pick or two decides the measures).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from graph.analysis.backtest import backtest
from graph.analysis.snapshot import AnalysisParams
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import SHAPES, generate_campaign, write_campaign
from loaders.quarantine import Quarantine

sys.path.insert(0, str(Path(__file__).parent))
import quality_networks as qn  # noqa: E402

K = 50
BEFORE_END_DAYS = 45
HORIZON_DAYS = 30
SIZES = {"50k": 50_000, "1m": 1_000_000}
COLLEGE_HORIZON_DAYS = 14
COLLEGE_FIRST_CUTOFF = datetime.fromisoformat("2004-05-15T00:00:00+08:00")
COLLEGE_STEP_DAYS = 7
COLLEGE_MIN_NEW_REFERRALS = 50
COMPARED = ("learned", "weighted", "top_invites", "top_pagerank", "coverage", "influence")


def run_campaign(users: int, seed: int, shape: str, workdir: Path) -> dict:
    started = time.perf_counter()
    events, truth = generate_campaign(users, seed, shape=shape)
    path = workdir / "events.parquet"
    write_campaign(events, truth, path, "parquet")
    store = EmbeddedStore(workdir / "store.duckdb")
    try:
        ingest_file(store, path, quarantine=Quarantine(workdir / "q.csv"))
        cutoff = store.stats().last_event_at - timedelta(days=BEFORE_END_DAYS)
        params = AnalysisParams(horizon_days=HORIZON_DAYS)
        result = backtest(store, cutoff, k=K, horizon_days=HORIZON_DAYS, params=params)
    finally:
        store.close()
    return _row(result, users=users, seed=seed, shape=shape, seconds=time.perf_counter() - started)


def run_college(data: Path, workdir: Path) -> tuple[list[dict], str]:
    """The weekly cutoffs' rows, and where they stopped and why."""
    events = qn.events_from_edges(data / "collegemsg.txt")
    store, _ = qn.load(events, qn.NetworkTruth(0, 0, "collegemsg.txt", ""), workdir)
    rows, cutoff = [], COLLEGE_FIRST_CUTOFF
    params = AnalysisParams(horizon_days=COLLEGE_HORIZON_DAYS)
    try:
        while True:
            result = backtest(store, cutoff, k=K, horizon_days=COLLEGE_HORIZON_DAYS, params=params)
            day = cutoff.date().isoformat()
            if result.new_referrals < COLLEGE_MIN_NEW_REFERRALS:
                return rows, (
                    f"Stopped at {day}: its horizon holds {result.new_referrals} new referrals "
                    f"(under {COLLEGE_MIN_NEW_REFERRALS})."
                )
            rows.append(_row(result, network="collegemsg.txt", cutoff=day))
            cutoff += timedelta(days=COLLEGE_STEP_DAYS)
    finally:
        store.close()


def _row(result, **about) -> dict:
    return {
        **about,
        "new_referrals": result.new_referrals,
        "users_before": result.users_before,
        "notes": [n for n in result.notes if n.startswith("learned")],
        "rows": {
            r.name: {"tree_share": r.tree_share, "precision": r.precision_at_k} for r in result.rows
        },
    }


def _cell(row: dict, name: str) -> str:
    got = row["rows"].get(name)
    return f"{got['tree_share']:.1%} / {got['precision']:.0%}" if got else "–"


def markdown(rows: list[dict], label: str) -> str:
    head = [label, *COMPARED, "learned − top invites"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        what = r.get("cutoff") or f"{r['users']:,} seed {r['seed']}"
        lines.append(
            f"| {what} | " + " | ".join(_cell(r, name) for name in COMPARED) + f" | {_margin(r)} |"
        )
    return "\n".join(lines)


def _margin(row: dict) -> str:
    learned, invites = row["rows"].get("learned"), row["rows"]["top_invites"]
    if not learned:
        return "no learned score"
    tree = (learned["tree_share"] - invites["tree_share"]) * 100
    precision = (learned["precision"] - invites["precision"]) * 100
    return f"{tree:+.1f} / {precision:+.0f} points"


def spread(rows: list[dict]) -> str:
    """Per size: the mean margin over seeds and its standard deviation."""
    lines = []
    for users in sorted({r["users"] for r in rows}):
        same = [r for r in rows if r["users"] == users]
        lines += _spread_lines(f"{users:,} users", same, "seeds")
    return "\n".join(lines)


def _spread_lines(what: str, rows: list[dict], over: str) -> list[str]:
    rows = [r for r in rows if "learned" in r["rows"]]
    if not rows:
        return []
    lines = []
    for measure, unit in (("tree_share", "tree share"), ("precision", "precision@50")):
        margins = [
            (r["rows"]["learned"][measure] - r["rows"]["top_invites"][measure]) * 100 for r in rows
        ]
        sd = statistics.stdev(margins) if len(margins) > 1 else 0.0
        ahead = sum(m > 0 for m in margins)
        lines.append(
            f"- {what}, {unit}: learned ahead of top invites by "
            f"{statistics.mean(margins):+.1f} points on average (sd {sd:.1f}; "
            f"min {min(margins):+.1f}; ahead on {ahead} of {len(rows)} {over})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50k,1m", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--shape", default="realistic", choices=SHAPES)
    parser.add_argument("--real", action="store_true", help="CollegeMsg only")
    parser.add_argument("--data", type=Path, default=qn.SHARED_DATA)
    args = parser.parse_args()
    rows = []
    if not args.real:
        for size in args.sizes.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                with tempfile.TemporaryDirectory() as tmp:
                    rows.append(run_campaign(SIZES[size], seed, args.shape, Path(tmp)))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        college, stopped = run_college(args.data, Path(tmp))
    for row in college:
        print(json.dumps(row), file=sys.stderr, flush=True)
    out = []
    if rows:
        out += [
            f"Generated campaigns ({args.shape} shape), cutoff {BEFORE_END_DAYS} days before "
            f"the last event, horizon {HORIZON_DAYS} days, k = {K}; new referrals in the "
            "picks' trees / precision@k:",
            "",
            markdown(rows, "campaign"),
            "",
            spread(rows),
        ]
    out += [
        "",
        f"CollegeMsg, horizon {COLLEGE_HORIZON_DAYS} days, k = {K}, weekly cutoffs:",
        "",
        markdown(college, "cutoff"),
        "",
        "\n".join(_spread_lines("CollegeMsg", college, "cutoffs")),
        "",
        stopped,
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
