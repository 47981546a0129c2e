"""`koc top` and `koc kocs`: what an analysis found (the review queue:
api/cli_review.py).

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli import (
    JsonOption,
    StoreOption,
    _errors,
    _fail,
    _not_one_of,
    _settings,
    _store,
    app,
    err,
    out,
)
from api.cli_options import (
    CampaignsOption,
    KOption,
    SharersOption,
    SinceOption,
    StrategyOption,
    UntilOption,
    parse_time,
    spinner,
    user_cell,
)
from api.i18n import N_, _, error_text, labelled, note_text
from api.i18n.formats import integer, money, number, percent
from api.notes import source_text
from api.reasons import (
    koc_list_json,
    rules_in_words,
    shown_reason,
)
from graph.analysis.kocs import KocList, KocParams, choose_kocs
from graph.ranking import TOP_BY, top_referrers
from graph.store import Window


@app.command(
    help=_(
        "Rank the top referrers.\n\n"
        "invites, effective_invites and conversions are counted live from the store; "
        "reach, gmv and koc_score come from the latest analysis."
    )
)
def top(
    by: Annotated[
        str, typer.Option("--by", help=_("one of: {choices}", choices=", ".join(TOP_BY)))
    ] = "invites",
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help=_("how many referrers"))
    ] = 20,
    store: StoreOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    campaign: CampaignsOption = None,
    json_: JsonOption = False,
) -> None:
    """The top referrers: live counts from the store (invites,
    effective_invites, conversions) or the latest analysis's metrics."""
    if by not in TOP_BY:
        raise _fail(_not_one_of("--by", by, TOP_BY))
    settings = _settings()
    window = Window(
        parse_time(since, settings.timezone, "--since"),
        parse_time(until, settings.timezone, "--until"),
        tuple(campaign or ()),
    )
    with _errors(), _store(settings, store, read_only=True) as the_store:
        ranking = top_referrers(the_store, window, by, limit)
        names = the_store.user_names([row["id"] for row in ranking.rows])
    rows, source = ranking.rows, ranking.source
    if json_:
        typer.echo(
            json.dumps({"by": by, "source": source, "rows": rows}, ensure_ascii=False, default=str)
        )
        return
    columns = [c for c in (rows[0] if rows else ["id", by]) if c not in ("flagged", "flag_rules")]
    held = sum(bool(row.get("flagged")) for row in rows)
    caption = (
        _(
            "⚑ {n} flagged by fraud screening and not approved: withheld from rewards (koc flags)",
            n=integer(held),
        )
        if held
        else None
    )
    if rows and rows[0].get("flagged") is None:
        caption = _("not screened for fraud yet: run koc analyze")
    table = Table(
        _("rank"),
        *(_(TOP_COLUMNS.get(c, c)) for c in columns),
        _("fraud"),
        title=escape(
            _(
                "top referrers by {by} ({source})",
                by=_(TOP_COLUMNS.get(by, by)),
                source=source_text(ranking, settings.timezone),
            )
        ),
    )
    table.caption = caption
    for i, row in enumerate(rows, start=1):
        rules = rules_in_words(row["flag_rules"].split(",")) if row.get("flagged") else ""
        mark = escape(f"⚑ {rules}") if rules else ""
        cells = (user_cell(row[c], names) if c == "id" else _cell(c, row[c]) for c in columns)
        table.add_row(str(i), *cells, mark)
    out.print(table)


# `koc top`'s columns, by the ranking's field.
TOP_COLUMNS = {
    "id": N_("user"),
    "invites": N_("invites"),
    "effective_invites": N_("effective_invites"),
    "conversions": N_("conversions"),
    "reach": N_("reach"),
    "gmv": N_("gmv"),
    "koc_score": N_("KOC score"),
}


def _cell(column: str, value) -> str:
    """A ranking's value for a person: money for GMV, grouped numbers."""
    if column == "gmv" and isinstance(value, int | float):
        return money(value)
    if isinstance(value, float):
        return number(value, 2)
    if isinstance(value, int):
        return integer(value)
    return escape(str(value))


