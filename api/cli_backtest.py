"""`koc backtest`: would the picks at a past date have predicted the
referrals after it?

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli import JsonOption, StoreOption, _errors, _fail, _settings, _store, app, err, out
from api.cli_options import KOption, ScoreOption, parse_time, score_kind, spinner
from api.i18n import N_, _, error_text, note_text, notes_text
from api.i18n.formats import integer, moment, percent
from api.notes import stage_text
from graph.analysis.backtest import Backtest
from graph.analysis.backtest import backtest as run_backtest
from graph.analysis.snapshot import AnalysisParams, ParamError


@app.command(
    help=_(
        "Would our picks at a past date have predicted the referrals after it?\n\n"
        "Compares the strategies with top-by-invites, top-by-PageRank and random."
    )
)
def backtest(
    cutoff: Annotated[str, typer.Option("--cutoff", help=_("pick from the events before this"))],
    k: KOption = 50,
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help=_("how far after the cutoff to measure, and the learned score predicts: 30d, 2w"),
        ),
    ] = "30d",
    seed: Annotated[int, typer.Option("--seed", help=_("seed for influence and random"))] = 0,
    score: ScoreOption = None,
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Would our picks at a past date have predicted the referrals after it?
    The strategies against top-by-invites, top-by-PageRank and random."""
    settings = _settings()
    when = parse_time(cutoff, settings.timezone, "--cutoff")
    days = _parse_horizon(horizon)
    kind = score_kind(score, settings.score)
    try:
        # The learned score at the cutoff predicts the horizon the backtest measures.
        params = AnalysisParams(
            fraud=settings.fraud,
            score=kind,
            horizon_days=days if kind == "learned" else settings.score_horizon_days,
        )
    except ParamError:
        raise _fail(
            _(
                "--horizon {horizon}: the learned score predicts 1 to 3650 days ahead; "
                "give such a horizon or --score weighted",
                horizon=horizon,
            )
        ) from None
    with _errors(), _store(settings, store, read_only=True) as the_store:
        try:
            with spinner(_("backtest"), quiet=json_) as status:
                result = run_backtest(
                    the_store,
                    when,
                    k=k,
                    horizon_days=days,
                    params=params,
                    seed=seed,
                    progress=(
                        lambda stage: status.update(
                            escape(_("backtest: {stage}", stage=stage_text(stage)))
                        )
                    )
                    if status
                    else None,
                )
        except ValueError as exc:
            raise _fail(error_text(exc)) from None
    if json_:
        answer = {**result.to_json(), "notes": notes_text(result.notes)}
        typer.echo(json.dumps(answer, ensure_ascii=False))
        return
    out.print(_backtest_table(result, k, horizon, settings.timezone))
    for note in result.notes:
        err.print(_("note: {note}", note=note_text(note)), markup=False, highlight=False)


def _backtest_table(result: Backtest, k: int, horizon: str, zone: str) -> Table:
    """`koc backtest`'s answer for a person: a row per way of picking."""
    table = Table(
        _("picks by"),
        _("kind"),
        _("picks"),
        _("new referrals in their trees"),
        _("precision@{k}", k=k),
        title=_(
            "backtest: cutoff {cutoff}, horizon {horizon}; {referrals} new referrals, "
            "{users} users before",
            cutoff=moment(result.cutoff, zone),
            horizon=horizon,
            referrals=integer(result.new_referrals),
            users=integer(result.users_before),
        ),
    )
    for row in result.rows:
        table.add_row(
            row.name,
            _(BACKTEST_KINDS[row.kind]) if row.kind in BACKTEST_KINDS else row.kind,
            integer(row.picks),
            percent(row.tree_share),
            percent(row.precision_at_k),
        )
    return table


# A backtest row's kind.
BACKTEST_KINDS = {"strategy": N_("strategy"), "baseline": N_("benchmark")}


def _parse_horizon(text: str) -> float:
    units = {"d": 1.0, "w": 7.0, "h": 1 / 24}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "d")
    try:
        days = float(value) * units[unit]
    except ValueError:
        raise _fail(
            _("--horizon {value!r}: expected a duration such as 30d, 2w or 12h", value=text)
        ) from None
    if days <= 0:
        raise _fail(_("--horizon must be positive"))
    return days
