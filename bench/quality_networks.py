"""Quality on real networks (../shared/data beside the repo): the fraud rules'
false flags with no farms, a sweep of farms injected with parameters drawn
independently of the rules, the KOC score's spread at the top, and a
backtest on real timing. Run by bench/quality.py (`--real`); docs/quality.md.

The sweep's *default part* is `loaders.farms.default_part`: the farms a
default rule is built for, judged from their parameters alone.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from graph.analysis.backtest import backtest
from graph.analysis.fraud import FraudRules
from graph.analysis.snapshot import Snapshot, analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.edges import NetworkTruth, events_from_edges
from loaders.farms import default_part, draw_farms, inject_farms
from loaders.generator import GroundTruth, write_campaign
from loaders.quarantine import Quarantine

NETWORKS = ("ego-facebook.txt", "collegemsg.txt")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the repo
FARMS_PER_RUN = 25
SWEEP_SEEDS = (1, 2, 3, 4)
# CollegeMsg runs 2004-04-15 .. 2004-10-26: pick at mid-May, measure 90 days.
BACKTEST_CUTOFF = datetime.fromisoformat("2004-05-15T00:00:00+08:00")
BACKTEST_HORIZON_DAYS = 90
K = 50


def load(events: pa.Table, truth: GroundTruth, workdir: Path) -> tuple[EmbeddedStore, Snapshot]:
    path = workdir / "events.parquet"
    write_campaign(events, truth, path, "parquet")
    store = EmbeddedStore(workdir / "store.duckdb")
    ingest_file(store, path, quarantine=Quarantine(workdir / "quarantine.csv"))
    return store, analyze(store)


def flagged_ids(snapshot: Snapshot) -> set[str]:
    users = snapshot.users
    return set(users["id"].filter(users["flagged"]).to_pylist())


def no_farms(name: str, data: Path, workdir: Path) -> dict:
    """Flags on the plain network: every one is a false positive."""
    events = events_from_edges(data / name)
    store, snapshot = load(events, NetworkTruth(0, 0, name, ""), workdir)
    try:
        rules = Counter(snapshot.flags["rule"].to_pylist())
        users = snapshot.users
        top = np.sort(users["koc_score"].to_numpy())[::-1][:100]
        flagged = len(flagged_ids(snapshot))
        return {
            "network": name,
            "users": users.num_rows,
            "flagged": flagged,
            "flag_rate": round(flagged / users.num_rows, 4),
            "by_rule": dict(rules),
            "score_top10": [round(float(s), 2) for s in top[:10]],
            "score_top100_distinct": len(np.unique(np.round(top, 2))),
        }
    finally:
        store.close()


def sweep_run(name: str, data: Path, seed: int, workdir: Path) -> dict:
    """One network with `FARMS_PER_RUN` farms drawn from `seed`."""
    specs = draw_farms(FARMS_PER_RUN, seed)
    events, truth = inject_farms(events_from_edges(data / name, seed=seed), specs, seed)
    store, snapshot = load(events, truth, workdir)
    store.close()
    flagged = flagged_ids(snapshot)
    farms = []
    for farm, spec in zip(truth.farms, specs, strict=True):
        accounts = [farm["farmer"], *farm["accounts"]]
        farms.append(
            {
                **farm["spec"],
                "part": default_part(spec, FraudRules()),
                "accounts_total": len(accounts),
                "accounts_flagged": sum(a in flagged for a in accounts),
                "farmer_flagged": farm["farmer"] in flagged,
            }
        )
    farm_ids = set(truth.farm_accounts)
    flags = snapshot.flags.to_pylist()
    return {
        "network": name,
        "seed": seed,
        "flagged": len(flagged),
        "false_flags": len(flagged - farm_ids),
        "false_flags_by_rule": dict(
            Counter(f["rule"] for f in flags if f["user_id"] not in farm_ids)
        ),
        "farms": farms,
    }


def backtest_collegemsg(data: Path, workdir: Path) -> dict:
    events = events_from_edges(data / "collegemsg.txt")
    store, _ = load(events, NetworkTruth(0, 0, "collegemsg.txt", ""), workdir)
    try:
        started = time.perf_counter()
        result = backtest(store, BACKTEST_CUTOFF, k=K, horizon_days=BACKTEST_HORIZON_DAYS)
        return {
            **{k: v for k, v in result.to_json().items() if k != "rows"},
            "rows": {
                r.name: {
                    "tree_share": round(r.tree_share, 3),
                    "precision": round(r.precision_at_k, 3),
                    "picks": r.picks,
                }
                for r in result.rows
            },
            "seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        store.close()


def summarise_sweep(runs: list[dict]) -> dict:
    """Precision over every flag; recall over accounts, in and out of the
    default part, and by each parameter's range."""
    farms = [f for run in runs for f in run["farms"]]
    flagged = sum(run["flagged"] for run in runs)
    false = sum(run["false_flags"] for run in runs)

    def recall(group: list[dict]) -> dict:
        total = sum(f["accounts_total"] for f in group)
        caught = sum(f["accounts_flagged"] for f in group)
        farmers = sum(f["farmer_flagged"] for f in group)
        return {
            "farms": len(group),
            "accounts": total,
            "recall": round(caught / total, 3) if total else None,
            "farmers_flagged": farmers,
        }

    inside = [f for f in farms if f["part"]]
    outside = [f for f in farms if not f["part"]]
    bins = {
        "shape": [(s, lambda f, s=s: f["shape"] == s) for s in ("star", "ring", "chain")],
        "pace": _ranges(
            "pace_minutes",
            [
                (1, 10, "1-10 min"),
                (10, 60, "10-60 min"),
                (60, 1440, "1-24 h"),
                (1440, 1e9, "1-7 days"),
            ],
        ),
        "accounts per device": _ranges(
            "per_device", [(0, 1, "under 1"), (1, 3, "1-3"), (3, 1e9, "3 or more")]
        ),
        "churn": _ranges("churn", [(0, 0.25, "0-25%"), (0.25, 0.5, "25-50%"), (0.5, 1, "50-90%")]),
        "accounts": _ranges("accounts", [(0, 10, "5-9"), (10, 50, "10-49"), (50, 1e9, "50-200")]),
    }
    for f in farms:
        f["per_device"] = f["accounts"] / f["devices"]
    return {
        "runs": len(runs),
        "farms": len(farms),
        "flagged": flagged,
        "false_flags": false,
        "precision": round((flagged - false) / flagged, 4) if flagged else None,
        "false_flags_by_rule": dict(
            sum((Counter(run["false_flags_by_rule"]) for run in runs), Counter())
        ),
        "default_part": recall(inside),
        "rest": recall(outside),
        "rest_by_shape": {s: recall([f for f in outside if f["shape"] == s]) for s in ("star",)},
        "by": {
            name: {label: recall([f for f in farms if test(f)]) for label, test in tests}
            for name, tests in bins.items()
        },
        "by_in_default_part": {
            name: {label: recall([f for f in inside if test(f)]) for label, test in tests}
            for name, tests in bins.items()
        },
    }


