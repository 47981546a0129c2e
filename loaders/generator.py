"""Synthetic fission campaigns: realistic referral events with planted truth.

The model, per DOMAIN.md:

- users join over several months, through campaigns and channels; a few
  percent are seeds (imported by staff) or re-added contacts whose `state`
  was lost, so their join has no inviter;
- who invites is heavy-tailed: most users never share, a few bring dozens.
  Each user has a lognormal "share fitness" and a joining user picks an
  earlier user as inviter with probability proportional to it, which grows
  multi-tier trees;
- planted KOCs get a much larger fitness and their invitees convert more;
- some invites never lead to a join, some users are invited first and join
  later, some join a second inviter's code too (an INVITED tie);
- about 3-8% convert, with amounts by campaign; some churn;
- planted reward farms (羊毛党): a farmer whose fake accounts join in a burst
  of minutes from a handful of shared devices and IPs, never buy and mostly
  churn within days; some farms also invite each other in a ring, or form a
  deep thin chain.

The ground truth (planted KOC ids, farm accounts) goes to a sidecar JSON
file, never into the events. The same seed gives byte-identical output.

Example::

    >>> events, truth = generate_campaign(users=500, seed=1)
    >>> sorted(set(events.column("type").to_pylist()))
    ['churn', 'convert', 'invite', 'join']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CAMPAIGNS = (
    "春季邀请有礼",
    "618拼团",
    "暑期课程助力",
    "会员周年庆",
    "开学季砍价",
    "always-on-referral",
)
CAMPAIGN_PRICES = (299.0, 129.0, 1999.0, 499.0, 99.0, 199.0)
CHANNELS = ("poster", "moments", "group", "wecom_code", "mini_program", "link")
CHANNEL_WEIGHTS = (0.3, 0.2, 0.2, 0.15, 0.1, 0.05)
START = np.datetime64("2026-03-01T00:00:00", "s").astype(np.int64)
SPAN_DAYS = 150
# Asia/Shanghai has had no daylight saving since 1991: local = UTC + 8 h.
LOCAL_OFFSET_S = 8 * 3600
FORMATS = ("csv", "parquet", "jsonl")


@dataclass
class GroundTruth:
    seed: int
    users: int
    planted_kocs: list[str] = field(default_factory=list)
    farms: list[dict] = field(default_factory=list)

    @property
    def farm_accounts(self) -> list[str]:
        return [a for farm in self.farms for a in [farm["farmer"], *farm["accounts"]]]

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "users": self.users,
            "planted_kocs": self.planted_kocs,
            "farm_accounts": self.farm_accounts,
            "farms": self.farms,
        }


def _mix(x: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64: a bijection on uint64, so distinct codes give distinct ids."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _id_strings(codes: np.ndarray, seed: int, prefix: bytes = b"wm") -> pa.StringArray:
    """WeCom-external-userid-like ids ('wm' + 16 hex digits), built in columns."""
    mixed = _mix(codes, seed)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    digits = _HEX[((mixed[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]
    width = len(prefix) + 16
    chars = np.empty((len(codes), width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    chars[:, len(prefix) :] = digits
    offsets = np.arange(0, width * (len(codes) + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(codes), pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())
    )


# No device or IP on the event. (Farm devices and IPs are negative codes, so
# the absence needs a value of its own.)
_NONE = -(1 << 40)


class _Events:
    """Column lists of events, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **cols: np.ndarray) -> None:
        n = len(cols["invitee"])
        full = {
            "type": cols["type"],
            "inviter": cols.get("inviter", np.full(n, -1, np.int64)),
            "invitee": cols["invitee"],
            "at": cols["at"],
            "campaign": cols.get("campaign", np.full(n, -1, np.int8)),
            "channel": cols.get("channel", np.full(n, -1, np.int8)),
            "staff": cols.get("staff", np.full(n, -1, np.int32)),
            "amount": cols.get("amount", np.full(n, np.nan)),
            "device": cols.get("device", np.full(n, _NONE, np.int64)),
            "ip": cols.get("ip", np.full(n, _NONE, np.int64)),
        }
        self.parts.append(
            {k: np.broadcast_to(v, n) if np.ndim(v) == 0 else v for k, v in full.items()}
        )

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


_TYPES = np.array(["invite", "join", "convert", "churn"])
INVITE, JOIN, CONVERT, CHURN = 0, 1, 2, 3


