"""`koc`: the command line. Thin commands; the work lives in loaders/ and graph/."""

from __future__ import annotations

import getpass
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from api.exports import FORMATS as EXPORT_FORMATS
from api.exports import LANGS, build_export, write_export
from api.settings import Settings, get_settings
from graph.analysis.backtest import backtest as run_backtest
from graph.analysis.bridging import SAMPLES
from graph.analysis.kocs import STRATEGIES, KocParams, choose_kocs
from graph.analysis.score import DEFAULT_WEIGHTS, top_reasons
from graph.analysis.snapshot import AnalysisParams
from graph.analysis.snapshot import analyze as run_analysis
from graph.ingest import IngestReport, ingest_file
from graph.ranking import TOP_BY, top_referrers
from graph.review import approved_ids, review_queue, review_user
from graph.store import REVIEW_STATUSES, Store, Window
from loaders.edges import NetworkTruth, detect_kind, events_from_edges, summarise
from loaders.errors import SearchlightError
from loaders.generator import FORMATS, generate_campaign, write_campaign
from loaders.mapping import Mapping, mapping_from_options
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
        the_mapping = mapping_from_options(map_ or (), map_type or (), set_ or (), mapping)
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
        for key in ("read", "accepted", "duplicates", "rejected")
    }
    quarantine_path = str(rejects.path) if rejects.rows else None
    if json_:
        payload = {
            **totals,
            "quarantine": quarantine_path,
            "store": the_store.url,
            "files": [r.to_json() for r in reports],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    table = Table("file", "read", "accepted", "duplicates", "rejected", "seconds")
    for r in reports:
        table.add_row(r.source, *(f"{getattr(r, k):,}" for k in totals), f"{r.seconds:.1f}")
    out.print(table)
    if quarantine_path:
        out.print(f"{totals['rejected']:,} rejected row(s) with reasons in {quarantine_path}")
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
    .truth.json file, never into the events. With --from-edges the sidecar
    says nothing is planted (empty lists, the source and its kind); see
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
    target = out_path or Path("data/generated") / f"events.{fmt}"
    if from_edges is not None:
        with _errors():
            table = events_from_edges(from_edges, seed=seed, invite_back=invite_back)
            kind = detect_kind(from_edges)
        counts = summarise(table)
        users = counts["users"]
        truth = NetworkTruth(seed=seed, users=users, source=str(from_edges), kind=kind)
    else:
        table, truth = generate_campaign(users=users, seed=seed)
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
            f"wrote {table.num_rows:,} events for {users:,} users to {target} "
            f"(ground truth: {truth_path})"
        )


