"""The FastAPI application: `create_app(settings)`; `koc serve` runs it.

The server opens the store once, for writing, and holds it while it runs
(the embedded store allows one writer): ingest, analyses and reviews go
through the API then, not the CLI.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

# pyarrow imports pandas the first time it converts a numpy array, holding
# Python's lock meanwhile: done here, not inside the first upload.
import pandas  # noqa: F401
import pyvis
import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import errors, queries
from api import explorer as explorer_views
from api.analysis_worker import stop_layout_worker
from api.dashboard import warm as warm_dashboard
from api.deps import EncodedUserPaths, json_body, json_key
from api.explorer_models import ViewParams
from api.i18n import use_lang
from api.i18n.web import RequestLanguage
from api.routes import analyses, events, explorer, exports, flags, health, pages, reads, wecom
from api.routes import dashboard as dashboard_routes
from api.service import Service
from api.settings import Settings, get_settings
from api.wecom.receiver import start_wecom
from graph.store import Store

UPLOAD_PATHS = ("/v1/events/upload",)
STATIC = Path(__file__).parent / "static"
# vis-network as pyvis ships it; served from here, never from a CDN.
VIS_NETWORK = Path(pyvis.__file__).parent / "lib" / "vis-9.1.2"
DESCRIPTION = """
Find the KOCs in a brand's referral network: ingest invite and referral
events, analyse the graph, rank referrers, pick the searchlight set, review
fraud flags and export reward lists.

Send an API key in the `X-API-Key` header (or `Authorization: Bearer KEY`):
viewer keys read; admin keys also ingest, analyse, review and export.
Errors are JSON: `detail` says what went wrong, `errors` names each field.
"""


def _warm_up(service: Service) -> None:
    """The latest snapshot, the default KOC list, the default dashboard and the
    explorer's default view; a server shutting down stops between them."""
    queries.warm(service)
    if service.stopping:
        return
    warm_dashboard(service)
    if not service.stopping and service.snapshot() is not None:
        default = ViewParams()
        lang = service.settings.lang  # what a request that names no language reads
        full = not service.settings.api_keys  # no keys: every caller is an admin
        with use_lang(lang):
            key = json_key(("view", default, full), lang)  # as routes/explorer.py asks
            json_body(service, key, lambda: explorer_views.named(service, default, full))


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The app over `store`, or over the store `settings.store_url` names,
    opened when the app starts; either way the app closes it when it stops."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or settings.open_store()
        service = app.state.service = Service(opened, settings)
        # WeCom callbacks (docs/wecom.md): None unless KOC_WECOM_* are set.
        try:
            wecom = app.state.wecom = start_wecom(service)
        except BaseException:
            service.close()  # the inbox is another server's, say: the store goes back
            raise
        # What start-up loaded lives as long as the server. Some of it (the
        # DuckDB bindings) makes every full collection take ~50 ms, which was
        # the whole p99 under load; frozen objects are never traversed again.
        gc.collect()
        gc.freeze()
        if settings.cache_check_seconds > 0:
            service.watch(settings.cache_check_seconds)
        explorer_views.lay_out_in_worker(settings.analysis_worker)
        if settings.warm_up:
            service.warm_up = partial(_warm_up, service)
            service.in_background(service.warm, "warm-up")
        try:
            yield
        finally:
            if wecom is not None:
                wecom.stop()  # the inbox drained into the store first
            gc.unfreeze()
            service.close()  # this lifespan's own, even if another started since
            stop_layout_worker()

    app = FastAPI(
        title="Searchlight",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from local files: these machines have no internet
        redoc_url=None,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(EncodedUserPaths)
    app.add_middleware(
        errors.BodyLimit,
        default=settings.max_body_bytes,
        uploads=settings.max_upload_bytes,
        upload_paths=UPLOAD_PATHS,
    )
    # Outermost of ours, so a body refused at the door is refused in the reader's language.
    app.add_middleware(RequestLanguage, default=settings.lang)
    _add_routes(app)
    return app


def _add_routes(app: FastAPI) -> None:
    """The API's routes, the pages' files and the API docs (from local files)."""
    for module in (health, events, analyses, reads, flags, exports, explorer, pages, wecom):
        app.include_router(module.router)
    app.include_router(dashboard_routes.router)

    app.mount("/static/vis", StaticFiles(directory=VIS_NETWORK), name="vis-network")
    app.mount("/static/explorer", StaticFiles(directory=STATIC), name="explorer")
    app.mount(
        "/static/swagger-ui",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger-ui",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Searchlight API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )
