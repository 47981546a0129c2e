"""`koc`: the command line. Thin commands; the work lives in loaders/ and graph/."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from api.settings import Settings, get_settings
from graph.ingest import IngestReport, ingest_file
from graph.store import Store
from loaders.edges import NetworkTruth, detect_kind, events_from_edges, summarise
from loaders.errors import SearchlightError
from loaders.generator import FORMATS, SHAPES, generate_campaign, write_campaign
from loaders.mapping import Mapping, mapping_from_options
from loaders.presets import load_preset, preset_names
from loaders.quarantine import Quarantine
from loaders.validate import TimeBounds, check_timezone

app = typer.Typer(
    help="Searchlight: find the KOCs in a brand's referral network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

# Files this size or larger (about 100k rows) get a progress bar.
PROGRESS_MIN_BYTES = 8 << 20

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="store URL or path (env KOC_STORE_URL; default ./data/searchlight.duckdb)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _errors():
    try:
        yield
    except SearchlightError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; the batch in progress was not applied", 130) from None


def _settings() -> Settings:
    try:
        return get_settings()
    except SearchlightError as exc:
        raise _fail(str(exc)) from None


def _store(settings: Settings, url: str | None, *, read_only: bool = False) -> Store:
    return settings.open_store(url, read_only=read_only)


def _default_quarantine(settings: Settings, paths: list[Path]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = paths[0].stem + (f"-and-{len(paths) - 1}-more" if len(paths) > 1 else "")
    return settings.quarantine_dir / f"{name}-{stamp}.csv"


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="CSV, XLSX, JSONL or Parquet files")],
    store: StoreOption = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="FIELD=COLUMN, e.g. inviter_id=邀请人ID (repeatable)"),
    ] = None,
    map_type: Annotated[
        list[str] | None,
        typer.Option("--map-type", help="VALUE=TYPE, e.g. 添加=join (repeatable)"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=VALUE used where the column is absent or empty"),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="mapping file (TOML or JSON)")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help=f"the mapping of an SCRM export: {', '.join(preset_names())} "
            "(docs/ingest.md, 'Presets')",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="zone of naive times (default Asia/Shanghai, or KOC_TIMEZONE)"),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="campaign for rows that name none")
    ] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option("--quarantine", help="file for rejected rows (default data/quarantine/…)"),
    ] = None,
    json_: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Load event files into the store.

    Each file is one all-or-nothing batch; re-running a file adds nothing.
    Rejected rows go to a quarantine CSV with their line and reason."""
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
                        raise type(exc)(f"{exc} (already applied: {done})") from exc
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
            "files": [r.to_json() for r in reports],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    if made["events"] != totals["read"] or made["skipped"]:
        totals = {"read": totals.pop("read"), **made, **totals}
    table = Table("file", *totals, "seconds")
    for r in reports:
        table.add_row(r.source, *(f"{getattr(r, k):,}" for k in totals), f"{r.seconds:.1f}")
    out.print(table)
    for r in reports:
        for note in r.notes:
            out.print(f"note: {r.source}: {note}", markup=False, highlight=False)
    if totals["conflicts"]:
        out.print(
            f"{totals['conflicts']:,} row(s) repeat a stored event_id with other content: "
            "not applied, both versions in the quarantine (docs/ingest.md, "
            "'Conflicts and corrections')"
        )
    if quarantine_path:
        out.print(
            f"{totals['rejected'] + totals['conflicts']:,} row(s) with reasons in {quarantine_path}"
        )
    out.print(f"store: {the_store.url}")


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
        task = bar.add_task(f"reading {path.name}", total=path.stat().st_size)

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


@app.command()
def stats(store: StoreOption = None, json_: JsonOption = False) -> None:
    """Counts in the store: users, events by type, edges, campaigns, time span."""
    settings = _settings()
    with _errors(), _store(settings, store, read_only=True) as the_store:
        s = the_store.stats()
    if json_:
        typer.echo(json.dumps({"store": the_store.url, **s.to_json()}, ensure_ascii=False))
        return
    table = Table("", "", show_header=False)
    table.add_row("store", the_store.url)
    table.add_row("users", f"{s.users:,}")
    table.add_row("events", f"{s.events:,}")
    for kind, n in s.events_by_type.items():
        table.add_row(f"  {kind}", f"{n:,}")
    table.add_row("REFERRED edges", f"{s.referred_edges:,}")
    table.add_row("INVITED ties", f"{s.invited_ties:,}")
    names = ", ".join(s.campaign_names[:8]) + (" …" if len(s.campaign_names) > 8 else "")
    table.add_row("campaigns", f"{s.campaigns:,}" + (f" ({names})" if names else ""))
    zone = ZoneInfo(settings.timezone)
    for label, at in (("first event", s.first_event_at), ("last event", s.last_event_at)):
        table.add_row(
            label, f"{at.astimezone(zone):%Y-%m-%d %H:%M:%S} {settings.timezone}" if at else "-"
        )
    table.add_row("batches", f"{s.batches:,}")
    out.print(table)


