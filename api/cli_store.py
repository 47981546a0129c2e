"""`koc migrate` and `koc repair`: keeping an existing store readable.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli import JsonOption, StoreOption, _errors, _settings, _store, app, out
from api.i18n import _, ngettext
from api.i18n.formats import integer
from loaders.quarantine import Quarantine


@app.command(
    help=_(
        "Upgrade a store written by an older Searchlight to this version's schema (e.g. "
        "event ids hashed over every field). Safe to run again."
    )
)
def migrate(store: StoreOption = None, json_: JsonOption = False) -> None:
    """Upgrade a store written by an older Searchlight to this version's
    schema (e.g. event ids hashed over every field). Safe to run again."""
    settings = _settings()
    with _errors(), _store(settings, store) as the_store:
        rewritten = the_store.migrate()
    if json_:
        typer.echo(json.dumps({"store": the_store.url, "event_ids_rewritten": rewritten}))
        return
    out.print(
        ngettext(
            "store {url} is current; {n} event id rewritten",
            "store {url} is current; {n} event ids rewritten",
            rewritten,
            url=the_store.url,
            n=integer(rewritten),
        ),
        markup=False,
        highlight=False,
    )


@app.command(
    help=_(
        "Take events with impossible times (outside KOC_EVENT_EARLIEST .. KOC_EVENT_LATEST, "
        "stored before ingest checked them) out of the store, into the quarantine, and "
        "derive their users again."
    )
)
def repair(
    store: StoreOption = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help=_("where the removed events go (default: the quarantine folder)")),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Take events with impossible times (outside KOC_EVENT_EARLIEST ..
    KOC_EVENT_LATEST, stored before ingest checked them) out of the store,
    into the quarantine, and derive their users again."""
    settings = _settings()
    bounds = settings.time_bounds
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    rejects = Quarantine(quarantine or settings.quarantine_dir / f"repair-{stamp}.csv")
    with _errors(), _store(settings, store) as the_store:
        removed = the_store.remove_events_outside(bounds.earliest, bounds.latest)
        part = rejects.part(the_store.url)
        part.write(removed)
        part.commit()
    where = str(rejects.path) if removed.num_rows else None
    if json_:
        typer.echo(
            json.dumps({"store": the_store.url, "removed": removed.num_rows, "quarantine": where})
        )
        return
    if not removed.num_rows:
        out.print(
            _(
                "store {url}: every event time is within the bounds; nothing to do",
                url=the_store.url,
            ),
            markup=False,
            highlight=False,
        )
        return
    out.print(
        ngettext(
            "took {n} event with an impossible time out of {url}; it is in {path} (fix the "
            "time, then ingest it again)",
            "took {n} events with impossible times out of {url}; they are in {path} (fix the "
            "times, then ingest them again)",
            removed.num_rows,
            n=integer(removed.num_rows),
            url=the_store.url,
            path=where,
        ),
        markup=False,
        highlight=False,
    )
