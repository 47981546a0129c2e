"""Reward farms injected into a real network, for measuring the fraud rules
on structure nobody here generated (bench/quality.py, docs/quality.md).

A farm is a farmer account that joins through a real user, then has its
fake accounts credited to it. What a farm looks like is drawn at random,
independently of the rules' thresholds (`draw_farms`):

- `shape`: `star` (every account credited to the farmer), `ring` (a star
  whose accounts then invite each other round a loop back to the farmer, to
  collect both sides of a reward) or `chain` (each account credits the next);
- `accounts`: 5 to 200 fake accounts (log-uniform);
- `pace_minutes`: the accounts' joins spread evenly at random over 1 minute
  to 7 days (log-uniform);
- `devices`: 1 to 50 phones the accounts join on (log-uniform); the farmer
  joins on the first;
- `churn`: the share of accounts that churn 1 to 3 days after joining
  (uniform 0 to 0.9).

`default_part` says which default rules a farm's parameters are built for
(the *default part* of a sweep, where the rules must hold):

- `fast`: a star or ring of at least `burst_joins` accounts joining at a
  mean pace of at least `burst_joins` per `burst_minutes`;
- `crowded`: at least `device_users` accounts per device on average;
- `churned`: a star or ring of at least `min_invitees` accounts, churn at
  least `churn_share`;
- `loop`: every ring (its loop is an island of idle accounts);
- `long`: a chain of at least `chain_length` accounts.

A farm with none of these (slow, spread over many phones, keeping its
accounts) is outside it: there the rules are not expected to hold.

Fake accounts never buy and never invite anyone outside the farm; that is
what makes them fake. Real users keep their events untouched (and have no
device ids, as in the source files). Same events, specs and seed, same table.

    >>> specs = draw_farms(2, seed=1)
    >>> [s.shape for s in specs], all(5 <= s.accounts <= 200 for s in specs)
    (['ring', 'ring'], True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loaders.generator import LOCAL_OFFSET_S, GroundTruth

Shape = Literal["star", "ring", "chain"]
SHAPES: tuple[Shape, ...] = ("star", "ring", "chain")
ACCOUNTS = (5, 200)
PACE_MINUTES = (1.0, 7 * 1440.0)
DEVICES = (1, 50)
CHURN = (0.0, 0.9)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class FarmSpec:
    shape: Shape
    accounts: int
    pace_minutes: float
    devices: int
    churn: float


def draw_farms(count: int, seed: int) -> list[FarmSpec]:
    """`count` farms with every parameter drawn independently (module docstring)."""
    rng = np.random.default_rng(seed)

    def log_uniform(lo: float, hi: float, size: int) -> np.ndarray:
        return np.exp(rng.uniform(np.log(lo), np.log(hi), size))

    shapes = rng.integers(0, len(SHAPES), count)
    accounts = np.rint(log_uniform(*ACCOUNTS, count)).astype(int)
    pace = log_uniform(*PACE_MINUTES, count)
    devices = np.rint(log_uniform(*DEVICES, count)).astype(int)
    churn = rng.uniform(*CHURN, count)
    return [
        FarmSpec(SHAPES[s], int(a), round(float(p), 2), int(d), round(float(c), 3))
        for s, a, p, d, c in zip(shapes, accounts, pace, devices, churn, strict=True)
    ]


class Thresholds(Protocol):
    """The fraud rules' thresholds a farm is judged against: pass
    `graph.analysis.fraud.FraudRules()` (loaders do not import graph)."""

    burst_joins: int
    burst_minutes: float
    device_users: int
    min_invitees: int
    churn_share: float
    chain_length: int


def default_part(spec: FarmSpec, r: Thresholds) -> list[str]:
    """The rules, at thresholds `r`, built for a farm with these parameters
    (module docstring).

    >>> from types import SimpleNamespace
    >>> r = SimpleNamespace(burst_joins=10, burst_minutes=10.0, device_users=3,
    ...                     min_invitees=8, churn_share=0.5, chain_length=8)
    >>> default_part(FarmSpec("star", 60, 30.0, 50, 0.1), r)
    ['fast']
    """
    spread = spec.shape != "chain"
    part = []
    rate = spec.accounts / spec.pace_minutes * r.burst_minutes
    if spread and spec.accounts >= r.burst_joins and rate >= r.burst_joins:
        part.append("fast")
    if spec.accounts / spec.devices >= r.device_users:
        part.append("crowded")
    if spread and spec.accounts >= r.min_invitees and spec.churn >= r.churn_share:
        part.append("churned")
    if spec.shape == "ring":
        part.append("loop")
    if spec.shape == "chain" and spec.accounts >= r.chain_length:
        part.append("long")
    return part


def inject_farms(
    events: pa.Table, specs: list[FarmSpec], seed: int
) -> tuple[pa.Table, GroundTruth]:
    """`events` (a converted network, `loaders.edges`) with the farms of
    `specs` added, and the truth: each farm's accounts and parameters."""
    rng = np.random.default_rng(seed)
    joins = events.filter(pc.equal(events["type"], "join"))
    user_ids = joins["invitee_id"].combine_chunks()
    joined_at = _seconds(joins["occurred_at"])
    campaign = events["campaign"][0].as_py() if events.num_rows else "real-network"
    rows: dict[str, list] = {k: [] for k in ("type", "inviter", "invitee", "at", "device")}
    truth = GroundTruth(seed=seed, users=len(user_ids))
    for f, spec in enumerate(specs):
        host = int(rng.integers(0, len(user_ids)))
        farmer, accounts = f"farm{f}:farmer", [f"farm{f}:{i}" for i in range(spec.accounts)]
        _farm_events(rows, spec, rng, farmer, accounts, user_ids[host].as_py(), joined_at[host], f)
        truth.farms.append(
            {"kind": spec.shape, "farmer": farmer, "accounts": accounts, "spec": asdict(spec)}
        )
    at = np.asarray(rows["at"], np.int64)
    local = pa.array((at + LOCAL_OFFSET_S).astype("datetime64[s]"), pa.timestamp("s"))
    none = pa.nulls(len(at), pa.string())
    farm = pa.table(
        {
            "type": pa.array(rows["type"], pa.string()),
            "inviter_id": pa.array(rows["inviter"], pa.string()),
            "invitee_id": pa.array(rows["invitee"], pa.string()),
            "occurred_at": pc.strftime(local, format=_TIME_FORMAT),
            "campaign": pa.array([campaign] * len(at), pa.string()),
            "channel": none,
            "staff_id": none,
            "amount": none,
            "device_id": pa.array(rows["device"], pa.string()),
            "ip": none,
        }
    ).cast(events.schema)
    table = pa.concat_tables([events, farm])
    order = pc.sort_indices(table, [("occurred_at", "ascending")])  # stable
    return table.take(order), truth


