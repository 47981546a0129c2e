"""The store contract: what every backend (embedded DuckDB, Neo4j) provides.

A store keeps the event log and the graph derived from it (DESIGN.md, "Graph
model"): users, REFERRED edges (the attributed first join, at most one per
invitee) and INVITED ties (every other inviter-invitee pair).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

import pyarrow as pa

from graph.ego import EgoNetwork
from loaders.errors import SearchlightError


class StoreError(SearchlightError):
    """The store cannot be opened or written."""


class StoreLockedError(StoreError):
    """Another process is writing the store."""


class UserNotFoundError(StoreError):
    """No user with that id in the store."""


@dataclass
class BatchResult:
    """What one all-or-nothing batch did to the store."""

    batch_id: int
    received: int  # valid events handed to the store
    accepted: int  # of those, new to the store
    duplicates: int  # already in the store, or repeated in the batch, with the same content
    # Rows whose event id the store (or an earlier line) holds with other
    # content: not applied; quarantine rows with both versions (graph.conflicts).
    conflicts: pa.Table | None = None

    @property
    def conflicted(self) -> int:
        return 0 if self.conflicts is None else self.conflicts.num_rows


@dataclass
class StoreStats:
    users: int
    events: int
    events_by_type: dict[str, int]
    referred_edges: int
    invited_ties: int
    campaigns: int
    campaign_names: list[str]
    first_event_at: datetime | None
    last_event_at: datetime | None
    batches: int

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("first_event_at", "last_event_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass(frozen=True)
class Window:
    """Which events an analysis sees: `since <= occurred_at < until`, and
    (when given) only these campaigns. None means unbounded."""

    since: datetime | None = None
    until: datetime | None = None
    campaigns: tuple[str, ...] = ()


@dataclass
class GraphTables:
    """The tie graph of a window, as Arrow tables (read by `Store.read_graph`).

    - users: id, converted (bool), amount (float64), churned (bool) — every
      user seen before the window's end; conversions and amounts counted in
      the window, churn as of its end;
    - referred: referrer_id, invitee_id, at — attributed referrals made in
      the window;
    - invited: inviter_id, invitee_id — every other tie with an invite or join
      in the window;
    - devices: user_id, device_id — devices that more than one user joined on
      in the window (the device of a `join` event is the joining invitee's),
      for fraud screening; a device of one user says nothing.
    """

    users: pa.Table
    referred: pa.Table
    invited: pa.Table
    devices: pa.Table
    watermark: int  # the last batch the store had applied
    last_event_at: datetime | None


@dataclass
class LiveFacts:
    """Everything the live reads answer from, all time, as Arrow tables
    (`Store.live_facts`; the API's in-memory index, graph.live_index):

    - users: id, first_seen, joined_at, referred_by, converted_at, amount
      (float64), churned_at, name — every user, ordered by id (binary order);
    - referred: referrer_id, invitee_id, at, campaign — every REFERRED edge;
    - invited: inviter_id, invitee_id — every INVITED tie;
    - churns: user_id, churned_at, returned_at — every churn period;
    - converts: invitee_id, occurred_at, campaign — every convert event.

    Times are timestamp[us, UTC].
    """

    users: pa.Table
    referred: pa.Table
    invited: pa.Table
    churns: pa.Table
    converts: pa.Table


@dataclass
class CampaignFacts:
    """What the campaign dashboard counts over a window (`Store.campaign_facts`),
    days being calendar days in the zone asked for (date32):

    - joins: one row per user whose first join (earliest, then smallest
      event_id: the attributed join of `referred`) lies in the window and,
      with a campaign filter, is of one of its campaigns — user_id, day,
      inviter_id (null: joined without one), channel, staff_id, tier (int8:
      REFERRED edges above the user, no edge twice, at most 3; 0 for no
      inviter) and converted_day (the first day in the window with a convert
      event of the user under the filter; null if none), in no set order;
    - days: one row per day with any event under the filter — churned
      (churn events), conversions (convert events), gmv (their amounts,
      float64), sharers (distinct inviters of invite and join events that
      day), last_shared (of the window's distinct inviters, those whose last
      sharing day in the window it is: distinct sharers from any day on are a
      sum of it); ordered by day.
    """

    joins: pa.Table
    days: pa.Table


# Counts `top_referrers` reads live: invitees referred in the window; of them,
# not churned; of them, converted in the window.
TOP_COUNTS = ("invites", "effective_invites", "conversions")


def check_top_count(by: str) -> None:
    """`StoreError` unless `by` is one of `TOP_COUNTS`."""
    if by not in TOP_COUNTS:
        raise StoreError(
            "cannot rank by {by!r} live; choose one of {choices}",
            by=by,
            choices=", ".join(TOP_COUNTS),
        )


@dataclass
class SavedSnapshot:
    """An analysis snapshot as the store keeps it (see graph.analysis.snapshot)."""

    id: str
    params: dict
    computed_at: datetime
    watermark: int
    summary: dict
    users: pa.Table
    communities: pa.Table
    flags: pa.Table | None  # None for snapshots saved before fraud screening


REVIEW_STATUSES = ("pending", "approved", "declined")
# `Store.first_joins`: the staff member and channel of each user's own first join.
FIRST_JOINS = pa.schema([("id", pa.string()), ("staff_id", pa.string()), ("channel", pa.string())])


@dataclass
class Review:
    """A reviewer's decision on a flagged user; the latest one counts."""

    user_id: str
    status: str  # approved or declined (pending is the absence of a decision)
    note: str
    reviewer: str
    reviewed_at: datetime

    def to_json(self) -> dict:
        out = asdict(self)
        out["reviewed_at"] = self.reviewed_at.isoformat()
        return out


@dataclass
class UserRecord:
    """What the store knows of one user, all time (not windowed)."""

    id: str
    first_seen: datetime
    joined_at: datetime | None
    referred_by: str | None  # the referrer of the attributed first join
    converted_at: datetime | None
    amount: float  # summed conversion amounts
    churned_at: datetime | None  # set while the user is churned
    # The latest invitee_name its events carry (graph.derive); None if none did.
    name: str | None = None


class Store(Protocol):
    url: str

    def ingest(self, batches: Iterable[pa.Table], source: str) -> BatchResult:
        """Apply canonical event batches (`loaders.canonical.EVENT_SCHEMA`) as
        one transaction: all of it, or nothing if anything fails."""
        ...

    def stats(self) -> StoreStats: ...

    def read_graph(self, window: Window) -> GraphTables:
        """The users, REFERRED edges and INVITED ties of a window."""
        ...

    def top_referrers(self, window: Window, by: str, limit: int, offset: int = 0) -> pa.Table:
        """Referrers ranked by a live count (`TOP_COUNTS`): columns id, invites,
        effective_invites, conversions, ranked by `by` then id."""
        ...

    def live_facts(self) -> LiveFacts:
        """The whole graph and the events live counts need, for an in-memory
        index of the reads (`LiveFacts`)."""
        ...

    def referrer_count(self, window: Window) -> int:
        """How many users referred anyone in the window (the `total` that
        pages of `top_referrers` are cut from)."""
        ...

    def campaign_facts(self, window: Window, zone: str) -> CampaignFacts:
        """The window's first joins, one row a user, and its other events
        counted per calendar day in `zone` (`CampaignFacts`): the campaign
        dashboard's one read (graph.dashboard)."""
        ...

    def user(self, user_id: str) -> UserRecord:
        """One user; `UserNotFoundError` if the store has never seen it."""
        ...

    def referral_chain(self, user_id: str, limit: int = 100) -> list[str]:
        """The user's referrers up to the root, nearest first (REFERRED edges,
        all time), at most `limit` of them; a referral loop ends the chain
        before it repeats a user."""
        ...

    def user_names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of these users (`UserRecord.name`), read in chunks of
        ids: only users that have one; unknown ids are left out."""
        ...

    def search_users(self, q: str, limit: int = 20) -> pa.Table:
        """Users whose id equals or starts with `q`, or whose name contains
        it (ignoring case), best first (graph.user_search): id, name, match."""
        ...

    def first_joins(self, ids: Iterable[str]) -> pa.Table:
        """How these users came in: each one's own first join (earliest, then
        smallest event_id, as attribution takes it) with its staff_id (the
        staff member the user came through) and channel; `FIRST_JOINS`
        columns, one row per id that has a join, read in chunks of ids."""
        ...

    def change_marker(self) -> tuple:
        """A cheap value that changes whenever an ingest, an analysis or a
        review changes what reads return (the API's cache watches it)."""
        ...

    def watermark(self) -> int:
        """The last applied ingest batch (0 for an empty store)."""
        ...

    def ego_network(self, user_id: str, hops: int = 2, limit: int = 500) -> EgoNetwork:
        """The users within `hops` ties of a user (either direction, REFERRED or
        INVITED) and the ties among them, at most `limit` users: nearer users
        first, then by id, so a supernode cannot blow the answer up."""
        ...

    def save_snapshot(self, snapshot: SavedSnapshot) -> None: ...

    def record_review(self, user_id: str, status: str, note: str, reviewer: str) -> Review:
        """Store a decision (approved or declined) on a user; earlier ones stay
        as history."""
        ...

    def reviews(self) -> pa.Table:
        """The current decision per user: user_id, status, note, reviewer,
        reviewed_at (only users with a decision)."""
        ...

    def latest_snapshot(self) -> SavedSnapshot | None: ...

    def snapshot_ids(self) -> list[str]:
        """The saved snapshots, newest first: the first is the latest."""
        ...

    def read_snapshot(self, snapshot_id: str) -> SavedSnapshot | None:
        """One saved snapshot, whole; None when the store has none by that id
        (never saved, or pruned)."""
        ...

    def record_export(self, snapshot_id: str) -> None:
        """Remember that an export's manifest names this snapshot, so pruning
        keeps it for good; `StoreError` if no saved snapshot has that id."""
        ...

    def prune_snapshots(self, keep: int) -> list[str]:
        """Delete, with all their rows, the saved snapshots past the newest
        `keep` (at least 1, so the latest always stays) that no export names;
        the ids deleted, oldest first."""
        ...

    def migrate(self) -> int:
        """Bring a store written by an older Searchlight to this one's schema
        (graph.embedded_migrations, graph.neo4j_migrations); the number of
        event ids rewritten, 0 when it was current."""
        ...

    def remove_events_outside(self, earliest: datetime, latest: datetime) -> pa.Table:
        """Take every event whose time is not in [earliest, latest) out of the
        log (events stored before ingest checked times: they poison every
        read), derive their users again and return them as quarantine rows
        (`graph.repair`). All or nothing."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None:
        """Closes the store."""
        ...
