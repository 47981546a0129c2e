"""Benchmark: the embedded store and Neo4j side by side, on the same files.

For each size: a first load of the generated events into a fresh embedded
store and into a fresh Neo4j (the repo's own, neo4j-server/run.sh, restarted
per size so every load starts empty). On the first size also: `koc analyze`
reading from each store, then a 10k-event incremental file (a later campaign:
new users, some invited by users already loaded, some existing users joining
again, converting or churning) into each loaded store.

Every step is one `koc` process. Reported per step: seconds as `koc` times it
(ingest) or the process's wall time (analyze), events/s, the peak RSS of the
`koc` process (wait4 rusage) and of the Neo4j JVM (its PID from the state
dir's pid file, sampled every 0.2 s while the step runs; its lifetime peak,
VmHWM, is in the JSON results).

    python bench/stores.py                        # 1M and 10M events; NEO4J_HEAP 4g
    python bench/stores.py --sizes 50k --incremental-events 2k   # a quick look
    python bench/stores.py --sizes 1m --explain   # also EXPLAIN every Cypher statement (stderr)
    python bench/stores.py --markdown             # rows for docs/benchmarks.md
    python bench/stores.py --shape realistic      # the realistic campaign shape (default steady)

Generated inputs are cached in --workdir (default bench/out, git-ignored; the
1M and 10M files are bench/ingest.py's), Neo4j's state in --workdir/neo4j.
Needs java 17 and mvn (the first run builds the launcher from Maven Central).
Targets: Neo4j first load of 1M events <= 60 s, the 10k incremental <= 5 s,
analysis reading from Neo4j <= 2x the embedded store's.

--explain plans every statement of graph/cypher.py on the database as loaded
at the first size and lists the operators worth a look (whole-label scans,
Eager, cartesian products); EXPLAIN only, as PROFILE would need each
statement's parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from ingest import EVENTS_PER_USER, KOC, add_shape_option, generate, parse_size  # bench/ingest.py
from neo4j_server import Neo4j, require_tools, sampled_rss

ROOT = Path(__file__).resolve().parent.parent

INCREMENTAL_CAMPAIGN = "bench-incremental"
INCREMENTAL_SHIFT_DAYS = 180  # after every generated event (they span 150 days)
# Plan operators worth a look in a statement that should touch few rows.
LOOK_AT = {"AllNodesScan", "NodeByLabelScan", "Eager", "CartesianProduct"}
CYPHER_START = re.compile(r"\s*(MATCH|OPTIONAL|UNWIND|MERGE|CREATE|CALL|WITH)\b")
TARGETS = {"first_load_1m_s": 60.0, "incremental_s": 5.0, "analyze_ratio": 2.0}


# -- inputs ------------------------------------------------------------------


def incremental(workdir: Path, base: Path, events: int, shape: str = "steady") -> Path:
    """A later campaign of `events` events touching the users of `base`:
    generated with another seed, moved INCREMENTAL_SHIFT_DAYS later, renamed;
    10% of its inviters become users of `base` (new users they bring), and
    2% of its joins and 10% of its conversions and churns are by users of
    `base` (existing users joining again, buying, leaving)."""
    path = workdir / f"incremental-{events}-onto-{base.stem}.csv"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from loaders.generator import generate_campaign, write_campaign

    print(f"generating {path}…", file=sys.stderr, flush=True)
    existing = pc.unique(
        pacsv.read_csv(base, convert_options=pacsv.ConvertOptions(include_columns=["invitee_id"]))[
            "invitee_id"
        ]
    ).to_numpy(zero_copy_only=False)
    users = max(50, int(events / EVENTS_PER_USER) + 50)
    table, truth = generate_campaign(users=users, seed=2, shape=shape)
    table = table.slice(0, events)
    rng = np.random.default_rng(2)
    n = table.num_rows
    kind = table["type"].to_numpy(zero_copy_only=False)
    inviter = table["inviter_id"].to_numpy(zero_copy_only=False).astype(object)
    invitee = table["invitee_id"].to_numpy(zero_copy_only=False).astype(object)
    has_inviter = np.array([v is not None for v in inviter])
    pick = has_inviter & (rng.random(n) < 0.10)
    inviter[pick] = rng.choice(existing, int(pick.sum()))
    share = np.where(kind == "join", 0.02, np.where(np.isin(kind, ["convert", "churn"]), 0.10, 0))
    pick = rng.random(n) < share
    invitee[pick] = rng.choice(existing, int(pick.sum()))
    inviter[inviter == invitee] = None  # never a self-invite
    at = pc.strptime(table["occurred_at"], format="%Y-%m-%d %H:%M:%S", unit="s")
    later = pc.add(at, pa.scalar(INCREMENTAL_SHIFT_DAYS * 86_400, pa.duration("s")))
    table = (
        table.set_column(1, "inviter_id", pa.array(inviter, pa.string()))
        .set_column(2, "invitee_id", pa.array(invitee, pa.string()))
        .set_column(3, "occurred_at", pc.strftime(later, format="%Y-%m-%d %H:%M:%S"))
        .set_column(4, "campaign", pa.array([INCREMENTAL_CAMPAIGN] * n, pa.string()))
    )
    write_campaign(table, truth, path, "csv")
    return path


# -- the measured steps ----------------------------------------------------------


def koc(args: list[str], env: dict[str, str], jvm_pid: int | None) -> dict:
    """One `koc` process: its JSON output, wall time and peak RSS, and the
    JVM's peak RSS while it ran."""
    started = time.perf_counter()
    # What it prints on stderr (the Neo4j driver's notices among it) is kept
    # out of the way, and shown if it fails.
    with tempfile.TemporaryFile("w+") as errors, sampled_rss(jvm_pid) as jvm:
        proc = subprocess.Popen(
            [str(KOC), *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, **env},
        )
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            tail = "".join(errors.readlines()[-20:])
            raise SystemExit(f"failed: koc {' '.join(args)}\n{tail}")
    wall = time.perf_counter() - started
    return {
        "output": json.loads(out.strip().splitlines()[-1]),
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux reports KiB
        "jvm_peak_rss_mb": jvm["peak_mb"],
    }


