"""`koc analyze` and `koc backtest`, and the time options every reading command shares.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from api.cli import JsonOption, StoreOption, _errors, _fail, _settings, _store, app, err, out
from graph.analysis.backtest import backtest as run_backtest
from graph.analysis.bridging import SAMPLES
from graph.analysis.kocs import STRATEGIES
from graph.analysis.score import DEFAULT_WEIGHTS, score_info, top_reasons
from graph.analysis.snapshot import AnalysisParams, ParamError
from graph.analysis.snapshot import analyze as run_analysis
from graph.analysis.snapshot_tables import SCORE_KINDS


def _parse_time(text: str | None, zone: str, option: str) -> datetime | None:
    """A date or ISO time; naive values are in the configured zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


StrategyOption = Annotated[str, typer.Option("--strategy", help=f"one of: {', '.join(STRATEGIES)}")]
KOption = Annotated[int, typer.Option("--k", min=1, max=10_000, help="how many KOCs")]
SinceOption = Annotated[str | None, typer.Option("--since", help="from this date/time (inclusive)")]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="up to this date/time (exclusive)")
]
CampaignsOption = Annotated[
    list[str] | None, typer.Option("--campaign", help="only these campaigns (repeatable)")
]


ScoreOption = Annotated[
    str | None,
    typer.Option(
        "--score",
        help=f"the KOC score: {' or '.join(SCORE_KINDS)} (docs/koc-score.md); default KOC_SCORE",
    ),
]
# Analysis parameters by the option that sets them, to name it in errors.
_OPTION_OF = {
    "score": "--score",
    "horizon_days": "--horizon",
    "weights": "--weight",
    "half_life_days": "--half-life",
    "engine": "--engine",
}


def _score_kind(score: str | None, default: str) -> str:
    kind = score or default
    if kind not in SCORE_KINDS:
        raise _fail(f"--score {kind!r} is not one of {', '.join(SCORE_KINDS)}")
    return kind


def _param_error(exc: ParamError) -> typer.Exit:
    option = _OPTION_OF.get(exc.field)
    return _fail(f"{option}: {exc}" if option else str(exc))


def score_in_words(info: dict) -> str:
    """Which KOC score a snapshot holds, and why the weighted one when the
    learned one was asked for (the summary's `score`)."""
    info = score_info({"score": info})
    if info["kind"] == "learned":
        cutoff = datetime.fromisoformat(info["cutoff"])
        return (
            f"learned (predicts the next {info['horizon_days']:g} days; trained on "
            f"{info['trained_users']:,} users at {cutoff:%Y-%m-%d %H:%M %Z})"
        )
    return " — ".join(["weighted", *info["notes"]])


EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="searchlight (Python, any store) or gds (Graph Data Science inside Neo4j); "
        "default KOC_ANALYSIS_ENGINE",
    ),
]


