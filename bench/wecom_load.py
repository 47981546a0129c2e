"""Benchmark: WeCom callbacks under load — encrypted, signed pushes POSTed
to `koc serve` at a fixed rate on loopback; requests per second, p50/p99/max
latency, and whether every acknowledged push reached the graph.

    python bench/wecom_load.py                       # 1M users, 600 pushes/s, 20 s
    python bench/wecom_load.py --users 0 --rate 1000 --seconds 10

The store is a copy of bench/analyze.py's cached 1M store (`--users 0`: an
empty one). The server is `koc serve` (uvicorn, one worker, access log on)
with KOC_WECOM_* set and the inbox on local disk, micro-batches at the
defaults (1,000 pushes or 1 s). The pushes are built and sealed before the
run (WeCom's algorithm, api.wecom.crypto), so the load generator (one
asyncio process, 32 keep-alive connections, on the same 2 cores) only
sends them. The rate is open-loop: push i is due at start + i / rate, and
its latency counts from when it was due, so a stalled server is charged
for the queue it builds.

The mix: new contacts whose `state` names an earlier user as inviter (70%),
half-added contacts (10%), customers deleting the staff member (8%), group
joins of two members (5%), edits (5%), and WeCom's retries of an earlier
push, sent again unchanged (2%). After the run the server stops (draining
its inbox), and the store must hold exactly the events the acknowledged
pushes make: `lost` counts those missing; `stop_s` is how long the
server took to stop (applying what was still waiting).

Target (issue 17): at least 500 callbacks/s sustained, p99 under 100 ms, none lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from serving import latency_summary, served  # noqa: E402

from api.wecom.crypto import WeComCrypto  # noqa: E402
from api.wecom.pushes import DEFAULT_STATE_PATTERN, StateGrammar, events_of, parse_push  # noqa: E402

TOKEN = "benchToken0123456789"
AES_KEY = "pYHQdkbV4GSeq6y5pr45jz3qUyN7qwnBoituxgmc+cM"
CORP_ID = "wwbenchcorp0001"
CLIENTS = 32


def _xml(fields: dict[str, str], members: list[str] | None = None) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    if members is not None:
        body += "<MemChangeList>" + "".join(f"<Item>{m}</Item>" for m in members)
        body += "</MemChangeList>"
    return f"<xml>{body}</xml>"


def make_pushes(count: int, seed: int) -> list[str]:
    """`count` push XMLs: a growing referral tree, with churn, groups,
    edits and retries."""
    rng = random.Random(seed)
    now = int(time.time())
    users: list[str] = ["wmbench-root"]
    pushes: list[str] = []
    for i in range(count):
        base = {
            "ToUserName": CORP_ID,
            "FromUserName": "sys",
            "CreateTime": str(now + i // 1000),
            "MsgType": "event",
        }
        roll = rng.random()
        staff = f"staff{rng.randrange(20)}"
        if roll < 0.02 and pushes:
            pushes.append(pushes[rng.randrange(len(pushes))])  # WeCom's retry
            continue
        if roll < 0.82:
            user = f"wmbench-{i}"
            change = "add_external_contact" if roll < 0.72 else "add_half_external_contact"
            state = f"bench_{users[rng.randrange(len(users))]}"
            users.append(user)
            pushes.append(
                _xml(
                    {**base, "Event": "change_external_contact", "ChangeType": change,
                     "UserID": staff, "ExternalUserID": user, "State": state}
                )
            )  # fmt: skip
        elif roll < 0.90:
            pushes.append(
                _xml(
                    {**base, "Event": "change_external_contact", "ChangeType": "del_follow_user",
                     "UserID": staff, "ExternalUserID": users[rng.randrange(len(users))]}
                )
            )  # fmt: skip
        elif roll < 0.95:
            members = [f"wmbench-{i}-g1", f"wmbench-{i}-g2"]
            pushes.append(
                _xml(
                    {**base, "Event": "change_external_chat", "ChatId": f"wrbench{i % 7}",
                     "ChangeType": "update", "UpdateDetail": "add_member", "JoinScene": "3"},
                    members,
                )
            )  # fmt: skip
        else:
            pushes.append(
                _xml(
                    {**base, "Event": "change_external_contact",
                     "ChangeType": "edit_external_contact", "UserID": staff,
                     "ExternalUserID": users[rng.randrange(len(users))]}
                )
            )  # fmt: skip
    return pushes


def seal(crypto: WeComCrypto, xmls: list[str]) -> list[bytes]:
    """Each push as the HTTP request WeCom sends."""
    requests = []
    for n, xml in enumerate(xmls):
        ts, nonce = str(int(time.time())), str(100_000 + n)
        encrypted = crypto.encrypt(xml)
        body = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID>1000002</AgentID></xml>"
        ).encode()
        query = f"msg_signature={crypto.sign(ts, nonce, encrypted)}&timestamp={ts}&nonce={nonce}"
        requests.append(
            f"POST /v1/wecom/callback?{query} HTTP/1.1\r\nHost: bench\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return requests


async def _exchange(reader, writer, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def load(port: int, requests: list[bytes], rate: float) -> tuple[dict, list[int]]:
    """Send request i at start + i / rate on connection i % CLIENTS; the
    statuses, and latencies counted from when each was due."""
    latencies: list[float] = [0.0] * len(requests)
    statuses: list[int] = [0] * len(requests)
    start = time.perf_counter() + 0.5

    async def client(first: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(first, len(requests), CLIENTS):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                statuses[i] = await _exchange(reader, writer, requests[i])
                latencies[i] = time.perf_counter() - due
        finally:
            writer.close()

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return latency_summary(latencies, time.perf_counter() - start), statuses


def expected_events(xmls: list[str], statuses: list[int]) -> set[str]:
    """The event ids the acknowledged pushes make."""
    grammar = StateGrammar.of(DEFAULT_STATE_PATTERN)
    ids = set()
    for xml, status in zip(xmls, statuses, strict=True):
        if status == 200:
            ids.update(e["event_id"] for e in events_of(parse_push(xml), grammar))
    return ids


def stored_ids(store: Path) -> set[str]:
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute("SELECT event_id FROM events WHERE event_id LIKE 'wecom-%'").fetchall()
    return {r[0] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m", help="the store: 0 (empty), 100k or 1m")
    parser.add_argument("--rate", type=float, default=600.0, help="pushes per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    xmls = make_pushes(count, seed=17)
    requests = seal(WeComCrypto(TOKEN, AES_KEY, CORP_ID), xmls)
    with tempfile.TemporaryDirectory(prefix="wecom-bench-", dir=args.workdir) as work:
        store = Path(work) / "store.duckdb"
        if args.users != "0":
            from analyze import prepare

            shutil.copy(prepare(args.workdir, args.users), store)
        env = {
            "KOC_WECOM_CORP_ID": CORP_ID,
            "KOC_WECOM_TOKEN": TOKEN,
            "KOC_WECOM_AES_KEY": AES_KEY,
            "KOC_WECOM_INBOX_DIR": str(Path(work) / "inbox"),
            "KOC_QUARANTINE_DIR": str(Path(work) / "quarantine"),
            "KOC_WARM_UP": "false",  # measure the callbacks, not the snapshot loading beside them
        }
        with served(store, env) as server:
            import uvloop

            uvloop.install()
            row, statuses = asyncio.run(load(server.port, requests, args.rate))
            stopping = time.perf_counter()
        stop_s = time.perf_counter() - stopping  # the server drains its inbox, then exits
        lost = expected_events(xmls, statuses) - stored_ids(store)
        inbox_lines = (Path(work) / "inbox" / "inbox.jsonl").read_bytes().count(b"\n")
    print(
        json.dumps(
            {
                "users": args.users,
                "target_rate": args.rate,
                "seconds": args.seconds,
                "clients": CLIENTS,
                **row,
                "acknowledged": statuses.count(200),
                "refused": len(statuses) - statuses.count(200),
                "inbox_records": inbox_lines,
                "lost": len(lost),
                "stop_s": round(stop_s, 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
