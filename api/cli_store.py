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
from loaders.quarantine import Quarantine


@app.command()
def migrate(store: StoreOption = None, json_: JsonOption = False) -> None:
    """Upgrade a store written by an older Searchlight to this version's
    schema (e.g. event ids hashed over every field). Safe to run again."""
    settings = _settings()
    with _errors(), _store(settings, store) as the_store:
        rewritten = the_store.migrate()
    if json_:
        typer.echo(json.dumps({"store": the_store.url, "event_ids_rewritten": rewritten}))
        return
    out.print(f"store {the_store.url} is current; {rewritten:,} event id(s) rewritten")


@app.command()
def repair(
    store: StoreOption = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help="where the removed events go (default: the quarantine folder)"),
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
        out.print(f"store {the_store.url}: every event time is within the bounds; nothing to do")
        return
    out.print(
        f"took {removed.num_rows:,} event(s) with impossible times out of {the_store.url}; "
        f"they are in {where} (fix the times, then ingest them again)"
    )
