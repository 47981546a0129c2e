"""`koc analyze`: every user's metrics, communities and KOC score, saved as
a snapshot (`koc backtest`: api/cli_backtest.py).

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated

import pyarrow as pa
import typer
from rich.markup import escape
from rich.table import Table

from api.cli import (
    JsonOption,
    StoreOption,
    _errors,
    _fail,
    _settings,
    _store,
    app,
    out,
)
from api.cli_options import (
    CampaignsOption,
    ScoreOption,
    SinceOption,
    UntilOption,
    parse_time,
    score_kind,
    spinner,
    user_cell,
)
from api.i18n import N_, _, error_text
from api.i18n.formats import integer, moment, number
from api.notes import score_notes, stage_text, summary_in_words
from api.reasons import top_reasons
from api.settings import Settings
from graph.analysis.bridging import SAMPLES
from graph.analysis.score import DEFAULT_WEIGHTS, score_info
from graph.analysis.snapshot import AnalysisParams, ParamError, Snapshot
from graph.analysis.snapshot import analyze as run_analysis

# Analysis parameters by the option that sets them, to name it in errors.
_OPTION_OF = {
    "score": "--score",
    "horizon_days": "--horizon",
    "weights": "--weight",
    "half_life_days": "--half-life",
    "engine": "--engine",
}


def _param_error(exc: ParamError) -> typer.Exit:
    option = _OPTION_OF.get(exc.field)
    return _fail(f"{option}: {error_text(exc)}" if option else error_text(exc))


def score_in_words(info: dict, zone: str) -> str:
    """Which KOC score a snapshot holds, and why the weighted one when the
    learned one was asked for (the summary's `score`); times in `zone`."""
    info = score_info({"score": info})
    if info["kind"] == "learned":
        return _(
            "learned (predicts the next {days} days; trained on {users} users at {time})",
            days=format(info["horizon_days"], "g"),
            users=integer(info["trained_users"]),
            time=moment(datetime.fromisoformat(info["cutoff"]), zone),
        )
    return " — ".join([_("weighted"), *score_notes(info)])


EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help=_(
            "searchlight (Python, any store) or gds (Graph Data Science inside Neo4j); "
            "default KOC_ANALYSIS_ENGINE"
        ),
    ),
]


