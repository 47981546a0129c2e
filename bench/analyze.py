"""Benchmark: the whole analysis (`analyze` + saving the snapshot) on generated
campaigns, and a networkx-only reference computing the same metrics, side by
side on the same graph.

    python bench/analyze.py                          # 1M users, with the reference
    python bench/analyze.py --users 10m --no-reference
    python bench/analyze.py --users 100k             # quick look
    python bench/analyze.py --shape realistic        # the realistic campaign shape
    python bench/analyze.py --score learned,weighted --no-reference --shape realistic
                                                     # what the learned score adds (issue 15)

Each size is generated (`koc generate --seed 1`, shape steady unless
--shape says otherwise: the recorded figures' shape), ingested into an embedded
store in --workdir (cached between runs), then analysed in a fresh process
whose wall time and peak RSS are measured. The reference runs in its own
process on the same store: networkx graphs built from the same tables, and
for each metric the networkx (or plain Python) computation of its definition.

Targets (issue 4): 1M users in at most 10 s and at least 20x faster than the
reference; 10M users in at most 180 s and 12 GB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ingest import add_shape_option  # bench/ingest.py

SIZES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
KOC = Path(sys.executable).with_name("koc")


def prepare(workdir: Path, size: str, shape: str = "steady") -> Path:
    name = f"analyze-{size}" + ("" if shape == "steady" else f"-{shape}")
    store = workdir / f"{name}.duckdb"
    if store.exists():
        return store
    events = workdir / f"{name}.parquet"
    print(f"generating and ingesting {SIZES[size]:,} users…", file=sys.stderr, flush=True)
    subprocess.run(
        [KOC, "generate", "--users", str(SIZES[size]), "--seed", "1", "--shape", shape]
        + ["--out", str(events)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            KOC,
            "ingest",
            str(events),
            "--store",
            str(store),
            "--quiet",
            "--json",
            "--quarantine",
            str(workdir / "analyze-quarantine.csv"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return store


def measured(args: list[str]) -> tuple[dict, float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(map(str, args))}")
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - started, usage.ru_maxrss


def ours(store: Path, score: str = "learned") -> dict:
    """In a child process: analyze and save, timed inside (no start-up)."""
    code = f"""
import json, time
from graph.embedded import EmbeddedStore
from graph.analysis.snapshot import AnalysisParams, analyze
store = EmbeddedStore({str(store)!r})  # the defaults koc analyze uses
started = time.perf_counter()
snapshot = analyze(store, AnalysisParams(score={score!r}))
analysed = time.perf_counter() - started
store.save_snapshot(snapshot.to_saved())
total = time.perf_counter() - started
print(json.dumps({{"seconds": total, "analyze_seconds": analysed, **snapshot.summary()}}))
"""
    result, wall, rss = measured([sys.executable, "-c", code])
    result.update(process_wall_s=round(wall, 2), peak_rss_mb=round(rss / 1024))
    return result


def _learned_adds(by_score: dict[str, dict]) -> dict | None:
    """Seconds the learned score adds over the weighted one: its stage, the
    extra read of the history (the read stages' difference) and in all."""
    learned, weighted = by_score.get("learned"), by_score.get("weighted")
    if not learned or not weighted:
        return None
    stages = learned["stage_seconds"]
    return {
        "learned_stage": stages.get("learned", 0.0),
        "extra_read": round(stages["read"] - weighted["stage_seconds"]["read"], 2),
        "analysis": round(learned["analyze_seconds"] - weighted["analyze_seconds"], 2),
        "kind": learned["score"]["kind"],
    }


def ensure_analysed(store: Path) -> None:
    """Analyse the store unless it already has a snapshot with fraud flags."""
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        analysed = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'snapshot_flags'"
        ).fetchall()[0][0]
    if not analysed:
        ours(store)


def reference(store: Path) -> dict:
    result, wall, rss = measured(
        [sys.executable, str(Path(__file__).with_name("nx_reference.py")), str(store)]
    )
    result.update(process_wall_s=round(wall, 2), peak_rss_mb=round(rss / 1024))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--no-reference", dest="reference", action="store_false")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    add_shape_option(parser)
    parser.add_argument(
        "--score",
        default="learned",
        help="comma-separated KOC scores to analyse with, each in its own process "
        "(learned,weighted: what the learned score adds)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for size in args.users.split(","):
        store = prepare(args.workdir, size, args.shape)
        scores = args.score.split(",")
        by_score = {score: ours(store, score) for score in scores}
        ours_result = by_score[scores[0]]
        row = {"size": size, "shape": args.shape, "ours": ours_result}
        if len(scores) > 1:
            row["by_score"] = by_score
            row["learned_adds_seconds"] = _learned_adds(by_score)
        if args.reference:
            ref = reference(store)
            row["reference"] = ref
            row["speedup"] = round(ref["seconds"] / ours_result["seconds"], 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
