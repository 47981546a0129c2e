"""`koc top`, `koc kocs`, `koc flags` and `koc review`: what an analysis found.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli import JsonOption, StoreOption, _errors, _fail, _settings, _store, app, err, out
from api.cli_analysis import (
    CampaignsOption,
    KOption,
    SinceOption,
    StrategyOption,
    UntilOption,
    _parse_time,
    _spinner,
)
from graph.analysis.kocs import KocParams, choose_kocs
from graph.ranking import TOP_BY, top_referrers
from graph.review import review_queue, review_user
from graph.store import REVIEW_STATUSES, Window


@app.command()
def top(
    by: Annotated[str, typer.Option("--by", help=f"one of: {', '.join(TOP_BY)}")] = "invites",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    store: StoreOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    campaign: CampaignsOption = None,
    json_: JsonOption = False,
) -> None:
    """Rank the top referrers.

    invites, effective_invites and conversions are counted live from the
    store; reach, gmv and koc_score come from the latest analysis."""
    if by not in TOP_BY:
        raise _fail(f"--by {by!r} is not one of {', '.join(TOP_BY)}")
    settings = _settings()
    window = Window(
        _parse_time(since, settings.timezone, "--since"),
        _parse_time(until, settings.timezone, "--until"),
        tuple(campaign or ()),
    )
    with _errors(), _store(settings, store, read_only=True) as the_store:
        ranking = top_referrers(the_store, window, by, limit)
    rows, source = ranking.rows, ranking.source
    if json_:
        typer.echo(
            json.dumps({"by": by, "source": source, "rows": rows}, ensure_ascii=False, default=str)
        )
        return
    columns = [c for c in (rows[0] if rows else ["id", by]) if c not in ("flagged", "flag_rules")]
    held = sum(bool(row.get("flagged")) for row in rows)
    caption = (
        f"⚑ {held} flagged by fraud screening and not approved: withheld from rewards (koc flags)"
        if held
        else None
    )
    if rows and rows[0].get("flagged") is None:
        caption = "not screened for fraud yet: run koc analyze"
    table = Table("rank", *columns, "fraud", title=f"top referrers by {by} ({source})")
    table.caption = caption
    for i, row in enumerate(rows, start=1):
        mark = f"⚑ {row['flag_rules']}" if row.get("flagged") else ""
        table.add_row(str(i), *(_cell(row[c]) for c in columns), mark)
    out.print(table)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@app.command()
def kocs(
    k: KOption = 50,
    strategy: StrategyOption = "coverage",
    quota: Annotated[
        str | None,
        typer.Option("--quota", help="community: split k across communities by size"),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="a user id never to pick (repeatable)")
    ] = None,
    exclude_file: Annotated[
        Path | None,
        typer.Option("--exclude-file", help="a text file of user ids never to pick, one a line"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed for the influence strategy")] = 0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="influence only: searchlight (IMM in Python) or gds (GDS's CELF inside Neo4j)",
        ),
    ] = "searchlight",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="influence only: tie probabilities learned (default), wc (weighted cascade: "
            "1 / the invitee's in-degree) or uniform:P",
        ),
    ] = "learned",
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates",
            help="influence only: eligible (default; for rewards) or all (every user, "
            "as in published benchmarks)",
        ),
    ] = "eligible",
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Pick the KOCs: the searchlight set (coverage), influence maximisation,
    or the top KOC scores, from the latest analysis.

    Flagged users (unless approved on review), churned users and users with no
    invite are never picked."""
    settings = _settings()
    excluded = list(exclude or [])
    if exclude_file is not None:
        try:
            text = exclude_file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise _fail(f"--exclude-file {exclude_file}: {exc.strerror}") from None
        excluded += [line.strip() for line in text.splitlines() if line.strip()]
    try:
        params = KocParams(
            k=k,
            strategy=strategy,
            quota=quota,
            exclude=tuple(excluded),
            seed=seed,
            engine=engine,
            model=model,
            candidates=candidates,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with (
        _errors(),
        _store(settings, store, read_only=True) as the_store,
        _spinner(f"picking {k} KOCs ({strategy})", quiet=json_),
    ):
        chosen = choose_kocs(the_store, the_store.latest_snapshot(), params)
    if json_:
        typer.echo(json.dumps(chosen.to_json(), ensure_ascii=False))
        return
    table = Table(
        "rank",
        "user",
        "gain",
        "lit",
        "KOC score",
        "why",
        title=f"{len(chosen.rows)} KOCs by {strategy}"
        + (" with community quota" if quota else "")
        + f" ({chosen.eligible:,} eligible of {chosen.users:,} users)",
    )
    for row in chosen.rows:
        table.add_row(
            str(row.rank),
            row.user_id,
            f"{row.gain:,.1f}",
            f"{row.lit_share:.1%}",
            f"{row.koc_score:.2f}",
            row.reason + (" [quota spill]" if row.quota_spill else ""),
        )
    out.print(table)
    if chosen.spread:
        sp = chosen.spread
        low, high = sp["monte_carlo_95"]
        source = f"RR sets: {sp['rr_sets']:,}" if "rr_sets" in sp else "GDS's CELF"
        out.print(
            f"expected spread {sp['estimate']:,.0f} users ({source}); "
            f"simulated {sp['monte_carlo_mean']:,.0f} (95% {low:,.0f}-{high:,.0f}, "
            f"{sp['simulations']} runs)"
        )
    for note in chosen.notes:
        err.print(f"note: {note}", highlight=False)


@app.command()
def flags(
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"only this status: {', '.join(REVIEW_STATUSES)}"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most this many users")] = 50,
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """The review queue: users flagged by fraud screening, highest risk first,
    with their evidence and review status."""
    settings = _settings()
    with _errors(), _store(settings, store, read_only=True) as the_store:
        queue = review_queue(the_store, the_store.latest_snapshot(), status)
    shown = queue[:limit]
    if json_:
        typer.echo(
            json.dumps(
                {"total": len(queue), "users": [asdict(e) for e in shown]},
                ensure_ascii=False,
                default=str,
            )
        )
        return
    table = Table(
        "user",
        "risk",
        "status",
        "rules",
        "evidence",
        title=f"flagged users{f' ({status})' if status else ''}: {len(queue):,}"
        + (f", showing {len(shown)}" if len(shown) < len(queue) else ""),
    )
    for e in shown:
        table.add_row(
            e.user_id,
            f"{e.risk:.0f}",
            e.status,
            ", ".join(f["rule"] for f in e.flags),
            "; ".join(f["reason"] for f in e.flags),
        )
    out.print(table)


@app.command()
def review(
    user: Annotated[str, typer.Argument(help="the flagged user's id")],
    approve: Annotated[bool, typer.Option("--approve", help="not fraud: may be rewarded")] = False,
    decline: Annotated[bool, typer.Option("--decline", help="fraud: never rewarded")] = False,
    note: Annotated[str, typer.Option("--note", help="why (required)")] = "",
    reviewer: Annotated[
        str,
        typer.Option("--reviewer", envvar="KOC_REVIEWER", help="who decides (env KOC_REVIEWER)"),
    ] = "",
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Approve or decline a flagged user, with a note."""
    if approve == decline:
        raise _fail("give exactly one of --approve or --decline")
    if not note.strip():
        raise _fail("--note is required: say why")
    settings = _settings()
    who = reviewer or getpass.getuser()
    with _errors(), _store(settings, store) as the_store:
        done = review_user(
            the_store,
            the_store.latest_snapshot(),
            user,
            "approved" if approve else "declined",
            note,
            who,
        )
    if json_:
        typer.echo(json.dumps(done.to_json(), ensure_ascii=False))
        return
    out.print(
        f"{done.user_id}: {done.status} by {done.reviewer}. KOC lists use it now; "
        "effective invites follow at the next koc analyze.",
        highlight=False,
    )
