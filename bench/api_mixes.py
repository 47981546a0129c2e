"""The request mixes of bench/api_load.py — what each asks — and the sample
of the served store (users, campaigns, the days its referrals span) that the
random mixes draw from, read before the server starts."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

RANKINGS = ("invites", "effective_invites", "conversions", "reach", "gmv", "koc_score")
LIVE_COUNTS = ("invites", "effective_invites", "conversions")
KOC_SIZES = (10, 20, 50, 100, 200)
KOC_STRATEGIES = ("score", "coverage")
PAGE = 20
SAMPLE_USERS = 5_000

REPEATED_RANKINGS = (
    "/v1/referrers/top?by=invites&limit=20",
    "/v1/referrers/top?by=effective_invites&limit=20",
    "/v1/referrers/top?by=invites&limit=20&offset=20",
    "/v1/referrers/top?by=reach&limit=20",
    "/v1/referrers/top?by=koc_score&limit=50",
)
REPEATED_KOCS = (
    "/v1/kocs?k=50",
    "/v1/kocs?k=50&limit=10",
    "/v1/kocs?k=20&strategy=score",
    "/v1/kocs?k=50&quota=community",
)

Picker = Callable[[random.Random], str]


@dataclass(frozen=True)
class StoreSample:
    """What the random mixes choose from: user ids, campaigns, and the days
    (in KOC_TIMEZONE) from the first to the last referral."""

    users: list[str]
    campaigns: list[str]
    first_day: date
    last_day: date


@dataclass(frozen=True)
class Mix:
    """A request mix: `pick` chooses each request's path with the client's
    Random; `warm` are asked once before the load (the repeated mixes)."""

    name: str
    pick: Picker
    warm: tuple[str, ...] = ()


def _query(path: str, params: dict) -> str:
    return f"{path}?{urlencode(params, doseq=True, quote_via=quote)}"


def _paging(rng: random.Random) -> str:
    """A random page among the first 200 of a random ranking."""
    return _query(
        "/v1/referrers/top",
        {"by": rng.choice(RANKINGS), "limit": PAGE, "offset": PAGE * rng.randrange(200)},
    )


def _days(rng: random.Random, sample: StoreSample) -> dict[str, str]:
    """since/until: whole days inside the data's span, naive (KOC_TIMEZONE)."""
    span = (sample.last_day - sample.first_day).days + 1
    start = rng.randrange(span)
    end = rng.randint(start + 1, span)
    return {
        "since": (sample.first_day + timedelta(days=start)).isoformat(),
        "until": (sample.first_day + timedelta(days=end)).isoformat(),
    }


def _windows(sample: StoreSample) -> Picker:
    """A random page (of the first 10) of a live-count ranking, filtered by a
    random campaign (1/3), a random window (1/3) or both (1/3)."""
    if not sample.campaigns:
        raise SystemExit("the store has no campaigns: the windows mix needs some")

    def pick(rng: random.Random) -> str:
        params: dict = {
            "by": rng.choice(LIVE_COUNTS),
            "limit": PAGE,
            "offset": PAGE * rng.randrange(10),
        }
        kind = rng.randrange(3)  # 0: campaign only, 1: window only, 2: both
        if kind != 1:
            params["campaign"] = rng.choice(sample.campaigns)
        if kind != 0:
            params.update(_days(rng, sample))
        return _query("/v1/referrers/top", params)

    return pick


def _users(sample: StoreSample) -> Picker:
    """A random sampled user: half its page, half its network (defaults)."""
    if not sample.users:
        raise SystemExit("the store has no users: the users mix needs some")

    def pick(rng: random.Random) -> str:
        path = f"/v1/users/{quote(rng.choice(sample.users), safe='')}"
        return path if rng.random() < 0.5 else f"{path}/network"

    return pick


