"""`koc`: the command line. Thin commands; the work lives in loaders/ and graph/."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from api.i18n import LANGS, N_, Lang, _, error_text, ngettext, note_text, notes_text, use_lang
from api.i18n.formats import integer, moment, number
from api.settings import Settings, get_settings
from graph.ingest import IngestReport, ingest_file
from graph.store import Store
from loaders.errors import SearchlightError
from loaders.mapping import Mapping, mapping_from_options
from loaders.presets import load_preset, preset_names
from loaders.quarantine import Quarantine
from loaders.validate import TimeBounds, check_timezone

app = typer.Typer(
    help=_("Searchlight: find the KOCs in a brand's referral network."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

# Files this size or larger (about 100k rows) get a progress bar.
PROGRESS_MIN_BYTES = 8 << 20
# Event types as `koc stats` lists them.
EVENT_KINDS = {
    "invite": N_("invites sent"),
    "join": N_("joins"),
    "convert": N_("conversion events"),
    "churn": N_("churns"),
}
# `koc ingest`'s columns, by the report's field.
INGEST_COLUMNS = {
    "read": N_("read"),
    "events": N_("events"),
    "skipped": N_("skipped"),
    "accepted": N_("accepted"),
    "duplicates": N_("duplicates"),
    "conflicts": N_("conflicts"),
    "rejected": N_("rejected"),
}

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help=_("store URL or path (env KOC_STORE_URL; default ./data/searchlight.duckdb)"),
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help=_("print one JSON object (English keys, raw values)"))
]


@app.callback()
def run_options(
    ctx: typer.Context,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help=_("language of the output: zh (中文) or en (English); default KOC_LANG, else zh"),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Options of the whole run, before the command: the language (the help
    texts are built in it by `api.cli_main`, which reads it first)."""
    if lang is None:
        return
    if lang not in LANGS:
        raise _fail(_choose_one_of("--lang", lang, LANGS))
    # For this run only: in-process runs (tests) do not keep it.
    ctx.with_resource(use_lang(cast(Lang, lang)))


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (already in the reader's language) as the run's error."""
    label = _("error:")
    space = "" if label.endswith("：") else " "  # a full-width colon spaces itself
    err.print(
        f"[bold red]{escape(label)}[/]{space}{escape(message)}",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code)


@contextmanager
def _errors():
    try:
        yield
    except SearchlightError as exc:
        raise _fail(error_text(exc)) from None
    except KeyboardInterrupt:
        raise _fail(_("interrupted; the batch in progress was not applied"), 130) from None


def _settings() -> Settings:
    try:
        return get_settings()
    except SearchlightError as exc:
        raise _fail(error_text(exc)) from None


def _store(settings: Settings, url: str | None, *, read_only: bool = False) -> Store:
    return settings.open_store(url, read_only=read_only)


def _default_quarantine(settings: Settings, paths: list[Path]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = paths[0].stem + (f"-and-{len(paths) - 1}-more" if len(paths) > 1 else "")
    return settings.quarantine_dir / f"{name}-{stamp}.csv"


@app.command(
    help=_(
        "Load event files into the store.\n\n"
        "Each file is one all-or-nothing batch; re-running a file adds nothing. "
        "Rejected rows go to a quarantine CSV with their line and reason."
    )
)
def ingest(
    paths: Annotated[list[Path], typer.Argument(help=_("CSV, XLSX, JSONL or Parquet files"))],
    store: StoreOption = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help=_("FIELD=COLUMN, e.g. inviter_id=邀请人ID (repeatable)")),
    ] = None,
    map_type: Annotated[
        list[str] | None,
        typer.Option("--map-type", help=_("VALUE=TYPE, e.g. 添加=join (repeatable)")),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help=_("FIELD=VALUE used where the column is absent or empty")),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help=_("mapping file (TOML or JSON)"))
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help=_(
                "the mapping of an SCRM export: {presets} (docs/ingest.md, 'Presets')",
                presets=", ".join(preset_names()),
            ),
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz", help=_("zone of naive times (default Asia/Shanghai, or KOC_TIMEZONE)")
        ),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help=_("campaign for rows that name none"))
    ] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option("--quarantine", help=_("file for rejected rows (default data/quarantine/…)")),
    ] = None,
    json_: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_("no progress bar"))] = False,
) -> None:
    """Load event files into the store: each file one all-or-nothing batch,
    rejected rows to a quarantine CSV with their line and reason."""
    settings = _settings()
    with _errors():
        the_mapping = mapping_from_options(
            map_ or (), map_type or (), set_ or (), mapping, load_preset(preset) if preset else None
        )
        if campaign:
            the_mapping = the_mapping.merged(Mapping(defaults={"campaign": campaign}))
        zone = check_timezone(tz or settings.timezone)
        rejects = Quarantine(quarantine or _default_quarantine(settings, paths))
        reports: list[IngestReport] = []
        with _store(settings, store) as the_store:
            for path in paths:
                try:
                    reports.append(
                        _ingest_one(
                            the_store,
                            path,
                            rejects,
                            the_mapping,
                            zone,
                            quiet or json_,
                            settings.time_bounds,
                        )
                    )
                except SearchlightError as exc:
                    if reports:
                        done = ", ".join(r.source for r in reports)
                        raise _fail(
                            _(
                                "{error} (already applied: {done})",
                                error=error_text(exc),
                                done=done,
                            )
                        ) from None
                    raise

    totals = {
        key: sum(getattr(r, key) for r in reports)
        for key in ("read", "accepted", "duplicates", "conflicts", "rejected")
    }
    # Rows that made other than one event each (a mapping's [[events]]).
    made = {key: sum(getattr(r, key) for r in reports) for key in ("events", "skipped")}
    quarantine_path = str(rejects.path) if rejects.rows else None
    if json_:
        payload = {
            **totals,
            **made,
            "quarantine": quarantine_path,
            "store": the_store.url,
            "files": [{**r.to_json(), "notes": notes_text(r.notes)} for r in reports],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    _print_ingest(reports, totals, made, quarantine_path, the_store.url)


def _print_ingest(
    reports: list[IngestReport],
    totals: dict[str, int],
    made: dict[str, int],
    quarantine_path: str | None,
    url: str,
) -> None:
    """`koc ingest`'s answer for a person: a row per file, its notes, and
    where the rows it did not apply went."""
    if made["events"] != totals["read"] or made["skipped"]:
        totals = {"read": totals.pop("read"), **made, **totals}
    table = Table(_("file"), *(_(INGEST_COLUMNS[k]) for k in totals), _("seconds"))
    for r in reports:
        table.add_row(r.source, *(integer(getattr(r, k)) for k in totals), number(r.seconds, 1))
    out.print(table)
    for r in reports:
        for note in r.notes:
            out.print(
                _("note: {source}: {note}", source=r.source, note=note_text(note)),
                markup=False,
                highlight=False,
            )
    if totals["conflicts"]:
        out.print(
            ngettext(
                "{n} row repeats a stored event_id with other content: not applied, both "
                "versions in the quarantine (docs/ingest.md, 'Conflicts and corrections')",
                "{n} rows repeat a stored event_id with other content: not applied, both "
                "versions in the quarantine (docs/ingest.md, 'Conflicts and corrections')",
                totals["conflicts"],
                n=integer(totals["conflicts"]),
            ),
            highlight=False,
        )
    if quarantine_path:
        held = totals["rejected"] + totals["conflicts"]
        out.print(
            ngettext(
                "{n} row with its reason in {path}",
                "{n} rows with their reasons in {path}",
                held,
                n=integer(held),
                path=quarantine_path,
            ),
            markup=False,
            highlight=False,
        )
    out.print(_("store: {url}", url=url), markup=False, highlight=False)


def _ingest_one(
    store: Store,
    path: Path,
    rejects: Quarantine,
    mapping: Mapping,
    zone: str,
    quiet: bool,
    bounds: TimeBounds,
) -> IngestReport:
    show = (
        not quiet
        and sys.stderr.isatty()
        and path.is_file()
        and path.stat().st_size >= PROGRESS_MIN_BYTES
    )
    if not show:
        return ingest_file(
            store, path, quarantine=rejects, mapping=mapping, timezone=zone, bounds=bounds
        )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(_("reading {name}", name=path.name), total=path.stat().st_size)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return ingest_file(
            store,
            path,
            quarantine=rejects,
            mapping=mapping,
            timezone=zone,
            progress=advance,
            bounds=bounds,
        )


@app.command(help=_("Counts in the store: users, events by type, edges, campaigns, time span."))
def stats(store: StoreOption = None, json_: JsonOption = False) -> None:
    settings = _settings()
    with _errors(), _store(settings, store, read_only=True) as the_store:
        s = the_store.stats()
    if json_:
        typer.echo(json.dumps({"store": the_store.url, **s.to_json()}, ensure_ascii=False))
        return
    table = Table("", "", show_header=False)
    table.add_row(_("store"), escape(the_store.url))
    table.add_row(_("users"), integer(s.users))
    table.add_row(_("events"), integer(s.events))
    for kind, n in s.events_by_type.items():
        table.add_row("  " + (_(EVENT_KINDS[kind]) if kind in EVENT_KINDS else kind), integer(n))
    table.add_row(_("REFERRED edges"), integer(s.referred_edges))
    table.add_row(_("INVITED ties"), integer(s.invited_ties))
    names = ", ".join(s.campaign_names[:8]) + (" …" if len(s.campaign_names) > 8 else "")
    table.add_row(
        _("campaigns"),
        escape(f"{integer(s.campaigns)} ({names})") if names else integer(s.campaigns),
    )
    for label, at in ((_("first event"), s.first_event_at), (_("last event"), s.last_event_at)):
        table.add_row(label, _when(at, settings.timezone) if at else "-")
    table.add_row(_("batches"), integer(s.batches))
    out.print(table)


def _when(at: datetime, zone: str) -> str:
    """A time for a person: in the deployment's zone, which it names."""
    return f"{moment(at, zone)} ({zone})"


def _choose_one_of(option: str, value: str, choices: tuple[str, ...]) -> str:
    """An option's value that is not one of its choices, with the choices."""
    return _(
        "{option} {value!r}: choose one of {choices}",
        option=option,
        value=value,
        choices=", ".join(choices),
    )


def _not_one_of(option: str, value: str | None, choices: tuple[str, ...]) -> str:
    """An option's value that is not one of its choices, in words."""
    return _(
        "{option} {value!r} is not one of {choices}",
        option=option,
        value=value,
        choices=", ".join(choices),
    )


# Further command groups register themselves on `app` (last: they import from
# here), in the order `koc --help` lists them.
from api import cli_generate  # noqa: E402, F401, I001
from api import cli_analysis, cli_backtest, cli_results, cli_review  # noqa: E402, F401, I001
from api import cli_serve, cli_store, cli_wecom  # noqa: E402, F401