@app.command()
def analyze(
    store: StoreOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    campaign: CampaignsOption = None,
    half_life: Annotated[
        float, typer.Option("--half-life", help="days for recent_invites to halve")
    ] = 30.0,
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", help="SIGNAL=WEIGHT for the KOC score (repeatable)"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed for communities and sampling")] = 0,
    betweenness_samples: Annotated[
        int,
        typer.Option(
            "--betweenness-samples",
            min=1,
            help="sources sampled for betweenness above 20,000 users (each costs one "
            "full breadth-first search)",
        ),
    ] = SAMPLES,
    engine: EngineOption = None,
    score: ScoreOption = None,
    horizon: Annotated[
        float | None,
        typer.Option(
            "--horizon",
            help="days ahead the learned score predicts (1-3650); default KOC_SCORE_HORIZON_DAYS",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Compute every user's metrics, communities and KOC score.

    The result is saved in the store as a snapshot, which koc top reads."""
    settings = _settings()
    weights = dict(DEFAULT_WEIGHTS)
    if weight:
        weights = {}
        for item in weight:
            name, _, value = item.partition("=")
            try:
                weights[name.strip()] = float(value)
            except ValueError:
                raise _fail(f"--weight {item!r} is not SIGNAL=NUMBER") from None
    with _errors():
        try:
            params = AnalysisParams(
                since=_parse_time(since, settings.timezone, "--since"),
                until=_parse_time(until, settings.timezone, "--until"),
                campaigns=tuple(campaign or ()),
                half_life_days=half_life,
                weights=weights,
                seed=seed,
                betweenness_samples=betweenness_samples,
                fraud=settings.fraud,
                engine=engine or settings.analysis_engine,
                score=_score_kind(score, settings.score),
                horizon_days=settings.score_horizon_days if horizon is None else horizon,
            )
        except ParamError as exc:
            raise _param_error(exc) from None
        except ValueError as exc:
            raise _fail(str(exc)) from None
        with (
            _store(settings, store) as the_store,
            _spinner("reading the graph", quiet=json_) as status,
        ):

            def progress(stage: str) -> None:
                if status is not None:
                    status.update(f"analysis: {stage}")

            snapshot = run_analysis(the_store, params, progress=progress)
            if status is not None:
                status.update("saving the snapshot")
            saving = time.perf_counter()
            the_store.save_snapshot(snapshot.to_saved())
            saved_in = time.perf_counter() - saving
            pruned = the_store.prune_snapshots(settings.keep_snapshots)
    summary = snapshot.summary()
    summary["save_seconds"] = round(saved_in, 3)
    summary["pruned_snapshots"] = len(pruned)
    top = snapshot.users.sort_by([("koc_score", "descending"), ("id", "ascending")]).slice(0, 10)
    reasons = top_reasons(top)
    if json_:
        summary["top_kocs"] = [
            {"id": r["id"], "koc_score": round(r["koc_score"], 3), "top_reason": reason}
            for r, reason in zip(top.to_pylist(), reasons, strict=True)
        ]
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    table = Table("", "", show_header=False)
    table.add_row("snapshot", summary["id"])
    for key in ("users", "referred_edges", "invited_ties", "communities"):
        table.add_row(key.replace("_", " "), f"{summary[key]:,}")
    table.add_row("modularity", f"{summary['modularity']:.4f}")
    table.add_row("engine", summary["engine"])
    table.add_row("flagged users", f"{summary['flagged_users']:,} (koc flags)")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in summary["stage_seconds"].items())
    table.add_row("seconds", f"{sum(summary['stage_seconds'].values()):.2f} ({stages})")
    table.add_row(
        "pruned snapshots",
        f"{len(pruned)} (keeping the newest {settings.keep_snapshots} and every exported one)",
    )
    out.print(table)
    out.print(f"KOC score: {score_in_words(summary['score'])}", highlight=False, soft_wrap=True)
    kocs = Table("rank", "user", "KOC score", "invites", "reach", "top reason")
    for i, (r, reason) in enumerate(zip(top.to_pylist(), reasons, strict=True), start=1):
        kocs.add_row(
            str(i), r["id"], f"{r['koc_score']:.2f}", f"{r['invites']:,}", f"{r['reach']:,}", reason
        )
    out.print(kocs)


@app.command()
def backtest(
    cutoff: Annotated[str, typer.Option("--cutoff", help="pick from the events before this")],
    k: KOption = 50,
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help="how far after the cutoff to measure, and the learned score predicts: 30d, 2w",
        ),
    ] = "30d",
    seed: Annotated[int, typer.Option("--seed", help="seed for influence and random")] = 0,
    score: ScoreOption = None,
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Would our picks at a past date have predicted the referrals after it?

    Compares the strategies with top-by-invites, top-by-PageRank and random."""
    settings = _settings()
    when = _parse_time(cutoff, settings.timezone, "--cutoff")
    days = _parse_horizon(horizon)
    kind = _score_kind(score, settings.score)
    try:
        # The learned score at the cutoff predicts the horizon the backtest measures.
        params = AnalysisParams(
            fraud=settings.fraud,
            score=kind,
            horizon_days=days if kind == "learned" else settings.score_horizon_days,
        )
    except ParamError:
        raise _fail(
            f"--horizon {horizon}: the learned score predicts 1 to 3650 days ahead; "
            "give such a horizon or --score weighted"
        ) from None
    with _errors(), _store(settings, store, read_only=True) as the_store:
        try:
            with _spinner("backtest", quiet=json_) as status:
                result = run_backtest(
                    the_store,
                    when,
                    k=k,
                    horizon_days=days,
                    params=params,
                    seed=seed,
                    progress=(lambda stage: status.update(f"backtest: {stage}"))
                    if status
                    else None,
                )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    if json_:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    table = Table(
        "picks by",
        "kind",
        "picks",
        "new referrals in their trees",
        f"precision@{k}",
        title=f"backtest: cutoff {result.cutoff:%Y-%m-%d %H:%M} UTC, horizon {horizon}; "
        f"{result.new_referrals:,} new referrals, {result.users_before:,} users before",
    )
    for row in result.rows:
        table.add_row(
            row.name, row.kind, str(row.picks), f"{row.tree_share:.1%}", f"{row.precision_at_k:.1%}"
        )
    out.print(table)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)


def _parse_horizon(text: str) -> float:
    units = {"d": 1.0, "w": 7.0, "h": 1 / 24}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "d")
    try:
        days = float(value) * units[unit]
    except ValueError:
        raise _fail(f"--horizon {text!r}: expected a duration such as 30d, 2w or 12h") from None
    if days <= 0:
        raise _fail("--horizon must be positive")
    return days


@contextmanager
def _spinner(text: str, *, quiet: bool):
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with err.status(text, spinner="dots") as status:
        yield status
