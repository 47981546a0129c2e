"""The generator's event columns and their table: what both campaign shapes
share (see `loaders.generator`).

Users, prospects and farm accounts are integer codes while a campaign is
built; events are numpy columns of codes (`Events`), concatenated once and
turned into the output table (`events_table`) with WeCom-like ids, local
times as text, device ids and IPs. The table step draws no random numbers, so
the table of a given set of columns and seed is always the same bytes;
and the user events both shapes add the same way (`contacts`,
`add_pre_invites`, `add_second_ties`, `add_conversions`), drawing from the
generator they are given in a fixed order.
"""

from __future__ import annotations

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
# The realistic shape names them as a Chinese brand's operators do (渠道活码
# names and the always-on programme); the steady shape keeps its old bytes.
LABELS = {
    "steady": (CAMPAIGNS, CHANNELS),
    "realistic": (
        (*CAMPAIGNS[:-1], "常驻邀请有礼"),
        ("海报", "朋友圈", "客户群", "员工活码", "小程序", "分享链接"),
    ),
}
CHANNEL_WEIGHTS = (0.3, 0.2, 0.2, 0.15, 0.1, 0.05)
START = np.datetime64("2026-03-01T00:00:00", "s").astype(np.int64)
SPAN_DAYS = 150
# Asia/Shanghai has had no daylight saving since 1991: local = UTC + 8 h.
LOCAL_OFFSET_S = 8 * 3600
# Joins by local hour of day: evenings busier.
HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 6, 6, 6, 6, 7, 8, 10, 12, 12, 9, 4.0]
)

TYPES = np.array(["invite", "join", "convert", "churn"])
INVITE, JOIN, CONVERT, CHURN = 0, 1, 2, 3
# No device or IP on the event. (Farm devices and IPs are negative codes, so
# the absence needs a value of its own.)
NONE = -(1 << 40)


def _mix(x: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64: a bijection on uint64, so distinct codes give distinct ids."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def id_strings(codes: np.ndarray, seed: int, prefix: bytes = b"wm") -> pa.StringArray:
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


class Events:
    """Column lists of events, concatenated once at the end. `name` is an
    index into the campaign's nickname pool (-1: no name on the event)."""

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
            "device": cols.get("device", np.full(n, NONE, np.int64)),
            "ip": cols.get("ip", np.full(n, NONE, np.int64)),
            "name": cols.get("name", np.full(n, -1, np.int64)),
        }
        self.parts.append(
            {k: np.broadcast_to(v, n) if np.ndim(v) == 0 else v for k, v in full.items()}
        )

    def concat(self, until: int) -> dict[str, np.ndarray]:
        """All events up to `until` (the export is taken then: later events
        have not happened yet), by time, type and invitee."""
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        seen = cols["at"] <= until
        cols = {k: v[seen] for k, v in cols.items()}
        order = np.lexsort((cols["invitee"], cols["type"], cols["at"]))
        return {k: v[order] for k, v in cols.items()}


