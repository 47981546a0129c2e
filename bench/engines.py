"""Benchmark: the two analysis engines side by side, in one run.

One generated file is loaded into a fresh embedded store and into a fresh
Neo4j (the repo's own, with Graph Data Science); then three `koc analyze`
processes, each timed per stage (the analysis's own `stage_seconds`, and
the snapshot save):

- searchlight on the embedded store (Python over DuckDB);
- searchlight on Neo4j (the graph read over Bolt, the kernels in Python);
- gds on Neo4j (the kernels inside Neo4j: projection, each algorithm, the
  columns read back; referral metrics, fraud rules and score in Python).

Peak RSS of each `koc` process and of the Neo4j JVM (sampled every 0.2 s)
are reported beside. Also, on the same Neo4j: `koc kocs --strategy
influence` by IMM (searchlight) and by GDS's CELF (gds), with each pick
set's spread by Searchlight's Monte-Carlo.

    python bench/engines.py --size 1.4m              # about 1M users
    python bench/engines.py --size 50k --markdown    # a quick look, table rows

Generated inputs are cached in --workdir (bench/out, git-ignored). Needs
java 17 and mvn. GDS community edition runs at most 4 threads; this
benchmark's machine has what `machine` in the JSON says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import psutil
from ingest import generate, parse_size  # bench/ingest.py
from neo4j_server import Neo4j, require_tools
from stores import ingest, koc  # bench/stores.py

ENGINES = (
    ("searchlight", "embedded"),
    ("searchlight", "neo4j"),
    ("gds", "neo4j"),
)


def analyze(engine: str, store: str, env: dict[str, str], jvm_pid: int | None) -> dict:
    ran = koc(["analyze", "--store", store, "--engine", engine, "--json"], env, jvm_pid)
    summary = ran.pop("output")
    stages = summary["stage_seconds"]
    return {
        **ran,
        "users": summary["users"],
        "modularity": summary["modularity"],
        "communities": summary["communities"],
        "stage_seconds": stages,
        "analysis_s": round(sum(stages.values()), 2),
        "save_s": summary["save_seconds"],
    }


def kocs(engine: str, store: str, k: int, env: dict[str, str], jvm_pid: int | None) -> dict:
    args = ["kocs", "--store", store, "--strategy", "influence", "--engine", engine]
    ran = koc([*args, "--k", str(k), "--json"], env, jvm_pid)
    picked = ran.pop("output")
    spread = picked["spread"]
    return {
        **ran,
        "picked": len(picked["rows"]),
        "monte_carlo_mean": round(spread["monte_carlo_mean"], 1),
        "uniform_probability": spread.get("uniform_probability"),
        "notes": picked["notes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1.4m", help="events to generate (1.4m: ~1M users)")
    parser.add_argument("--k", type=int, default=50, help="KOCs picked by influence")
    parser.add_argument("--heap", default="6g", help="Neo4j's JVM heap (NEO4J_HEAP)")
    parser.add_argument("--pagecache", default="2g", help="Neo4j's page cache")
    parser.add_argument("--no-kocs", dest="kocs", action="store_false")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--markdown", action="store_true", help="print table rows")
    args = parser.parse_args()
    parse_size(args.size)
    args.workdir.mkdir(parents=True, exist_ok=True)
    require_tools()
    path = generate(args.workdir, args.size, "csv")
    neo4j = Neo4j(args.workdir.resolve() / "neo4j-engines", args.heap, args.pagecache)
    embedded = args.workdir / f"engines-{args.size}.duckdb"
    for stale in (embedded, embedded.with_name(embedded.name + ".wal")):
        stale.unlink(missing_ok=True)
    results: dict = {"loads": {}, "analyses": [], "kocs": []}
    try:
        neo4j.restart()
        env = {"KOC_NEO4J_PASSWORD": neo4j.password}
        stores = {"embedded": (str(embedded), None), "neo4j": (neo4j.url, neo4j.pid)}
        for name, (url, pid) in stores.items():
            results["loads"][name] = ingest(url, path, env, pid)
            print(json.dumps({"load": name, **results["loads"][name]}), flush=True)
        for engine, name in ENGINES:
            url, pid = stores[name]
            row = {"engine": engine, "store": name, **analyze(engine, url, env, pid)}
            results["analyses"].append(row)
            print(json.dumps(row), flush=True)
        if args.kocs:
            for engine in ("searchlight", "gds"):
                row = {"engine": engine, **kocs(engine, neo4j.url, args.k, env, neo4j.pid)}
                results["kocs"].append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
        results["jvm_hwm_mb"] = neo4j.hwm_mb()
    finally:
        neo4j.down()
    results["machine"] = (
        f"{os.cpu_count()} cores, {platform.machine()}, "
        f"{round(psutil.virtual_memory().total / 2**30)} GB, Python {platform.python_version()}"
    )
    results["size"], results["heap"], results["pagecache"] = args.size, args.heap, args.pagecache
    (args.workdir / "engines-results.json").write_text(json.dumps(results, indent=1))
    if args.markdown:
        print_markdown(results)


def print_markdown(results: dict) -> None:
    runs = results["analyses"]
    stages: list[str] = []
    for run in runs:
        stages += [s for s in run["stage_seconds"] if s not in stages]
    names = [f"{r['engine']} on {r['store']}" for r in runs]
    print(f"| stage (s) | {' | '.join(names)} |")
    print("|---|" + "---:|" * len(runs))
    for stage in stages:
        cells = [_seconds(r["stage_seconds"].get(stage)) for r in runs]
        print(f"| {stage} | {' | '.join(cells)} |")
    for label, key in (("analysis", "analysis_s"), ("save snapshot", "save_s")):
        print(f"| **{label}** | {' | '.join(_seconds(r[key]) for r in runs)} |")
    print(f"| **koc process wall** | {' | '.join(_seconds(r['wall_s']) for r in runs)} |")
    rss = [f"{r['peak_rss_mb']:,}" for r in runs]
    print(f"| koc peak RSS (MB) | {' | '.join(rss)} |")
    jvm = [f"{r['jvm_peak_rss_mb']:,}" if r.get("jvm_peak_rss_mb") else "-" for r in runs]
    print(f"| JVM peak RSS (MB) | {' | '.join(jvm)} |")
    quality = [f"{r['modularity']:.4f}" for r in runs]
    print(f"| modularity | {' | '.join(quality)} |")
    print()
    for row in results["kocs"]:
        print(
            f"- kocs by influence, {row['engine']}: {row['picked']} picks, "
            f"Monte-Carlo spread {row['monte_carlo_mean']:,} users, {row['wall_s']:.1f} s, "
            f"koc peak {row['peak_rss_mb']:,} MB"
        )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
