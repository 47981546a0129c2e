"""Synthetic fission campaigns: referral events with planted truth.

Two shapes (`shape=`, `koc generate --shape`):

- ``realistic`` (the default) is what real private-domain campaigns show:
  campaign waves with start and end dates and a decay after each, weekday
  and hour rhythm, sharers who burst after joining and fade (a per-user
  half-life), social influence down the tree from planted KOCs, users who
  come back in a later wave (churned ones with a new join), and WeCom
  nicknames on joins (`invitee_name`). See `loaders.generator_waves` and
  `loaders.nicknames`;
- ``steady`` is the first model, kept byte for byte so recorded benchmarks
  reproduce: joins uniform over the days, a share fitness constant for
  ever (last month's invites are the best forecast by construction), no
  names.

What both shapes share, per DOMAIN.md:

- a few percent of joins are seeds (imported by staff) or re-added contacts
  whose `state` was lost, so their join has no inviter;
- who invites is heavy-tailed: most users never share, a few bring dozens.
  Each user has a lognormal "share fitness" and a joining user picks an
  earlier user as inviter with probability proportional to it (to its
  current activity in the realistic shape), which grows multi-tier trees;
- planted KOCs get a much larger fitness and their invitees convert more;
- some invites never lead to a join, some users are invited first and join
  later, some join a second inviter's code too (an INVITED tie);
- about 3-8% convert, with amounts by campaign; some churn;
- planted reward farms (羊毛党): a farmer whose fake accounts join in a burst
  of minutes from a handful of shared devices and IPs, never buy and mostly
  churn within days; some farms also invite each other in a ring, or form a
  deep thin chain. In the realistic shape a farm strikes during a wave.

The ground truth (planted KOC ids, farm accounts, the shape, the waves)
goes to a sidecar JSON file, never into the events. The same seed and shape
give byte-identical output.

Example::

    >>> events, truth = generate_campaign(users=500, seed=1)
    >>> sorted(set(events.column("type").to_pylist()))
    ['churn', 'convert', 'invite', 'join']
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from loaders.generator_events import (
    CAMPAIGNS,
    CHANNEL_WEIGHTS,
    CHANNELS,
    CHURN,
    HOUR_WEIGHTS,
    INVITE,
    JOIN,
    LABELS,
    LOCAL_OFFSET_S,
    SPAN_DAYS,
    START,
    Events,
    add_conversions,
    add_pre_invites,
    add_second_ties,
    contacts,
    events_table,
    id_strings,
)
from loaders.generator_waves import realistic_population
from loaders.nicknames import nicknames

FORMATS = ("csv", "parquet", "jsonl")
SHAPES = ("realistic", "steady")
RENAMED_ON_REJOIN = 0.2  # a user who joins again sometimes has a new nickname


@dataclass
class GroundTruth:
    seed: int
    users: int
    planted_kocs: list[str] = field(default_factory=list)
    farms: list[dict] = field(default_factory=list)
    shape: str | None = None
    waves: list[dict] = field(default_factory=list)

    @property
    def farm_accounts(self) -> list[str]:
        return [a for farm in self.farms for a in [farm["farmer"], *farm["accounts"]]]

    def to_json(self) -> dict:
        out = {
            "seed": self.seed,
            "users": self.users,
            "planted_kocs": self.planted_kocs,
            "farm_accounts": self.farm_accounts,
            "farms": self.farms,
        }
        if self.shape:
            out["shape"] = self.shape
        if self.waves:
            out["waves"] = self.waves
        return out


# A farm's place: (rng) -> its farmer's code, its start (UTC epoch s), its campaign.
Place = Callable[[np.random.Generator], tuple[int, int, np.int8]]


@dataclass
class _Plan:
    """What the farms and the output need from a shape's users."""

    n_seed: int
    koc_idx: np.ndarray
    next_code: int  # codes in use: users, prospects (and renamed nicknames)
    place: Place
    waves: list[dict] = field(default_factory=list)


def generate_campaign(
    users: int,
    seed: int = 0,
    *,
    shape: str = "realistic",
    farm_minutes: float = 10.0,
    farm_devices: int = 3,
    farm_churn: float = 0.7,
) -> tuple[pa.Table, GroundTruth]:
    """Events of a synthetic campaign with about `users` joined users, in
    the given `shape` ("realistic" or "steady", see the module docstring).

    The farm options make the planted farms harder to see (for measuring the
    fraud rules, never for fitting them): the minutes a burst of fake joins is
    spread over, the devices each farm's accounts share, and the share of its
    accounts that churn."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if users < 50:
        raise ValueError("--users must be at least 50")
    if farm_minutes <= 0 or farm_devices < 1 or not 0 <= farm_churn <= 1:
        raise ValueError("farm options: minutes > 0, devices >= 1, churn in [0, 1]")
    stride = max(10, farm_devices)  # device and IP codes reserved per farm
    rng = np.random.default_rng(seed)
    ev = Events()
    plan = (_steady_users if shape == "steady" else _realistic_users)(rng, users, ev)
    farms = _add_farms(rng, ev, plan, users, farm_minutes, farm_devices, farm_churn)
    next_code = plan.next_code + sum(len(accounts) for _, _, accounts in farms)
    ids = id_strings(np.arange(next_code), seed)
    names = nicknames(rng, next_code) if shape == "realistic" else None
    # The export is taken at the end of the period: later events have not
    # happened yet.
    cols = ev.concat(until=START + SPAN_DAYS * 86400)
    table = events_table(
        cols, ids, seed, next_code + stride * len(farms) + 10, names, LABELS[shape]
    )
    truth = GroundTruth(seed=seed, users=users, shape=shape, waves=plan.waves)
    truth.planted_kocs = ids.take(pa.array(plan.koc_idx)).to_pylist()
    for farmer, kind, accounts in farms:
        truth.farms.append(
            {
                "kind": kind,
                "farmer": ids[farmer].as_py(),
                "accounts": ids.take(pa.array(accounts)).to_pylist(),
            }
        )
    return table, truth


def _steady_joins(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """The steady shape's users: join times uniform over the days (evenings
    busier), a constant share fitness (planted KOCs boosted), inviters drawn
    in proportion to it, and campaigns by time."""
    days = rng.integers(0, SPAN_DAYS, n)
    hours = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    join_at = np.sort(
        START + days * 86400 + hours * 3600 + rng.integers(0, 3600, n) - LOCAL_OFFSET_S
    )
    # Share fitness: 60% never share; the rest lognormal; planted KOCs boosted.
    fitness = rng.lognormal(0.0, 1.2, n) * (rng.random(n) < 0.4)
    n_kocs = max(3, n // 2000)
    koc_idx = np.sort(
        rng.choice(np.arange(n // 50, max(n // 50 + n_kocs, n // 8)), n_kocs, replace=False)
    )
    fitness[koc_idx] = np.maximum(fitness[koc_idx], 1.0) * 15.0
    # Inviters: each joiner picks an earlier user, chunk by chunk.
    n_seed = max(5, n // 50)
    parent = np.full(n, -1, np.int64)
    cum = np.cumsum(fitness)
    a = n_seed
    while a < n:
        # Each chunk picks among users who joined before it; growing by an
        # eighth keeps trees deep at any size (sizes from 200k up never hit the floor).
        b = min(n, a + max(25, a // 8))
        total = cum[a - 1]
        if total > 0:
            parent[a:b] = np.searchsorted(cum[:a], rng.random(b - a) * total, side="right")
        a = b
    lost_state = rng.random(n) < 0.03  # re-added contacts: join with no known inviter
    parent[lost_state] = -1
    # Campaign by time, with an always-on referral programme beside them.
    frac = (join_at - join_at.min()) / max(1, np.ptp(join_at))
    campaign = np.minimum((frac * (len(CAMPAIGNS) - 1)).astype(np.int8), len(CAMPAIGNS) - 2)
    campaign[rng.random(n) < 0.2] = len(CAMPAIGNS) - 1
    return join_at, fitness, koc_idx, n_seed, parent, campaign


def _steady_users(rng: np.random.Generator, n: int, ev: Events) -> _Plan:
    """The steady shape's user events (joins, invites, ties, orders, churn)."""
    join_at, fitness, koc_idx, n_seed, parent, campaign = _steady_joins(rng, n)
    channel, staff, device, ip = contacts(rng, n)
    ev.add(
        type=JOIN,
        inviter=parent,
        invitee=np.arange(n),
        at=join_at,
        campaign=campaign,
        channel=channel,
        staff=staff,
        device=device,
        ip=ip,
    )
    add_pre_invites(rng, ev, parent, join_at, campaign, channel)
    # Invites that never lead to a join: prospects outside the user base.
    n_prospects = n // 4
    who = rng.choice(n, n_prospects, p=fitness / fitness.sum())
    ev.add(
        type=INVITE,
        inviter=who,
        invitee=n + np.arange(n_prospects),
        at=join_at[who] + rng.integers(3600, 30 * 86400, n_prospects),
        campaign=campaign[who],
        channel=rng.choice(len(CHANNELS), n_prospects, p=CHANNEL_WEIGHTS).astype(np.int8),
    )
    add_second_ties(rng, ev, n_seed, parent, join_at, campaign, channel, device, ip)
    koc_mask = np.zeros(n, bool)
    koc_mask[koc_idx] = True
    p_buy = np.where((parent >= 0) & koc_mask[np.maximum(parent, 0)], 0.15, 0.04)
    add_conversions(rng, ev, p_buy, join_at, campaign)
    leavers = np.flatnonzero(rng.random(n) < 0.10)
    churn_at = join_at[leavers] + rng.exponential(12 * 86400, len(leavers)).astype(np.int64) + 60
    ev.add(type=CHURN, invitee=leavers, at=churn_at, campaign=campaign[leavers])

    def place(rng: np.random.Generator) -> tuple[int, int, np.int8]:
        farmer = int(rng.integers(n_seed, n))
        t0 = int(join_at[farmer]) + int(rng.integers(3600, 10 * 86400))
        return farmer, t0, np.int8(rng.integers(0, len(CAMPAIGNS) - 1))

    return _Plan(n_seed, koc_idx, n + n_prospects, place)