@app.command(
    help=_(
        "Pick the KOCs: the searchlight set (coverage), influence maximisation, or the top "
        "KOC scores, from the latest analysis.\n\n"
        "Flagged users (unless approved on review), churned users and users with no invite "
        "are never picked."
    )
)
def kocs(
    k: KOption = 50,
    strategy: StrategyOption = "coverage",
    quota: Annotated[
        str | None,
        typer.Option("--quota", help=_("community: split k across communities by size")),
    ] = None,
    sharers: SharersOption = 0.3,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help=_("a user id never to pick (repeatable)")),
    ] = None,
    exclude_file: Annotated[
        Path | None,
        typer.Option("--exclude-file", help=_("a text file of user ids never to pick, one a line")),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help=_("seed for the influence strategy"))] = 0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help=_("influence only: searchlight (IMM in Python) or gds (GDS's CELF inside Neo4j)"),
        ),
    ] = "searchlight",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help=_(
                "influence only: tie probabilities learned (default), wc (weighted cascade: "
                "1 / the invitee's in-degree) or uniform:P"
            ),
        ),
    ] = "learned",
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates",
            help=_(
                "influence only: eligible (default; for rewards) or all (every user, "
                "as in published benchmarks)"
            ),
        ),
    ] = "eligible",
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """The KOCs of the latest analysis by a strategy; flagged (unless
    approved), churned and never-inviting users are never picked."""
    settings = _settings()
    try:
        params = KocParams(
            k=k,
            strategy=strategy,
            quota=quota,
            sharers=sharers,
            exclude=tuple(_excluded(exclude, exclude_file)),
            seed=seed,
            engine=engine,
            model=model,
            candidates=candidates,
        )
    except ValueError as exc:
        raise _fail(error_text(exc)) from None
    with (
        _errors(),
        _store(settings, store, read_only=True) as the_store,
        spinner(picking_text(k, strategy), quiet=json_),
    ):
        chosen = choose_kocs(the_store, the_store.latest_snapshot(), params)
        names = the_store.user_names([row.user_id for row in chosen.rows])
    if json_:
        typer.echo(json.dumps(koc_list_json(chosen), ensure_ascii=False))
        return
    out.print(_kocs_table(chosen, strategy, quota, names))
    if chosen.spread:
        out.print(_spread_in_words(chosen.spread), markup=False, highlight=False)
    for note in chosen.notes:
        err.print(_("note: {note}", note=note_text(note)), markup=False, highlight=False)


# `koc kocs`'s columns.
KOC_COLUMNS = (N_("rank"), N_("user"), N_("gain"), N_("lit"), N_("KOC score"), N_("why"))


def _excluded(ids: list[str] | None, path: Path | None) -> list[str]:
    """`--exclude` ids and the lines of `--exclude-file`."""
    excluded = list(ids or [])
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise _fail(
                _(
                    "--exclude-file {path}: cannot read it ({reason})",
                    path=path,
                    reason=_os_reason(exc),
                )
            ) from None
        excluded += [line.strip() for line in text.splitlines() if line.strip()]
    return excluded


def _kocs_table(chosen: KocList, strategy: str, quota: str | None, names: dict[str, str]) -> Table:
    """`koc kocs`'s answer for a person: a row per pick."""
    counts = {
        "n": integer(len(chosen.rows)),
        "strategy": strategy_text(strategy),
        "eligible": integer(chosen.eligible),
        "users": integer(chosen.users),
    }
    title = (
        _(
            "{n} KOCs by {strategy} with community quota ({eligible} eligible of {users} users)",
            **counts,
        )
        if quota
        else _("{n} KOCs by {strategy} ({eligible} eligible of {users} users)", **counts)
    )
    table = Table(*(_(c) for c in KOC_COLUMNS), title=escape(title))
    for row in chosen.rows:
        table.add_row(
            str(row.rank),
            user_cell(row.user_id, names),
            number(row.gain, 1),
            percent(row.lit_share),
            number(row.koc_score, 2),
            shown_reason(row, strategy),
        )
    return table


def picking_text(k: int, strategy: str) -> str:
    """What the spinner says while KOCs are picked."""
    return _("picking {k} KOCs ({strategy})", k=integer(k), strategy=strategy_text(strategy))


# The strategies for a person (graph.analysis.kocs.STRATEGIES).
STRATEGY_LABELS = {
    "coverage": N_("searchlight coverage"),
    "influence": N_("influence maximisation"),
    "score": N_("top KOC score"),
}


def strategy_text(strategy: str) -> str:
    return labelled(STRATEGY_LABELS, strategy)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _spread_in_words(sp: dict) -> str:
    """The influence strategy's expected spread and its simulation."""
    low, high = sp["monte_carlo_95"]
    source = _("RR sets: {n}", n=integer(sp["rr_sets"])) if "rr_sets" in sp else _("GDS's CELF")
    return _(
        "expected spread {estimate} users ({source}); simulated {mean} (95% {low}-{high}, "
        "{runs} runs)",
        estimate=integer(round(sp["estimate"])),
        source=source,
        mean=integer(round(sp["monte_carlo_mean"])),
        low=integer(round(low)),
        high=integer(round(high)),
        runs=integer(sp["simulations"]),
    )
