"""Which store a URL names (`open_store`): the embedded DuckDB store for a
file path or a `duckdb:///` URL, the Neo4j store for a Neo4j URL."""

from __future__ import annotations

from pathlib import Path

from graph.store import Store, StoreError

DEFAULT_STORE_URL = "./data/searchlight.duckdb"
NEO4J_SCHEMES = ("neo4j", "neo4j+s", "bolt", "bolt+s")


def open_store(
    url: str | None = None,
    *,
    read_only: bool = False,
    memory_limit: str = "1GB",
    neo4j_password: str | None = None,
    neo4j_batch_size: int = 10_000,
    neo4j_retry_seconds: float = 10.0,
) -> Store:
    """The store a URL names: a file path, or `duckdb:///relative/path` and
    `duckdb:////absolute/path` (the duckdb_engine convention) for the embedded
    store; `neo4j://`, `neo4j+s://`, `bolt://` or `bolt+s://` for Neo4j
    (`graph.neo4j_store`)."""
    url = url or DEFAULT_STORE_URL
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _embedded(Path(url), read_only, memory_limit)
    if scheme == "duckdb":
        if not rest.startswith("/") or rest == "/":
            raise StoreError("store URL {url!r}: expected duckdb:///PATH", url=url)
        return _embedded(Path(rest[1:]), read_only, memory_limit)
    if scheme in NEO4J_SCHEMES:
        from graph.neo4j_store import Neo4jStore

        return Neo4jStore(
            url,
            password=neo4j_password,
            batch_size=neo4j_batch_size,
            retry_seconds=neo4j_retry_seconds,
        )
    raise StoreError(
        "unsupported store URL scheme {scheme!r}; use a file path, duckdb:///path or "
        "one of {schemes}",
        scheme=scheme,
        schemes=", ".join(s + "://" for s in NEO4J_SCHEMES),
    )


def _embedded(path: Path, read_only: bool, memory_limit: str) -> Store:
    from graph.embedded import EmbeddedStore

    return EmbeddedStore(path, read_only=read_only, memory_limit=memory_limit)