def _realistic_users(rng: np.random.Generator, n: int, ev: Events) -> _Plan:
    """The realistic shape's user events, from `realistic_population`."""
    pop = realistic_population(rng, n)
    join_at, parent, campaign = pop.join_at, pop.parent, pop.campaign
    codes = np.arange(n)
    channel, staff, device, ip = contacts(rng, n)
    ev.add(
        type=JOIN,
        inviter=parent,
        invitee=codes,
        at=join_at,
        campaign=campaign,
        channel=channel,
        staff=staff,
        device=device,
        ip=ip,
        name=codes,
    )
    add_pre_invites(rng, ev, parent, join_at, campaign, channel)
    k, who, at, wave = pop.prospects
    channels = rng.choice(len(CHANNELS), len(k), p=CHANNEL_WEIGHTS).astype(np.int8)
    ev.add(type=INVITE, inviter=who, invitee=n + k, at=at, campaign=wave, channel=channels)
    add_second_ties(rng, ev, pop.n_seed, parent, join_at, campaign, channel, device, ip)
    # Churned users who come back join again: a re-added contact (no known
    # inviter), same phone, maybe a new nickname (codes after the prospects).
    user, at, wave = pop.rejoins
    first_rename = n + n // 4
    renamed = rng.random(len(user)) < RENAMED_ON_REJOIN
    ev.add(
        type=JOIN,
        invitee=user,
        at=at,
        campaign=wave,
        channel=rng.choice(len(CHANNELS), len(user), p=CHANNEL_WEIGHTS).astype(np.int8),
        staff=staff[user],
        device=device[user],
        ip=rng.integers(0, max(16, n // 3), len(user)),
        name=np.where(renamed, first_rename + np.arange(len(user)), user),
    )
    # Influence: 15% for a KOC's invitees as in the steady shape, halving per tier.
    add_conversions(rng, ev, 0.04 + 0.11 * pop.influence, join_at, campaign)
    leavers, churn_at = pop.churn
    ev.add(type=CHURN, invitee=leavers, at=churn_at, campaign=campaign[leavers])
    waves = pop.waves

    def place(rng: np.random.Generator) -> tuple[int, int, np.int8]:
        # A farm strikes during a wave, through a user who joined before it.
        w = int(rng.integers(0, len(waves.start)))
        local = waves.start[w] + rng.random() * (waves.end[w] - waves.start[w])
        t0 = int(START + local - LOCAL_OFFSET_S)
        earlier = max(pop.n_seed + 1, int(np.searchsorted(join_at, t0 - 3600)))
        return int(rng.integers(pop.n_seed, earlier)), t0, np.int8(w)

    return _Plan(pop.n_seed, pop.koc_idx, first_rename + len(user), place, waves.to_json())


def _add_farms(
    rng: np.random.Generator,
    ev: Events,
    plan: _Plan,
    n: int,
    farm_minutes: float,
    farm_devices: int,
    farm_churn: float,
) -> list[tuple[int, str, np.ndarray]]:
    """Reward farms: (farmer, kind, account codes) each, accounts numbered
    from `plan.next_code`."""
    stride = max(10, farm_devices)
    next_code = plan.next_code
    farms: list[tuple[int, str, np.ndarray]] = []
    for f in range(max(1, n // 4000)):
        kind = ("burst", "ring", "chain")[f % 3]
        size = int(rng.integers(20, 61)) if kind != "chain" else int(rng.integers(12, 20))
        farmer, t0, camp = plan.place(rng)
        accounts = np.arange(next_code, next_code + size)
        next_code += size
        devices = -(1 + f * stride + rng.integers(0, farm_devices, size))  # shared devices
        ips = -(1 + f * stride + rng.integers(0, 2, size))
        if kind == "chain":
            inviters = np.concatenate([[farmer], accounts[:-1]])
            at = t0 + np.cumsum(rng.integers(60, 900, size))
        else:
            inviters = np.full(size, farmer)
            at = t0 + np.sort(rng.integers(0, int(farm_minutes * 60), size))  # one burst
        ev.add(
            type=JOIN,
            inviter=inviters,
            invitee=accounts,
            at=at,
            campaign=camp,
            channel=np.int8(0),
            device=devices,
            ip=ips,
            name=accounts,
        )
        if kind == "ring":
            ring = dict(campaign=camp, channel=np.int8(0), device=devices, ip=ips)
            ev.add(
                type=INVITE, inviter=accounts, invitee=np.roll(accounts, -1), at=at + 3600, **ring
            )
        quit_ = accounts[rng.random(size) < farm_churn]
        ev.add(
            type=CHURN,
            invitee=quit_,
            at=t0 + rng.integers(86400, 3 * 86400, len(quit_)),
            campaign=camp,
        )
        farms.append((farmer, kind, accounts))
    return farms


def write_campaign(table: pa.Table, truth: GroundTruth, out: Path, fmt: str) -> Path:
    """Write the events in `fmt` and the ground truth beside them; returns its path."""
    import duckdb
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(quoting_style="needed"))
    elif fmt == "parquet":
        pq.write_table(table, out, compression="zstd")
    elif fmt == "jsonl":
        con = duckdb.connect()  # one COPY, then closed: register() cannot pile up
        con.register("events", table)
        con.execute(f"COPY events TO '{_sql_path(out)}' (FORMAT json)")
        con.close()
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    truth_path = truth_path_for(out)
    truth_path.write_text(
        json.dumps(truth.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return truth_path


def truth_path_for(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".truth.json")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