def _farm_events(
    rows: dict[str, list],
    spec: FarmSpec,
    rng: np.random.Generator,
    farmer: str,
    accounts: list[str],
    host: str,
    host_joined_at: int,
    f: int,
) -> None:
    def add(kind: str, inviter: str | None, invitee: str, at: int, device: str | None) -> None:
        for key, value in zip(rows, (kind, inviter, invitee, at, device), strict=True):
            rows[key].append(value)

    phones = [f"farm{f}-phone{d}" for d in range(spec.devices)]
    start = host_joined_at + int(rng.integers(3600, 10 * 86400))
    add("join", host, farmer, start, phones[0])
    k = len(accounts)
    at = start + 3600 + np.sort(rng.integers(0, int(spec.pace_minutes * 60) + 1, k))
    on = rng.integers(0, spec.devices, k)
    inviters = [farmer, *accounts[:-1]] if spec.shape == "chain" else [farmer] * k
    for account, inviter, t, d in zip(accounts, inviters, at.tolist(), on.tolist(), strict=True):
        add("join", inviter, account, t, phones[d])
    if spec.shape == "ring":
        loop = [*accounts[1:], farmer]
        closed = at.max() + rng.integers(60, 3600, k)
        for account, nxt, t in zip(accounts, loop, closed.tolist(), strict=True):
            add("invite", account, nxt, t, None)
    leave = np.flatnonzero(rng.random(k) < spec.churn)
    for i, t in zip(
        leave.tolist(), rng.integers(86400, 3 * 86400, len(leave)).tolist(), strict=True
    ):
        add("churn", None, accounts[i], int(at[i]) + t, None)


def _seconds(local_text: pa.ChunkedArray) -> np.ndarray:
    """Unix seconds of the converter's local (Asia/Shanghai) time strings."""
    parsed = pc.strptime(local_text, format=_TIME_FORMAT, unit="s")
    return pc.cast(parsed, pa.int64()).to_numpy() - LOCAL_OFFSET_S
