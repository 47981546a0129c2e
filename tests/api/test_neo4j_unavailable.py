"""The API on a Neo4j store that goes away or starts refusing us: 503 with
Retry-After, never a 400 or a 500. The server is real; between it and the
API sits a TCP relay that the test can cut."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiKey, Settings
from graph.ingest import ingest_file
from graph.neo4j_runner import DriverRunner, parse_url
from graph.neo4j_store import Neo4jStore
from loaders.quarantine import Quarantine
from tests.api.conftest import ADMIN, ADMIN_KEY
from tests.conftest import NEO4J_PASSWORD, NEO4J_URL, fresh_neo4j_store, needs_neo4j, write_csv

pytestmark = needs_neo4j


class Relay:
    """Forwards loopback connections to the Neo4j server until told not to."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, server]
            for one, other in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(one, other), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def drop_connections(self) -> None:
        with self.lock:
            for sock in self.open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.open.clear()

    def cut(self) -> None:
        # shutdown, not only close: close leaves a thread blocked in accept()
        # holding the socket, and it would go on accepting.
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.drop_connections()


@contextmanager
def api_through_relay(user: str, password: str) -> Iterator[tuple[TestClient, Relay]]:
    target = urlsplit(NEO4J_URL)
    relay = Relay(target.hostname, target.port)
    url = f"bolt://{user}@127.0.0.1:{relay.port}{target.path}"
    store = Neo4jStore(url, password=password, retry_seconds=1)
    settings = Settings(
        store_url=url,
        api_keys=[ApiKey(role="admin", key=ADMIN_KEY)],
        warm_up=False,
        neo4j_retry_seconds=1,
    )
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as client:
        yield client, relay
    relay.cut()


@pytest.fixture
def loaded(tmp_path):
    path = write_csv(tmp_path / "e.csv", [["", "join", "ann", "bo", "2024-05-01 12:00:00", "", ""]])
    with fresh_neo4j_store() as store:
        ingest_file(store, path, quarantine=Quarantine(tmp_path / "q.csv"))


def test_an_unreachable_neo4j_answers_503(loaded):
    with api_through_relay("neo4j", NEO4J_PASSWORD) as (client, relay):
        assert client.get("/v1/referrers/top", headers=ADMIN).json()["total"] == 1
        relay.cut()
        answer = client.get("/v1/referrers/top?limit=3", headers=ADMIN)
        assert answer.status_code == 503, answer.text
        assert "unreachable" in answer.json()["detail"]
        assert NEO4J_PASSWORD not in answer.text
        assert int(answer.headers["Retry-After"]) > 0


def test_credentials_refused_while_serving_answer_503(loaded):
    """The store's password is changed under a running API: the next new
    connection is refused, and the API says so with a 503."""
    target = urlsplit(NEO4J_URL)
    system = DriverRunner(
        parse_url(f"bolt://neo4j@{target.hostname}:{target.port}/system", NEO4J_PASSWORD)
    )
    try:
        system.write(
            "CREATE OR REPLACE USER koc_ops SET PASSWORD $password CHANGE NOT REQUIRED",
            {"password": "first-password-123"},
        )
        with api_through_relay("koc_ops", "first-password-123") as (client, relay):
            assert client.get("/v1/referrers/top", headers=ADMIN).status_code == 200
            system.write(
                "ALTER USER koc_ops SET PASSWORD $password CHANGE NOT REQUIRED",
                {"password": "second-password-456"},
            )
            relay.drop_connections()
            answer = client.get("/v1/referrers/top?limit=3", headers=ADMIN)
            assert answer.status_code == 503, answer.text
            assert "refused the credentials of user 'koc_ops'" in answer.json()["detail"]
            assert "first-password-123" not in answer.text
    finally:
        system.write("DROP USER koc_ops IF EXISTS", {})
        system.close()