@app.command(
    help=_(
        "Compute every user's metrics, communities and KOC score.\n\n"
        "The result is saved in the store as a snapshot, which koc top reads."
    )
)
def analyze(
    store: StoreOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    campaign: CampaignsOption = None,
    half_life: Annotated[
        float, typer.Option("--half-life", help=_("days for recent_invites to halve"))
    ] = 30.0,
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", help=_("SIGNAL=WEIGHT for the KOC score (repeatable)")),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help=_("seed for communities and sampling"))] = 0,
    betweenness_samples: Annotated[
        int,
        typer.Option(
            "--betweenness-samples",
            min=1,
            help=_(
                "sources sampled for betweenness above 20,000 users (each costs one "
                "full breadth-first search)"
            ),
        ),
    ] = SAMPLES,
    engine: EngineOption = None,
    score: ScoreOption = None,
    horizon: Annotated[
        float | None,
        typer.Option(
            "--horizon",
            help=_(
                "days ahead the learned score predicts (1-3650); default KOC_SCORE_HORIZON_DAYS"
            ),
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Every user's metrics, communities and KOC score, saved in the store
    as a snapshot (which koc top reads)."""
    settings = _settings()
    weights = _weights(weight)
    with _errors():
        try:
            params = AnalysisParams(
                since=parse_time(since, settings.timezone, "--since"),
                until=parse_time(until, settings.timezone, "--until"),
                campaigns=tuple(campaign or ()),
                half_life_days=half_life,
                weights=weights,
                seed=seed,
                betweenness_samples=betweenness_samples,
                fraud=settings.fraud,
                engine=engine or settings.analysis_engine,
                score=score_kind(score, settings.score),
                horizon_days=settings.score_horizon_days if horizon is None else horizon,
            )
        except ParamError as exc:
            raise _param_error(exc) from None
        except ValueError as exc:
            raise _fail(error_text(exc)) from None
        snapshot, saved_in, pruned, names = _analyse_and_save(settings, store, params, quiet=json_)
    summary = summary_in_words(snapshot.summary())
    summary["save_seconds"] = round(saved_in, 3)
    summary["pruned_snapshots"] = len(pruned)
    top = _top_kocs(snapshot)
    reasons = top_reasons(top)
    if json_:
        summary["top_kocs"] = [
            {"id": r["id"], "koc_score": round(r["koc_score"], 3), "top_reason": reason}
            for r, reason in zip(top.to_pylist(), reasons, strict=True)
        ]
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    _print_analysis(summary, top.to_pylist(), reasons, len(pruned), settings, names)


def _top_kocs(snapshot: Snapshot) -> pa.Table:
    """The ten users with the highest KOC score, the analysis's answer."""
    return snapshot.users.sort_by([("koc_score", "descending"), ("id", "ascending")]).slice(0, 10)


def _weights(items: list[str] | None) -> dict[str, float]:
    """`--weight SIGNAL=NUMBER` options as weights; none: the default ones."""
    if not items:
        return dict(DEFAULT_WEIGHTS)
    weights = {}
    for item in items:
        name, _sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise _fail(_("--weight {value!r} is not SIGNAL=NUMBER", value=item)) from None
    return weights


def _analyse_and_save(
    settings: Settings, url: str | None, params: AnalysisParams, *, quiet: bool
) -> tuple[Snapshot, float, list[str], dict[str, str]]:
    """Analyse the store, save the snapshot and prune old ones, saying each
    stage on the spinner: the snapshot, seconds the save took, ids pruned,
    and the names of its top KOCs."""
    with _store(settings, url) as the_store, spinner(_("reading the graph"), quiet=quiet) as status:

        def progress(stage: str) -> None:
            if status is not None:
                status.update(escape(_("analysis: {stage}", stage=stage_text(stage))))

        snapshot = run_analysis(the_store, params, progress=progress)
        if status is not None:
            status.update(_("saving the snapshot"))
        saving = time.perf_counter()
        the_store.save_snapshot(snapshot.to_saved())
        saved_in = time.perf_counter() - saving
        pruned = the_store.prune_snapshots(settings.keep_snapshots)
        names = the_store.user_names(_top_kocs(snapshot)["id"].to_pylist())
    return snapshot, saved_in, pruned, names


def _print_analysis(
    summary: dict,
    top: list[dict],
    reasons: list[str],
    pruned: int,
    settings: Settings,
    names: dict[str, str],
) -> None:
    """`koc analyze`'s answer for a person: the summary, the score, the top KOCs."""
    out.print(_summary_table(summary, pruned, settings.keep_snapshots))
    out.print(
        _("KOC score: {score}", score=score_in_words(summary["score"], settings.timezone)),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    kocs = Table(*(_(c) for c in TOP_KOC_COLUMNS))
    for i, (r, reason) in enumerate(zip(top, reasons, strict=True), start=1):
        kocs.add_row(
            str(i),
            user_cell(r["id"], names),
            number(r["koc_score"], 2),
            integer(r["invites"]),
            integer(r["reach"]),
            reason,
        )
    out.print(kocs)


# `koc analyze`'s table of the top KOCs.
TOP_KOC_COLUMNS = (
    N_("rank"),
    N_("user"),
    N_("KOC score"),
    N_("invites"),
    N_("reach"),
    N_("top reason"),
)
# `koc analyze`'s summary rows, by the summary's field.
SUMMARY_COUNTS = {
    "users": N_("users"),
    "referred_edges": N_("REFERRED edges"),
    "invited_ties": N_("INVITED ties"),
    "communities": N_("communities"),
}


def _summary_table(summary: dict, pruned: int, keep: int) -> Table:
    """What `koc analyze` computed and saved, for a person."""
    table = Table("", "", show_header=False)
    table.add_row(_("snapshot"), summary["id"])
    for key, label in SUMMARY_COUNTS.items():
        table.add_row(_(label), integer(summary[key]))
    table.add_row(_("modularity"), number(summary["modularity"], 4))
    table.add_row(_("engine"), summary["engine"])
    table.add_row(
        _("flagged users"),
        _("{n} (koc flags)", n=integer(summary["flagged_users"])),
    )
    stage_seconds = summary["stage_seconds"]
    stages = ", ".join(
        _("{stage} {seconds}s", stage=stage_text(k), seconds=number(v, 2))
        for k, v in stage_seconds.items()
    )
    table.add_row(_("seconds"), escape(f"{number(sum(stage_seconds.values()), 2)} ({stages})"))
    table.add_row(
        _("pruned snapshots"),
        _("{n} (keeping the newest {keep} and every exported one)", n=integer(pruned), keep=keep),
    )
    return table
