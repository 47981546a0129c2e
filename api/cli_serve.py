"""`koc serve` and `koc export`.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.cells import cell_len, set_cell_size

from api.cli import StoreOption, _choose_one_of, _errors, _fail, _settings, _store, app, out
from api.cli_options import KOption, SharersOption, StrategyOption, spinner
from api.cli_results import picking_text
from api.exports import FORMATS as EXPORT_FORMATS
from api.exports import LANGS, store_export, write_export
from api.i18n import _, current_lang, error_text
from api.i18n.formats import integer
from graph.analysis.kocs import KocParams, choose_kocs


@app.command(
    help=_(
        "Serve the HTTP API (docs at /docs) on the store.\n\n"
        "The server holds the store while it runs: ingest, analyse and review through the "
        "API then. Without API keys (KOC_API_KEYS) it listens on loopback only."
    )
)
def serve(
    host: Annotated[str, typer.Option("--host", help=_("address to listen on"))] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help=_("port to listen on"))
    ] = 8000,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help=_("log every request"))
    ] = True,
    store: StoreOption = None,
) -> None:
    """The HTTP API on the store; it holds the store while it runs."""
    import uvicorn

    from api.app import create_app
    from api.auth import is_loopback
    from api.serving import uvicorn_options

    settings = _settings()
    if not settings.api_keys and not is_loopback(host):
        raise _fail(
            _(
                "no API keys are configured, so the server listens on loopback only, not on "
                "{host}: anyone who could reach it there could ingest, review and export. "
                "Set KOC_API_KEYS=admin:KEY,viewer:KEY (keys of 16+ characters), or use "
                "--host 127.0.0.1",
                host=host,
            )
        )
    with _errors():
        the_store = _store(settings, store)
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    links = [
        (_("dashboard:"), "/dashboard"),
        (_("explorer:"), "/explorer"),
        (_("docs:"), "/docs"),
        (_("health:"), "/health"),
        (_("KOCs:"), "/v1/kocs?k=50"),
        (_("export:"), f"/v1/exports/kocs?format=xlsx&k=50&lang={current_lang()}"),
    ]
    width = max(cell_len(label) for label, _path in links)
    lines = [
        _("Searchlight API on {base} (store {store})", base=base, store=the_store.url),
        *(f"  {set_cell_size(label, width)} {base}{path}" for label, path in links),
    ]
    if not settings.api_keys:
        lines.append("  " + _("keys: none configured: open on loopback only"))
    out.print("\n".join(lines), markup=False, highlight=False)
    uvicorn.run(
        create_app(settings, the_store),
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        **uvicorn_options(settings),  # header deadline and size, keep-alive, connections
    )


@app.command(
    help=_(
        "Export the KOC list for rewards as CSV (with a .manifest.json beside it) or XLSX "
        "(with a manifest sheet). Only users not flagged, or approved on review, are "
        "exported."
    )
)
def export(
    out_path: Annotated[Path, typer.Option("--out", help=_("the file to write"))],
    fmt: Annotated[
        str | None, typer.Option("--format", help=_("csv or xlsx (default: from --out)"))
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help=_("language of the file: zh or en (default: the run's, koc --lang or KOC_LANG)"),
            show_default=False,
        ),
    ] = None,
    k: KOption = 50,
    strategy: StrategyOption = "coverage",
    quota: Annotated[
        str | None, typer.Option("--quota", help=_("community: split k across communities"))
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help=_("seed for the influence strategy"))] = 0,
    sharers: SharersOption = 0.3,
    store: StoreOption = None,
) -> None:
    """The KOC list for rewards as CSV or XLSX with its manifest; flagged
    users are left out unless approved on review."""
    fmt = fmt or out_path.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise _fail(_choose_one_of("--format", fmt or "?", EXPORT_FORMATS))
    lang = lang or current_lang()
    if lang not in LANGS:
        raise _fail(_choose_one_of("--lang", lang, LANGS))
    settings = _settings()
    try:
        params = KocParams(k=k, strategy=strategy, quota=quota, seed=seed, sharers=sharers)
    except ValueError as exc:
        raise _fail(error_text(exc)) from None
    with (
        _errors(),
        _store(settings, store, read_only=True) as the_store,
        spinner(picking_text(k, strategy), quiet=False),
    ):
        snapshot = the_store.latest_snapshot()
        chosen = choose_kocs(the_store, snapshot, params)
        made = store_export(the_store, chosen, snapshot, settings.reward_tiers, lang)
    with _errors(), _store(settings, store) as the_store:
        the_store.record_export(snapshot.id)  # so pruning keeps what the manifest names
    try:
        written = write_export(made, fmt, out_path)
    except OSError as exc:
        raise _fail(
            _(
                "--out {path}: cannot write it ({reason})",
                path=out_path,
                reason=exc.strerror or str(exc),
            )
        ) from None
    withheld = len(made.manifest["withheld_flagged"])
    files = ", ".join(map(str, written))
    out.print(
        _(
            "wrote {n} KOCs to {files}; withheld {withheld} flagged",
            n=integer(len(made.rows)),
            files=files,
            withheld=integer(withheld),
        )
        if withheld
        else _("wrote {n} KOCs to {files}", n=integer(len(made.rows)), files=files),
        markup=False,
        highlight=False,
    )
