"""Public network edge lists as Searchlight events, so real networks ingest
like a campaign (see ../shared/data/README.md beside the repo, and docs/ingest.md).

Two kinds of file, one edge a line, ids non-negative integers; blank lines
and lines starting with `#` or `%` are skipped, and the first other line may
be a header of words (`src dst time`). The kind is taken from the first edge
line's field count unless given:

- `pairs`: untimed undirected ties `a b` (SNAP ego-Facebook);
- `messages`: timed directed messages `src dst unix_time` (SNAP CollegeMsg).

The conversion. A user joins when first reached, and users are ranked by
that order (their join order):

- `messages`: messages are taken in time order (file order among equal
  times). The first message u→v that reaches a v not yet reached is v's
  join, with inviter u, at that message's time; a user who sends before
  ever being reached joins organically (no inviter) at their first message.
- `pairs`: users arrive in a random order (a permutation drawn from `seed`),
  one every span/users seconds from `start` over `span_days` days. A user's
  inviter is the earliest-joined neighbour who joined before them; a user
  with no such neighbour joins organically.
- Invites: every tie is an `invite` event in each direction it has, the
  referrer's own included (real friends invite each other, so INVITED ties
  exist beside REFERRED, and friends invite each other back, so the ties
  close loops). For `messages` one invite per direction that has a message,
  at the first message that way. For `pairs` a tie has both directions: the
  earlier-joined user invites the later one at the later one's join, and the
  later one invites back after a delay drawn from `seed` (1 hour to 7 days).
  With `invite_back=False` only ties from an earlier-joined user to a
  later-joined one are kept (the shape of a referral tree with cross
  invites, and no loops). Duplicate ties give one invite; self-loops are
  dropped.

Nothing else is invented: no conversions, churns, channels, staff, devices or
IPs. The campaign is `campaign` ("real-network"); user ids are `id_prefix`
(default: the file's stem and `:`) and the source id, so two networks in one
store never share a user. Events have no `event_id` (as `generate_campaign`:
ingest derives it from the content). Times are written as Asia/Shanghai
local text, like the generator's. Same input and seed, same table.

    >>> t = events_from_text("1 2 100\\n2 3 160\\n1 3 200\\n3 1 230\\n", id_prefix="")
    >>> [(r["type"], r["inviter_id"], r["invitee_id"]) for r in t.to_pylist()]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('join', None, '1'), ('invite', '1', '2'), ('join', '1', '2'),
     ('invite', '2', '3'), ('join', '2', '3'), ('invite', '1', '3'),
     ('invite', '3', '1')]
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loaders.errors import Note, SourceError
from loaders.generator import LOCAL_OFFSET_S, SPAN_DAYS, GroundTruth

Kind = Literal["pairs", "messages"]
KINDS: dict[str, int] = {"pairs": 2, "messages": 3}  # fields a line
MAX_BYTES = 256 << 20
CAMPAIGN = "real-network"
START = datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
_ID, _TIME = r"[0-9]{1,18}", r"[0-9]{1,11}"
BACK_DELAY_S = (3600, 7 * 86400)  # pairs: when a later-joined friend invites back


class NetworkTruth(GroundTruth):
    """The sidecar of a converted network: nothing planted, so every KOC or
    fraud flag on it is a finding about real people, not a hit on a plant."""

    def __init__(self, seed: int, users: int, source: str, kind: str) -> None:
        super().__init__(seed=seed, users=users)
        self.source, self.kind = source, kind

    def to_json(self) -> dict:
        note = "a real network converted by loaders/edges.py: nothing is planted"
        return {**super().to_json(), "source": self.source, "kind": self.kind, "note": note}


def events_from_edges(
    path: Path,
    *,
    kind: Kind | None = None,
    seed: int = 0,
    start: datetime = START,
    span_days: int = SPAN_DAYS,
    campaign: str = CAMPAIGN,
    id_prefix: str | None = None,
    invite_back: bool = True,
    max_bytes: int = MAX_BYTES,
) -> pa.Table:
    """The events of the edge list at `path` (see the module docstring).
    Raises `SourceError` for a missing, oversized or unparseable file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                "{path}: {size:,} bytes, over the {max_bytes:,}-byte limit",
                path=path,
                size=size,
                max_bytes=max_bytes,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(
            "{path}: cannot be read ({reason})", path=path, reason=exc.strerror or exc
        ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            "{path}: not UTF-8 text (byte {byte})", path=path, byte=exc.start
        ) from exc
    prefix = f"{path.stem}:" if id_prefix is None else id_prefix
    return events_from_text(
        text,
        kind=kind,
        seed=seed,
        start=start,
        span_days=span_days,
        campaign=campaign,
        id_prefix=prefix,
        invite_back=invite_back,
        name=str(path),
    )