@app.command()
def generate(
    users: Annotated[
        int | None, typer.Option("--users", min=50, help="joined users to simulate")
    ] = None,
    from_edges: Annotated[
        Path | None,
        typer.Option(
            "--from-edges",
            help="convert a real network's edge list ('a b' or 'src dst unix_time') instead",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same output")] = 0,
    shape: Annotated[
        str,
        typer.Option(
            "--shape",
            help="realistic (campaign waves, weekday and hour rhythm, sharers who burst and "
            "fade, influence down the tree, returning users, nicknames) or steady (the "
            "first model: constant share rates, no names; reproduces recorded benchmarks); "
            "--users only",
        ),
    ] = "realistic",
    invite_back: Annotated[
        bool,
        typer.Option(
            "--invite-back/--no-invite-back",
            help="--from-edges: keep invites to earlier-joined users (friends inviting back)",
        ),
    ] = True,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="output file (default data/generated/events.FORMAT)"),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, parquet or jsonl (default: from --out, else csv)"),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Generate a realistic synthetic fission campaign, or convert a real network.

    The planted ground truth (KOCs, farm accounts) goes to a sidecar
    .truth.json file, never into the events. --shape steady reproduces the
    first model byte for byte (docs/ingest.md, "Generated campaigns"). With
    --from-edges the sidecar says nothing is planted (empty lists, the
    source and its kind); see
    docs/ingest.md, "Real networks as events"."""
    if (users is None) == (from_edges is None):
        raise _fail(
            "give --users N (a synthetic campaign) or --from-edges PATH (a real network)"
            + (", not both" if users is not None else "")
        )
    if fmt is None:
        suffix = out_path.suffix.lstrip(".").lower() if out_path else ""
        fmt = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}.get(
            suffix, "csv"
        )
    if fmt not in FORMATS:
        raise _fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if shape not in SHAPES:
        raise _fail(f"--shape {shape!r} is not one of {', '.join(SHAPES)}")
    target = out_path or Path("data/generated") / f"events.{fmt}"
    if from_edges is not None:
        with _errors():
            table = events_from_edges(from_edges, seed=seed, invite_back=invite_back)
            kind = detect_kind(from_edges)
        counts = summarise(table)
        users = counts["users"]
        truth = NetworkTruth(seed=seed, users=users, source=str(from_edges), kind=kind)
    else:
        table, truth = generate_campaign(users=users, seed=seed, shape=shape)
    truth_path = write_campaign(table, truth, target, fmt)
    summary = {
        "out": str(target),
        "format": fmt,
        "events": table.num_rows,
        "users": users,
        "seed": seed,
        "truth": str(truth_path),
        "planted_kocs": len(truth.planted_kocs),
        "farm_accounts": len(truth.farm_accounts),
    }
    if from_edges is not None:
        summary.update(source=str(from_edges), kind=kind, **counts)
    else:
        summary["shape"] = shape
    if json_:
        typer.echo(json.dumps(summary))
    elif from_edges is not None:
        out.print(
            f"wrote {table.num_rows:,} events for {users:,} users ({summary['referred']:,} "
            f"referred, {summary['organic']:,} organic, {summary['invites']:,} invites) "
            f"from {from_edges} ({kind}) to {target} (nothing planted: {truth_path})"
        )
    else:
        out.print(
            f"wrote {table.num_rows:,} events for {users:,} users ({shape} shape) to {target} "
            f"(ground truth: {truth_path})"
        )


def main() -> None:  # pragma: no cover - console entry point
    app()


# Further command groups register themselves on `app` (last: they import from here).
from api import cli_analysis, cli_results, cli_serve, cli_store, cli_wecom  # noqa: E402, F401
