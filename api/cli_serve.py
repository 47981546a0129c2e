"""`koc serve` and `koc export`.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli import StoreOption, _errors, _fail, _settings, _store, app, out
from api.cli_analysis import KOption, StrategyOption, _spinner
from api.exports import FORMATS as EXPORT_FORMATS
from api.exports import LANGS, build_export, write_export
from graph.analysis.kocs import KocParams, choose_kocs
from graph.review import approved_ids


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
    from api.serving import uvicorn_options

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
        **uvicorn_options(settings),  # header deadline and size, keep-alive, connections
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
    with _errors(), _store(settings, store) as the_store:
        the_store.record_export(snapshot.id)  # so pruning keeps what the manifest names
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