def events_from_text(
    text: str,
    *,
    kind: Kind | None = None,
    seed: int = 0,
    start: datetime = START,
    span_days: int = SPAN_DAYS,
    campaign: str = CAMPAIGN,
    id_prefix: str = "",
    invite_back: bool = True,
    name: str = "<text>",
) -> pa.Table:
    """`events_from_edges` on the text of an edge list; `name` names it in errors."""
    cols, kind = parse_edges(text, kind=kind, name=name)
    if kind == "pairs":
        if start.tzinfo is None:
            start = start.replace(tzinfo=START.tzinfo)
        begin, span = int(start.timestamp()), span_days * 86400
        joins, invites = _from_pairs(cols, seed, begin, span, invite_back)
    else:
        joins, invites = _from_messages(cols, invite_back)
    nodes, inviter, join_at = joins
    inv_from, inv_to, inv_at = invites
    return _table(nodes, inviter, join_at, inv_from, inv_to, inv_at, campaign, id_prefix)


def detect_kind(path: Path, head_bytes: int = 1 << 16) -> Kind:
    """The kind of the edge list at `path`, from its first lines."""
    with open(path, "rb") as f:
        head = f.read(head_bytes)
    text = head.decode("utf-8-sig", errors="replace")
    if len(head) == head_bytes and "\n" in text:
        text = text[: text.rfind("\n")]  # whole lines only
    return parse_edges(text, name=str(path))[1]


def summarise(table: pa.Table) -> dict[str, int]:
    """Users (= joins), referred and organic joins, and invites of a converted table."""
    joins = table.filter(pc.equal(table["type"], "join"))
    referred = joins.num_rows - joins["inviter_id"].null_count
    return {
        "users": joins.num_rows,
        "referred": referred,
        "organic": joins.num_rows - referred,
        "invites": table.num_rows - joins.num_rows,
    }