def _kocs(rng: random.Random) -> str:
    """A random page (limit 10..50) of a KOC list of random k and strategy."""
    k = rng.choice(KOC_SIZES)
    limit = rng.randint(10, 50)
    offset = limit * rng.randrange(-(-k // limit))
    return _query(
        "/v1/kocs",
        {"k": k, "strategy": rng.choice(KOC_STRATEGIES), "limit": limit, "offset": offset},
    )


def _repeated(paths: tuple[str, ...]) -> Picker:
    return lambda rng: rng.choice(paths)


MIX_NAMES = ("repeated-rankings", "repeated-kocs", "paging", "windows", "users", "kocs")


def mix(name: str, sample: StoreSample) -> Mix:
    """The mix called `name` (one of MIX_NAMES)."""
    if name == "repeated-rankings":
        return Mix(name, _repeated(REPEATED_RANKINGS), REPEATED_RANKINGS)
    if name == "repeated-kocs":
        return Mix(name, _repeated(REPEATED_KOCS), REPEATED_KOCS)
    if name == "paging":
        return Mix(name, _paging)
    if name == "windows":
        return Mix(name, _windows(sample))
    if name == "users":
        return Mix(name, _users(sample))
    if name == "kocs":
        return Mix(name, _kocs)
    raise SystemExit(f"unknown mix {name!r}; choose among {', '.join(MIX_NAMES)}")


# -- the sample, read from the store before it is served ---------------------------


def _sample(users: list, campaigns: list, first, last, zone: ZoneInfo) -> StoreSample:
    if first is None:
        raise SystemExit("the store has no referrals to sample")
    return StoreSample(
        users=[str(u) for u in users],
        campaigns=sorted(str(c) for c in campaigns),
        first_day=first.astimezone(zone).date(),
        last_day=last.astimezone(zone).date(),
    )


def sample_embedded(store: Path, seed: int, zone: ZoneInfo) -> StoreSample:
    """A seeded sample of an embedded store's users (one thread, so the
    sample repeats), its campaigns and the span of its referrals."""
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        con.execute("SET threads = 1")
        users = con.execute(
            f"SELECT id FROM users USING SAMPLE reservoir({SAMPLE_USERS} ROWS) "
            f"REPEATABLE ({int(seed)})"
        ).fetchall()
        campaigns = con.execute(
            "SELECT DISTINCT campaign FROM referred WHERE campaign IS NOT NULL"
        ).fetchall()
        first, last = con.execute('SELECT min("at"), max("at") FROM referred').fetchone()
    return _sample([u for (u,) in users], [c for (c,) in campaigns], first, last, zone)


_NEO4J_USERS = "MATCH (u:User) WHERE rand() < $p RETURN u.id AS id LIMIT $n"
_NEO4J_CAMPAIGNS = """MATCH ()-[r:REFERRED]->() WHERE r.campaign IS NOT NULL
RETURN DISTINCT r.campaign AS campaign"""
_NEO4J_SPAN = """MATCH ()-[r:REFERRED]->()
WITH min(r.at) AS first, max(r.at) AS last
RETURN first.epochSeconds AS first, last.epochSeconds AS last"""


def sample_neo4j(url: str, password: str | None, zone: ZoneInfo) -> StoreSample:
    """About SAMPLE_USERS users drawn by Neo4j's rand() (not seeded), the
    campaigns of REFERRED edges and the span of their `at` (graph.cypher's
    model), read with the official driver."""
    import neo4j

    from graph.neo4j_runner import parse_url

    where = parse_url(url, password)
    auth = (where.user, where.password or "")
    with (
        neo4j.GraphDatabase.driver(where.address, auth=auth) as driver,
        driver.session(database=where.database, default_access_mode=neo4j.READ_ACCESS) as s,
    ):
        count = s.run("MATCH (u:User) RETURN count(u) AS n").single()["n"]
        p = min(1.0, 1.1 * SAMPLE_USERS / max(count, 1))
        users = [r["id"] for r in s.run(_NEO4J_USERS, {"p": p, "n": SAMPLE_USERS})]
        campaigns = [r["campaign"] for r in s.run(_NEO4J_CAMPAIGNS)]
        span = s.run(_NEO4J_SPAN).single()
    first, last = (
        None if span[x] is None else datetime.fromtimestamp(span[x], UTC) for x in ("first", "last")
    )
    return _sample(users, campaigns, first, last, zone)
