"""An embedded store written before users kept names (schema version 2)
gets them from its log when it is next opened for writing."""

from __future__ import annotations

import duckdb
import pytest

from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from graph.store import StoreError
from loaders.quarantine import Quarantine
from tests.conftest import write_named_events


def test_a_version_2_store_is_migrated_and_its_users_named(tmp_path):
    path = write_named_events(tmp_path / "e.csv")
    db = tmp_path / "old.duckdb"
    with EmbeddedStore(db) as store:
        ingest_file(store, path, quarantine=Quarantine(tmp_path / "q.csv"), timezone="UTC")
    with duckdb.connect(str(db)) as con:  # as Searchlight wrote version 2
        con.execute("ALTER TABLE users DROP COLUMN name")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match=r"schema version 2; .*koc migrate"):
        EmbeddedStore(db, read_only=True)
    with EmbeddedStore(db) as store:
        assert store.connection.sql("SELECT value FROM meta").fetchall() == [("3",)]
        assert store.user_names(["alice", "bob", "carol", "dan"]) == {"bob": "小明 138-1234-5678"}
        assert store.user("bob").name == "小明 138-1234-5678"
