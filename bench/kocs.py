"""Benchmark: picking KOCs on generated campaigns — the searchlight set
(coverage, CELF) and influence maximisation (IMM plus Monte-Carlo check).

    python bench/kocs.py                      # 1M users: coverage k=100, influence k=50
    python bench/kocs.py --users 100k         # quick look
    python bench/kocs.py --real               # influence on the real networks, each tie model

The store comes from bench/analyze.py's cache (generated with --seed 1,
ingested, analysed once if it has no snapshot). Each strategy runs in a fresh
process; the time is `choose_kocs` as `koc kocs` calls it, which includes
reading the graph from the store. Peak RSS is the child's.

Targets (issue 5): coverage k=100 on 1M users in at most 30 s; influence
k=50 on 1M users in at most 120 s. With --real: the real networks of
../shared/data (converted with friends inviting back, analysed once into
bench/out), influence k=50 under the learned, weighted-cascade and uniform
0.1 models (the last two with every user a candidate), where dense,
reciprocal ties make reverse-reachable sets large (issue 14).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import quality_networks as qn  # noqa: E402
from analyze import ensure_analysed, measured, prepare  # noqa: E402

RUNS = (("coverage", 100), ("influence", 50))


REAL_NETWORKS = ("collegemsg.txt", "ego-facebook.txt")
REAL_MODELS = (("learned", "eligible"), ("wc", "all"), ("uniform:0.1", "all"))


def pick(store: Path, strategy: str, k: int, options: str = "") -> dict:
    code = f"""
import json, time
from graph.embedded import EmbeddedStore
from graph.analysis.kocs import KocParams, choose_kocs
store = EmbeddedStore({str(store)!r}, read_only=True)
saved = store.latest_snapshot()
started = time.perf_counter()
chosen = choose_kocs(store, saved, KocParams(k={k}, strategy={strategy!r}{options}))
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "picked": len(chosen.rows),
    "users": chosen.users, "eligible": chosen.eligible,
    "coverage_share": chosen.rows[-1].coverage_share, "lit_share": chosen.rows[-1].lit_share,
    "spread": chosen.spread, "notes": chosen.notes}}))
"""
    result, wall, rss = measured([sys.executable, "-c", code])
    result.update(process_wall_s=round(wall, 2), peak_rss_mb=round(rss / 1024))
    return result


def real_network_store(workdir: Path, data: Path, name: str) -> Path:
    """The network converted, ingested and analysed once (cached in workdir)."""
    store = workdir / f"real-{Path(name).stem}.duckdb"
    if not store.exists():
        part = workdir / f"real-{Path(name).stem}"
        part.mkdir(exist_ok=True)
        events = qn.events_from_edges(data / name)
        opened, snapshot = qn.load(events, qn.NetworkTruth(0, 0, name, ""), part)
        opened.save_snapshot(snapshot.to_saved())
        opened.close()
        (part / "store.duckdb").rename(store)
    return store


def real(workdir: Path, data: Path) -> None:
    for name in REAL_NETWORKS:
        store = real_network_store(workdir, data, name)
        for model, candidates in REAL_MODELS:
            options = f", model={model!r}, candidates={candidates!r}"
            row = {"network": name, "model": model, "candidates": candidates}
            print(json.dumps({**row, **pick(store, "influence", 50, options)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help="comma-separated: 100k, 1m, 10m")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--real", action="store_true", help="the real networks instead")
    parser.add_argument(
        "--data",
        type=Path,
        default=qn.SHARED_DATA,
        help="the real networks' folder (default: ../shared/data beside the repo)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.real:
        real(args.workdir, args.data)
        return
    for size in args.users.split(","):
        store = prepare(args.workdir, size)
        ensure_analysed(store)
        for strategy, k in RUNS:
            row = {"size": size, "strategy": strategy, "k": k, **pick(store, strategy, k)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