def _ranges(key: str, edges: list[tuple[float, float, str]]):
    return [(label, lambda f, lo=lo, hi=hi: lo <= f[key] < hi) for lo, hi, label in edges]


def markdown(plain: list[dict], sweep: dict, college: dict) -> str:
    """The real-network section of docs/quality.md."""
    lines = [
        "| network | users | flagged | flag rate | by rule | top 10 KOC scores | distinct in top 100 (2 decimals) |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in plain:
        rules = ", ".join(f"{k} {v}" for k, v in r["by_rule"].items()) or "none"
        top = ", ".join(f"{s:.2f}" for s in r["score_top10"])
        lines.append(
            f"| {r['network']} | {r['users']:,} | {r['flagged']} | {r['flag_rate']:.2%} "
            f"| {rules} | {top} | {r['score_top100_distinct']} |"
        )
    d, rest = sweep["default_part"], sweep["rest"]
    false_rules = ", ".join(f"{k} {v}" for k, v in sweep["false_flags_by_rule"].items()) or "none"
    lines += [
        "",
        f"Farm sweep: {sweep['farms']} farms in {sweep['runs']} runs "
        f"({FARMS_PER_RUN} farms a run, seeds {', '.join(map(str, SWEEP_SEEDS))}, both networks).",
        "",
        "| | farms | accounts (farmers included) | recall | farmers flagged |",
        "|---|---:|---:|---:|---:|",
        f"| default part | {d['farms']} | {d['accounts']:,} | {d['recall']:.3f} "
        f"| {d['farmers_flagged']}/{d['farms']} |",
        f"| the rest | {rest['farms']} | {rest['accounts']:,} | {_pct(rest['recall'])} "
        f"| {rest['farmers_flagged']}/{rest['farms']} |",
        "",
        f"Precision over every flag: **{sweep['precision']:.4f}** ({sweep['flagged']:,} flagged, "
        f"{sweep['false_flags']} of them real users: {false_rules}).",
        "",
        "Recall by parameter (all farms / default part only):",
        "",
        "| parameter | range | farms | recall | default part: farms | recall |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, groups in sweep["by"].items():
        for label, g in groups.items():
            inside = sweep["by_in_default_part"][name][label]
            lines.append(
                f"| {name} | {label} | {g['farms']} | {_pct(g['recall'])} "
                f"| {inside['farms']} | {_pct(inside['recall'])} |"
            )
    names = list(college["rows"])
    lines += [
        "",
        f"Backtest on CollegeMsg: cutoff {college['cutoff'][:10]}, horizon "
        f"{college['horizon_days']:.0f} days, k = {college['k']}; {college['users_before']:,} users "
        f"before the cutoff, {college['new_referrals']:,} new referrals in the horizon. "
        "New referrals in the picks' trees / precision@k:",
        "",
        "| " + " | ".join(names) + " |",
        "|" + "---|" * len(names),
        "| "
        + " | ".join(
            f"{college['rows'][n]['tree_share']:.1%} / {college['rows'][n]['precision']:.0%}"
            for n in names
        )
        + " |",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