def parse_edges(
    text: str, *, kind: Kind | None = None, name: str = "<text>"
) -> tuple[np.ndarray, Kind]:
    """The edge lines as an int64 array (one row a line, 2 or 3 columns) and
    the kind. A line that does not parse raises `SourceError` naming it."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    lines = pc.utf8_trim_whitespace(pa.array(text.split("\n")))
    skip = pc.or_(pc.equal(pc.utf8_length(lines), 0), pc.match_substring_regex(lines, r"^[#%]"))
    number = np.flatnonzero(~skip.to_numpy(zero_copy_only=False)) + 1  # line numbers
    if (
        len(number)
        and pc.match_substring_regex(lines[number[0] - 1], r"^[A-Za-z_][\w\s]*$").as_py()
    ):
        number = number[1:]  # a header of words
    if not len(number):
        raise SourceError("{name}: no edge lines", name=name)
    body = lines.take(pa.array(number - 1))
    width = KINDS[kind] if kind else len(body[0].as_py().split())
    if width not in KINDS.values():
        raise SourceError(
            "{name}: line {line}: {width} fields; expected 'a b' or 'src dst unix_time'",
            name=name,
            line=number[0],
            width=width,
        )
    kind = kind or ("pairs" if width == 2 else "messages")
    pattern = r"\s+".join([_ID, _ID, _TIME][:width])
    bad = np.flatnonzero(
        ~pc.match_substring_regex(body, f"^{pattern}$").to_numpy(zero_copy_only=False)
    )
    if len(bad):
        raw = body[bad[0]].as_py()
        fields = len(raw.split())
        reason = (
            Note(
                "expected {width} fields ({shape}), found {fields}",
                width=width,
                shape="a b" if width == 2 else "src dst unix_time",
                fields=fields,
            )
            if fields != width
            else Note("ids must be integers (up to 18 digits), times unix seconds")
        )
        more = Note(" ({more:,} more bad lines)", more=len(bad) - 1) if len(bad) > 1 else ""
        raise SourceError(
            "{name}: line {line}: {reason}: {value!r}{more}",
            name=name,
            line=number[bad[0]],
            reason=reason,
            value=raw[:60],
            more=more,
        )
    tokens = pc.list_flatten(pc.utf8_split_whitespace(body))
    return pc.cast(tokens, pa.int64()).to_numpy().reshape(-1, width), kind


def _from_pairs(cols: np.ndarray, seed: int, begin: int, span: int, invite_back: bool):
    cols = cols[cols[:, 0] != cols[:, 1]]
    nodes, code = np.unique(cols, return_inverse=True)
    code = code.reshape(-1, 2)
    n = len(nodes)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)  # order[r]: the r-th to join
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    r = rank[code]
    key = np.unique(r.min(axis=1) * n + r.max(axis=1))  # one per tie, by (earlier, later)
    early, late = key // n, key % n
    inviter = np.full(n, n, np.int64)
    np.minimum.at(inviter, late, early)  # the earliest-joined neighbour before
    inviter[inviter == n] = -1
    join_at = begin + (np.arange(n) * span) // n
    src, dst, at = early, late, join_at[late]
    if invite_back:
        back_at = join_at[late] + rng.integers(*BACK_DELAY_S, len(late))
        src, dst, at = np.r_[early, late], np.r_[late, early], np.r_[at, back_at]
    return (nodes[order], inviter, join_at), (src, dst, at)


def _from_messages(cols: np.ndarray, invite_back: bool):
    cols = cols[cols[:, 0] != cols[:, 1]]
    cols = cols[np.argsort(cols[:, 2], kind="stable")]
    nodes, code = np.unique(cols[:, :2], return_inverse=True)
    code = code.reshape(-1, 2)
    seen, first = np.unique(code.ravel(), return_index=True)  # src before dst a message
    order = seen[np.argsort(first)]  # nodes by first reach
    first = np.sort(first)
    n = len(nodes)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    msg = first // 2
    inviter = np.where(first % 2 == 1, rank[code[msg, 0]], -1)
    r = rank[code]
    kept = np.flatnonzero(r[:, 0] != r[:, 1] if invite_back else r[:, 0] < r[:, 1])
    key, at_first = np.unique(r[kept, 0] * n + r[kept, 1], return_index=True)
    joins = (nodes[order], inviter, cols[msg, 2])
    return joins, (key // n, key % n, cols[kept[at_first], 2])


def _table(
    nodes, inviter, join_at, inv_from, inv_to, inv_at, campaign: str, prefix: str
) -> pa.Table:
    """Joins (by rank, inviter rank or -1) and invites as the generator's table."""
    n, m = len(nodes), len(inv_to)
    kind = np.concatenate([np.ones(n, np.int8), np.zeros(m, np.int8)])
    src = np.concatenate([inviter, inv_from])
    dst = np.concatenate([np.arange(n), inv_to])
    at = np.concatenate([join_at, inv_at]).astype(np.int64)
    # By time, then the later-joined user's join order; within that, the
    # invite that brings a user, its join, then its invites back.
    step = np.where(kind == 1, 1, np.where(src < dst, 0, 2))
    order = np.lexsort((step, np.maximum(src, dst), at))
    kind, src, dst, at = kind[order], src[order], dst[order], at[order]
    ids = pc.binary_join_element_wise(prefix, pc.cast(pa.array(nodes), pa.string()), "")
    local = pa.array((at + LOCAL_OFFSET_S).astype("datetime64[s]"), pa.timestamp("s"))
    none = pa.nulls(len(at), pa.string())
    return pa.table(  # the columns and types of generate_campaign's table
        {
            "type": pa.array(np.array(["invite", "join"])[kind]),
            "inviter_id": pc.take(ids, pa.array(src, mask=src < 0)),
            "invitee_id": pc.take(ids, pa.array(dst)),
            "occurred_at": pc.cast(local, pa.string()),  # YYYY-MM-DD HH:MM:SS
            "campaign": pa.array(np.full(len(at), campaign)),
            **dict.fromkeys(("channel", "staff_id", "amount", "device_id", "ip"), none),
        }
    )
