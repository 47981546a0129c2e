"""Benchmark: `koc ingest` on generated campaigns, from CSV and from Parquet.

Each run ingests one file into a fresh embedded store in its own process and
reports events per second and the peak resident memory of that process.
Throughput counts the ingest itself (read, validate, dedupe, write the log and
refresh the graph, as `koc ingest --json` times it); the process start-up is
shown beside it.

    python bench/ingest.py                       # 1M and 10M events, CSV and Parquet
    python bench/ingest.py --sizes 1m --formats csv
    python bench/ingest.py --markdown            # rows for docs/benchmarks.md
    python bench/ingest.py --shape realistic     # the realistic campaign shape

The files are `koc generate --seed 1 --shape steady` by default: the shape
the recorded figures were measured on (docs/ingest.md, "Generated campaigns").

Generated inputs are cached in --workdir (default bench/out, git-ignored).
Target on the 2-core, 24 GB machine: >= 300k events/s, <= 3 GB peak RSS at 10M.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from loaders.generator import SHAPES

# Events per joined user in the generator's (steady) mix.
EVENTS_PER_USER = 1.689
SIZES = {"1m": 1_000_000, "10m": 10_000_000}
KOC = Path(sys.executable).with_name("koc")


def parse_size(text: str) -> int:
    """'50k' -> 50,000; '1m' -> 1,000,000; '2500' -> 2,500."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count such as 50k, 1m or 2500")
    number, unit = match.groups()
    return int(float(number) * {"": 1, "k": 1_000, "m": 1_000_000}[unit])


def add_shape_option(parser: argparse.ArgumentParser, default: str = "steady") -> None:
    """`--shape`, the generator's shape (`koc generate --shape`); the speed
    benchmarks default to steady, the shape their recorded figures used."""
    parser.add_argument(
        "--shape", choices=SHAPES, default=default, help=f"generator shape (default {default})"
    )


def generate(workdir: Path, size: str, fmt: str, shape: str = "steady") -> Path:
    suffix = "" if shape == "steady" else f"-{shape}"  # steady keeps the recorded names
    path = workdir / f"events-{size}{suffix}.{fmt}"
    if not path.exists():
        users = max(50, int(parse_size(size) / EVENTS_PER_USER))
        print(f"generating {path} ({users:,} users)…", file=sys.stderr, flush=True)
        subprocess.run(
            [KOC, "generate", "--users", str(users), "--seed", "1", "--shape", shape]
            + ["--out", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def run_ingest(path: Path, store: Path, *, fresh: bool = True) -> dict:
    if fresh:
        for stale in (store, store.with_name(store.name + ".wal")):
            stale.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            KOC,
            "ingest",
            str(path),
            "--store",
            str(store),
            "--json",
            "--quiet",
            "--quarantine",
            str(store.with_suffix(".quarantine.csv")),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingest of {path} failed")
    report = json.loads(out)
    seconds = report["files"][0]["seconds"]
    return {
        "file": path.name + ("" if fresh else " (re-run)"),
        "format": path.suffix.lstrip("."),
        "bytes": path.stat().st_size,
        "events": report["read"],
        "accepted": report["accepted"],
        "ingest_s": seconds,
        "wall_s": round(wall, 2),
        "events_per_s": round(report["read"] / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux reports KiB
        "store_mb": round(store.stat().st_size / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--markdown", action="store_true", help="print table rows")
    add_shape_option(parser)
    parser.add_argument(
        "--no-rerun",
        dest="rerun",
        action="store_false",
        help="skip ingesting each file a second time (all duplicates)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes.split(","):
        for fmt in args.formats.split(","):
            path = generate(args.workdir, size, fmt, args.shape)
            store = args.workdir / "bench.duckdb"
            runs = [run_ingest(path, store)]
            if args.rerun:
                # The same file again: every event is a duplicate, nothing changes.
                runs.append(run_ingest(path, store, fresh=False))
            for result in runs:
                results.append(result)
                print(json.dumps(result), flush=True)
    (args.workdir / "ingest-results.json").write_text(
        json.dumps(
            {
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.python_version()}",
                "results": results,
            },
            indent=1,
        )
    )
    if args.markdown:
        print("| input | events | accepted | ingest s | events/s | wall s | peak RSS |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(
                f"| {r['file']} ({r['bytes'] / 2**20:,.0f} MiB) | {r['events']:,} | "
                f"{r['accepted']:,} | {r['ingest_s']:.1f} | {r['events_per_s']:,} | "
                f"{r['wall_s']:.1f} | {r['peak_rss_mb']:,} MB |"
            )
    shutil.rmtree(args.workdir / "bench.duckdb.tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
