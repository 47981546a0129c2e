"""`koc serve` against clients that hold connections: request heads that
never finish, heads without end, and bodies cut off half-way (raw sockets
against a real server)."""

from __future__ import annotations

import socket
import time

from tests.api.conftest import koc_serve


def env(tmp_path, **settings: str) -> dict[str, str]:
    return {
        "KOC_STORE_URL": str(tmp_path / "s.duckdb"),
        "KOC_QUARANTINE_DIR": str(tmp_path / "q"),
        "KOC_API_KEYS": "",
        **settings,
    }


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(server.base.rsplit(":", 1)[1])))
    sock.settimeout(10)  # a bound on a hang, not a speed target
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return head + body


def test_request_heads_that_do_not_finish_are_closed(tmp_path):
    settings = env(tmp_path, KOC_HEADER_TIMEOUT_SECONDS="1", KOC_KEEP_ALIVE_SECONDS="30")
    with koc_serve(settings) as server:
        slow = connect(server)
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        answer = read_all(slow)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"within 1 s" in answer

        idle = connect(server)  # says nothing at all
        assert read_all(idle) == b""

        endless = connect(server)
        endless.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100_000)
        assert read_all(endless).startswith(b"HTTP/1.1 431 ")

        kept = connect(server)  # a kept-alive connection's next head has the same deadline
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(kept).startswith(b"HTTP/1.1 200 ")
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert read_all(kept).startswith(b"HTTP/1.1 408 ")

        fine = connect(server)  # a slow but complete head is answered
        for part in (b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            fine.sendall(part)
            time.sleep(0.2)
        assert read_response(fine).startswith(b"HTTP/1.1 200 ")
    assert server.output.count("request headers not complete within 1 s") == 2, server.output
    assert "request headers over 65,536 bytes" in server.output


def test_a_client_leaving_mid_body_is_one_line_not_a_traceback(tmp_path):
    with koc_serve(env(tmp_path)) as server:
        for path, kind in (
            ("/v1/events/upload", "multipart/form-data; boundary=b"),
            ("/v1/events", "application/json"),
        ):
            sock = connect(server)
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                "Content-Length: 1000000\r\n\r\n".encode()
                + b'--b\r\nContent-Disposition: form-data; name="file"; filename="e.csv"\r\n\r\n'
                + b"event_id,type,inviter_id,invitee_id,occurred_at\n" * 100
            )
            time.sleep(0.5)  # the server has read what came
            sock.close()
        time.sleep(0.5)
        sock = connect(server)  # and the server goes on
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
    output = server.output
    assert "Traceback" not in output, output
    for path in ("/v1/events/upload", "/v1/events"):
        lines = [line for line in output.splitlines() if f"during POST {path} after" in line]
        assert len(lines) == 1 and "of 1,000,000 body bytes" in lines[0], output