def contacts(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Each user's channel, staff member, device and IP codes."""
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_WEIGHTS).astype(np.int8)
    staff = rng.integers(0, max(4, n // 2500), n).astype(np.int32)
    device = np.arange(n, dtype=np.int64)
    ip = rng.integers(0, max(16, n // 3), n)
    return channel, staff, device, ip


def add_pre_invites(rng, ev: Events, parent, join_at, campaign, channel) -> None:
    """Some joins are preceded by the inviter's invite, minutes to days before."""
    pre = np.flatnonzero((parent >= 0) & (rng.random(len(parent)) < 0.3))
    ev.add(
        type=INVITE,
        inviter=parent[pre],
        invitee=pre,
        at=join_at[pre] - rng.integers(60, 3 * 86400, len(pre)),
        campaign=campaign[pre],
        channel=channel[pre],
    )


def add_second_ties(
    rng, ev: Events, n_seed, parent, join_at, campaign, channel, device, ip
) -> None:
    """A second inviter's code, later: an INVITED tie."""
    n = len(parent)
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
        name=again,
    )


def add_conversions(rng, ev: Events, p_buy, join_at, campaign) -> None:
    """Orders: each user buys with probability `p_buy`, days after joining."""
    buyers = np.flatnonzero(rng.random(len(p_buy)) < p_buy)
    price = np.array(CAMPAIGN_PRICES)[campaign[buyers]]
    amount = np.round(price * rng.lognormal(0.0, 0.35, len(buyers)), 2)
    ev.add(
        type=CONVERT,
        invitee=buyers,
        at=join_at[buyers] + rng.exponential(7 * 86400, len(buyers)).astype(np.int64) + 600,
        campaign=campaign[buyers],
        amount=amount,
    )


def events_table(
    cols: dict[str, np.ndarray],
    ids: pa.StringArray,
    seed: int,
    device_codes: int,
    names: pa.StringArray | None = None,
    labels: tuple[tuple[str, ...], tuple[str, ...]] = (CAMPAIGNS, CHANNELS),
) -> pa.Table:
    """The output table of concatenated events: `ids` holds the id of every
    user code, `device_codes` bounds the device codes in use (farm devices
    are negative), `names` is the nickname pool the `name` column points
    into (None: no `invitee_name` column), `labels` the campaign and channel
    names the codes stand for."""
    campaigns, channels = labels

    def take_ids(codes: np.ndarray) -> pa.Array:
        return pc.take(ids, pa.array(codes, mask=codes < 0))

    local = (cols["at"] + LOCAL_OFFSET_S).astype("datetime64[s]")
    occurred = pc.strftime(pa.array(local, pa.timestamp("s")), "%Y-%m-%d %H:%M:%S")
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
    next_code = len(ids)
    device_ids = pc.take(
        pc.binary_join_element_wise("dv", id_strings(np.arange(device_codes), seed + 1, b""), ""),
        pa.array(np.where(dev >= 0, dev, np.where(dev == NONE, 0, next_code - dev))),
    )
    ip_text = _ip_text(cols["ip"])
    no_device = (cols["type"] >= CONVERT) | (dev == NONE)
    device_ids = pc.if_else(pa.array(no_device), pa.scalar(None, pa.string()), device_ids)
    ip_text = pc.if_else(pa.array(no_device), pa.scalar(None, pa.string()), ip_text)
    staff_codes = cols["staff"]
    staff_text = pc.binary_join_element_wise(
        "staff_", pc.utf8_lpad(pc.cast(pa.array(staff_codes), pa.string()), 4, "0"), ""
    )
    staff_text = pc.if_else(pa.array(staff_codes < 0), pa.scalar(None, pa.string()), staff_text)

    columns = {
        "type": pa.array(TYPES[cols["type"]]),
        "inviter_id": take_ids(cols["inviter"]),
        "invitee_id": take_ids(cols["invitee"]),
        "occurred_at": occurred,
        "campaign": pc.take(
            pa.array(campaigns), pa.array(cols["campaign"], mask=cols["campaign"] < 0)
        ),
        "channel": pc.take(pa.array(channels), pa.array(cols["channel"], mask=cols["channel"] < 0)),
        "staff_id": staff_text,
        "amount": amount_text,
        "device_id": device_ids,
        "ip": ip_text,
    }
    if names is not None:
        columns["invitee_name"] = pc.take(names, pa.array(cols["name"], mask=cols["name"] < 0))
    return pa.table(columns)


def _ip_text(ipc: np.ndarray) -> pa.Array:
    """Dotted IPv4-like text of IP codes (farm IPs are negative codes)."""
    ip_codes = np.where(ipc >= 0, ipc, (1 << 20) - ipc)
    return pc.binary_join_element_wise(
        pc.cast(pa.array(100 + (ip_codes >> 16) % 100), pa.string()),
        pc.cast(pa.array((ip_codes >> 8) % 256), pa.string()),
        pc.cast(pa.array(ip_codes % 256), pa.string()),
        pc.cast(pa.array(7 + (ip_codes >> 24) % 200), pa.string()),
        ".",
    )
