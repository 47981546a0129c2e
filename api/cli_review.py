"""`koc flags` and `koc review`: the review queue of users flagged by fraud
screening, and a reviewer's decision on one.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli import JsonOption, StoreOption, _errors, _fail, _settings, _store, app, out
from api.cli_options import user_cell
from api.i18n import N_, _, labelled
from api.i18n.formats import integer, number
from api.reasons import flag_reasons, flags_in_words, rules_in_words
from graph.review import review_queue, review_user
from graph.store import REVIEW_STATUSES


@app.command(
    help=_(
        "The review queue: users flagged by fraud screening, highest risk first, with "
        "their evidence and review status."
    )
)
def flags(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help=_("only this status: {choices}", choices=", ".join(REVIEW_STATUSES)),
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help=_("at most this many users"))] = 50,
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """The review queue: users flagged by fraud screening, highest risk first,
    with their evidence and review status."""
    settings = _settings()
    with _errors(), _store(settings, store, read_only=True) as the_store:
        queue = review_queue(the_store, the_store.latest_snapshot(), status)
        shown = queue[:limit]
        names = the_store.user_names([e.user_id for e in shown])
    if json_:
        typer.echo(
            json.dumps(
                {
                    "total": len(queue),
                    "users": [{**asdict(e), "flags": flags_in_words(e.flags)} for e in shown],
                },
                ensure_ascii=False,
                default=str,
            )
        )
        return
    title = _("flagged users: {n}", n=integer(len(queue)))
    if status:
        title = _("flagged users ({status}): {n}", status=_status(status), n=integer(len(queue)))
    if len(shown) < len(queue):
        title = _("{title}, showing {n}", title=title, n=integer(len(shown)))
    table = Table(*(_(c) for c in FLAG_COLUMNS), title=escape(title))
    for e in shown:
        table.add_row(
            user_cell(e.user_id, names),
            number(e.risk, 0),
            _status(e.status),
            rules_in_words(f["rule"] for f in e.flags),
            flag_reasons(e.flags),
        )
    out.print(table)


# `koc flags`'s columns.
FLAG_COLUMNS = (N_("user"), N_("risk"), N_("status"), N_("rules"), N_("evidence"))
# Review statuses for a person (graph.store.REVIEW_STATUSES).
STATUS_LABELS = {
    "pending": N_("pending review"),
    "approved": N_("approved"),
    "declined": N_("declined"),
}


def _status(status: str) -> str:
    return labelled(STATUS_LABELS, status)


@app.command(help=_("Approve or decline a flagged user, with a note."))
def review(
    user: Annotated[str, typer.Argument(help=_("the flagged user's id"))],
    approve: Annotated[
        bool, typer.Option("--approve", help=_("not fraud: may be rewarded"))
    ] = False,
    decline: Annotated[bool, typer.Option("--decline", help=_("fraud: never rewarded"))] = False,
    note: Annotated[str, typer.Option("--note", help=_("why (required)"))] = "",
    reviewer: Annotated[
        str,
        typer.Option("--reviewer", envvar="KOC_REVIEWER", help=_("who decides (env KOC_REVIEWER)")),
    ] = "",
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    if approve == decline:
        raise _fail(_("give exactly one of --approve or --decline"))
    if not note.strip():
        raise _fail(_("--note is required: say why"))
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
        _(
            "{user}: {status} by {reviewer}. KOC lists use it now; effective invites follow "
            "at the next koc analyze.",
            user=done.user_id,
            status=_status(done.status),
            reviewer=done.reviewer,
        ),
        markup=False,
        highlight=False,
    )
