"""The Neo4j store's migration to schema version 3 on a real server: users
get their names from the events that carry them."""

from __future__ import annotations

from graph import cypher
from graph.ingest import ingest_file
from loaders.quarantine import Quarantine
from tests.conftest import fresh_neo4j_store, needs_neo4j, write_named_events

pytestmark = needs_neo4j


def test_a_version_2_store_on_a_server_gets_its_names_back(tmp_path):
    path = write_named_events(tmp_path / "e.csv")
    with fresh_neo4j_store() as store:
        ingest_file(store, path, quarantine=Quarantine(tmp_path / "q.csv"), timezone="UTC")
        everyone = ["alice", "bob", "carol", "dan"]
        assert store.user_names(everyone) == {"bob": "小明 138-1234-5678"}
        # As Searchlight wrote version 2: names on the events, none on users.
        store._runner.write("MATCH (u:User) REMOVE u.name", {})
        store._runner.write(cypher.SCHEMA_VERSION_WRITE, {"version": 2})
        assert store.user_names(everyone) == {}
        store.migrate()
        assert store.user_names(everyone) == {"bob": "小明 138-1234-5678"}
        assert store._runner.read(cypher.SCHEMA_VERSION_READ, {})[0]["version"] == 3