def generate_campaign(
    users: int,
    seed: int = 0,
    *,
    farm_minutes: float = 10.0,
    farm_devices: int = 3,
    farm_churn: float = 0.7,
) -> tuple[pa.Table, GroundTruth]:
    """Events of a synthetic campaign with about `users` joined users.

    The farm options make the planted farms harder to see (for measuring the
    fraud rules, never for fitting them): the minutes a burst of fake joins is
    spread over, the devices each farm's accounts share, and the share of its
    accounts that churn."""
    if users < 50:
        raise ValueError("--users must be at least 50")
    if farm_minutes <= 0 or farm_devices < 1 or not 0 <= farm_churn <= 1:
        raise ValueError("farm options: minutes > 0, devices >= 1, churn in [0, 1]")
    stride = max(10, farm_devices)  # device and IP codes reserved per farm
    rng = np.random.default_rng(seed)
    span = SPAN_DAYS * 86400
    n = users
    ev = _Events()

    # Join times: uniform days, evenings busier (local 09-23 h).
    hour_w = np.array([1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 6, 6, 6, 6, 7, 8, 10, 12, 12, 9, 4.0])
    days = rng.integers(0, SPAN_DAYS, n)
    hours = rng.choice(24, n, p=hour_w / hour_w.sum())
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
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_WEIGHTS).astype(np.int8)
    staff = rng.integers(0, max(4, n // 2500), n).astype(np.int32)
    device = np.arange(n, dtype=np.int64)
    ip = rng.integers(0, max(16, n // 3), n)

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

    # Some joins are preceded by the inviter's invite, minutes to days before.
    pre = np.flatnonzero((parent >= 0) & (rng.random(n) < 0.3))
    ev.add(
        type=INVITE,
        inviter=parent[pre],
        invitee=pre,
        at=join_at[pre] - rng.integers(60, 3 * 86400, len(pre)),
        campaign=campaign[pre],
        channel=channel[pre],
    )

    # Invites that never lead to a join: prospects outside the user base.
    n_prospects = n // 4
    sharer_p = fitness / fitness.sum()
    who = rng.choice(n, n_prospects, p=sharer_p)
    ev.add(
        type=INVITE,
        inviter=who,
        invitee=n + np.arange(n_prospects),
        at=join_at[who] + rng.integers(3600, 30 * 86400, n_prospects),
        campaign=campaign[who],
        channel=rng.choice(len(CHANNELS), n_prospects, p=CHANNEL_WEIGHTS).astype(np.int8),
    )

    # A second inviter's code, later: an INVITED tie.
    again = np.flatnonzero((np.arange(n) > n_seed) & (rng.random(n) < 0.03))
    other = np.minimum((rng.random(len(again)) * again).astype(np.int64), again - 1)
    other = np.where(other == parent[again], np.maximum(other - 1, 0), other)
    ev.add(
        type=JOIN,
        inviter=other,
        invitee=again,
        at=join_at[again] + rng.integers(86400, 20 * 86400, len(again)),
        campaign=campaign[again],
        channel=channel[again],
        device=device[again],
        ip=ip[again],
    )

    # Conversions: invitees of planted KOCs buy more often.
    koc_mask = np.zeros(n, bool)
    koc_mask[koc_idx] = True
    p_buy = np.where((parent >= 0) & koc_mask[np.maximum(parent, 0)], 0.15, 0.04)
    buyers = np.flatnonzero(rng.random(n) < p_buy)
    price = np.array(CAMPAIGN_PRICES)[campaign[buyers]]
    amount = np.round(price * rng.lognormal(0.0, 0.35, len(buyers)), 2)
    ev.add(
        type=CONVERT,
        invitee=buyers,
        at=join_at[buyers] + rng.exponential(7 * 86400, len(buyers)).astype(np.int64) + 600,
        campaign=campaign[buyers],
        amount=amount,
    )

    # Churn: deleted the contact or left the group.
    leavers = np.flatnonzero(rng.random(n) < 0.10)
    ev.add(
        type=CHURN,
        invitee=leavers,
        at=join_at[leavers] + rng.exponential(12 * 86400, len(leavers)).astype(np.int64) + 60,
        campaign=campaign[leavers],
    )

    # Reward farms.
    truth = GroundTruth(seed=seed, users=n)
    next_code = n + n_prospects
    n_farms = max(1, n // 4000)
    farms: list[tuple[int, str, np.ndarray]] = []
    for f in range(n_farms):
        kind = ("burst", "ring", "chain")[f % 3]
        size = int(rng.integers(20, 61)) if kind != "chain" else int(rng.integers(12, 20))
        farmer = int(rng.integers(n_seed, n))
        accounts = np.arange(next_code, next_code + size)
        next_code += size
        t0 = int(join_at[farmer]) + int(rng.integers(3600, 10 * 86400))
        camp = np.int8(rng.integers(0, len(CAMPAIGNS) - 1))
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
        )
        if kind == "ring":
            ev.add(
                type=INVITE,
                inviter=accounts,
                invitee=np.roll(accounts, -1),
                at=at + 3600,
                campaign=camp,
                channel=np.int8(0),
                device=devices,
                ip=ips,
            )
        quit_ = accounts[rng.random(size) < farm_churn]
        ev.add(
            type=CHURN,
            invitee=quit_,
            at=t0 + rng.integers(86400, 3 * 86400, len(quit_)),
            campaign=camp,
        )
        farms.append((farmer, kind, accounts))

    cols = ev.concat()
    # The export is taken at the end of the period: later events have not
    # happened yet.
    seen = cols["at"] <= START + span
    cols = {k: v[seen] for k, v in cols.items()}
    order = np.lexsort((cols["invitee"], cols["type"], cols["at"]))
    cols = {k: v[order] for k, v in cols.items()}

    all_codes = np.arange(next_code)
    ids = _id_strings(all_codes, seed)

    def take_ids(codes: np.ndarray) -> pa.Array:
        return pc.take(ids, pa.array(codes, mask=codes < 0))

    local = (cols["at"] + LOCAL_OFFSET_S).astype("datetime64[s]")
    occurred = pc.strftime(pa.array(local, pa.timestamp("s")), "%Y-%m-%d %H:%M:%S")
    names = pa.array(CAMPAIGNS)
    amount = cols["amount"]
    has_amount = ~np.isnan(amount)
    amount_text = pc.if_else(
        pa.array(has_amount),
        pc.cast(
            pa.array(np.where(has_amount, amount, 0.0)).cast(pa.decimal128(12, 2)), pa.string()
        ),
        pa.scalar(None, pa.string()),
    )
    dev = cols["device"]
    device_ids = pc.take(
        pc.binary_join_element_wise(
            "dv", _id_strings(np.arange(next_code + stride * n_farms + 10), seed + 1, b""), ""
        ),
        pa.array(np.where(dev >= 0, dev, np.where(dev == _NONE, 0, next_code - dev))),
    )
    ipc = cols["ip"]
    ip_codes = np.where(ipc >= 0, ipc, (1 << 20) - ipc)
    ip_text = pc.binary_join_element_wise(
        pc.cast(pa.array(100 + (ip_codes >> 16) % 100), pa.string()),
        pc.cast(pa.array((ip_codes >> 8) % 256), pa.string()),
        pc.cast(pa.array(ip_codes % 256), pa.string()),
        pc.cast(pa.array(7 + (ip_codes >> 24) % 200), pa.string()),
        ".",
    )
    no_device = (cols["type"] >= CONVERT) | (dev == _NONE)
    device_ids = pc.if_else(pa.array(no_device), pa.scalar(None, pa.string()), device_ids)
    ip_text = pc.if_else(pa.array(no_device), pa.scalar(None, pa.string()), ip_text)
    staff_codes = cols["staff"]
    staff_text = pc.binary_join_element_wise(
        "staff_", pc.utf8_lpad(pc.cast(pa.array(staff_codes), pa.string()), 4, "0"), ""
    )
    staff_text = pc.if_else(pa.array(staff_codes < 0), pa.scalar(None, pa.string()), staff_text)

    table = pa.table(
        {
            "type": pa.array(_TYPES[cols["type"]]),
            "inviter_id": take_ids(cols["inviter"]),
            "invitee_id": take_ids(cols["invitee"]),
            "occurred_at": occurred,
            "campaign": pc.take(names, pa.array(cols["campaign"], mask=cols["campaign"] < 0)),
            "channel": pc.take(
                pa.array(CHANNELS), pa.array(cols["channel"], mask=cols["channel"] < 0)
            ),
            "staff_id": staff_text,
            "amount": amount_text,
            "device_id": device_ids,
            "ip": ip_text,
        }
    )

    truth.planted_kocs = ids.take(pa.array(koc_idx)).to_pylist()
    for farmer, kind, accounts in farms:
        truth.farms.append(
            {
                "kind": kind,
                "farmer": ids[farmer].as_py(),
                "accounts": ids.take(pa.array(accounts)).to_pylist(),
            }
        )
    return table, truth


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