def _parse_time(text: str | None, zone: str, option: str) -> datetime | None:
    """A date or ISO time; naive values are in the configured zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


SinceOption = Annotated[str | None, typer.Option("--since", help="from this date/time (inclusive)")]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="up to this date/time (exclusive)")
]
CampaignsOption = Annotated[
    list[str] | None, typer.Option("--campaign", help="only these campaigns (repeatable)")
]


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
            )
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
    summary = snapshot.summary()
    summary["save_seconds"] = round(saved_in, 3)
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
    out.print(table)
    kocs = Table("rank", "user", "KOC score", "invites", "reach", "top reason")
    for i, (r, reason) in enumerate(zip(top.to_pylist(), reasons, strict=True), start=1):
        kocs.add_row(
            str(i), r["id"], f"{r['koc_score']:.2f}", f"{r['invites']:,}", f"{r['reach']:,}", reason
        )
    out.print(kocs)


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


StrategyOption = Annotated[str, typer.Option("--strategy", help=f"one of: {', '.join(STRATEGIES)}")]
KOption = Annotated[int, typer.Option("--k", min=1, max=10_000, help="how many KOCs")]


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


@app.command()
def backtest(
    cutoff: Annotated[str, typer.Option("--cutoff", help="pick from the events before this")],
    k: KOption = 50,
    horizon: Annotated[
        str, typer.Option("--horizon", help="how far after the cutoff to measure: 30d, 2w, 12h")
    ] = "30d",
    seed: Annotated[int, typer.Option("--seed", help="seed for influence and random")] = 0,
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Would our picks at a past date have predicted the referrals after it?

    Compares the strategies with top-by-invites, top-by-PageRank and random."""
    settings = _settings()
    when = _parse_time(cutoff, settings.timezone, "--cutoff")
    days = _parse_horizon(horizon)
    with _errors(), _store(settings, store, read_only=True) as the_store:
        try:
            with _spinner("backtest", quiet=json_) as status:
                result = run_backtest(
                    the_store,
                    when,
                    k=k,
                    horizon_days=days,
                    params=AnalysisParams(fraud=settings.fraud),
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


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="log every request")
    ] = True,
    store: StoreOption = None,
) -> None:
    """Serve the HTTP API (docs at /docs) on the store.

    The server holds the store while it runs: ingest, analyse and review
    through the API then. Without API keys (KOC_API_KEYS) it listens on
    loopback only."""
    import uvicorn

    from api.app import create_app
    from api.auth import is_loopback

    settings = _settings()
    if not settings.api_keys and not is_loopback(host):
        raise _fail(
            f"no API keys are configured, so the server listens on loopback only, not on "
            f"{host}: anyone who could reach it there could ingest, review and export. "
            "Set KOC_API_KEYS=admin:KEY,viewer:KEY (keys of 16+ characters), or use "
            "--host 127.0.0.1"
        )
    with _errors():
        the_store = _store(settings, store)
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    out.print(
        f"Searchlight API on {base} (store {the_store.url})\n"
        f"  explorer: {base}/explorer\n"
        f"  docs:     {base}/docs\n"
        f"  health:   {base}/health\n"
        f"  KOCs:     {base}/v1/kocs?k=50\n"
        f"  export:   {base}/v1/exports/kocs?format=xlsx&k=50&lang=zh\n"
        + ("  keys:     none configured: open on loopback only" if not settings.api_keys else ""),
        highlight=False,
    )
    uvicorn.run(
        create_app(settings, the_store),
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
    )


@app.command()
def export(
    out_path: Annotated[Path, typer.Option("--out", help="the file to write")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from --out)")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="header language: en or zh")] = "en",
    k: KOption = 50,
    strategy: StrategyOption = "coverage",
    quota: Annotated[
        str | None, typer.Option("--quota", help="community: split k across communities")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed for the influence strategy")] = 0,
    store: StoreOption = None,
) -> None:
    """Export the KOC list for rewards as CSV (with a .manifest.json beside it)
    or XLSX (with a manifest sheet). Only users not flagged, or approved on
    review, are exported."""
    fmt = fmt or out_path.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise _fail(f"--format {fmt or '?'!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    if lang not in LANGS:
        raise _fail(f"--lang {lang!r}: choose one of {', '.join(LANGS)}")
    settings = _settings()
    try:
        params = KocParams(k=k, strategy=strategy, quota=quota, seed=seed)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with (
        _errors(),
        _store(settings, store, read_only=True) as the_store,
        _spinner(f"picking {k} KOCs ({strategy})", quiet=False),
    ):
        snapshot = the_store.latest_snapshot()
        chosen = choose_kocs(the_store, snapshot, params)
        made = build_export(chosen, snapshot, approved_ids(the_store), settings.reward_tiers, lang)
    try:
        written = write_export(made, fmt, out_path)
    except OSError as exc:
        raise _fail(f"--out {out_path}: {exc.strerror}") from None
    out.print(
        f"wrote {len(made.rows)} KOCs to {', '.join(map(str, written))}"
        + (
            f"; withheld {len(made.manifest['withheld_flagged'])} flagged"
            if made.manifest["withheld_flagged"]
            else ""
        ),
        highlight=False,
    )


def main() -> None:  # pragma: no cover - console entry point
    app()
