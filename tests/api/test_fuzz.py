"""Property-based fuzzing of the published OpenAPI schema (schemathesis over
hypothesis): whatever a client sends, within the schema or beside it, the API
never answers 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from api.settings import ApiKey, Settings
from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.api.conftest import ADMIN, ADMIN_KEY

# Every published operation; the schema needs no store to be generated.
SPEC = create_app(Settings()).openapi()
OPERATIONS = sorted((path, method.upper()) for path, ops in SPEC["paths"].items() for method in ops)


def takes_input(path: str, method: str) -> bool:
    spec = SPEC["paths"][path][method.lower()]
    return bool(spec.get("parameters")) or "requestBody" in spec


# Positive cases fit the schema; negative ones break it on purpose, so only
# operations that take some input have negative cases.
CASES = [
    (path, method, mode)
    for path, method in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or takes_input(path, method)
]


@pytest.fixture(scope="module")
def fuzzed_schema(tmp_path_factory):
    # A small analysed campaign of its own (800 users, one farm): what is
    # fuzzed is the input, and every POST /v1/analyses case runs a whole
    # analysis of the store, so its size is the suite's time.
    work = tmp_path_factory.mktemp("fuzz")
    events, truth = generate_campaign(users=800, seed=9)
    write_campaign(events, truth, work / "events.parquet", "parquet")
    with EmbeddedStore(work / "store.duckdb", memory_limit="512MB") as store:
        ingest_file(store, work / "events.parquet", quarantine=Quarantine(work / "q.csv"))
        store.save_snapshot(analyze(store).to_saved())
    app = create_app(
        Settings(
            store_url=str(work / "store.duckdb"),
            quarantine_dir=work / "quarantine",
            duckdb_memory_limit="512MB",
            api_keys=[ApiKey(role="admin", key=ADMIN_KEY)],
            analysis_wait_seconds=30,
            analysis_worker=False,  # a process per case would cost a second each
        )
    )
    # schemathesis starts the app's lifespan on its first call; stop it here,
    # so the store is closed and its threads joined before the session ends.
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()


@pytest.mark.parametrize(
    ("path", "method", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for p, m, mode in CASES]
)
def test_no_input_gives_a_server_error(fuzzed_schema, path, method, mode):
    operation = fuzzed_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases every run, so a CI failure reproduces
        database=None,
    )
    def fuzz(case) -> None:
        case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])

    fuzz()