def ingest(store: str, path: Path, env: dict[str, str], jvm_pid: int | None) -> dict:
    ran = koc(
        ["ingest", str(path), "--store", store, "--json", "--quiet"]
        + ["--quarantine", str(path.with_suffix(".quarantine.csv"))],
        env,
        jvm_pid,
    )
    report = ran.pop("output")
    seconds = report["files"][0]["seconds"]
    return {
        **ran,
        "events": report["read"],
        "accepted": report["accepted"],
        "rejected": report["rejected"],
        "seconds": seconds,
        "events_per_s": round(report["read"] / seconds) if seconds else None,
    }


def analyze(store: str, env: dict[str, str], jvm_pid: int | None) -> dict:
    ran = koc(["analyze", "--store", store, "--json"], env, jvm_pid)
    summary = ran.pop("output")
    return {
        **ran,
        "seconds": ran["wall_s"],
        "read_s": summary["stage_seconds"].get("read"),
        "analysis_s": round(sum(v for k, v in summary["stage_seconds"].items() if k != "read"), 2),
        "save_s": summary.get("save_seconds"),
        "users": summary["users"],
        "flagged_users": summary["flagged_users"],
    }


def explain(neo4j: Neo4j) -> list[dict]:
    """EXPLAIN every Cypher statement in graph/cypher.py on the loaded
    database: the plan's operators, and the ones worth a look (scans of a
    whole label, Eager, cartesian products)."""
    from neo4j import GraphDatabase

    from graph import cypher

    url = neo4j.url
    match = re.match(r"(\w+)://(?:(\w+)@)?([^/]+)/?(\w*)", url)
    assert match, url
    scheme, user, host, database = match.groups()
    found = []
    with GraphDatabase.driver(
        f"{scheme}://{host}",
        auth=(user or "neo4j", neo4j.password),
        notifications_min_severity="OFF",  # the plans are the point, not the notices
    ) as driver:
        for name, statement in _statements(vars(cypher)):
            try:
                with driver.session(database=database or None) as session:
                    plan = session.run("EXPLAIN " + statement).consume().plan
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                found.append({"statement": name, "error": str(exc).splitlines()[0][:200]})
                continue
            operators = list(_operators(plan))
            worth = sorted(set(operators) & LOOK_AT)
            found.append(
                {
                    "statement": name,
                    "estimated_rows": round(plan["args"].get("EstimatedRows", 0)),
                    "operators": len(operators),
                    "look_at": worth,
                }
            )
    return found


def _statements(module: dict) -> Iterator[tuple[str, str]]:
    """The module's Cypher statements by name (a dict's by NAME[key])."""
    for name, value in module.items():
        if not name.isupper() or name.startswith("_"):
            continue
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, statement in items:
            if isinstance(statement, str) and CYPHER_START.match(statement):
                yield (name if key is None else f"{name}[{key}]"), statement


def _operators(plan: dict) -> Iterator[str]:
    yield plan["operatorType"].split("@")[0]
    for child in plan.get("children", []):
        yield from _operators(child)


# -- the run -------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m", help="events per first load: 50k,1m,10m")
    parser.add_argument(
        "--incremental-events",
        type=parse_size,
        default=10_000,
        help="events in the incremental file, loaded after the first size (default 10k)",
    )
    parser.add_argument("--heap", default="4g", help="Neo4j's JVM heap (NEO4J_HEAP)")
    parser.add_argument("--pagecache", default="2g", help="Neo4j's page cache (NEO4J_PAGECACHE)")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN every Cypher statement")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--markdown", action="store_true", help="print table rows")
    add_shape_option(parser)
    args = parser.parse_args()
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        parse_size(size)
    args.workdir.mkdir(parents=True, exist_ok=True)
    require_tools()

    neo4j = Neo4j(args.workdir.resolve() / "neo4j", args.heap, args.pagecache)
    results: list[dict] = []
    plans: list[dict] = []

    def record(step: str, store: str, size: str, result: dict) -> None:
        row = {"step": step, "store": store, "size": size, **result}
        results.append(row)
        print(json.dumps(row), flush=True)

    try:
        for i, size in enumerate(sizes):
            path = generate(args.workdir, size, "csv", args.shape)
            extra = (
                incremental(args.workdir, path, args.incremental_events, args.shape)
                if i == 0
                else None
            )
            neo4j.restart()
            env = {"KOC_NEO4J_PASSWORD": neo4j.password}
            embedded = args.workdir / f"neo4j-bench-{size}.duckdb"
            for stale in (embedded, embedded.with_name(embedded.name + ".wal")):
                stale.unlink(missing_ok=True)
            stores = {"embedded": (str(embedded), None), "neo4j": (neo4j.url, neo4j.pid)}
            for name, (url, pid) in stores.items():
                record("first load", name, size, ingest(url, path, env, pid))
            if i == 0:
                if args.explain:
                    plans = explain(neo4j)
                    for plan in plans:
                        print(json.dumps(plan, ensure_ascii=False), file=sys.stderr, flush=True)
                if args.analyze:
                    for name, (url, pid) in stores.items():
                        record("analyze", name, size, analyze(url, env, pid))
                step = f"incremental {args.incremental_events:,}"
                for name, (url, pid) in stores.items():
                    record(step, name, size, ingest(url, extra, env, pid))
            # The JVM's peak since it started for this size.
            hwm = neo4j.hwm_mb()
            for row in results:
                if row["store"] == "neo4j" and row["size"] == size:
                    row["jvm_hwm_mb"] = hwm
    finally:
        neo4j.down()

    verdicts = targets(results, sizes[0], args.incremental_events)
    (args.workdir / "neo4j-results.json").write_text(
        json.dumps(
            {
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
                f"{round(psutil.virtual_memory().total / 2**30)} GB, "
                f"Python {platform.python_version()}",
                "neo4j_heap": args.heap,
                "neo4j_pagecache": args.pagecache,
                "results": results,
                "targets": verdicts,
                "explain": plans,
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    if not args.markdown:
        for line in verdicts:
            print(line, file=sys.stderr)
    if args.markdown:
        print("| step | size | store | events | seconds | events/s | koc peak RSS | JVM peak RSS |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for r in results:
            events = f"{r['events']:,}" if "events" in r else f"{r['users']:,} users"
            rate = f"{r['events_per_s']:,}" if r.get("events_per_s") else "-"
            jvm = f"{r['jvm_peak_rss_mb']:,} MB" if r.get("jvm_peak_rss_mb") else "-"
            print(
                f"| {r['step']} | {r['size']} | {r['store']} | {events} | {r['seconds']:.2f} | "
                f"{rate} | {r['peak_rss_mb']:,} MB | {jvm} |"
            )
        print()
        for line in verdicts:
            print(f"- {line}")


def targets(results: list[dict], first_size: str, incremental_events: int) -> list[str]:
    """The targets beside the numbers measured for them. The targets are for
    1M events (and a 10k incremental file); other sizes get the numbers
    without a verdict."""

    def find(step: str, store: str, size: str) -> dict | None:
        return next(
            (
                r
                for r in results
                if r["step"].startswith(step) and (r["store"], r["size"]) == (store, size)
            ),
            None,
        )

    def verdict(met: bool, comparable: bool, setup: str = "1M events") -> str:
        if not comparable:
            return f"no verdict: the target is for {setup}"
        return "met" if met else "MISSED"

    lines = []
    limit = TARGETS["first_load_1m_s"]
    one_m = next(
        (s for s in dict.fromkeys(r["size"] for r in results) if parse_size(s) == 10**6), None
    )
    load = find("first load", "neo4j", one_m) if one_m else None
    lines.append(
        f"target: Neo4j first load of 1M events <= {limit:.0f} s: "
        + (
            f"{load['seconds']:.1f} s, {verdict(load['seconds'] <= limit, True)}"
            if load
            else "not measured (no 1m size)"
        )
    )
    at_1m = parse_size(first_size) == 10**6
    step = find("incremental", "neo4j", first_size)
    limit = TARGETS["incremental_s"]
    if step:
        lines.append(
            f"target: Neo4j incremental 10k events onto 1M <= {limit:.0f} s: "
            f"{step['events']:,} onto {first_size} took {step['seconds']:.2f} s, "
            + verdict(
                step["seconds"] <= limit,
                at_1m and incremental_events == 10_000,
                "10k events onto 1M",
            )
        )
    ours, theirs = find("analyze", "embedded", first_size), find("analyze", "neo4j", first_size)
    limit = TARGETS["analyze_ratio"]
    if ours and theirs:
        ratio = theirs["seconds"] / ours["seconds"]
        lines.append(
            f"target: analysis from Neo4j <= {limit:.0f}x embedded at 1M: at {first_size} "
            f"{theirs['seconds']:.1f} s vs {ours['seconds']:.1f} s = {ratio:.2f}x, "
            + verdict(ratio <= limit, at_1m)
        )
    return lines


if __name__ == "__main__":
    main()
