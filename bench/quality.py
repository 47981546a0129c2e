"""Quality on the generator's planted truth (do we find the planted KOCs, do
the fraud rules flag the planted farm accounts and little else?) and on real
networks (bench/quality_networks.py: false flags, a sweep of injected farms,
the score's top, a backtest on real timing).

    python bench/quality.py              # the tables in docs/quality.md
    python bench/quality.py --quick      # one small campaign and the real networks
    python bench/quality.py --real       # the real networks only
    python bench/quality.py --synthetic  # the generated campaigns only
    python bench/quality.py --synthetic --shape steady  # the first generator model

For each campaign (size, seed, farm options; the generator's realistic
shape unless --shape steady, see docs/ingest.md) it generates the events,
ingests them into a fresh embedded store, runs the analysis with default
parameters, and picks k = 50 KOCs with each strategy. It reports

- KOC recall@50: planted KOCs among the 50 picks, over min(50, planted);
  for the top 50 KOC scores, the coverage and influence sets, and the top 50
  by raw invites (the operators' usual list) for comparison;
- flag precision and recall against the planted farm accounts (farmers and
  their fake accounts) that are in the data: a farm started just before the
  export ends has accounts whose joins come after it, and those are left out.

The farm options make farms harder to see: bursts spread over more minutes,
more devices per farm, fewer accounts churning. They measure where the rules
stop working; they are never used to fit the rules.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from api.settings import DEFAULT_REWARD_TIERS
from graph.analysis.backtest import backtest
from graph.analysis.kocs import KocParams, choose_kocs
from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import SHAPES, generate_campaign, write_campaign
from loaders.quarantine import Quarantine

sys.path.insert(0, str(Path(__file__).parent))
import quality_networks as qn  # noqa: E402

K = 50
BACKTEST_BEFORE_END_DAYS = 45
BACKTEST_HORIZON_DAYS = 30

CAMPAIGNS = [
    *({"users": 50_000, "seed": s} for s in (1, 2, 3)),
    *({"users": 200_000, "seed": s} for s in (1, 2)),
    {"users": 1_000_000, "seed": 1},
    {"users": 50_000, "seed": 1, "farm_minutes": 60},
    {"users": 50_000, "seed": 1, "farm_minutes": 600},
    {"users": 50_000, "seed": 1, "farm_devices": 30},
    {"users": 50_000, "seed": 1, "farm_churn": 0.2},
    {"users": 50_000, "seed": 1, "farm_minutes": 600, "farm_devices": 30, "farm_churn": 0.2},
]


def measure(campaign: dict, workdir: Path) -> dict:
    started = time.perf_counter()
    options = {k: v for k, v in campaign.items() if k not in ("users", "seed")}
    events, truth = generate_campaign(campaign["users"], campaign["seed"], **options)
    path = workdir / "campaign.parquet"
    write_campaign(events, truth, path, "parquet")
    store = EmbeddedStore(workdir / "store.duckdb")
    try:
        ingest_file(store, path, quarantine=Quarantine(workdir / "quarantine.csv"))
        snapshot = analyze(store)
        store.save_snapshot(snapshot.to_saved())
        saved = store.latest_snapshot()
        users = snapshot.users
        ids = np.array(users["id"].to_pylist(), dtype=object)
        planted = set(truth.planted_kocs)
        denominator = min(K, len(planted))

        def recall(chosen: list[str]) -> float:
            return round(len(planted & set(chosen)) / denominator, 3)

        def top_by(column: str) -> list[str]:
            values = users[column].to_numpy()
            return ids[np.lexsort((np.arange(len(values)), -values))[:K]].tolist()

        scores = np.sort(users["koc_score"].to_numpy())[::-1]
        row = {
            **campaign,
            "score_top10": [round(float(x), 2) for x in scores[:10]],
            "score_top100_distinct": [
                len(np.unique(scores[:100])),
                len(np.unique(np.round(scores[:100], 2))),
            ],
            "tiers": {t: int((scores >= floor).sum()) for t, floor in DEFAULT_REWARD_TIERS.items()},
            "planted_kocs": len(planted),
            "recall_score": recall(top_by("koc_score")),
            "recall_top_invites": recall(top_by("invites")),
        }
        for strategy in ("coverage", "influence"):
            picks = choose_kocs(store, saved, KocParams(k=K, strategy=strategy))
            row[f"recall_{strategy}"] = recall([r.user_id for r in picks.rows])
        # Farms started near the end of the export lose accounts that never
        # reach the data; they cannot be flagged and are left out.
        farm = set(truth.farm_accounts) & set(ids.tolist())
        flagged = set(ids[users["flagged"].to_numpy(zero_copy_only=False)].tolist())
        caught = len(farm & flagged)
        row.update(
            farm_accounts=len(farm),
            farm_accounts_after_export=len(set(truth.farm_accounts)) - len(farm),
            flagged=len(flagged),
            flag_precision=round(caught / max(1, len(flagged)), 3),
            flag_recall=round(caught / max(1, len(farm)), 3),
            farmers_flagged=sum(f["farmer"] in flagged for f in truth.farms if f["farmer"] in farm),
            farms=sum(f["farmer"] in farm for f in truth.farms),
            missed_farmers_by_kind=_missed(truth.farms, farm, flagged),
        )
        # Backtest: pick 45 days before the last event, measure the next 30.
        cutoff = store.stats().last_event_at - timedelta(days=BACKTEST_BEFORE_END_DAYS)
        result = backtest(store, cutoff, k=K, horizon_days=BACKTEST_HORIZON_DAYS)
        row["backtest"] = {
            r.name: {"tree_share": round(r.tree_share, 3), "precision": round(r.precision_at_k, 3)}
            for r in result.rows
        }
        row.update(
            seconds=round(time.perf_counter() - started, 1),
        )
        return row
    finally:
        store.close()


def _missed(farms: list[dict], present: set[str], flagged: set[str]) -> dict[str, int]:
    missed: dict[str, int] = {}
    for f in farms:
        if f["farmer"] in present and f["farmer"] not in flagged:
            missed[f["kind"]] = missed.get(f["kind"], 0) + 1
    return missed


def markdown(rows: list[dict]) -> str:
    head = (
        "| users | seed | farm options | planted KOCs | recall@50 score | coverage | influence "
        "| top invites | farm accounts | flagged | flag precision | flag recall | farmers flagged |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['users']:,} | {r['seed']} | {_options(r)} | {r['planted_kocs']} "
            f"| {r['recall_score']:.2f} | {r['recall_coverage']:.2f} | {r['recall_influence']:.2f} "
            f"| {r['recall_top_invites']:.2f} | {r['farm_accounts']:,}{_after(r)} | {r['flagged']:,} "
            f"| {r['flag_precision']:.3f} | {r['flag_recall']:.3f} "
            f"| {r['farmers_flagged']}/{r['farms']} |"
        )
    names = list(rows[0]["backtest"]) if rows else []
    lines += [
        "",
        f"Backtest (k = {K}; cutoff {BACKTEST_BEFORE_END_DAYS} days before the last event, "
        f"horizon {BACKTEST_HORIZON_DAYS} days): new referrals in the picks' trees / "
        "precision@k",
        "",
        "| users | seed | farm options | " + " | ".join(names) + " |",
        "|" + "---|" * (3 + len(names)),
    ]
    for r in rows:
        cells = [
            f"{r['backtest'][n]['tree_share']:.1%} / {r['backtest'][n]['precision']:.0%}"
            for n in names
        ]
        lines.append(
            f"| {r['users']:,} | {r['seed']} | {_options(r)} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def _after(r: dict) -> str:
    after = r["farm_accounts_after_export"]
    return f" (+{after} after the export)" if after else ""


def _options(r: dict) -> str:
    return (
        ", ".join(
            f"{k.removeprefix('farm_')} {v}"
            for k, v in r.items()
            if k in ("farm_minutes", "farm_devices", "farm_churn")
        )
        or "defaults"
    )


def score_markdown(rows: list[dict]) -> str:
    lines = [
        "| users | seed | farm options | top 10 KOC scores | distinct in top 100 (full / 2 decimals) "
        "| tier A / B / C users |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['users']:,} | {r['seed']} | {_options(r)} | "
            + ", ".join(f"{x:.2f}" for x in r["score_top10"])
            + f" | {r['score_top100_distinct'][0]} / {r['score_top100_distinct'][1]} | "
            + " / ".join(f"{v:,}" for v in r["tiers"].values())
            + " |"
        )
    return "\n".join(lines)


def synthetic(campaigns: list[dict], max_users: int) -> str:
    rows = []
    for campaign in campaigns:
        if campaign["users"] > max_users:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            row = measure(campaign, Path(tmp))
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    return markdown(rows) + "\n\nKOC score at the top:\n\n" + score_markdown(rows)


def real(data: Path) -> str:
    plain, runs = [], []
    for name in qn.NETWORKS:
        with tempfile.TemporaryDirectory() as tmp:
            plain.append(qn.no_farms(name, data, Path(tmp)))
        print(json.dumps(plain[-1]), file=sys.stderr, flush=True)
        for seed in qn.SWEEP_SEEDS:
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(qn.sweep_run(name, data, seed, Path(tmp)))
            run = {k: v for k, v in runs[-1].items() if k != "farms"}
            print(json.dumps(run), file=sys.stderr, flush=True)
    sweep = qn.summarise_sweep(runs)
    print(json.dumps(sweep), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        college = qn.backtest_collegemsg(data, Path(tmp))
    print(json.dumps(college), file=sys.stderr, flush=True)
    return qn.markdown(plain, sweep, college)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 20k-user campaign")
    parser.add_argument("--real", action="store_true", help="the real networks only")
    parser.add_argument("--synthetic", action="store_true", help="the generated campaigns only")
    parser.add_argument("--max-users", type=int, default=10_000_000)
    parser.add_argument(
        "--shape", choices=SHAPES, default="realistic", help="generator shape (default realistic)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=qn.SHARED_DATA,
        help="the real networks' folder (default: ../shared/data beside the repo)",
    )
    args = parser.parse_args()
    campaigns = [{"users": 20_000, "seed": 1}] if args.quick else CAMPAIGNS
    campaigns = [{**c, "shape": args.shape} for c in campaigns]
    sections = []
    if not args.real:
        sections.append(synthetic(campaigns, args.max_users))
    if not args.synthetic:
        sections.append(real(args.data))
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()
